//! Benchmark: each XLSX export (issue 16) over a county-year in a temporary SQLite file — the
//! sample county (120 schools, ~30 inspectors in 6 zones) with a year of generated activity:
//! ~4–5 visits a month per inspector with their problems, a weekly round every week, ~3,000
//! rectification items with their events (closures, reopenings, cancellations), evidence and
//! escalations, and tasks. Times `export::build` (load + workbook bytes) per kind for the year
//! and for one month. Target: a county-year under 2 s per export on the 2-core machine.
//!
//! Run: `cargo bench --bench export` (env: ITEMS=3000, RUNS=3, SEED=16).

use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use dudao::config::Settings;
use dudao::db;
use dudao::domain::stats::{Period, Scope};
use dudao::export::{self, Kind};

#[path = "support/county_year.rs"]
mod county_year;
use county_year::{county, generate};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let items = env_num("ITEMS", 3000);
        let runs = env_num("RUNS", 3).max(1);
        let seed = env_num("SEED", 16);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench.sqlite");
        let settings = Settings::from_toml_over_default(&format!(
            "[database]\npath = \"{}\"\n",
            path.display().to_string().replace('\\', "/")
        ))
        .unwrap();
        let db = db::open_and_migrate(&settings.database).await.unwrap();
        let now: DateTime<Utc> = Shanghai.with_ymd_and_hms(2027, 1, 4, 9, 0, 0).unwrap().with_timezone(&Utc);
        dudao::service::seed_sample_roster(&db, &settings, now).await.unwrap();
        let c = county(&db).await;
        let year = 2026;
        let start = Instant::now();
        let counts = generate(&db, &c, year, items, seed).await;
        println!(
            "county-year dataset: {} schools, {} inspectors; generated in {:.1} s",
            c.schools.len(),
            c.inspectors.len(),
            start.elapsed().as_secs_f64()
        );
        for (what, n) in &counts {
            println!("  {what}: {n}");
        }
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!("  database: {:.1} MB", size as f64 / 1e6);
        println!();
        println!("{:<10} {:>12} {:>12} {:>12} {:>10}", "kind", "period", "best ms", "mean ms", "xlsx KB");
        let periods = [("year 2026", Period::year(year).unwrap()), ("2026-11", Period::month(year, 11).unwrap())];
        let mut worst = Duration::ZERO;
        for kind in Kind::ALL {
            for (label, period) in periods {
                let mut times = Vec::new();
                let mut bytes = 0;
                for _ in 0..runs {
                    let mut conn = db.acquire().await.unwrap();
                    let t = Instant::now();
                    let f = export::build(&mut conn, Shanghai, &settings, kind, period, Scope::County, now)
                        .await
                        .unwrap_or_else(|e| panic!("{}: {e}", kind.name()));
                    times.push(t.elapsed());
                    bytes = f.bytes.len();
                }
                let best = times.iter().min().copied().unwrap_or_default();
                let mean = times.iter().sum::<Duration>() / times.len() as u32;
                if period.from.month() == 1 {
                    worst = worst.max(best);
                }
                println!(
                    "{:<10} {:>12} {:>12.1} {:>12.1} {:>10.1}",
                    kind.name(),
                    label,
                    best.as_secs_f64() * 1e3,
                    mean.as_secs_f64() * 1e3,
                    bytes as f64 / 1e3
                );
            }
        }
        println!();
        println!(
            "slowest county-year export: {:.0} ms (target < 2000 ms): {}",
            worst.as_secs_f64() * 1e3,
            if worst < Duration::from_secs(2) { "met" } else { "NOT met" }
        );
        db.close().await;
    });
}
