//! Reverse WebSocket: the OneBot implementation connects to us.

use super::api::Outgoing;
use super::session;
use super::OneBotChannel;
use crate::chat::channel::ChannelContext;
use crate::secret::Secret;
use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Clone)]
struct Shared {
    ch: Arc<OneBotChannel>,
    ctx: ChannelContext,
}

pub fn router(ch: Arc<OneBotChannel>, ctx: ChannelContext) -> Router {
    let mut r = Router::new();
    for p in super::REVERSE_PATHS {
        r = r.route(p, any(upgrade));
    }
    r.with_state(Shared { ch, ctx })
}

/// The token the client presented: `Authorization: Bearer|Token <t>`, else `?access_token=`.
fn presented_token(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        let (scheme, token) = v.split_once(' ').unwrap_or(("", v));
        if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
            return Some(token.trim().to_string());
        }
        return Some(String::new());
    }
    let q = query?;
    for pair in q.split('&') {
        if let Some(v) = pair.strip_prefix("access_token=") {
            return Some(percent_decode(v));
        }
    }
    None
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn refuse(status: StatusCode, why: &'static str) -> Response {
    (status, why).into_response()
}

async fn upgrade(
    State(s): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let expected = Secret::new(s.ch.settings.access_token.expose().trim());
    if expected.is_empty() {
        // Validation requires a token; a channel built without one accepts nobody rather than
        // everybody (behind a reverse proxy every caller would look local).
        let proxied = headers.contains_key("x-forwarded-for") || headers.contains_key(header::FORWARDED);
        tracing::warn!(proxied, "OneBot connection refused: channels.onebot.access_token is not set");
        return refuse(StatusCode::UNAUTHORIZED, "access token required");
    }
    match presented_token(&headers, query.as_deref()) {
        None => {
            tracing::warn!("OneBot connection without an access token refused");
            return refuse(StatusCode::UNAUTHORIZED, "access token required");
        }
        Some(t) if !expected.matches(t.as_bytes()) => {
            tracing::warn!("OneBot connection with a wrong access token refused");
            return refuse(StatusCode::FORBIDDEN, "wrong access token");
        }
        Some(_) => {}
    }
    let account = headers
        .get("x-self-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string);
    let Some(account) = account else {
        return refuse(StatusCode::BAD_REQUEST, "X-Self-ID header with the bot's QQ number required");
    };
    // Universal carries both; API-only sockets carry actions; Event-only sockets carry events.
    let role =
        headers.get("x-client-role").and_then(|v| v.to_str().ok()).unwrap_or("Universal").trim().to_ascii_lowercase();
    let can_call = role != "event";
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => return e.into_response(),
    };
    ws.on_failed_upgrade(|e| tracing::warn!(error = %e, "OneBot WebSocket upgrade failed"))
        .on_upgrade(move |socket| serve(s, socket, account, can_call))
}

async fn serve(s: Shared, socket: WebSocket, account: String, can_call: bool) {
    let (mut sink, stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Outgoing>(256);
    let writer = tokio::spawn(async move {
        while let Some(o) = out_rx.recv().await {
            let m = match o {
                Outgoing::Text(t) => Message::Text(t.into()),
                Outgoing::Ping => Message::Ping(Bytes::new()),
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
    let frames = stream.filter_map(|r| async move {
        match r {
            Ok(Message::Text(t)) => Some(Ok(t.as_str().to_owned())),
            Ok(Message::Binary(b)) => Some(Ok(String::from_utf8_lossy(&b).into_owned())),
            Ok(Message::Close(_)) => Some(Err("closed by the peer".to_string())),
            Ok(_) => None,
            Err(e) => Some(Err(e.to_string())),
        }
    });
    let frames = Box::pin(frames);
    session::run(s.ch, s.ctx, "reverse", Some(account), can_call, out_tx, frames).await;
    // The writer ends once the session's sender (held by the connection) is gone.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn tokens_from_headers_and_query() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_token(&h, None), None);
        assert_eq!(presented_token(&h, Some("a=1&access_token=x%2By+z")).as_deref(), Some("x+y z"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(presented_token(&h, Some("access_token=zzz")).as_deref(), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("token abc"));
        assert_eq!(presented_token(&h, None).as_deref(), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(presented_token(&h, None).as_deref(), Some(""));
        assert_eq!(percent_decode("%E4%BD%A0%zz%"), "你%zz%");
    }
}
