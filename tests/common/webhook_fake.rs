//! A fake generic-webhook platform on loopback: records when each request arrived, for which
//! chat and with what text, and accepts it (`{"id": n}`), like the platform `[[channels.webhook]]`
//! posts to.
#![allow(dead_code)]

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// One request as the platform received it.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: Instant,
    pub chat: String,
    pub text: String,
}

#[derive(Default)]
pub struct Hook {
    arrivals: Mutex<Vec<Arrival>>,
    changed: Notify,
}

impl Hook {
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived; panics (failing the test) after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Arrival> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let got = self.arrivals();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("timed out waiting for {n} requests; got {}", got.len());
            }
        }
    }
}

/// Starts the fake; returns it and the URL to post to.
pub async fn start() -> (Arc<Hook>, String) {
    let hook = Arc::new(Hook::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route(
            "/hook",
            post(|State(h): State<Arc<Hook>>, Json(b): Json<Value>| async move {
                let at = Instant::now();
                let chat = b["chat"]["id"].as_str().unwrap_or_default().to_string();
                let text = b["text"].as_str().map(str::to_string).unwrap_or_else(|| b.to_string());
                let n = {
                    let mut a = h.arrivals.lock().unwrap();
                    a.push(Arrival { at, chat, text });
                    a.len()
                };
                h.changed.notify_waiters();
                Json(json!({ "id": n }))
            }),
        )
        .with_state(hook.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (hook, url)
}

/// The busiest sliding `window` over `times` (sorted) and how many arrivals found more than
/// `limit` in the window ending at them (each one a send the platform would have refused).
pub fn window_check(times: &[Instant], window: Duration, limit: usize) -> (usize, usize) {
    let (mut worst, mut over, mut j) = (0, 0, 0);
    for i in 0..times.len() {
        while times[j] + window <= times[i] {
            j += 1;
        }
        let n = i - j + 1;
        worst = worst.max(n);
        if n > limit {
            over += 1;
        }
    }
    (worst, over)
}
