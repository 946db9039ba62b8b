//! Monthly themes, visit records, quotas and the month-end report over a simulated November on
//! the sample roster (zone Z01), with the real service, SQLite and a manual clock.

mod common;
use common::{shanghai as local, tick_at};

use common::Harness;
use dudao::clock::ManualClock;

const CONFIG: &str = r#"
[weekly]
enabled = false

[tasks]
sweep_cron = ""

[[groups]]
channel = "console"
id = "zone1"
purpose = "zone_inspectors"
zone = "Z01"

[[groups]]
channel = "console"
id = "office"
purpose = "supervisors"
"#;

async fn count(h: &Harness, sql: &str) -> i64 {
    dudao::sql::query_scalar(sql).fetch_one(h.db()).await.unwrap()
}

/// Roster codes of the people a reminder round went to.
async fn reminded(h: &Harness, day: u32) -> Vec<String> {
    dudao::sql::query_scalar(&format!(
        "SELECT p.code FROM outbox o JOIN people p ON p.id = o.person_id
         WHERE o.idempotency_key LIKE 'theme:2026-11:remind{day}:%' ORDER BY p.code"
    ))
    .fetch_all(h.db())
    .await
    .unwrap()
}

#[tokio::test]
async fn a_month_of_themes_visits_quotas_and_the_report() {
    let clock = ManualClock::new(local(11, 1, 8, 0));
    let mut h = Harness::start_with(CONFIG, Some(clock.clone())).await;
    for (acct, code) in [("sup", "S001"), ("hao", "D008"), ("cao", "D009"), ("shi", "D001"), ("qin", "D010")] {
        h.bind(acct, code).await;
    }

    // Monday 2 November 08:30: the supervisor publishes the month's theme from a phone.
    clock.set(local(11, 2, 8, 30));
    let out = h.say("hao: 发布主题 11月 消防").await;
    assert!(out.contains("不能使用"), "inspectors cannot publish: {out}");
    let out = h
        .say("sup: 发布主题 11月 消防安全与校风建设\n说明：结合11·9消防日开展专项督导\n指标：1.消防通道畅通 2.灭火器在有效期内\n3.本学期疏散演练有记录\n问题类别：6、8")
        .await;
    assert!(out.contains("已发布2026年11月督导主题“消防安全与校风建设”（3项指标），已通知 1 个督学群"), "{out}");
    assert!(out.contains("[console → 群 zone1]") && out.contains("3. 本学期疏散演练有记录"), "{out}");
    assert!(out.contains("6校园及周边安全、学生交通安全；8校风、教风、学风"), "{out}");
    let (title, inds, cats): (String, String, String) =
        dudao::sql::query_as("SELECT title, indicators, categories FROM monthly_themes WHERE month = '2026-11'")
            .fetch_one(h.db())
            .await
            .unwrap();
    assert_eq!(title, "消防安全与校风建设");
    assert_eq!(inds, r#"["消防通道畅通","灭火器在有效期内","本学期疏散演练有记录"]"#);
    assert_eq!(cats, "[6,8]");
    let out = h.say("shi: 本月主题").await;
    assert!(out.contains("【2026年11月督导主题】消防安全与校风建设"), "{out}");

    // 09:00 (the 1st was a Sunday, so the first round moved to Monday): everyone counted.
    tick_at(&h, &clock, local(11, 2, 9, 0)).await;
    h.settle().await;
    let counted =
        count(&h, "SELECT COUNT(*) FROM people WHERE role = 'inspector' AND inspector_type <> 'invited'").await;
    assert_eq!(counted, 27);
    assert_eq!(reminded(&h, 1).await.len(), 27);

    // 郝涛 (D008) logs a themed visit in messy free text.
    clock.set(local(11, 2, 11, 0));
    let out = h
        .say("hao: 督导纪实 今天上午到实验小学开展消防安全检查，推门听课2节，查阅资料，校园巡视👍\n指标：1达标 2不达标 3基本达标\n发现问题：1.消防通道堆放杂物；2.食堂留样记录不全\n处理意见：限期整改")
        .await;
    assert!(out.contains("已收到督导纪实") && out.contains("· 学校：实验小学"), "{out}");
    assert!(out.contains("主题督导：消防安全与校风建设（对应主题指标 3/3 项）"), "{out}");
    assert!(out.contains("发现的 2 个问题已登记"), "{out}");
    let (themed, date): (bool, String) =
        dudao::sql::query_as("SELECT themed, visit_date FROM visits WHERE status = 'submitted'")
            .fetch_one(h.db())
            .await
            .unwrap();
    assert!(themed);
    assert_eq!(date, "2026-11-02");
    let scores: Vec<(Option<i64>, String)> =
        dudao::sql::query_as("SELECT indicator_no, result FROM visit_indicator_scores ORDER BY rowid")
            .fetch_all(h.db())
            .await
            .unwrap();
    assert_eq!(scores, vec![(Some(1), "met".into()), (Some(2), "not_met".into()), (Some(3), "basically_met".into())]);
    let problems: Vec<(i64, String)> = dudao::sql::query_as("SELECT category, status FROM visit_problems ORDER BY id")
        .fetch_all(h.db())
        .await
        .unwrap();
    assert_eq!(problems, vec![(6, "new".into()), (7, "new".into())], "handed to the ledger as new");

    // 曹静 (D009) has a conflict of interest at 实验小学: refused politely, nothing counted.
    let out = h.say("cao: 督导纪实 今天去实验小学听课一节，查阅资料").await;
    assert!(out.contains("回避关系") && out.contains("未保存"), "{out}");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM visits WHERE status = 'submitted'").await, 1);

    // 史芳 (D001) forgets the school: one question, answered in a private message.
    clock.set(local(11, 3, 16, 0));
    let out = h.say("shi: 记录督导 今天推门听课2节，座谈走访，学校整体情况良好").await;
    assert!(out.contains("哪所学校"), "{out}");
    let out = h.say("shi: 城关一小").await;
    assert!(out.contains("· 学校：城关一小") && !out.contains("主题督导"), "{out}");

    // More visits through the month.
    clock.set(local(11, 5, 15, 0));
    let out = h.say("hao: 督导纪实 11月5日 城关三小 查阅资料，座谈走访，重点看了消防安全，未发现问题").await;
    assert!(
        out.contains("主题督导：消防安全与校风建设") && out.contains("发现问题：无"),
        "declared, not scored: {out}"
    );
    clock.set(local(11, 10, 15, 0));
    let out = h.say("hao: 督导纪实 城关四小 推门听课3节，未发现问题").await;
    assert!(out.contains("城关四小") && !out.contains("主题督导"), "{out}");
    clock.set(local(11, 12, 10, 0));
    let out = h.say("cao@zone1: @督导助手 督导纪实 启明中学 经常性督导，查阅资料\n发现问题：作业量偏大").await;
    assert!(out.contains("[console → 群 zone1]") && out.contains("启明中学"), "{out}");

    // Monday 16th (the 15th was a Sunday): only those without a themed visit.
    tick_at(&h, &clock, local(11, 16, 9, 0)).await;
    let out = h.settle().await;
    let r15 = reminded(&h, 15).await;
    assert_eq!(r15.len(), 26, "{r15:?}");
    assert!(
        !r15.contains(&"D008".to_string()) && r15.contains(&"D001".to_string()) && r15.contains(&"D009".to_string())
    );
    assert!(out.contains("[console → 私聊 shi]") && out.contains("尚未记录主题督导"), "{out}");
    assert!(!out.contains("私聊 hao]"), "{out}");
    // A second tick does not repeat the round.
    tick_at(&h, &clock, local(11, 16, 9, 10)).await;
    assert!(h.settle().await.is_empty());

    clock.set(local(11, 20, 15, 0));
    let out = h.say("hao: 督导纪实 城郊中心小学 主题督导 校园巡视\n指标：1 达标，2 达标，3 不适用").await;
    assert!(out.contains("对应主题指标 3/3 项"), "{out}");
    let out = h.say("hao: 我的进度").await;
    assert!(out.contains("本月督导 4 次 / 定额 4 次（已完成）"), "{out}");
    assert!(out.contains("本月主题“消防安全与校风建设”：主题督导 3 次"), "{out}");
    assert!(out.contains("本学期（2026-2027学年第一学期）各校督导次数："), "{out}");
    for s in ["实验小学 1/2", "城关三小 1/2", "城关四小 1/2", "城郊中心小学 1/2"] {
        assert!(out.contains(s), "{s}: {out}");
    }
    assert!(out.contains("本学年您负责的学校均已督导"), "{out}");

    // 秦宏伟 (D010) is on leave over the last call and is not reminded.
    let out = h.say("qin: 请假 11月24日 至 11月26日").await;
    assert!(out.contains("已登记请假"), "{out}");
    tick_at(&h, &clock, local(11, 25, 9, 0)).await;
    let out = h.settle().await;
    let r25 = reminded(&h, 25).await;
    assert_eq!(r25.len(), 25, "{r25:?}");
    assert!(!r25.contains(&"D010".to_string()) && !r25.contains(&"D008".to_string()));
    assert!(out.contains("即将结束"), "{out}");

    clock.set(local(11, 27, 17, 0));
    let out = h.say("shi: 督导纪实 东城小学 主题督导 查阅资料 指标：1达标，2达标，3达标").await;
    assert!(out.contains("东城小学") && out.contains("主题督导"), "{out}");

    // 史芳's progress: two visits of four, and the schools not yet visited this school year.
    let out = h.say("shi: 我的进度").await;
    assert!(out.contains("本月督导 2 次 / 定额 4 次（还差 2 次）"), "{out}");
    let unvisited =
        out.lines().find(|l| l.trim_start().starts_with("本学年尚未督导：")).unwrap_or_default().to_string();
    for s in ["育英小学", "实验中学", "周河小学", "特教学校"] {
        assert!(unvisited.contains(s), "{s}: {out}");
    }
    assert!(!unvisited.contains("城关一小") && !unvisited.contains("东城小学"), "{out}");

    // Supervisors' per-zone figures, hand-computed: Z01 has 5 counted inspectors (quota 20) and
    // 22 schools; 7 visits to 7 schools, 4 of them themed.
    let out = h.say("sup: 督导进度 Z01").await;
    assert!(out.contains("第一督学责任区：督导 7/20 次，覆盖学校 7/22 所，主题督导 4 次"), "{out}");
    for line in [
        "郝涛 4/4 次，主题督导 3 次",
        "史芳 2/4 次，主题督导 1 次（未达定额）",
        "曹静 1/4 次，主题督导 0 次（未达定额）",
        "万娜 0/4 次",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }
    assert!(out.contains("本学期督导未达 2 次的学校：22/22 所") && out.contains("本学年尚未督导 15 所："), "{out}");
    assert!(out.contains("城关二小") && !out.contains("启明中学、"), "{out}");
    let out = h.say("sup: 督导进度").await;
    assert!(out.contains("全县：督导 7/108 次（27 名督学），覆盖学校 7/120 所，主题督导 4 次"), "{out}");
    assert!(out.contains("第二督学责任区：督导 0/20 次"), "{out}");
    let out = h.say("hao: 督导进度").await;
    assert!(out.contains("不能使用"), "{out}");

    // 1 December 08:00: the November report goes to the supervisors' group and is stored.
    tick_at(&h, &clock, local(12, 1, 8, 0)).await;
    let out = h.settle().await;
    assert!(
        out.contains("[console → 群 office]") && out.contains("【月汇报】2026年11月（主题：消防安全与校风建设）"),
        "{out}"
    );
    // Every figure from the database.
    let visits =
        count(&h, "SELECT COUNT(*) FROM visits WHERE status = 'submitted' AND visit_date LIKE '2026-11-%'").await;
    let themed = count(&h, "SELECT COUNT(*) FROM visits WHERE status = 'submitted' AND themed = 1").await;
    let covered = count(&h, "SELECT COUNT(DISTINCT school_id) FROM visits WHERE status = 'submitted'").await;
    let scored = count(&h, "SELECT COUNT(*) FROM visit_indicator_scores s JOIN visits v ON v.id = s.visit_id WHERE v.status = 'submitted' AND s.result <> 'not_applicable'").await;
    let met = count(&h, "SELECT COUNT(*) FROM visit_indicator_scores s JOIN visits v ON v.id = s.visit_id WHERE v.status = 'submitted' AND s.result = 'met'").await;
    let problems = count(&h, "SELECT COUNT(*) FROM visit_problems").await;
    assert_eq!((visits, themed, covered, scored, met, problems), (7, 4, 7, 8, 6, 3));
    let line = format!(
        "全县：督导 {visits}/108 次（27 名督学），覆盖学校 {covered}/120 所，主题督导 {themed} 次，指标达标率 75.0%（评价 {scored} 项：达标 {met}、基本达标 1、不达标 1），发现问题 {problems} 个"
    );
    assert!(out.contains(&line), "{line}\n{out}");
    assert!(
        out.contains(
            "问题分类：学生学习、体育锻炼和课业负担1；校园及周边安全、学生交通安全1；食堂、食品、饮水及宿舍卫生1"
        ),
        "{out}"
    );
    assert!(out.contains("第一督学责任区：督导 7/20 次（5 名督学），覆盖学校 7/22 所"), "{out}");
    assert!(out.contains("史芳 2/4") && out.contains("曹静 1/4") && !out.contains("郝涛 4/4"), "{out}");
    assert!(out.contains("市直学校未达月督导次数：一中 0/2、实验高中 0/2、六中 0/2"), "{out}");
    let (figures, text, trigger): (String, String, String) =
        dudao::sql::query_as("SELECT figures, text, trigger FROM monthly_reports WHERE month = '2026-11'")
            .fetch_one(h.db())
            .await
            .unwrap();
    assert_eq!(trigger, "schedule");
    assert!(text.lines().all(|l| out.contains(l)), "{text}\n{out}");
    let f: serde_json::Value = serde_json::from_str(&figures).unwrap();
    assert_eq!(f["county"]["visits"], visits);
    assert_eq!(f["county"]["indicators_met"], met);
    assert_eq!(f["zones"][0]["quota"], 20);
    // Not posted twice.
    tick_at(&h, &clock, local(12, 1, 8, 30)).await;
    assert!(h.settle().await.is_empty());

    // On demand, for a past month.
    let out = h.say("sup: 月汇报 2026-11").await;
    assert!(out.contains(&line), "{out}");
    let out = h.say("sup: 月汇报 10月").await;
    assert!(out.contains("【月汇报】2026年10月（本月未发布主题）") && out.contains("督导 0/108 次"), "{out}");

    // 1 December 09:00: no theme published for December, so the calendar's goes out.
    tick_at(&h, &clock, local(12, 1, 9, 0)).await;
    let out = h.settle().await;
    assert!(out.contains("[console → 群 zone1]") && out.contains("【2026年12月督导主题】师德师风与冬季安全"), "{out}");
    assert_eq!(
        count(&h, "SELECT COUNT(*) FROM monthly_themes WHERE month = '2026-12' AND source = 'calendar'").await,
        1
    );
    h.stop().await;
}

#[tokio::test]
async fn theme_from_the_calendar_and_privately_without_groups() {
    let clock = ManualClock::new(local(11, 2, 8, 0));
    let mut h = Harness::start_with("[weekly]\nenabled = false\n", Some(clock.clone())).await;
    h.bind("sup", "S001").await;
    h.bind("hao", "D008").await;
    let out = h.say("sup: 发布主题 12月").await;
    assert!(out.contains("“师德师风与冬季安全”（6项指标），未登记督学群，已私信通知 30 位督学"), "{out}");
    assert!(out.contains("[console → 私聊 hao]"), "{out}");
    let out = h.say("sup: 发布主题 消防安全").await;
    assert!(out.contains("请列出本月主题的检查指标"), "{out}");
    let out = h.say("sup: 发布主题 10月 过去的主题 指标：1.某项").await;
    assert!(out.contains("已经过去"), "{out}");
    // A template request, and the answer window: free text without a draft is not a visit.
    let out = h.say("hao: 督导纪实").await;
    assert!(out.contains("学校：实验小学"), "{out}");
    let out = h.say("hao: 城关三小").await;
    assert!(out.contains("没有看懂"), "{out}");
    // A school that is not the inspector's.
    let out = h.say("hao: 督导纪实 今天去了城关一小，听课2节").await;
    assert!(out.contains("哪所学校"), "{out}");
    let out = h.say("hao: 城关一小").await;
    assert!(out.contains("“城关一小”不在您负责的学校名单中，本条纪实未保存"), "{out}");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM visits WHERE status = 'submitted'").await, 0);
    // Only the school: one question about what was done; the answer completes the record.
    let out = h.say("hao: 督导纪实 昨天 城关三小").await;
    assert!(out.contains("做了哪些工作"), "{out}");
    let out = h.say("hao: 查阅资料，校园巡视，食堂卫生较差").await;
    assert!(out.contains("· 学校：城关三小") && out.contains("2026-11-01") && out.contains("查阅资料×1"), "{out}");
    let parts =
        count(&h, "SELECT COUNT(*) FROM visit_parts p JOIN visits v ON v.id = p.visit_id WHERE v.status = 'submitted'")
            .await;
    assert_eq!(parts, 2, "both raw messages kept");
    h.stop().await;
}

async fn person_id(h: &Harness, code: &str) -> i64 {
    dudao::sql::query_scalar("SELECT id FROM people WHERE code = ?").bind(code).fetch_one(h.db()).await.unwrap()
}

/// Issue 14 item 10: a visit refused (回避, not one's school, a future date) says "未保存", and
/// nothing of it is kept as a visit; the attempt is in the audit log only.
#[tokio::test]
async fn a_refused_visit_is_not_kept() {
    let clock = ManualClock::new(local(11, 4, 10, 0));
    let mut h = Harness::start_with(CONFIG, Some(clock.clone())).await;
    h.bind("cao", "D009").await;
    let cao = person_id(&h, "D009").await;
    let out = h.say("cao: 督导纪实 今天在实验小学查看了课后服务签到表，与两位班主任座谈").await;
    assert!(out.contains("回避关系") && out.contains("本条纪实未保存"), "{out}");
    assert_eq!(count(&h, &format!("SELECT COUNT(*) FROM visits WHERE person_id = {cao}")).await, 0);
    let out = h.say("cao: 督导纪实 学校：启明中学\n日期：2026-11-06\n方式：检查午休管理，推门听课1节").await;
    assert!(out.contains("不能晚于今天") && out.contains("本条纪实未保存"), "{out}");
    assert_eq!(count(&h, &format!("SELECT COUNT(*) FROM visits WHERE person_id = {cao}")).await, 0);
    assert_eq!(
        count(
            &h,
            &format!("SELECT COUNT(*) FROM visit_parts p JOIN visits v ON v.id = p.visit_id WHERE v.person_id = {cao}")
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &h,
            &format!(
                "SELECT COUNT(*) FROM audit_log WHERE entity = 'visit' AND action = 'refused' AND actor_id = {cao}"
            )
        )
        .await,
        2,
        "the attempts are audited"
    );
    h.stop().await;
}

/// Issue 14 item 9: a 特约 inspector exempt from quotas, with no schools, hears no quota, no
/// "all visited", and no empty school list.
#[tokio::test]
async fn an_exempt_inspector_without_schools_hears_only_true_things() {
    let clock = ManualClock::new(local(11, 4, 10, 0));
    let mut h = Harness::start_with(CONFIG, Some(clock.clone())).await;
    // 龙文 (D030) is a 特约督学 with no zone and no schools.
    h.bind("long", "D030").await;
    let out = h.say("long: 我的进度").await;
    assert!(out.contains("【我的进度】"), "{out}");
    assert!(!out.contains("定额") && !out.contains("还差"), "{out}");
    assert!(!out.contains("均已督导"), "{out}");
    assert!(out.contains("没有分配负责的学校"), "{out}");
    let out = h.say("long: 督导纪实 今天随县人大调研组走访了城关二小，旁听家长座谈会").await;
    assert!(!out.contains("您负责的学校："), "{out}");
    assert!(out.contains("没有分配负责的学校") && out.contains("全称"), "{out}");
    let out = h.say("long: 督导纪实 今天旁听了一节家长课堂").await;
    assert!(out.contains("没有分配负责的学校") && out.contains("全称"), "{out}");
    h.stop().await;
}

/// Issue 14 item 12: a record about another inspector's school is not saved under the
/// inspector's own school when they then name it; they are asked to resend.
#[tokio::test]
async fn a_record_about_another_school_is_not_reattributed() {
    let clock = ManualClock::new(local(11, 4, 10, 0));
    let mut h = Harness::start_with(CONFIG, Some(clock.clone())).await;
    // 郝涛 (D008) has 实验小学 and 城关三小; 城关一小 is 史芳's.
    h.bind("hao", "D008").await;
    let hao = person_id(&h, "D008").await;
    let out = h.say("hao: 督导纪实 今天到城关镇第一小学检查了食堂晨检记录，听课2节").await;
    assert!(out.contains("城关镇第一小学") && out.contains("不在您负责的学校名单中"), "{out}");
    let out = h.say("hao: 城关三小").await;
    assert!(!out.contains("已收到督导纪实"), "{out}");
    assert!(out.contains("城关三小") && out.contains("重新发送"), "{out}");
    assert_eq!(
        count(&h, &format!("SELECT COUNT(*) FROM visits WHERE person_id = {hao} AND status = 'submitted'")).await,
        0
    );
    // A name that is no school of the county is still corrected by naming one's own.
    let out = h.say("hao: 督导纪实 今天到城东小学查看午餐陪餐记录，座谈走访").await;
    assert!(out.contains("不在您负责的学校名单中"), "{out}");
    let out = h.say("hao: 城关三小").await;
    assert!(out.contains("已收到督导纪实") && out.contains("城关三小"), "{out}");
    assert_eq!(
        count(&h, &format!("SELECT COUNT(*) FROM visits WHERE person_id = {hao} AND status = 'submitted'")).await,
        1
    );
    h.stop().await;
}

/// A roster of `zones` small zones (2 inspectors, 3 schools each) and one supervisor, loaded
/// through the real importer.
async fn many_zones(h: &Harness, zones: usize) {
    let mut z = String::from("编号,名称,级别,组长\n");
    let mut s = String::from("学校代码,学校名称,简称,别名,责任区,学段,办学性质,市直,寄宿,主责督学,协同督学,回避督学\n");
    let mut p = String::from("编号,姓名,角色,督学类型,责任区,学校,职务,手机,QQ,企业微信,Telegram,备注\n");
    p.push_str("S001,欧阳明,督导室,,,,督导室主任,18800000001,,,,\n");
    for i in 1..=zones {
        z.push_str(&format!("Q{i:02},临江第{i}督学责任区,县级,\n"));
        for j in 1..=2 {
            p.push_str(&format!("Q{i:02}{j},督学{i}号{j},责任督学,兼职,Q{i:02},,督学,1770000{i:02}{j:02},,,,\n"));
        }
        for k in 1..=3 {
            s.push_str(&format!("6{i:02}{k:03},临江县第{i}片第{k}小学,,,Q{i:02},小学,公办,否,否,Q{i:02}1,,\n"));
        }
    }
    let mut raw = dudao::roster::RawTables::default();
    for (file, text) in [("zones.csv", z), ("schools.csv", s), ("people.csv", p)] {
        raw.insert(dudao::roster::parse_csv(std::path::Path::new(file), text.as_bytes()).unwrap()).unwrap();
    }
    let roster = dudao::roster::validate(raw).unwrap_or_else(|e| panic!("{:?}", e.first()));
    let opts = dudao::store::roster::ImportOptions::new("cli", h.app().clock.now());
    dudao::app::roster_load::apply_with(h.db(), &roster, &opts).await.unwrap();
}

#[tokio::test]
async fn a_long_answer_comes_a_page_at_a_time() {
    let clock = ManualClock::new(local(11, 20, 9, 0));
    let mut h = Harness::start_with("[weekly]\nenabled = false\n", Some(clock.clone())).await;
    many_zones(&h, 45).await;
    h.bind("ouyang", "S001").await;
    h.bind("q011", "Q011").await;

    // 45 zones do not fit one message: the first page, with how to see the rest.
    let first = h.say("ouyang: 督导进度").await;
    let footer = first.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or_default().to_string();
    assert!(footer.starts_with("（第1/") && footer.contains("发送“更多”看下一页"), "{first}");
    let pages: usize = footer["（第1/".len()..].split('页').next().unwrap().parse().unwrap();
    assert!(pages >= 3, "{first}");
    // The console prints a header line and indents the message; the message itself is one page.
    let body: Vec<&str> = first.lines().skip(1).map(str::trim_start).collect();
    let len = body.join("\n").chars().count();
    assert!(len <= 1700, "one page is about one message: {len}");
    assert!(first.contains("全县") && first.contains("临江第1督学责任区"), "{first}");

    // Someone else asking for more gets nothing of it.
    let other = h.say("q011: 更多").await;
    assert!(other.contains("没有更多内容了") && !other.contains("督学责任区"), "{other}");

    // The supervisor pages through; every zone appears exactly once across the pages.
    let mut all = first.clone();
    for k in 2..=pages {
        let out = h.say("ouyang: 更多").await;
        let expected = if k < pages {
            format!("（第{k}/{pages}页，发送“更多”看下一页")
        } else {
            format!("（第{k}/{pages}页，已是最后一页）")
        };
        assert!(out.contains(&expected), "page {k}: {out}");
        all.push_str(&out);
    }
    for i in 1..=45 {
        let name = format!("临江第{i}督学责任区：");
        assert_eq!(all.matches(&name).count(), 1, "{name} once across the pages");
    }
    let done = h.say("ouyang: 更多").await;
    assert!(done.contains("没有更多内容了"), "{done}");
    h.stop().await;
}
