//! XLSX exports over the November of `tests/common/scenario.rs`: each kind is built from the
//! real database, opened again with calamine and checked for its sheets, headers and figures
//! (computed by hand from what the scenario did, and for 月汇报 / 对账 against what the chat
//! commands answer), and its .xlsx parts are read to check the native charts and the cells their
//! series reference. One test runs the `dudao export` binary end to end.

mod common;
#[path = "common/onebot_fake.rs"]
mod onebot_fake;

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};
use chrono::NaiveDate;
use chrono_tz::Asia::Shanghai;
use common::scenario::{november, CONFIG};
use common::{roster_qq, settings_for, shanghai, Harness};
use dudao::clock::ManualClock;
use dudao::domain::stats::{Period, Scope};
use dudao::export::{self, ExportError, Kind};

/// A workbook read back: every sheet as text cells, and the chart parts.
struct Book {
    names: Vec<String>,
    sheets: BTreeMap<String, Vec<Vec<Data>>>,
    /// `xl/charts/chartN.xml` → its XML.
    charts: BTreeMap<String, String>,
}

fn open(bytes: &[u8]) -> Book {
    let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes.to_vec())).expect("an xlsx calamine opens");
    let names = wb.sheet_names().to_vec();
    let mut sheets = BTreeMap::new();
    for n in &names {
        let range = wb.worksheet_range(n).expect("sheet");
        sheets.insert(n.clone(), range.rows().map(|r| r.to_vec()).collect());
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes.to_vec())).expect("an xlsx is a zip");
    let mut charts = BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let name = f.name().expect("entry name").to_string();
        if name.starts_with("xl/charts/chart") && name.ends_with(".xml") {
            let mut xml = String::new();
            f.read_to_string(&mut xml).unwrap();
            charts.insert(name, xml);
        }
    }
    Book { names, sheets, charts }
}

/// A cell as text: numbers without a needless ".0", dates as YYYY-MM-DD.
fn text(d: &Data) -> String {
    match d {
        Data::String(s) => s.clone(),
        Data::Int(n) => n.to_string(),
        Data::Float(f) if f.fract() == 0.0 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::DateTime(x) => {
            let base = NaiveDate::from_ymd_opt(1899, 12, 30).unwrap();
            (base + chrono::Duration::days(x.as_f64() as i64)).format("%Y-%m-%d").to_string()
        }
        Data::Empty => String::new(),
        other => format!("{other:?}"),
    }
}

impl Book {
    fn rows(&self, sheet: &str) -> &Vec<Vec<Data>> {
        self.sheets.get(sheet).unwrap_or_else(|| panic!("no sheet {sheet} in {:?}", self.names))
    }

    fn headers(&self, sheet: &str) -> Vec<String> {
        self.rows(sheet)[0].iter().map(text).collect()
    }

    /// Data rows (the header left out) as text.
    fn table(&self, sheet: &str) -> Vec<Vec<String>> {
        self.rows(sheet).iter().skip(1).map(|r| r.iter().map(text).collect()).collect()
    }

    /// The data row whose column `col` reads `key`.
    fn row(&self, sheet: &str, col: usize, key: &str) -> Vec<String> {
        self.table(sheet)
            .into_iter()
            .find(|r| r.get(col).map(String::as_str) == Some(key))
            .unwrap_or_else(|| panic!("no row {key} in {sheet}: {:?}", self.table(sheet)))
    }

    /// The column of a header.
    fn col(&self, sheet: &str, header: &str) -> usize {
        self.headers(sheet)
            .iter()
            .position(|h| h == header)
            .unwrap_or_else(|| panic!("no column {header} in {sheet}: {:?}", self.headers(sheet)))
    }

    /// The series formulas of every chart (`'按责任区'!$G$2:$G$7` …), chart by chart.
    fn series(&self) -> Vec<Vec<String>> {
        self.charts
            .values()
            .map(|xml| {
                xml.split("<c:f>").skip(1).filter_map(|s| s.split("</c:f>").next()).map(str::to_string).collect()
            })
            .collect()
    }

    /// The notes sheet's value for a label.
    fn note(&self, label: &str) -> String {
        self.row("说明", 0, label)[1].clone()
    }
}

fn num(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("not a number: {s:?}"))
}

fn close(a: &str, b: f64) -> bool {
    (num(a) - b).abs() < 1e-9
}

async fn build(h: &Harness, kind: Kind, period: Period, scope: Scope) -> Result<export::ExportFile, ExportError> {
    let mut conn = h.db().acquire().await.unwrap();
    let now = h.app().clock.now();
    export::build(&mut conn, Shanghai, &h.app().settings, kind, period, scope, now).await
}

async fn scope(h: &Harness, text: &str) -> Scope {
    let mut conn = h.db().acquire().await.unwrap();
    export::resolve_scope(&mut conn, text).await.expect("scope").0
}

/// Checks that every chart series references cells of `sheet` that hold the table's data.
fn charts_reference(b: &Book, sheet: &str) -> bool {
    b.series().iter().flatten().any(|f| f.contains(&format!("{sheet}'!$")) || f.contains(&format!("{sheet}!$")))
}

#[tokio::test]
async fn each_kind_of_export_read_back() {
    let clock = ManualClock::new(shanghai(11, 2, 8, 0));
    let mut h = Harness::start_with(CONFIG, Some(clock.clone())).await;
    november(&mut h, &clock).await;
    let nov = Period::month(2026, 11).unwrap();
    let w3 = 3i64;
    // A photo of W3 stored by the evidence fetcher (its row as the fetcher leaves it).
    dudao::sql::query(
        "INSERT INTO rectify_evidence (item_id, url, status, sha256, size, path, created_at, fetched_at)
         VALUES (?, 'https://multimedia.nt.qq.com.cn/download?rkey=SECRET', 'stored', 'ab12', 10, 'ab/ab12.jpg',
                 '2026-11-30T02:00:00Z', '2026-11-30T02:01:00Z')",
    )
    .bind(w3)
    .execute(h.db())
    .await
    .unwrap();

    // 周报, zone Z05 by name: W48 is November's only round (黄雪 on leave, 张兰英 and 武芳 on
    // time, 曹秀英 late, the rest of the zone missing).
    let z05 = scope(&h, "第五督学责任区").await;
    let file = build(&h, Kind::Weekly, nov, z05).await.unwrap();
    assert_eq!(file.file_name, "周报统计_第五督学责任区_2026-11.xlsx");
    let b = open(&file.bytes);
    assert_eq!(b.names, vec!["说明", "按责任区", "按督学", "按周"]);
    assert_eq!((b.note("期间"), b.note("范围")), ("2026年11月".to_string(), "第五督学责任区".to_string()));
    assert_eq!(b.note("生成时间"), "2026-12-01 10:00（Asia/Shanghai）");
    assert_eq!(
        b.headers("按督学"),
        vec!["编号", "督学", "责任区", "应报", "按期", "迟报", "未报", "请假/免报", "按期报送率", "报送率"]
    );
    assert_eq!(b.row("按督学", 0, "D005")[3..9], ["1", "1", "0", "0", "0", "1"]);
    assert_eq!(b.row("按督学", 0, "D024")[3..9], ["1", "0", "1", "0", "0", "0"]);
    assert_eq!(b.row("按督学", 0, "D023")[3..9], ["1", "0", "0", "1", "0", "0"]);
    // On leave: not expected, no rate.
    assert_eq!(b.row("按督学", 0, "D029")[3..9], ["0", "0", "0", "0", "1", "—"]);
    let members = b.table("按督学").len();
    let expected = members - 1;
    let zone = b.row("按责任区", 0, "第五督学责任区");
    assert_eq!(zone[1..6], [expected.to_string(), "2".into(), "1".into(), (expected - 3).to_string(), "1".into()]);
    assert!(close(&zone[6], 2.0 / expected as f64), "{zone:?}");
    assert_eq!(b.row("按责任区", 0, "合计")[1], expected.to_string());
    let weeks: Vec<String> = b.table("按周").iter().map(|r| r[0].clone()).collect();
    assert_eq!(weeks, vec!["2026-W45", "2026-W46", "2026-W47", "2026-W48"]);
    assert_eq!(b.row("按周", 0, "2026-W48")[1..4], ["2026-11-23", "2026-11-29", &expected.to_string()]);
    assert_eq!(b.row("按周", 0, "2026-W45")[8], "—", "a week without a round has no rate");
    // Two charts: the rate by zone (column G of 按责任区) and the weekly trend (column I of 按周).
    assert_eq!(b.charts.len(), 2, "{:?}", b.charts.keys());
    let series = b.series().concat();
    // One zone: the series is the one cell G2 (the rate), its name the header G1.
    assert!(series.iter().any(|f| f == "按责任区!$G$2"), "{series:?}");
    assert!(series.iter().any(|f| f == "按责任区!$G$1"), "{series:?}");
    assert!(series.iter().any(|f| f.contains("按周") && f.contains("$I$2:$I$5")), "{series:?}");
    assert!(
        b.charts.values().any(|x| x.contains("<c:barChart>")) && b.charts.values().any(|x| x.contains("<c:lineChart>"))
    );

    // 纪实: 郝涛's two visits, one row each.
    let b = open(&build(&h, Kind::Visits, nov, Scope::County).await.unwrap().bytes);
    assert_eq!(b.names, vec!["说明", "督导纪实", "方式与类型"]);
    assert_eq!(
        b.headers("督导纪实"),
        vec![
            "日期",
            "编号",
            "督学",
            "责任区",
            "学校",
            "督导类型",
            "督导方式",
            "听课节数",
            "主题督导",
            "主题",
            "问题数",
            "发现问题",
            "督导情况"
        ]
    );
    let rows = b.table("督导纪实");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0][..9],
        ["2026-11-05", "D008", "郝涛", "第一督学责任区", "城关三小", "经常性督导", "查阅资料、座谈走访", "0", "否"]
    );
    assert_eq!(
        rows[1][..8],
        ["2026-11-10", "D008", "郝涛", "第一督学责任区", "城关四小", "经常性督导", "推门听课3节", "3"]
    );
    assert_eq!(b.row("方式与类型", 1, "督导次数")[2], "2");
    assert_eq!(b.row("方式与类型", 1, "听课节数")[2], "3");
    assert_eq!(b.row("方式与类型", 1, "推门听课")[2], "1");
    assert!(b.charts.is_empty());
    // Another zone has none of them.
    let z02 = scope(&h, "Z02").await;
    assert!(open(&build(&h, Kind::Visits, nov, z02).await.unwrap().bytes).table("督导纪实").is_empty());
    // Their zone's has both, read only for that zone and identical to the county's rows.
    let z01 = scope(&h, "Z01").await;
    let zb = open(&build(&h, Kind::Visits, nov, z01).await.unwrap().bytes);
    assert_eq!(zb.table("督导纪实"), rows);
    assert_eq!(zb.table("方式与类型"), b.table("方式与类型"), "the same two visits, counted the same");
    let z2 = open(&build(&h, Kind::Visits, nov, z02).await.unwrap().bytes);
    assert_eq!(z2.row("方式与类型", 1, "督导次数")[2], "0");

    // 覆盖 for 郝涛: 2 visits of a quota of 4, 2 of his 4 schools.
    let hao = scope(&h, "郝涛").await;
    let file = build(&h, Kind::Coverage, nov, hao).await.unwrap();
    assert_eq!(file.file_name, "督导覆盖与定额_郝涛_2026-11.xlsx");
    let b = open(&file.bytes);
    assert_eq!(b.names, vec!["说明", "按督学", "按责任区", "未督导学校"]);
    assert_eq!(
        b.headers("按督学"),
        vec![
            "编号",
            "督学",
            "责任区",
            "督导次数",
            "定额",
            "定额完成率",
            "学校数",
            "已覆盖",
            "覆盖率",
            "听课节数",
            "主题督导"
        ]
    );
    let t = b.table("按督学");
    assert_eq!(t.len(), 1);
    assert_eq!(t[0][..5], ["D008", "郝涛", "第一督学责任区", "2", "4"]);
    assert!(close(&t[0][5], 0.5) && close(&t[0][8], 0.5));
    assert_eq!(t[0][6..8], ["4", "2"]);
    assert_eq!(t[0][9], "3");
    // His zone: 5 inspectors held to the quota, 22 schools.
    let z = b.row("按责任区", 0, "第一督学责任区");
    assert_eq!(z[1..3], ["2", "20"]);
    assert_eq!(z[4..6], ["22", "2"]);
    let mut missed: Vec<String> = b.table("未督导学校").iter().map(|r| r[1].clone()).collect();
    missed.sort();
    assert_eq!(missed, vec!["城郊中心小学", "实验小学"]);
    assert_eq!(b.row("未督导学校", 1, "实验小学")[3], "郝涛");
    assert_eq!(b.charts.len(), 2);
    assert!(charts_reference(&b, "按督学") && charts_reference(&b, "按责任区"), "{:?}", b.series());
    assert!(b.series().iter().all(|s| s.len() >= 4), "two series each (visits, quota): {:?}", b.series());

    // 整改台账: W1 (reopened on 1 December), W2 (closed on site), W3 (open, 6 days overdue).
    let b = open(&build(&h, Kind::Ledger, nov, Scope::County).await.unwrap().bytes);
    assert_eq!(b.names, vec!["说明", "台账", "问题分类", "分类明细", "月度整改率"]);
    let s = "台账";
    let (status, over, late, ev) = (b.col(s, "状态"), b.col(s, "逾期天数"), b.col(s, "是否逾期"), b.col(s, "证据"));
    assert_eq!(b.table(s).iter().map(|r| r[0].clone()).collect::<Vec<_>>(), vec!["W1", "W2", "W3"]);
    let w2 = b.row(s, 0, "W2");
    assert_eq!(w2[1..6], ["实验小学", "第一督学责任区", "校务管理和制度执行", "轻微，当场整改", "直接登记"]);
    assert_eq!(
        (w2[status].as_str(), w2[b.col(s, "销号日期")].as_str(), w2[late].as_str()),
        ("已销号", "2026-11-23", "按期销号")
    );
    let w3r = b.row(s, 0, "W3");
    assert_eq!(w3r[3], "校园及周边安全、学生交通安全");
    assert_eq!(
        (w3r[b.col(s, "整改期限")].as_str(), w3r[over].as_str(), w3r[late].as_str()),
        ("2026-11-25", "6", "逾期")
    );
    assert_eq!(w3r[b.col(s, "用时天数")], "8");
    assert_eq!(w3r[b.col(s, "证据数")], "1");
    assert_eq!(w3r[ev], "E1 ab/ab12.jpg");
    assert!(!b.table(s).concat().iter().any(|c| c.contains("rkey")), "no platform URL (download token) in the file");
    let w1 = b.row(s, 0, "W1");
    assert_eq!(w1[b.col(s, "重开次数")], "1");
    assert_ne!(w1[status], "已销号", "W1 is open again");
    // One zone's ledger: exactly that zone's rows of the county's, and its monthly rate the same
    // as computed from the county's rows of that zone.
    let zone_rows: Vec<Vec<String>> = b.table(s).into_iter().filter(|r| r[2] == "第一督学责任区").collect();
    assert!(!zone_rows.is_empty(), "{:?}", b.table(s));
    let zb = open(&build(&h, Kind::Ledger, nov, scope(&h, "第一督学责任区").await).await.unwrap().bytes);
    assert_eq!(zb.table(s), zone_rows);
    assert_eq!(zb.table("月度整改率"), b.table("月度整改率"), "every item of the county is in that zone");
    let other = open(&build(&h, Kind::Ledger, nov, scope(&h, "Z02").await).await.unwrap().bytes);
    assert!(other.table(s).is_empty(), "{:?}", other.table(s));
    // By category: 6 (安全) twice, 1 once; every category listed for the chart.
    assert_eq!(b.headers("问题分类"), vec!["问题类别", "问题数", "轻微", "一般", "严重", "复杂", "占比"]);
    assert_eq!(b.table("问题分类").len(), 9);
    let c6 = b.row("问题分类", 0, "校园及周边安全、学生交通安全");
    assert_eq!(c6[1..6], ["2", "0", "2", "0", "0"]);
    assert!(close(&c6[6], 2.0 / 3.0));
    assert_eq!(b.row("问题分类", 0, "校务管理和制度执行")[1..3], ["1", "1"]);
    assert_eq!(b.row("问题分类", 0, "其他")[1], "0");
    // The month: 3 recorded, 2 closed (W1's reopening is December's), 1 open → 66.7 %.
    let m = b.row("月度整改率", 0, "2026-11");
    assert_eq!(m[1..5], ["3", "2", "1", "0"]);
    assert!(close(&m[5], 2.0 / 3.0));
    assert_eq!(m[6], "2");
    assert!(close(&m[7], 1.0));
    assert_eq!(b.row("月度整改率", 0, "合计")[1], "3");
    assert_eq!(b.charts.len(), 2);
    let series = b.series().concat();
    assert!(series.iter().any(|f| f.contains("问题分类") && f.contains("$B$2:$B$10")), "{series:?}");
    assert!(series.iter().any(|f| f == "月度整改率!$F$2"), "{series:?}");

    // 督办: T1 to 郝涛, acknowledged, overdue since the 26th.
    let b = open(&build(&h, Kind::Tasks, nov, Scope::County).await.unwrap().bytes);
    assert_eq!(b.names, vec!["说明", "按任务", "按承办人", "分派明细"]);
    let t1 = b.row("按任务", 0, "T1");
    assert_eq!(t1[1], "安全检查");
    assert_eq!(t1[3], "2026-11-26 17:00");
    assert_eq!(t1[5..10], ["1", "1", "0", "0", "1"]);
    assert_eq!(b.row("按承办人", 0, "D008")[3..8], ["1", "1", "0", "0", "1"]);
    assert_eq!(b.table("分派明细")[0][6], "是");
    assert_eq!(b.charts.len(), 1);

    // 月汇报: the same figures the chat command answers.
    let said = h.say("sup: 月汇报 2026-11").await;
    let county = said.lines().map(str::trim).find(|l| l.starts_with("全县：")).unwrap_or_else(|| panic!("{said}"));
    let b = open(&build(&h, Kind::Monthly, nov, Scope::County).await.unwrap().bytes);
    assert_eq!(b.names, vec!["说明", "全县", "责任区", "问题分类", "未达定额"]);
    let c = b.row("全县", 0, "2026-11");
    let (insp, visits, quota, schools, covered) = (&c[2], &c[3], &c[4], &c[6], &c[7]);
    assert_eq!(visits, "2");
    assert!(
        county.contains(&format!("督导 {visits}/{quota} 次（{insp} 名督学），覆盖学校 {covered}/{schools} 所")),
        "{county} vs {c:?}"
    );
    let z1 = b.row("责任区", 1, "第一督学责任区");
    assert_eq!(z1[0], "2026-11");
    assert!(said.contains(&format!("· 第一督学责任区：督导 {}/{} 次", z1[3], z1[4])), "{said}");
    assert_eq!(b.table("责任区").len(), 6);
    assert!(b.table("未达定额").iter().any(|r| r[1].starts_with("郝涛 2/")), "{:?}", b.table("未达定额"));
    assert_eq!(b.charts.len(), 1);
    assert!(b.series().concat().iter().any(|f| f.contains("责任区") && f.contains("$D$2:$D$7")), "{:?}", b.series());
    // Per inspector it is not a month report.
    match build(&h, Kind::Monthly, nov, hao).await {
        Err(ExportError::Input(m)) => assert!(m.contains("按全县或责任区"), "{m}"),
        other => panic!("{:?}", other.map(|f| f.file_name)),
    }

    // 对账: November balances as the chat's 整改对账 says.
    let said = h.say("sup: 整改对账 2026-11").await;
    let b = open(&build(&h, Kind::Reconcile, nov, Scope::County).await.unwrap().bytes);
    assert_eq!(b.names, vec!["说明", "对账", "月度整改率"]);
    assert_eq!(b.headers("对账"), vec!["月份", "范围", "期初", "新增", "重开", "销号", "撤销", "期末", "是否平衡"]);
    let county = b.row("对账", 1, "全县");
    assert_eq!(county, vec!["2026-11", "全县", "0", "3", "0", "2", "0", "1", "是"]);
    assert!(said.contains("· 全县：0 + 3 + 0 − 2 − 0 = 1"), "{said}");
    let z = b.row("对账", 1, "第一督学责任区");
    assert!(
        said.contains(&format!("· 第一督学责任区：{} + {} + {} − {} − {} = {}", z[2], z[3], z[4], z[5], z[6], z[7])),
        "{said}"
    );
    assert_eq!(b.charts.len(), 1);
    assert!(charts_reference(&b, "月度整改率"), "{:?}", b.series());

    // Bad input is a polite sentence, never a panic.
    assert!(Kind::parse("工资").is_none());
    assert_eq!(Kind::parse("台账"), Some(Kind::Ledger));
    let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    match export::resolve_period(Kind::Weekly, "明年春天", today, None) {
        Err(ExportError::Input(m)) => assert!(m.contains("看不懂期间"), "{m}"),
        other => panic!("{other:?}"),
    }
    let mut conn = h.db().acquire().await.unwrap();
    match export::resolve_scope(&mut conn, "火星责任区").await {
        Err(ExportError::Input(m)) => assert!(m.contains("没有找到"), "{m}"),
        other => panic!("{other:?}"),
    }
    drop(conn);
    let next_year = Period::year(2027).unwrap();
    match build(&h, Kind::Weekly, next_year, Scope::County).await {
        Err(ExportError::Input(m)) => assert!(m.contains("还没有开始"), "{m}"),
        other => panic!("{:?}", other.map(|f| f.file_name)),
    }
    // A month with nothing in it still makes a workbook, with empty tables and no chart
    // over nothing.
    let b = open(&build(&h, Kind::Ledger, Period::month(2026, 10).unwrap(), Scope::County).await.unwrap().bytes);
    assert!(b.table("台账").is_empty());
    assert_eq!(b.row("月度整改率", 0, "2026-10")[5], "—");
    h.stop().await;
}

#[tokio::test]
async fn the_cli_writes_a_workbook() {
    let clock = ManualClock::new(shanghai(11, 2, 8, 0));
    let mut h = Harness::start_with(CONFIG, Some(clock.clone())).await;
    november(&mut h, &clock).await;
    let db_path: String = h.app().settings.database.path.display().to_string();
    let dir = h.stop().await;
    let config = dir.path().join("dudao.toml");
    std::fs::write(&config, format!("[database]\npath = \"{}\"\n{CONFIG}", db_path.replace('\\', "/"))).unwrap();
    let out = dir.path().join("台账.xlsx");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dudao"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("DUDAO_LOG", "warn")
            .output()
            .expect("dudao runs")
    };
    let o = run(&[
        "export",
        "整改台账",
        "--period",
        "2026年11月",
        "--scope",
        "第一督学责任区",
        "-o",
        out.to_str().unwrap(),
        "--now",
        "2026-12-01T10:00:00+08:00",
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("已导出") && stdout.contains("台账.xlsx"), "{stdout}");
    let b = open(&std::fs::read(&out).unwrap());
    assert_eq!(b.note("范围"), "第一督学责任区");
    assert_eq!(b.note("生成时间"), "2026-12-01 10:00（Asia/Shanghai）");
    assert_eq!(b.table("台账").len(), 3);
    assert_eq!(b.row("台账", 0, "W3")[13], "6");
    assert_eq!(b.charts.len(), 2);

    // Without -o: the workbook's own name, in the working directory.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_dudao"))
        .current_dir(dir.path())
        .args(["--config", config.to_str().unwrap(), "export", "督办", "--period", "2026-11"])
        .args(["--now", "2026-12-01T10:00:00+08:00"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let b = open(&std::fs::read(dir.path().join("督办任务_全县_2026-11.xlsx")).unwrap());
    assert_eq!(b.row("按任务", 0, "T1")[9], "1");

    // Bad input: a clear message and a failure status, nothing written.
    let o = run(&["export", "工资", "-o", "x.xlsx"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("没有“工资”这种导出") && err.contains("整改台账"), "{err}");
    let o = run(&["export", "周报", "--period", "下下周", "--now", "2026-12-01T10:00:00+08:00"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("看不懂期间"));
}

/// The path the console printed for a file it wrote (`[文件] NAME → PATH`).
fn console_file(out: &str) -> Option<std::path::PathBuf> {
    out.lines().find_map(|l| l.trim().strip_prefix("[文件] ")).and_then(|l| l.split_once(" → ")).map(|(_, p)| p.into())
}

#[tokio::test]
async fn a_supervisor_asks_in_chat_and_gets_the_workbook() {
    let clock = ManualClock::new(shanghai(11, 2, 8, 0));
    let mut h = Harness::start_with(CONFIG, Some(clock.clone())).await;
    november(&mut h, &clock).await;
    clock.set(shanghai(12, 1, 9, 0));

    // Privately: the caption, then the file itself, the same workbook the library builds.
    let out = h.say("sup: 导出 整改台账 2026-11").await;
    assert!(out.contains("已生成《整改台账_全县_2026-11.xlsx》"), "{out}");
    let path = console_file(&out).unwrap_or_else(|| panic!("no file in {out}"));
    let b = open(&std::fs::read(&path).unwrap());
    assert_eq!(b.names[0], "说明");
    assert!(b.names.iter().any(|n| n == "台账"), "{:?}", b.names);
    let nov = Period::month(2026, 11).unwrap();
    let direct = open(&build(&h, Kind::Ledger, nov, Scope::County).await.unwrap().bytes);
    assert_eq!(b.table("台账"), direct.table("台账"), "chat and library give the same ledger");

    // A zone and a named month in free order; the file is named for them.
    let out = h.say("sup: 导出 周报 第一督学责任区 2026年11月").await;
    assert!(out.contains("已生成《周报统计_第一督学责任区_2026-11.xlsx》"), "{out}");
    assert!(console_file(&out).is_some(), "{out}");

    // Polite refusals, and no file: in a group, from an inspector, a kind or period that does not exist.
    let out = h.say("sup@zone5: 导出 周报").await;
    assert!(out.contains("涉及个人信息，请私聊我发送"), "{out}");
    let out = h.say("hao: 导出 周报").await;
    assert!(out.contains("不能使用“导出”"), "{out}");
    let out = h.say("sup: 导出 花名册").await;
    assert!(out.contains("没有“花名册”这种导出") && out.contains("整改台账"), "{out}");
    let out = h.say("sup: 导出 周报 2027-03").await;
    assert!(out.contains("还没有开始"), "{out}");
    let out = h.say("sup: 导出 周报 火星责任区").await;
    assert!(!out.contains("[文件]") && out.contains("火星责任区"), "{out}");
    let out = h.say("sup: 导出").await;
    assert!(out.contains("用法：导出"), "{out}");
    h.stop().await;
}

#[tokio::test]
async fn over_qq_the_workbook_arrives_as_an_uploaded_file() {
    use dudao::chat::onebot::{OneBotChannel, OneBotSettings};
    use onebot_fake::{connect_reverse, Auth, Recorder};
    use serde_json::json;
    use std::sync::Arc;
    const TOKEN: &str = "export-t0ken";
    const WAIT: std::time::Duration = std::time::Duration::from_secs(20);
    let extra = format!(
        "[channels.console]\nenabled = false\n\
         [channels.onebot]\nenabled = true\naccess_token = \"{TOKEN}\"\nmin_interval_ms = 0\nmax_per_minute = 0\n\
         chat_min_interval_ms = 0\nchat_max_per_minute = 0\nsend_jitter_ms = 0\napi_timeout_ms = 5000\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_for(&dir, &extra);
    let ch = Arc::new(OneBotChannel::new(OneBotSettings::from_settings(&settings).unwrap().unwrap()));
    let channels: Vec<Arc<dyn dudao::Channel>> = vec![ch];
    let clock = ManualClock::new(shanghai(12, 1, 9, 0));
    let running = dudao::service::start(settings, Arc::new(clock), channels).await.unwrap();
    let sup = roster_qq(&running.app.db, "supervisor").await;
    let rec = Recorder::new();
    let bot = connect_reverse(running.http_addr, "3000000017", Auth::Bearer(TOKEN), rec.clone()).await.unwrap();

    bot.private_msg(sup, json!(1), json!([{"type": "text", "data": {"text": "导出 督办 上月"}}]));
    let up = rec.wait_for(1, WAIT, |a| a.action == "upload_private_file" && a.ok).await;
    assert_eq!(up[0].params["user_id"], sup);
    assert_eq!(up[0].params["name"], "督办任务_全县_2026-11.xlsx");
    let b64 = up[0].params["file"].as_str().unwrap().strip_prefix("base64://").expect("sent inline");
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap();
    let book = open(&bytes);
    assert_eq!(book.names, vec!["说明", "按任务", "按承办人", "分派明细"]);
    // The caption came first, to the same person.
    let said = rec.wait_for(1, WAIT, |a| a.action == "send_private_msg" && a.params["user_id"] == sup && a.ok).await;
    assert!(said[0].text().contains("已生成《督办任务_全县_2026-11.xlsx》"), "{}", said[0].text());
    running.drain(WAIT).await;
    assert_eq!(rec.actions().iter().filter(|a| a.action == "upload_private_file").count(), 1, "sent once");
    bot.close();
    running.stop().await;
}
