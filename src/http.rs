//! The one HTTP listener: health check, plus whatever routes channels mount (webhooks, the
//! OneBot WebSocket endpoint).

use crate::app::App;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// 200 while the database answers; the `calendar` detail warns (without failing the check)
/// when the current or next month has no holiday data.
async fn healthz(State(app): State<Arc<App>>) -> (StatusCode, Json<serde_json::Value>) {
    let today = app.clock.now().with_timezone(&app.tz).date_naive();
    let calendar = crate::app::calendar::health(&app.calendar, today);
    match crate::db::ping(&app.db).await {
        Ok(_) => (StatusCode::OK, Json(json!({ "status": "ok", "calendar": calendar }))),
        Err(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "database unavailable", "calendar": calendar })))
        }
    }
}

pub fn router(app: Arc<App>, extra: Vec<Router>) -> Router {
    let mut r = Router::new().route("/healthz", get(healthz)).with_state(app);
    for e in extra {
        r = r.merge(e);
    }
    r
}

/// A literal route path for a channel's webhook: starts with '/', and has no characters axum
/// would read as a parameter or wildcard.
pub fn is_plain_path(p: &str) -> bool {
    p.starts_with('/')
        && p.len() > 1
        && !p.contains("//")
        && p.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'))
}

/// Binds first (so the caller learns the real port), then serves until `shutdown`.
pub async fn bind(addr: &str) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener =
        TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {addr} (http.bind): {e}"))?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

pub async fn serve(listener: TcpListener, app: Router, shutdown: CancellationToken) -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    // Small frames (chat messages, WebSocket actions) must not wait for Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await }).await?;
    Ok(())
}
