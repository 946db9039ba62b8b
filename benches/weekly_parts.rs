//! Benchmark: the cost of the n-th part of a weekly report sent in many parts (issue 15), for
//! the full re-parse of every part so far (what each part cost before) against the incremental
//! fold of `report_parse::WeeklyParts` (one part folded into the kept state). Pure domain
//! functions, no I/O. The "+ JSON" column adds what the app does around the fold: read the
//! kept state from JSON and write it back.
//!
//! The parts look like a chatty inspector's: every tenth opens a group with labels and a school,
//! the others continue its numbered problem list; 80 schools in the county, 5 the inspector's.
//!
//! Run: `cargo bench --bench weekly_parts` (env: PARTS=1,100,400,1600; BUDGET_MS per figure, 300).

use std::hint::black_box;
use std::time::{Duration, Instant};

use dudao::domain::report_parse::{self as rp, PartKind, ReportSchools, SchoolRef, WeeklyParts};

const TOWNS: &[&str] = &["青石", "白沙", "松林", "红旗", "上河", "刘楼", "枣林", "阳光", "城关", "东湖"];
const KINDS: &[&str] =
    &["中心小学", "第二小学", "中学", "中心幼儿园", "第三小学", "九年一贯制学校", "教学点", "第一小学"];

fn county() -> Vec<SchoolRef> {
    let mut out = Vec::new();
    for (i, town) in TOWNS.iter().enumerate() {
        for (j, kind) in KINDS.iter().enumerate() {
            let id = (i * KINDS.len() + j + 1) as i64;
            out.push(SchoolRef { id, name: format!("示例县{town}镇{kind}"), short_name: None, aliases: vec![] });
        }
    }
    out
}

fn part(k: usize) -> String {
    let town = TOWNS[(k / 10) % 5];
    if k == 1 || k.is_multiple_of(10) {
        format!("本周督导学校：{town}镇中心小学\n督导方式：推门听课1节，查阅资料\n发现问题：\n{k}. 第{k}号教室灯管损坏存在安全隐患")
    } else {
        format!("{k}. 第{k}号教室灯管损坏存在安全隐患，已督促整改")
    }
}

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

/// Mean time of `f` on a fresh input from `setup` (not timed), over as many runs as fit in
/// `budget` (at least 3).
fn time<S>(budget: Duration, mut setup: impl FnMut() -> S, mut f: impl FnMut(S)) -> Duration {
    let mut spent = Duration::ZERO;
    let mut runs = 0u32;
    while runs < 3 || (spent < budget && runs < 100_000) {
        let input = setup();
        let start = Instant::now();
        f(input);
        spent += start.elapsed();
        runs += 1;
    }
    spent / runs
}

fn main() {
    let ns = env_list("PARTS", &[1, 100, 400, 1600]);
    let budget = Duration::from_millis(env_list("BUDGET_MS", &[300])[0] as u64);
    let county = county();
    let mine: Vec<SchoolRef> = county.iter().step_by(10).take(5).cloned().collect();
    let within = ReportSchools { mine: &mine, county: &county };
    let names = |id: i64| format!("学校{id}");
    let max = ns.iter().copied().max().unwrap_or(0);
    let parts: Vec<String> = (1..=max).map(part).collect();

    println!("cost of the n-th part of one weekly report (mean per part)");
    println!("| n | full re-parse | incremental fold | fold + JSON | speed-up |");
    println!("|---|---|---|---|---|");
    for &n in &ns {
        let texts: Vec<&str> = parts[..n].iter().map(String::as_str).collect();
        let before = WeeklyParts::from_parts(texts[..n - 1].iter().map(|t| (PartKind::Text, *t)), within);
        let json = serde_json::to_string(&before).unwrap();
        let last = texts[n - 1];
        // Both sides compute the same report.
        let mut check = before.clone();
        check.push(PartKind::Text, last, within);
        assert_eq!(check.report(within, &names), rp::parse_weekly_messages_in(&texts, within));

        let full = time(
            budget,
            || (),
            |()| {
                black_box(rp::parse_weekly_messages_in(black_box(&texts), within));
            },
        );
        let fold = time(
            budget,
            || before.clone(),
            |mut state| {
                state.push(PartKind::Text, black_box(last), within);
                black_box(state.into_report(within, &names));
            },
        );
        let fold_json = time(
            budget,
            || (),
            |()| {
                let mut state: WeeklyParts = serde_json::from_str(black_box(&json)).unwrap();
                state.push(PartKind::Text, black_box(last), within);
                black_box(serde_json::to_string(&state).unwrap());
                black_box(state.into_report(within, &names));
            },
        );
        println!(
            "| {n} | {:.1} µs | {:.1} µs | {:.1} µs | {:.0}× |",
            full.as_secs_f64() * 1e6,
            fold.as_secs_f64() * 1e6,
            fold_json.as_secs_f64() * 1e6,
            full.as_secs_f64() / fold_json.as_secs_f64()
        );
    }
}
