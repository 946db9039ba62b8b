//! The one HTTP listener: liveness (`/healthz`), readiness (`/readyz`), Prometheus metrics
//! (`/metrics`), one-time file downloads (`/files/<token>`), plus whatever routes channels
//! mount (webhooks, the OneBot WebSocket endpoint), and the supervision platform's pages
//! (`crate::web`).

use crate::app::App;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
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

/// Ready to serve users: 200, or 503 with the reasons; the body is the same JSON either way
/// (see `app::health::readiness`).
async fn readyz(State(app): State<Arc<App>>) -> (StatusCode, Json<serde_json::Value>) {
    let (ready, body) = crate::app::health::readiness(&app).await;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body))
}

/// The Prometheus text exposition of the service's counters and gauges.
async fn metrics(State(app): State<Arc<App>>) -> Response {
    let text = crate::app::health::metrics_text(&app).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], text)
        .into_response()
}

/// A one-time download link (files for channels that cannot carry them): the file once, then
/// 410 Gone; an expired link is gone too. Answers are short Chinese texts a person can read.
async fn download(State(app): State<Arc<App>>, Path(token): Path<String>) -> Response {
    use crate::store::files::Take;
    let text = |status: StatusCode, body: &'static str| {
        (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], body)
            .into_response()
    };
    let unknown = || text(StatusCode::NOT_FOUND, "链接无效，请检查链接是否完整。\n");
    if !crate::domain::files::is_token_shaped(&token) {
        return unknown();
    }
    let hash = crate::domain::files::token_hash(&token);
    let now = app.clock.now();
    let taken = async {
        let mut tx = crate::db::begin_write(&app.db).await?;
        let t = crate::store::files::take_link(&mut tx, &hash, now).await?;
        tx.commit().await?;
        Ok::<_, crate::sql::Error>(t)
    };
    match taken.await {
        Ok(Take::File(f)) => {
            tracing::info!(file = %f.name, bytes = f.bytes.len(), "file downloaded through a one-time link");
            let disposition = crate::domain::files::content_disposition(&f.name);
            let headers = [
                (header::CONTENT_TYPE, f.mime),
                (header::CONTENT_DISPOSITION, disposition),
                (header::CACHE_CONTROL, "no-store".to_string()),
                // The type is the file's, never guessed from its bytes by the browser.
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            ];
            (StatusCode::OK, headers, f.bytes).into_response()
        }
        Ok(Take::Gone) => {
            text(StatusCode::GONE, "该下载链接已使用或已过期。如需文件，请在群里重新获取（例如再次发送“导出”）。\n")
        }
        Ok(Take::Unknown) => unknown(),
        Err(e) => {
            tracing::error!(error = %e, "download link lookup failed");
            text(StatusCode::SERVICE_UNAVAILABLE, "服务暂时不可用，请稍后再试。\n")
        }
    }
}

pub fn router(app: Arc<App>, extra: Vec<Router>) -> Router {
    let mut r = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/files/{token}", get(download))
        .with_state(app.clone())
        .merge(crate::web::router(app));
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
    // The peer address reaches handlers (the platform's login rate limit counts by it).
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await }).await?;
    Ok(())
}
