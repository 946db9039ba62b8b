//! Forward WebSocket: we connect to the OneBot implementation, and reconnect with backoff.

use super::api::Outgoing;
use super::session::{self, Ended};
use super::OneBotChannel;
use crate::chat::channel::ChannelContext;
use axum::http::Uri;
use futures::{SinkExt, StreamExt};
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that lasted this long was healthy: the next reconnect starts from the shortest delay.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);

/// Checks a forward URL: `ws://host[:port][/path]`.
pub fn check_url(u: &str) -> Result<(), String> {
    let uri: Uri = u.trim().parse().map_err(|e| format!("not a URL ({e})"))?;
    match uri.scheme_str() {
        Some("ws") => {}
        Some("wss") => {
            return Err("wss:// is not supported; connect over ws:// on loopback or a trusted network".into());
        }
        _ => return Err("expected a ws:// URL, e.g. ws://127.0.0.1:3001".into()),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    Ok(())
}

/// The URL without its query, which may carry a token.
fn shown(u: &str) -> String {
    u.split('?').next().unwrap_or_default().to_string()
}

pub async fn run(ch: Arc<OneBotChannel>, ctx: ChannelContext, url: String) {
    let initial = Duration::from_millis(ch.settings.reconnect_initial_ms.max(1));
    let max = Duration::from_millis(ch.settings.reconnect_max_ms).max(initial);
    let mut delay = initial;
    let where_ = shown(&url);
    loop {
        if ctx.shutdown.is_cancelled() {
            return;
        }
        let started = Instant::now();
        let connected = tokio::select! {
            r = tokio::time::timeout(CONNECT_TIMEOUT, connect(&ch, &url)) => r.unwrap_or_else(|_| Err("connect timed out".into())),
            _ = ctx.shutdown.cancelled() => return,
        };
        match connected {
            Ok(ws) => {
                tracing::info!(url = %where_, "connected to OneBot (forward WebSocket)");
                if serve(ch.clone(), ctx.clone(), ws).await == Ended::Shutdown {
                    return;
                }
                if started.elapsed() >= HEALTHY_AFTER {
                    delay = initial;
                }
                tracing::warn!(url = %where_, retry_in_ms = delay.as_millis() as u64, "OneBot connection lost; reconnecting");
            }
            Err(e) => {
                tracing::warn!(url = %where_, error = %e, retry_in_ms = delay.as_millis() as u64, "cannot connect to OneBot");
            }
        }
        // Jitter keeps several clients from reconnecting in lockstep.
        let jitter = rand::rng().random_range(0..=delay.as_millis() as u64 / 5);
        tokio::select! {
            _ = tokio::time::sleep(delay + Duration::from_millis(jitter)) => {}
            _ = ctx.shutdown.cancelled() => return,
        }
        delay = (delay * 2).min(max);
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(ch: &OneBotChannel, url: &str) -> Result<Ws, String> {
    let mut req = url.trim().into_client_request().map_err(|e| e.to_string())?;
    let token = ch.settings.access_token.expose().trim();
    if !token.is_empty() {
        let v = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "the access token is not a valid header value")?;
        req.headers_mut().insert("authorization", v);
    }
    // Small frames in both directions: Nagle plus delayed ACKs would add ~40 ms to exchanges.
    match tokio_tungstenite::connect_async_with_config(req, None, true).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            Err(format!("refused with HTTP {} (check access_token)", resp.status()))
        }
        Err(e) => Err(e.to_string()),
    }
}

async fn serve(ch: Arc<OneBotChannel>, ctx: ChannelContext, ws: Ws) -> Ended {
    let (mut sink, stream) = ws.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Outgoing>(256);
    let writer = tokio::spawn(async move {
        while let Some(o) = out_rx.recv().await {
            let m = match o {
                Outgoing::Text(t) => Message::text(t),
                Outgoing::Ping => Message::Ping(Default::default()),
                Outgoing::Close => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            };
            if sink.send(m).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let frames = Box::pin(stream.filter_map(|r| async move {
        match r {
            Ok(Message::Text(t)) => Some(Ok(t.as_str().to_owned())),
            Ok(Message::Binary(b)) => Some(Ok(String::from_utf8_lossy(&b).into_owned())),
            Ok(Message::Close(_)) => Some(Err("closed by the peer".to_string())),
            Ok(_) => None,
            Err(e) => Some(Err(e.to_string())),
        }
    }));
    let ended = session::run(ch, ctx, "forward", None, true, out_tx, frames).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    ended
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(check_url("ws://127.0.0.1:3001").is_ok());
        assert!(check_url("ws://napcat:3001/").is_ok());
        assert!(check_url("wss://x/").unwrap_err().contains("wss"));
        assert!(check_url("http://127.0.0.1:3001").is_err());
        assert!(check_url("127.0.0.1:3001").is_err());
        assert!(check_url("ws://").is_err());
        assert_eq!(shown("ws://h:1/?access_token=secret"), "ws://h:1/");
    }
}
