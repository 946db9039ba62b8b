//! Benchmark: statistics and chat answers at province scale (issue 16).
//!
//! Builds a synthetic province in a temporary SQLite file — `ZONES` county-sized zones (default
//! 100: 12,000 schools and 3,000 inspectors), imported through the real roster importer — with
//! two years (2025–2026) of generated activity (`ITEMS` rectification items a year, default
//! 150,000: about 1.4 million item events; ~320,000 visits; ~310,000 weekly member-weeks). Then
//! it starts the service on that file with the console channel and times the supervisors' chat
//! commands end to end (message stored → processed → reply queued), at county scale (one zone)
//! and province scale (every zone), plus the XLSX exports of a county-year. It reports the
//! reply's length, the process's resident memory after each command and its peak while
//! answering.
//!
//! Then the platform's 主题与纪实, 统计 and 通报 pages (and one XLSX download) are timed over
//! HTTP as the supervisor sees them.
//!
//! Targets: county-level statistics under 200 ms, a province-level month under 1 s, memory under
//! 100 MB while answering, a county-year export under 2 s, a platform page under 100 ms.
//!
//! Run: `cargo bench --bench province` (env: ZONES=100, ITEMS=150000, RUNS=3, SEED=16;
//! DATA=/path/file.sqlite keeps the generated database there and reuses it on the next run;
//! ONLY=chat|exports|pages runs one section, PAGES=<text> the pages whose label contains it;
//! BENCH_LOG=dudao::sql=debug logs every statement with its time).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use dudao::chat::console::{parse_line, ConsoleChannel};
use dudao::clock::ManualClock;
use dudao::config::Settings;
use dudao::db;
use dudao::domain::stats::{Period, Scope};
use dudao::export::{self, Kind};
use dudao::roster::{parse_csv, RawTables};
use dudao::Channel;

#[path = "support/county_year.rs"]
mod county_year;

/// `ONLY=chat|exports|pages` runs that section alone (all three by default); `PAGES=<text>`
/// times only the pages whose label contains the text.
fn wanted(section: &str) -> bool {
    std::env::var("ONLY").map_or(true, |only| only.is_empty() || only == section)
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤";
const GIVEN: &str =
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建国斌宇浩凯健俊帆帅旭宁龙林欢阳晨";
const COUNTY_NAMES: &str = "东西南北中安平和兴宁华山川江河湖海林丰泰";

/// The province roster as the office's three sheets: zone `z` is county-sized (120 schools,
/// 30 inspectors), plus the office's supervisors and an administrator.
fn province_roster(zones: usize) -> RawTables {
    let surnames: Vec<char> = SURNAMES.chars().collect();
    let given: Vec<char> = GIVEN.chars().collect();
    let counties: Vec<char> = COUNTY_NAMES.chars().collect();
    let county =
        |z: usize| format!("{}{}县", counties[z % counties.len()], counties[(z / counties.len()) % counties.len()]);
    let mut zones_csv = String::from("编号,名称,级别,组长\n");
    let mut schools_csv =
        String::from("学校代码,学校名称,简称,别名,责任区,学段,办学性质,市直,寄宿,主责督学,协同督学,回避督学\n");
    let mut people_csv = String::from("编号,姓名,角色,督学类型,责任区,学校,职务,手机,QQ,企业微信,Telegram,备注\n");
    let mut n = 0usize;
    let mut name = || {
        n += 1;
        let s = surnames[n % surnames.len()];
        let g1 = given[(n / surnames.len()) % given.len()];
        let g2 = given[(n * 7 / 3) % given.len()];
        format!("{s}{g1}{g2}")
    };
    for code in 1..=3 {
        people_csv.push_str(&format!("S{code:03},{},督导室,,,,督导室主任,1880000{code:04},,,,\n", name()));
    }
    people_csv.push_str(&format!("A001,{},管理员,,,,信息中心,18800009999,,,,\n", name()));
    for z in 1..=zones {
        let zone = format!("P{z:03}");
        zones_csv.push_str(&format!("{zone},{}第{}督学责任区,县级,I{z:03}01\n", county(z), z));
        for j in 1..=30 {
            let kind = if j <= 10 { "专职" } else { "兼职" };
            people_csv.push_str(&format!(
                "I{z:03}{j:02},{},责任督学,{kind},{zone},,督学,1{:010},,,,\n",
                name(),
                3_000_000_000u64 + (z * 100 + j) as u64
            ));
        }
        for k in 1..=120 {
            let stage = ["小学", "初中", "幼儿园", "完全中学"][k % 4];
            schools_csv.push_str(&format!(
                "4{z:03}{k:05},{}第{z}学区第{k}学校,,,{zone},{stage},公办,否,否,I{z:03}{:02},,\n",
                county(z),
                (k - 1) % 30 + 1
            ));
        }
    }
    let mut tables = RawTables::default();
    for (file, text) in [("zones.csv", zones_csv), ("schools.csv", schools_csv), ("people.csv", people_csv)] {
        tables.insert(parse_csv(std::path::Path::new(file), text.as_bytes()).unwrap()).unwrap();
    }
    tables
}

/// Resident and peak resident memory of this process, in MB.
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse::<f64>().ok()))
            .unwrap_or(0.0)
    };
    (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
}

/// Resets the peak (VmHWM) to the current resident size, so the peak measured after is the
/// answering's own.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

async fn build_dataset(settings: &Settings, zones: usize, items: u64, seed: u64, now: DateTime<Utc>) {
    let db = db::open_and_migrate(&settings.database).await.unwrap();
    let t = Instant::now();
    let roster = dudao::roster::validate(province_roster(zones))
        .unwrap_or_else(|errs| panic!("province roster invalid: {:?}", errs.iter().take(3).collect::<Vec<_>>()));
    let opts = dudao::store::roster::ImportOptions::new("cli", now);
    dudao::app::roster_load::apply_with(&db, &roster, &opts).await.unwrap();
    println!("roster import: {zones} zones in {:.1} s", t.elapsed().as_secs_f64());
    let c = county_year::county(&db).await;
    let t = Instant::now();
    let mut totals: Vec<(&'static str, u64)> = Vec::new();
    for (i, year) in [2025, 2026].into_iter().enumerate() {
        for (what, n) in county_year::generate(&db, &c, year, items, seed + i as u64).await {
            match totals.iter_mut().find(|(w, _)| *w == what) {
                Some((_, total)) => *total += n,
                None => totals.push((what, n)),
            }
        }
    }
    println!(
        "activity 2025–2026: {} schools, {} inspectors; generated in {:.1} s",
        c.schools.len(),
        c.inspectors.len(),
        t.elapsed().as_secs_f64()
    );
    for (what, n) in &totals {
        println!("  {what}: {n}");
    }
    dudao::sql::raw_sql("ANALYZE").execute(&mut db.acquire().await.unwrap()).await.unwrap();
    db.close().await;
}

fn main() {
    // BENCH_LOG=dudao::sql=debug lists every statement and its time (on stderr).
    if let Ok(filter) = std::env::var("BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let zones = env_num("ZONES", 100) as usize;
        let items = env_num("ITEMS", 150_000);
        let runs = env_num("RUNS", 3).max(1);
        let seed = env_num("SEED", 16);
        let dir = tempfile::tempdir().unwrap();
        let path = match std::env::var("DATA") {
            Ok(p) if !p.is_empty() => std::path::PathBuf::from(p),
            _ => dir.path().join("province.sqlite"),
        };
        let settings = Settings::from_toml_over_default(&format!(
            "[database]\npath = \"{}\"\n[roster]\nsample_on_empty = false\n[http]\nbind = \"127.0.0.1:0\"\n[web]\nbase_url = \"http://bench.invalid/\"\n",
            path.display().to_string().replace('\\', "/")
        ))
        .unwrap();
        let now: DateTime<Utc> = Shanghai.with_ymd_and_hms(2026, 12, 28, 10, 0, 0).unwrap().with_timezone(&Utc);
        if std::env::var("GENERATE_ONLY").is_ok() {
            build_dataset(&settings, zones, items, seed, now).await;
            return;
        }
        if !path.exists() {
            // Generated in a child process, so its memory is not counted against the answers.
            let args: Vec<String> = std::env::args().skip(1).collect();
            let status = std::process::Command::new(std::env::current_exe().unwrap())
                .args(&args)
                .env("DATA", &path)
                .env("GENERATE_ONLY", "1")
                .status()
                .unwrap();
            assert!(status.success(), "dataset generation failed");
        } else {
            println!("reusing {}", path.display());
        }
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!("database: {:.0} MB", size as f64 / 1e6);

        // The service on that file, with a console channel whose output goes nowhere.
        let (_input, reader) = tokio::io::duplex(1 << 10);
        let console = Arc::new(ConsoleChannel::new(
            "console",
            settings.service.bot_name.clone(),
            Box::new(tokio::io::BufReader::new(reader)),
            Box::new(tokio::io::sink()),
        ));
        let clock = ManualClock::new(now);
        let channels: Vec<Arc<dyn Channel>> = vec![console.clone()];
        let running = dudao::service::start(settings.clone(), Arc::new(clock), channels).await.unwrap();
        let app = running.app.clone();
        let supervisor: i64 =
            dudao::sql::query_scalar("SELECT id FROM people WHERE code = 'S001'").fetch_one(&app.db).await.unwrap();
        // Console message ids carry a run number: a reused database has seen earlier runs' ids
        // (and rightly drops them as duplicates).
        let run = chrono::Utc::now().timestamp();
        // Bound through the real `绑定` command, as an office would.
        let mut tx = db::begin_write(&app.db).await.unwrap();
        let (code, _) =
            dudao::store::binding::issue(&mut tx, supervisor, now, chrono::Duration::hours(72)).await.unwrap();
        tx.commit().await.unwrap();
        let bind = console.to_message(parse_line(&format!("bench-sup: 绑定 {code}")).unwrap(), 0, run);
        app.ingest(bind).await.unwrap();
        running.drain(Duration::from_secs(30)).await;
        let zone_id: i64 =
            dudao::sql::query_scalar("SELECT id FROM zones WHERE code = 'P001'").fetch_one(&app.db).await.unwrap();

        println!();
        println!("chat commands (best of {runs}; message stored → processed → reply queued):");
        println!(
            "{:<28} {:>10} {:>10} {:>8} {:>6} {:>9} {:>9}",
            "command", "best ms", "mean ms", "chars", "msgs", "RSS MB", "peak MB"
        );
        let commands: [(&str, &str); 8] = [
            ("月汇报 (province month)", "月汇报 2026-11"),
            ("督导进度 (all zones)", "督导进度"),
            ("督导进度 P001 (county)", "督导进度 P001"),
            ("整改台账 (province)", "整改台账"),
            ("整改台账 P001 (county)", "整改台账 P001"),
            ("整改对账 (province month)", "整改对账 2026-11"),
            ("周报统计 (province week)", "周报统计"),
            ("更多 (next page)", "更多"),
        ];
        let mut seq = 0u64;
        let mut worst_county = Duration::ZERO;
        let mut worst_province = Duration::ZERO;
        let mut peak_all = 0f64;
        for (label, line) in commands.into_iter().filter(|_| wanted("chat")) {
            let mut times = Vec::new();
            let (mut chars, mut msgs) = (0usize, 0usize);
            reset_peak();
            for _ in 0..runs {
                let before: i64 = dudao::sql::query_scalar("SELECT COALESCE(MAX(id), 0) FROM outbox")
                    .fetch_one(&app.db)
                    .await
                    .unwrap();
                seq += 1;
                let msg = console.to_message(parse_line(&format!("bench-sup: {line}")).unwrap(), seq, run);
                let t = Instant::now();
                app.ingest(msg).await.unwrap();
                times.push(t.elapsed());
                let rows: Vec<String> = dudao::sql::query_scalar("SELECT segments FROM outbox WHERE id > ?")
                    .bind(before)
                    .fetch_all(&app.db)
                    .await
                    .unwrap();
                msgs = rows.len();
                chars = rows
                    .iter()
                    .filter_map(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                    .flat_map(|v| v.as_array().cloned().unwrap_or_default())
                    .filter_map(|seg| {
                        seg.pointer("/data/text")
                            .or(seg.get("text"))
                            .and_then(|t| t.as_str())
                            .map(|t| t.chars().count())
                    })
                    .sum();
                running.drain(Duration::from_secs(30)).await;
            }
            let best = times.iter().min().copied().unwrap_or_default();
            let mean = times.iter().sum::<Duration>() / times.len() as u32;
            let (rss, peak) = memory();
            peak_all = peak_all.max(peak);
            if label.contains("(county)") {
                worst_county = worst_county.max(best);
            } else if label.contains("province") || label.contains("all zones") {
                worst_province = worst_province.max(best);
            }
            println!(
                "{label:<28} {:>10.1} {:>10.1} {chars:>8} {msgs:>6} {rss:>9.1} {peak:>9.1}",
                best.as_secs_f64() * 1e3,
                mean.as_secs_f64() * 1e3
            );
        }

        println!();
        println!("exports (best of {runs}; load + workbook bytes):");
        println!("{:<10} {:>22} {:>10} {:>10} {:>9}", "kind", "period / scope", "best ms", "xlsx KB", "peak MB");
        let year = Period::year(2026).unwrap();
        let month = Period::month(2026, 11).unwrap();
        let mut worst_export = Duration::ZERO;
        for kind in Kind::ALL.into_iter().filter(|_| wanted("exports")) {
            for (label, period, scope) in
                [("2026 / P001", year, Scope::Zone(zone_id)), ("2026-11 / province", month, Scope::County)]
            {
                reset_peak();
                let mut best = Duration::MAX;
                let mut bytes = 0;
                for _ in 0..runs {
                    let mut conn = app.db.acquire().await.unwrap();
                    let t = Instant::now();
                    let f = export::build(&mut conn, Shanghai, &settings, kind, period, scope, now)
                        .await
                        .unwrap_or_else(|e| panic!("{}: {e}", kind.name()));
                    best = best.min(t.elapsed());
                    bytes = f.bytes.len();
                }
                let (_, peak) = memory();
                peak_all = peak_all.max(peak);
                if label.contains("P001") {
                    worst_export = worst_export.max(best);
                }
                println!(
                    "{:<10} {label:>22} {:>10.1} {:>10.1} {peak:>9.1}",
                    kind.name(),
                    best.as_secs_f64() * 1e3,
                    bytes as f64 / 1e3
                );
            }
        }

        // The platform's pages (督导信息平台) for the supervisor, over HTTP on the listener: the
        // time to the whole body (server-side render plus loopback), and its size.
        println!();
        println!("platform pages (best of {runs}; request → whole body, supervisor):");
        println!("{:<36} {:>10} {:>10} {:>9}", "page", "best ms", "KB", "peak MB");
        let token = dudao::app::web::new_token();
        let mut tx = db::begin_write(&app.db).await.unwrap();
        let hash = dudao::domain::web::token_hash(&token);
        dudao::store::web::add_link(&mut tx, &hash, supervisor, now, now + chrono::Duration::minutes(10)).await.unwrap();
        tx.commit().await.unwrap();
        let root = format!("http://{}", running.http_addr);
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let res = client.get(format!("{root}/login/{token}")).send().await.unwrap();
        let cookie = res
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|c| c.split(';').next())
            .unwrap_or_default()
            .to_string();
        let mut worst_page = Duration::ZERO;
        let pages: [(&str, String); 17] = [
            ("我的待办", "/".into()),
            ("周报 (province, this week)", "/weekly".into()),
            ("整改台账 (province, first page)", "/ledger".into()),
            ("整改台账 overdue", "/ledger?status=overdue".into()),
            ("整改 item", "/ledger/1".into()),
            ("督办 board", "/tasks".into()),
            ("花名册 (province: the zones)", "/roster".into()),
            ("花名册 P001", format!("/roster?zone={zone_id}")),
            ("主题与纪实 (province month)", "/themes?month=2026-11".into()),
            ("主题与纪实 P001", format!("/themes?month=2026-11&zone={zone_id}")),
            ("统计 整改 (province, 6 months)", "/stats?topic=%E6%95%B4%E6%94%B9".into()),
            ("统计 周报 (province month)", "/stats?topic=%E5%91%A8%E6%8A%A5&period=2026-11".into()),
            ("统计 纪实 (province month)", "/stats?topic=%E7%BA%AA%E5%AE%9E&period=2026-11".into()),
            ("统计 督办 P001", "/stats?topic=%E7%9D%A3%E5%8A%9E&scope=P001".into()),
            ("通报 list", "/bulletins".into()),
            ("通报 preview (province month)", "/bulletins/view?month=2026-11".into()),
            ("导出 纪实 P001 (download)", "/stats/export?kind=%E7%BA%AA%E5%AE%9E&period=2026-11&scope=P001".into()),
        ];
        let page_filter = std::env::var("PAGES").unwrap_or_default();
        for (label, path) in pages.into_iter().filter(|(l, _)| wanted("pages") && l.contains(page_filter.as_str())) {
            reset_peak();
            let mut best = Duration::MAX;
            let mut size = 0;
            for _ in 0..runs {
                let t = Instant::now();
                let res = client
                    .get(format!("{root}{path}"))
                    .header(reqwest::header::COOKIE, &cookie)
                    .send()
                    .await
                    .unwrap();
                assert!(res.status().is_success(), "{label}: {}", res.status());
                size = res.bytes().await.unwrap().len();
                best = best.min(t.elapsed());
            }
            let (_, peak) = memory();
            peak_all = peak_all.max(peak);
            if !label.contains("download") {
                worst_page = worst_page.max(best);
            }
            println!("{label:<36} {:>10.1} {:>10.1} {peak:>9.1}", best.as_secs_f64() * 1e3, size as f64 / 1e3);
        }

        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        println!();
        println!(
            "slowest county-level chat answer: {:.0} ms (target < 200 ms): {}",
            worst_county.as_secs_f64() * 1e3,
            verdict(worst_county < Duration::from_millis(200))
        );
        println!(
            "slowest province-level chat answer: {:.0} ms (target < 1000 ms): {}",
            worst_province.as_secs_f64() * 1e3,
            verdict(worst_province < Duration::from_secs(1))
        );
        println!(
            "slowest county-year export: {:.0} ms (target < 2000 ms): {}",
            worst_export.as_secs_f64() * 1e3,
            verdict(worst_export < Duration::from_secs(2))
        );
        println!(
            "slowest platform page: {:.0} ms (target < 100 ms): {}",
            worst_page.as_secs_f64() * 1e3,
            verdict(worst_page < Duration::from_millis(100))
        );
        println!("peak memory while answering: {peak_all:.0} MB (target < 100 MB): {}", verdict(peak_all < 100.0));
        running.stop().await;
    });
}
