//! Shared test harness: the real service on a temporary SQLite file, with a console channel
//! whose input and output are in-memory pipes.
#![allow(dead_code)]

use dudao::chat::console::{parse_line, ConsoleChannel};
use dudao::clock::{ManualClock, SharedClock};
use dudao::config::Settings;
use dudao::service::{self, Running};
use dudao::Channel;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::Mutex;

pub mod logs;
pub mod platform;
pub mod scenario;
pub mod site;

pub struct Harness {
    pub running: Option<Running>,
    pub console: Arc<ConsoleChannel>,
    output: Arc<Mutex<String>>,
    seen: usize,
    seq: AtomicU64,
    pub dir: tempfile::TempDir,
    pub clock: Option<ManualClock>,
}

/// A moment of 2026 in Asia/Shanghai, as a UTC instant.
pub fn shanghai(m: u32, d: u32, h: u32, min: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono_tz::Asia::Shanghai.with_ymd_and_hms(2026, m, d, h, min, 0).unwrap().with_timezone(&chrono::Utc)
}

/// Sets the clock to `t` and runs one scheduler tick over every job.
pub async fn tick_at(h: &Harness, clock: &ManualClock, t: chrono::DateTime<chrono::Utc>) {
    clock.set(t);
    dudao::scheduler::Scheduler::new(h.app().clone(), dudao::service::all_jobs()).tick().await.unwrap();
}

pub fn settings_for(dir: &tempfile::TempDir, extra: &str) -> Settings {
    let db = dir.path().join("dudao.sqlite");
    let toml = format!(
        "[database]\npath = \"{}\"\nsynchronous = \"normal\"\n[http]\nbind = \"127.0.0.1:0\"\n{extra}",
        db.display().to_string().replace('\\', "/")
    );
    Settings::from_toml_over_default(&toml).expect("test settings")
}

impl Harness {
    /// The service with the sample roster loaded.
    pub async fn start() -> Harness {
        Self::start_with("", None).await
    }

    pub async fn start_with(extra_toml: &str, clock: Option<ManualClock>) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, extra_toml, clock).await
    }

    pub async fn start_in(dir: tempfile::TempDir, extra_toml: &str, clock: Option<ManualClock>) -> Harness {
        let settings = settings_for(&dir, extra_toml);
        let (_in_w, in_r) = tokio::io::duplex(1 << 16);
        let (out_w, mut out_r) = tokio::io::duplex(1 << 20);
        let console = Arc::new(
            ConsoleChannel::new(
                "console",
                settings.service.bot_name.clone(),
                Box::new(tokio::io::BufReader::new(in_r)),
                Box::new(out_w),
            )
            .with_files_dir(dir.path().join("files")),
        );
        let output = Arc::new(Mutex::new(String::new()));
        let sink = output.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            loop {
                match out_r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink.lock().await.push_str(&String::from_utf8_lossy(&buf[..n])),
                }
            }
        });
        let shared: SharedClock = match &clock {
            Some(c) => Arc::new(c.clone()),
            None => Arc::new(dudao::clock::SystemClock),
        };
        let channels: Vec<Arc<dyn Channel>> = vec![console.clone()];
        let running = service::start(settings, shared, channels).await.expect("service starts");
        Harness { running: Some(running), console, output, seen: 0, seq: AtomicU64::new(0), dir, clock }
    }

    pub fn app(&self) -> &Arc<dudao::app::App> {
        &self.running.as_ref().expect("running").app
    }

    pub fn db(&self) -> &dudao::db::Db {
        &self.app().db
    }

    /// Delivers one console line through the pipeline and returns what the bot printed since.
    pub async fn say(&mut self, line: &str) -> String {
        let parsed = parse_line(line).expect("a console line");
        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
        let msg = self.console.to_message(parsed, seq, 1);
        self.app().ingest(msg).await.expect("ingest");
        self.settle().await
    }

    /// Waits until the outbox has nothing ready and returns the new console output.
    pub async fn settle(&mut self) -> String {
        self.running.as_ref().expect("running").drain(Duration::from_secs(10)).await;
        // The console's output is read by another task: wait until every message recorded as
        // sent has been read back.
        let sent: i64 =
            dudao::sql::query_scalar("SELECT COUNT(*) FROM outbox WHERE channel = 'console' AND status = 'sent'")
                .fetch_one(self.db())
                .await
                .unwrap_or(0);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while (self.output.lock().await.matches("[console → ").count() as i64) < sent
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let out = self.output.lock().await;
        let new = out[self.seen..].to_string();
        self.seen = out.len();
        new
    }

    /// Issues a binding code for a person directly in the database, as `dudao roster codes` does.
    pub async fn code_for(&self, person_code: &str) -> String {
        let mut tx = dudao::db::begin_write(self.db()).await.unwrap();
        let pid: i64 = dudao::sql::query_scalar("SELECT id FROM people WHERE code = ?")
            .bind(person_code)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        let now = self.app().clock.now();
        let (code, _) = dudao::store::binding::issue(&mut tx, pid, now, chrono::Duration::hours(72)).await.unwrap();
        tx.commit().await.unwrap();
        code
    }

    /// Binds a console account to a person through the real `绑定` command.
    pub async fn bind(&mut self, account: &str, person_code: &str) {
        let code = self.code_for(person_code).await;
        let out = self.say(&format!("{account}: 绑定 {code}")).await;
        assert!(out.contains("绑定成功"), "binding {account} to {person_code} failed: {out}");
    }

    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
        self.dir
    }
}

/// A person's code by role, for tests that need "some inspector".
pub async fn first_person(db: &dudao::db::Db, role: &str) -> String {
    dudao::sql::query_scalar("SELECT code FROM people WHERE role = ? AND active = 1 ORDER BY code LIMIT 1")
        .bind(role)
        .fetch_one(db)
        .await
        .unwrap()
}

/// One part of a `multipart/form-data` body: its field name, file name (as sent, raw UTF-8 or
/// RFC 5987 `filename*` decoded) and content — what a platform's upload endpoint reads.
#[derive(Debug, Clone)]
pub struct FormPart {
    pub name: String,
    pub file_name: Option<String>,
    pub bytes: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

fn header_param(headers: &str, key: &str) -> Option<String> {
    let start = headers.find(&format!("{key}=\""))? + key.len() + 2;
    let end = headers[start..].find('"')? + start;
    Some(headers[start..end].to_string())
}

/// Splits a `multipart/form-data` body by the boundary its `Content-Type` names.
pub fn parse_multipart(content_type: &str, body: &[u8]) -> Vec<FormPart> {
    let Some(boundary) = content_type.split("boundary=").nth(1).map(|b| b.trim_matches('"').to_string()) else {
        return Vec::new();
    };
    let delim = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut pos = match find(body, delim.as_bytes(), 0) {
        Some(p) => p + delim.len(),
        None => return parts,
    };
    while body.get(pos..pos + 2) == Some(b"\r\n") {
        let head_end = match find(body, b"\r\n\r\n", pos) {
            Some(e) => e,
            None => break,
        };
        let headers = String::from_utf8_lossy(&body[pos + 2..head_end]).into_owned();
        let next = match find(body, format!("\r\n{delim}").as_bytes(), head_end + 4) {
            Some(n) => n,
            None => break,
        };
        let file_name = header_param(&headers, "filename").or_else(|| {
            let start = headers.find("filename*=utf-8''").or_else(|| headers.find("filename*=UTF-8''"))? + 17;
            let raw: String = headers[start..].chars().take_while(|c| !matches!(c, ';' | '\r' | '\n')).collect();
            Some(percent_encoding::percent_decode_str(&raw).decode_utf8_lossy().into_owned())
        });
        parts.push(FormPart {
            name: header_param(&headers, "name").unwrap_or_default(),
            file_name,
            bytes: body[head_end + 4..next].to_vec(),
        });
        pos = next + 2 + delim.len();
    }
    parts
}

/// A roster person of `role` given a numeric QQ of their own (the sample's are `demo-…`, never
/// a real account), bound as the roster binds it: their name and the QQ.
pub async fn roster_qq_named(db: &dudao::db::Db, role: &str) -> (String, i64) {
    let (id, name, demo): (i64, String, String) = dudao::sql::query_as(
        "SELECT p.id, p.name, a.account_id FROM chat_accounts a JOIN people p ON p.id = a.person_id
         WHERE a.platform = 'qq' AND a.source = 'roster' AND p.role = ? ORDER BY p.code LIMIT 1",
    )
    .bind(role)
    .fetch_one(db)
    .await
    .unwrap();
    let qq = 880_000_000 + id;
    dudao::sql::query("UPDATE chat_accounts SET account_id = ? WHERE platform = 'qq' AND account_id = ?")
        .bind(qq.to_string())
        .bind(demo)
        .execute(db)
        .await
        .unwrap();
    (name, qq)
}

/// [`roster_qq_named`], the QQ only.
pub async fn roster_qq(db: &dudao::db::Db, role: &str) -> i64 {
    roster_qq_named(db, role).await.1
}

/// The code of an active inspector outside the zone of the inspector `inspector`.
pub async fn inspector_outside_zone_of_inspector(db: &dudao::db::Db, inspector: &str) -> String {
    dudao::sql::query_scalar(
        "SELECT code FROM people WHERE role = 'inspector' AND active = 1
            AND zone_id <> (SELECT zone_id FROM people WHERE code = ?) ORDER BY code LIMIT 1",
    )
    .bind(inspector)
    .fetch_one(db)
    .await
    .unwrap()
}

/// The code of an active inspector outside the zone of the school contact `contact`'s school.
pub async fn inspector_outside_zone_of(db: &dudao::db::Db, contact: &str) -> String {
    dudao::sql::query_scalar(
        "SELECT code FROM people WHERE role = 'inspector' AND active = 1 AND zone_id <>
            (SELECT s.zone_id FROM people p JOIN schools s ON s.id = p.school_id WHERE p.code = ?)
          ORDER BY code LIMIT 1",
    )
    .bind(contact)
    .fetch_one(db)
    .await
    .unwrap()
}
