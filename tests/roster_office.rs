//! The office's own spreadsheets: the inspector-oriented sheet, the template, one normalisation
//! for names and codes from import to chat, and roster errors that teach.

mod common;

use common::Harness;
use rust_xlsxwriter::{Format, Workbook};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the real binary against `dir/dudao.sqlite` (the database the test harness uses).
fn cli(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dudao"))
        .args(args)
        .env("DUDAO_DATABASE__PATH", dir.join("dudao.sqlite"))
        .env("DUDAO_LOG", "warn")
        .output()
        .expect("run dudao")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Writes a worksheet row by row; "" leaves the cell empty.
fn put_rows(ws: &mut rust_xlsxwriter::Worksheet, first_row: u32, rows: &[&[&str]]) {
    for (r, cells) in rows.iter().enumerate() {
        for (c, v) in cells.iter().enumerate() {
            if !v.is_empty() {
                ws.write_string(first_row + r as u32, c as u16, *v).unwrap();
            }
        }
    }
}

/// A workbook with the given sheets, each as (name, rows).
fn workbook(path: &Path, sheets: &[(&str, &[&[&str]])]) {
    let mut wb = Workbook::new();
    for (name, rows) in sheets {
        let ws = wb.add_worksheet();
        ws.set_name(*name).unwrap();
        put_rows(ws, 0, rows);
    }
    wb.save(path).unwrap();
}

const OFFICE_HEADER: &[&str] =
    &["序号", "督学姓名", "性别", "挂牌督导学校", "工作单位", "职务", "联系方式", "责任区", "备注"];

/// The office shape: a merged title row, then the header (out of the documented order), then
/// inspectors; the caller's rows start at spreadsheet row 3.
fn office_workbook(path: &Path, rows: &[&[&str]], schools: Option<&[&[&str]]>) {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("责任督学名单").unwrap();
    ws.merge_range(0, 0, 0, 8, "清河县责任督学名单", &Format::new()).unwrap();
    put_rows(ws, 1, &[OFFICE_HEADER]);
    put_rows(ws, 2, rows);
    if let Some(schools) = schools {
        let ws = wb.add_worksheet();
        ws.set_name("学校").unwrap();
        put_rows(ws, 0, schools);
    }
    wb.save(path).unwrap();
}

const SCHOOL_LIST: &[&[&str]] = &[
    &["学校代码", "学校名称", "简称", "责任区", "学段"],
    &["3100000001", "清河县实验小学", "实验小学", "城关责任区", "小学"],
    &["3100000002", "清河县第２中学", "二中", "城关责任区", "初中"],
    &["3100000003", "清河县柳林镇中心小学", "柳林中心小学", "柳林责任区", "小学"],
];

#[tokio::test]
async fn spaced_and_full_width_names_are_found_from_chat_in_half_width() {
    let dir = tempfile::tempdir().unwrap();
    let xlsx = dir.path().join("花名册.xlsx");
    workbook(
        &xlsx,
        &[
            ("责任区", &[&["编号", "名称", "级别", "组长"], &["ＱＨ３", "清河　第三责任区", "县级", "王　芳"]]),
            (
                "学校",
                &[
                    &["学校代码", "学校名称", "责任区", "学段", "主责督学"],
                    &["3100000001", "清河县实验小学", "ＱＨ３", "小学", "王　芳"],
                ],
            ),
            (
                "人员",
                &[
                    &["编号", "姓名", "角色", "督学类型", "责任区", "学校"],
                    &["A001", "赵　敏", "管理员", "", "", ""],
                    &["D001", "王　芳", "责任督学", "专职", "ＱＨ３", ""],
                    &["C001", "刘　洋", "联络员", "", "", "清河县实验小学"],
                ],
            ),
        ],
    );
    let out = cli(dir.path(), &["roster", "import", xlsx.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));

    let mut h = Harness::start_in(dir, "[roster]\nsample_on_empty = false\n", None).await;
    h.bind("zhaomin", "A001").await;
    // Names are displayed as typed, found as chat writes them.
    let reply = h.say("zhaomin: 绑定码 王芳").await;
    assert!(reply.contains("王　芳（D001）的绑定码"), "{reply}");
    let reply = h.say("zhaomin: 督导进度 QH3").await;
    assert!(!reply.contains("没有找到责任区"), "{reply}");
    assert!(reply.contains("清河　第三责任区"), "{reply}");
    let reply = h.say("zhaomin: 督导进度 清河第三责任区").await;
    assert!(reply.contains("清河　第三责任区"), "{reply}");
    let reply = h.say("zhaomin: 绑定码 qh3").await;
    assert!(reply.contains("花名册中没有找到“qh3”"), "{reply}");
    let reply = h.say("zhaomin: 布置任务 秋季安全检查 对象:王芳 截止:12月30日").await;
    assert!(!reply.contains("没有找到人员"), "{reply}");
    assert!(reply.contains("王　芳"), "{reply}");
    h.stop().await;
}

#[tokio::test]
async fn office_sheet_problems_are_reported_by_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let xlsx = dir.path().join("督学名单.xlsx");
    office_workbook(
        &xlsx,
        &[
            &[
                "1",
                "王　芳",
                "女",
                "清河县实验小学、二中",
                "清河县教育局",
                "专职督学",
                "139 0000 0001",
                "城关责任区",
                "",
            ],
            &[],
            &["2", "李强", "男", "清河县柳林镇中心小校", "柳林镇中心校", "兼职督学", "13900000002", "柳林责任区", ""],
            &["3", "王芳", "女", "清河县实验小学", "清河县教育局", "专职督学", "13900000001", "城关责任区", "重复"],
        ],
        Some(SCHOOL_LIST),
    );
    let out = cli(dir.path(), &["roster", "import", "--check", xlsx.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("督学名单.xlsx#责任督学名单：已忽略的列：性别、备注"), "{t}");
    // Exactly these problems: the blank row 4 is skipped, the title row is not a header, "王　芳"
    // and "王芳" are the same person, "二中" is the 简称 of "清河县第２中学".
    let problems: Vec<&str> = t.lines().filter(|l| l.starts_with("  ")).map(str::trim).collect();
    assert_eq!(
        problems,
        [
            "责任督学名单 第5行 [挂牌督导学校]：未知的学校“清河县柳林镇中心小校”，是否为“清河县柳林镇中心小学”？",
            "责任督学名单 第6行 [督学姓名]：督学“王芳”与第3行重复（姓名和联系电话相同），请删除其中一行",
        ],
        "{t}"
    );
    // Nothing was written.
    assert!(
        !dir.path().join("dudao.sqlite").exists() || {
            let settings = common::settings_for(&dir, "");
            let db = dudao::db::open_and_migrate(&settings.database).await.unwrap();
            let n: i64 = dudao::sql::query_scalar("SELECT COUNT(*) FROM people").fetch_one(&db).await.unwrap();
            db.close().await;
            n == 0
        }
    );
}

#[tokio::test]
async fn clean_office_sheet_imports_and_chat_finds_its_names_in_half_width() {
    let dir = tempfile::tempdir().unwrap();
    let xlsx = dir.path().join("督学名单.xlsx");
    office_workbook(
        &xlsx,
        &[
            &[
                "1",
                "王　芳",
                "女",
                "清河县实验小学、二中",
                "清河县教育局",
                "专职督学",
                "139 0000 0001",
                "城关责任区",
                "",
            ],
            &[],
            &[
                "2",
                "李　强",
                "男",
                "清河县柳林镇中心小学；",
                "柳林镇中心校",
                "兼职督学",
                "13900000002",
                "柳林责任区",
                "新任",
            ],
        ],
        Some(SCHOOL_LIST),
    );
    let out = cli(dir.path(), &["roster", "import", xlsx.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("已忽略的列：性别、备注"), "{}", text(&out));

    let h = Harness::start_in(dir, "[roster]\nsample_on_empty = false\n", None).await;
    let db = h.db().clone();
    let people: Vec<(String, String, String, Option<String>)> =
        dudao::sql::query_as("SELECT code, name, inspector_type, phone FROM people ORDER BY code")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(
        people,
        vec![
            ("D001".into(), "王　芳".into(), "full_time".into(), Some("13900000001".into())),
            ("D002".into(), "李　强".into(), "part_time".into(), Some("13900000002".into())),
        ]
    );
    let primaries: Vec<(String, String)> = dudao::sql::query_as(
        "SELECT s.name, p.code FROM school_assignments a JOIN schools s ON s.id = a.school_id
         JOIN people p ON p.id = a.person_id WHERE a.role = 'primary' ORDER BY s.code",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(
        primaries,
        vec![
            ("清河县实验小学".into(), "D001".into()),
            ("清河县第２中学".into(), "D001".into()),
            ("清河县柳林镇中心小学".into(), "D002".into()),
        ]
    );
    let zones: Vec<String> =
        dudao::sql::query_scalar("SELECT name FROM zones ORDER BY code").fetch_all(&db).await.unwrap();
    assert_eq!(zones, ["城关责任区", "柳林责任区"]);

    // The inspector binds, then names the school in half-width and without spaces.
    let mut h = h;
    h.bind("wangfang", "D001").await;
    let reply = h.say("wangfang: 学校 清河县第2中学").await;
    assert!(reply.contains("清河县第２中学（初中，城关责任区）"), "{reply}");
    assert!(reply.contains("责任督学：王　芳"), "{reply}");
    h.stop().await;
}

#[tokio::test]
async fn office_sheet_without_a_school_list_creates_schools_and_zones() {
    let dir = tempfile::tempdir().unwrap();
    let xlsx = dir.path().join("督学名单.xlsx");
    office_workbook(
        &xlsx,
        &[&[
            "1",
            "王芳",
            "女",
            "清河县实验小学、清河县第二初级中学",
            "清河县教育局",
            "兼职督学",
            "13900000001",
            "",
            "",
        ]],
        None,
    );
    let out = cli(dir.path(), &["roster", "import", xlsx.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let settings = common::settings_for(&dir, "");
    let db = dudao::db::open_and_migrate(&settings.database).await.unwrap();
    let schools: Vec<(String, String, String)> = dudao::sql::query_as(
        "SELECT s.name, s.stage, z.name FROM schools s JOIN zones z ON z.id = s.zone_id ORDER BY s.name",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(
        schools,
        vec![
            ("清河县实验小学".into(), "小学".into(), "默认责任区".into()),
            ("清河县第二初级中学".into(), "初中".into(), "默认责任区".into()),
        ]
    );
    db.close().await;
}

#[tokio::test]
async fn reimporting_the_office_sheet_keeps_codes_and_matches_the_schools_already_imported() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("第一次.xlsx");
    office_workbook(
        &first,
        &[
            &["1", "王　芳", "女", "清河县实验小学、二中", "清河县教育局", "专职督学", "13900000001", "城关责任区", ""],
            &["2", "李　强", "男", "清河县柳林镇中心小学", "柳林镇中心校", "兼职督学", "13900000002", "柳林责任区", ""],
        ],
        Some(SCHOOL_LIST),
    );
    let out = cli(dir.path(), &["roster", "import", first.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));

    // A later version of the sheet: rows swapped, names without the aligning space, no 学校
    // sheet (the schools already imported are the list), a school named by its 简称.
    let second = dir.path().join("第二次.xlsx");
    office_workbook(
        &second,
        &[
            &["1", "李强", "男", "柳林中心小学、实验小学", "柳林镇中心校", "兼职督学", "13900000002", "柳林责任区", ""],
            &["2", "王芳", "女", "二中", "清河县教育局", "专职督学", "13900000001", "城关责任区", ""],
        ],
        None,
    );
    let out = cli(dir.path(), &["roster", "import", second.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));

    let settings = common::settings_for(&dir, "");
    let db = dudao::db::open_and_migrate(&settings.database).await.unwrap();
    let people: Vec<(String, String)> =
        dudao::sql::query_as("SELECT code, name FROM people WHERE active = 1 ORDER BY code")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(people, vec![("D001".into(), "王芳".into()), ("D002".into(), "李强".into())]);
    let schools: i64 =
        dudao::sql::query_scalar("SELECT COUNT(*) FROM schools WHERE active = 1").fetch_one(&db).await.unwrap();
    assert_eq!(schools, 3);
    let primaries: Vec<(String, String)> = dudao::sql::query_as(
        "SELECT s.code, p.code FROM school_assignments a JOIN schools s ON s.id = a.school_id
         JOIN people p ON p.id = a.person_id WHERE a.role = 'primary' ORDER BY s.code",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(
        primaries,
        vec![
            ("3100000001".into(), "D002".into()),
            ("3100000002".into(), "D001".into()),
            ("3100000003".into(), "D002".into())
        ]
    );
    db.close().await;
}

#[tokio::test]
async fn misspelt_school_in_the_full_format_gets_a_suggestion_and_names_are_not_codes() {
    let dir = tempfile::tempdir().unwrap();
    let xlsx = dir.path().join("花名册.xlsx");
    workbook(
        &xlsx,
        &[
            ("责任区", &[&["编号", "名称"], &["Z01", "城关责任区"]]),
            (
                "学校",
                &[
                    &["学校代码", "学校名称", "责任区", "学段", "主责督学"],
                    &["3100000001", "清河县实验小学", "Z01", "小学", "王芳"],
                ],
            ),
            (
                "人员",
                &[
                    &["编号", "姓名", "角色", "督学类型", "责任区", "学校"],
                    &["D001", "李强", "责任督学", "专职", "Z01", ""],
                    &["C001", "刘洋", "联络员", "", "", "清河县实验小校"],
                ],
            ),
        ],
    );
    let out = cli(dir.path(), &["roster", "import", "--check", xlsx.to_str().unwrap()]);
    assert!(!out.status.success());
    let t = text(&out);
    let problems: Vec<&str> = t.lines().filter(|l| l.starts_with("  ")).map(str::trim).collect();
    assert_eq!(
        problems,
        [
            "学校 第2行 [主责督学]：主责督学“王芳”：人员表中没有这位督学（既不是编号也不是督学姓名）",
            "人员 第3行 [学校]：未知的学校“清河县实验小校”，是否为“清河县实验小学”？",
        ],
        "{t}"
    );
}

#[tokio::test]
async fn template_untouched_is_refused_and_filled_validates() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ["office", "full"] {
        let path = dir.path().join(format!("{kind}.xlsx"));
        let out = cli(dir.path(), &["roster", "template", "--kind", kind, path.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        let out = cli(dir.path(), &["roster", "import", "--check", path.to_str().unwrap()]);
        assert!(!out.status.success(), "{kind}: {}", text(&out));
        assert!(text(&out).contains("是模板中的示例行"), "{kind}: {}", text(&out));

        // Filling the example row (here: in the raw tables, as an office would in Excel).
        let mut raw = dudao::roster::read_files(&[PathBuf::from(&path)]).unwrap();
        for table in [&mut raw.zones, &mut raw.schools, &mut raw.people, &mut raw.office].into_iter().flatten() {
            for row in &mut table.rows {
                for v in row.cells.values_mut() {
                    *v = v.replace("（示例）", "");
                }
            }
        }
        let roster = dudao::roster::validate(raw).unwrap_or_else(|e| panic!("{kind}: {e:?}"));
        assert!(!roster.people.is_empty(), "{kind}");
    }
}

#[tokio::test]
async fn misspelt_school_in_chat_gets_a_suggestion() {
    let mut h = Harness::start().await;
    let inspector: String = dudao::sql::query_scalar(
        "SELECT p.code FROM people p JOIN school_assignments a ON a.person_id = p.id
         JOIN schools s ON s.id = a.school_id WHERE s.name = '示例县实验小学' AND a.role = 'primary'",
    )
    .fetch_one(h.db())
    .await
    .unwrap();
    h.bind("insp", &inspector).await;
    let reply = h.say("insp: 记问题 示例县实验小校 6 消防通道堆放杂物").await;
    assert!(reply.contains("没有找到学校“示例县实验小校”。是否为“示例县实验小学”？"), "{reply}");
    let reply = h.say("insp: 学校 示例县实验小校").await;
    assert!(reply.contains("没有找到学校“示例县实验小校”。是否为“示例县实验小学”？"), "{reply}");
    let reply = h.say("insp: 督导纪实 今天到示验小学查阅资料").await;
    assert!(reply.contains("“示验小学”不在您负责的学校名单中。是否为“实验小学”？"), "{reply}");

    let admin = common::first_person(h.db(), "admin").await;
    h.bind("boss", &admin).await;
    let reply = h.say("boss@g9: 登记群 学校群 示例县实验小校").await;
    assert!(reply.contains("没有找到学校“示例县实验小校”。是否为“示例县实验小学”？"), "{reply}");
    let reply = h.say("boss: 布置任务 消防检查 对象:示例县实验小校 截止:12月30日").await;
    assert!(reply.contains("没有找到人员、责任区或学校：“示例县实验小校”（是否为“示例县实验小学”？）"), "{reply}");
    h.stop().await;
}

#[tokio::test]
async fn name_keys_are_backfilled_at_start_and_a_rename_never_leaves_a_stale_key() {
    let dir = tempfile::tempdir().unwrap();
    let settings = common::settings_for(&dir, "");
    let db = dudao::db::open_and_migrate(&settings.database).await.unwrap();
    // Rows as an earlier build (or any writer not computing keys) leaves them.
    dudao::sql::query("INSERT INTO regions (code, name, level) VALUES ('local', '本县', 'county')")
        .execute(&db)
        .await
        .unwrap();
    dudao::sql::query(
        "INSERT INTO zones (region_id, code, name, level) VALUES (1, 'ＱＨ３', '清河　第三责任区', 'county')",
    )
    .execute(&db)
    .await
    .unwrap();
    dudao::sql::query("INSERT INTO people (code, name, role) VALUES ('Ａ001', '赵　敏', 'admin')")
        .execute(&db)
        .await
        .unwrap();
    let keys = |db: dudao::db::Db| async move {
        let p: (Option<String>, Option<String>) =
            dudao::sql::query_as("SELECT name_key, code_key FROM people").fetch_one(&db).await.unwrap();
        let z: (Option<String>, Option<String>) =
            dudao::sql::query_as("SELECT name_key, code_key FROM zones").fetch_one(&db).await.unwrap();
        (p, z)
    };
    assert_eq!(keys(db.clone()).await, ((None, None), (None, None)));
    db.close().await;

    // The next start fills them.
    let db = dudao::db::open_and_migrate(&settings.database).await.unwrap();
    assert_eq!(
        keys(db.clone()).await,
        ((Some("赵敏".into()), Some("a001".into())), (Some("清河第三责任区".into()), Some("qh3".into())))
    );
    // A rename clears the key (never stale) until the next fill; lookups compare the name itself meanwhile.
    dudao::sql::query("UPDATE people SET name = '赵　敏敏'").execute(&db).await.unwrap();
    assert_eq!(keys(db.clone()).await.0, (None, None));
    let mut conn = db.acquire().await.unwrap();
    let found = dudao::store::people::find_people(&mut conn, "赵敏敏").await.unwrap();
    assert_eq!(found.len(), 1);
    assert!(dudao::store::people::find_people(&mut conn, "赵敏").await.unwrap().is_empty());
    drop(conn);
    dudao::db::fill_name_keys(&db).await.unwrap();
    assert_eq!(keys(db.clone()).await.0, (Some("赵敏敏".into()), Some("a001".into())));
    db.close().await;
}
