//! The app robot's Stream mode (消息接收模式: Stream): Dudao opens a WebSocket to DingTalk's
//! gateway, so receiving needs no public address, no open port and no TLS proxy.
//!
//! 1. Registration: `POST <api_base_url>/v1.0/gateway/connections/open` with the AppKey
//!    (`clientId`), the AppSecret (`clientSecret`) and the one subscription Dudao needs,
//!    `{"type":"CALLBACK","topic":"/v1.0/im/bot/messages/get"}`; DingTalk answers a WebSocket
//!    `endpoint` and a one-time `ticket`.
//! 2. Connection: `<endpoint>?ticket=<ticket>` (wss:// through rustls with the webpki roots).
//! 3. Frames are JSON: `{"specVersion","type":"SYSTEM"|"EVENT"|"CALLBACK","headers":{"topic",
//!    "messageId",…},"data":"<JSON text>"}`. Each is answered by an ACK frame carrying the same
//!    `messageId`: `{"code":200,"headers":{"contentType":"application/json","messageId":…},
//!    "message":"OK","data":…}`.
//!    * SYSTEM `ping`: answered at once, `data` echoed.
//!    * SYSTEM `disconnect` (acknowledged too): the gateway is about to close this connection; messages being
//!      stored are finished and acknowledged, then Dudao registers again for a new ticket.
//!    * CALLBACK `/v1.0/im/bot/messages/get`: `data` is the robot message the HTTP callback
//!      receives; it goes through the same `CallbackState::accept` (decoding, session webhook,
//!      deduplication by `msgId`, storing) and is acknowledged (`data` `{"response":null}`) only
//!      once stored. A message that could not be stored gets no ACK, so DingTalk delivers it
//!      again; a redelivered one is recognised by its `msgId` and acted on once.
//!
//! A lost connection (closed, an error, or no frame for 60 s after the WebSocket ping sent when
//! the gateway has been silent for 30 s) is
//! registered and connected again with exponential backoff and jitter. Health is up while
//! connected, down with the reason otherwise. The AppSecret is sent only in the registration
//! body and never logged; the ticket (a short-lived credential) is not logged either.

use super::app::DingtalkAppChannel;
use super::callback::{CallbackState, Outcome};
use super::{api_url, ApiError};
use crate::chat::ChannelHealth;
use futures::{SinkExt, StreamExt};
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// The robot message topic (机器人收消息).
pub const BOT_MESSAGE_TOPIC: &str = "/v1.0/im/bot/messages/get";
/// Registration plus WebSocket handshake, at most.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// A connection that lasted this long was healthy: the next reconnect starts from the shortest delay.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);
/// With no frame for this long, a WebSocket ping is sent…
const KEEPALIVE: Duration = Duration::from_secs(30);
/// …and with nothing for this long after it, the connection counts as lost.
const DEAD_AFTER: Duration = Duration::from_secs(60);
/// After `disconnect`, messages being stored get this long to be acknowledged.
const DRAIN: Duration = Duration::from_secs(10);

/// The gateway's answer to a registration.
#[derive(Debug, Default, Deserialize)]
struct Endpoint {
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    ticket: String,
}

/// One frame from the gateway.
#[derive(Debug, Default, Deserialize)]
struct Frame {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    headers: serde_json::Map<String, Value>,
    #[serde(default)]
    data: String,
}

impl Frame {
    fn header(&self, k: &str) -> &str {
        self.headers.get(k).and_then(Value::as_str).unwrap_or_default()
    }
}

/// The ACK frame for the frame with `message_id`.
fn ack(code: u16, message_id: &str, message: &str, data: &str) -> String {
    json!({
        "code": code,
        "headers": { "contentType": "application/json", "messageId": message_id },
        "message": message,
        "data": data,
    })
    .to_string()
}

/// How one connection ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    Shutdown,
    /// The gateway sent `disconnect`: register again at once.
    Disconnect,
    Lost(String),
}

/// DingTalk's own text, trimmed, with the secret masked should it ever be echoed.
fn clean(text: &str, secret: &str) -> String {
    let t: String = text.chars().take(200).collect();
    if secret.is_empty() {
        t
    } else {
        t.replace(secret, "***")
    }
}

/// `gateway/connections/open`: a WebSocket endpoint and a ticket for it.
async fn register(ch: &DingtalkAppChannel) -> Result<Endpoint, String> {
    let s = ch.settings();
    let secret = s.app_secret.expose();
    let body = json!({
        "clientId": s.app_key.trim(),
        "clientSecret": secret,
        "subscriptions": [{ "type": "CALLBACK", "topic": BOT_MESSAGE_TOPIC }],
        "ua": concat!("dudao/", env!("CARGO_PKG_VERSION")),
    });
    let resp = ch
        .http()
        .post(api_url(&s.api_base_url, "/v1.0/gateway/connections/open"))
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("Stream gateway registration: cannot connect: {}", e.without_url()))?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        let e: ApiError = serde_json::from_str(&text).unwrap_or_default();
        let hint = if status.is_client_error() {
            " (check channels.dingtalk.app.app_key and app_secret, and that the app's robot uses Stream mode)"
        } else {
            ""
        };
        return Err(format!(
            "Stream gateway registration refused: HTTP {} {} {}{hint}",
            status.as_u16(),
            clean(&e.code, secret),
            clean(&e.message, secret)
        ));
    }
    let ep: Endpoint = resp
        .json()
        .await
        .map_err(|e| format!("Stream gateway registration: unreadable answer: {}", e.without_url()))?;
    if ep.endpoint.trim().is_empty() || ep.ticket.trim().is_empty() {
        return Err("Stream gateway registration answered no endpoint or ticket".into());
    }
    Ok(ep)
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Ws = tokio_tungstenite::WebSocketStream<Box<dyn Io>>;

fn tls_connector() -> Result<tokio_rustls::TlsConnector, String> {
    use tokio_rustls::rustls;
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Opens the WebSocket at `endpoint?ticket=…`.
async fn connect(ep: &Endpoint) -> Result<Ws, String> {
    let mut url =
        reqwest::Url::parse(ep.endpoint.trim()).map_err(|_| "the gateway endpoint is not a URL".to_string())?;
    let shown = format!("{}://{}{}", url.scheme(), url.host_str().unwrap_or_default(), url.path());
    url.query_pairs_mut().append_pair("ticket", ep.ticket.trim());
    let tls = match url.scheme() {
        "wss" => true,
        "ws" => false,
        _ => return Err(format!("the gateway endpoint {shown} is not ws:// or wss://")),
    };
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string();
    let port = url.port_or_known_default().unwrap_or(if tls { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot reach the Stream gateway {shown}: {e}"))?;
    // Small frames both ways: Nagle plus delayed ACKs would add ~40 ms to each exchange.
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = if tls {
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|_| format!("the gateway host {host} is not a valid TLS name"))?;
        let stream = tls_connector()?
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with the Stream gateway failed: {e}"))?;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    let req = url.as_str().into_client_request().map_err(|e| format!("bad gateway request: {e}"))?;
    match tokio_tungstenite::client_async_with_config(req, io, None).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            Err(format!("the Stream gateway {shown} refused the WebSocket with HTTP {}", resp.status()))
        }
        Err(e) => Err(format!("WebSocket handshake with the Stream gateway {shown} failed: {e}")),
    }
}

/// Receives through Stream mode until shutdown, reconnecting with backoff.
pub async fn run(ch: Arc<DingtalkAppChannel>, state: Arc<CallbackState>, shutdown: CancellationToken) {
    let initial = Duration::from_millis(ch.settings().reconnect_initial_ms.max(1));
    let max = Duration::from_millis(ch.settings().reconnect_max_ms).max(initial);
    let channel = ch.settings().name.clone();
    let mut delay = initial;
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        let started = Instant::now();
        let attempt = async {
            let ep = register(&ch).await?;
            connect(&ep).await
        };
        let connected = tokio::select! {
            r = tokio::time::timeout(CONNECT_TIMEOUT, attempt) => r.unwrap_or_else(|_| Err("Stream gateway: connecting timed out".into())),
            _ = shutdown.cancelled() => return,
        };
        match connected {
            Ok(ws) => {
                ch.set_stream_health(ChannelHealth::up("Stream mode connected"));
                tracing::info!(%channel, "connected to DingTalk's Stream gateway");
                match serve(state.clone(), ws, &shutdown).await {
                    Ended::Shutdown => return,
                    Ended::Disconnect => {
                        // A planned handover: register again at once, health stays up unless that fails.
                        tracing::info!(%channel, "DingTalk's Stream gateway asked to reconnect");
                        delay = initial;
                        continue;
                    }
                    Ended::Lost(why) => {
                        if started.elapsed() >= HEALTHY_AFTER {
                            delay = initial;
                        }
                        tracing::warn!(%channel, %why, retry_in_ms = delay.as_millis() as u64, "DingTalk Stream connection lost; reconnecting");
                        ch.set_stream_health(ChannelHealth::down(format!("Stream connection lost: {why}")));
                    }
                }
            }
            Err(e) => {
                tracing::warn!(%channel, error = %e, retry_in_ms = delay.as_millis() as u64, "cannot connect to DingTalk's Stream gateway");
                ch.set_stream_health(ChannelHealth::down(e));
            }
        }
        // Jitter keeps several instances from reconnecting in lockstep.
        let jitter = rand::rng().random_range(0..=delay.as_millis() as u64 / 5);
        tokio::select! {
            _ = tokio::time::sleep(delay + Duration::from_millis(jitter)) => {}
            _ = shutdown.cancelled() => return,
        }
        delay = (delay * 2).min(max);
    }
}

/// One connection: frames in, ACKs out, until it ends.
async fn serve(state: Arc<CallbackState>, ws: Ws, shutdown: &CancellationToken) -> Ended {
    let (mut sink, mut stream) = ws.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            let close = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || close {
                break;
            }
        }
        let _ = sink.close().await;
    });
    // Messages being stored; each sends its own ACK when done.
    let mut pending: JoinSet<()> = JoinSet::new();
    let mut last_seen = Instant::now();
    let mut pinged = false;
    let ended = loop {
        let quiet = if pinged { KEEPALIVE + DEAD_AFTER } else { KEEPALIVE };
        tokio::select! {
            _ = shutdown.cancelled() => break Ended::Shutdown,
            _ = tokio::time::sleep_until(last_seen + quiet) => {
                if pinged {
                    break Ended::Lost(format!("no frame for {} s", quiet.as_secs()));
                }
                pinged = true;
                if out_tx.send(Message::Ping(Default::default())).await.is_err() {
                    break Ended::Lost("cannot write to the connection".into());
                }
            }
            Some(_) = pending.join_next(), if !pending.is_empty() => {}
            frame = stream.next() => {
                last_seen = Instant::now();
                pinged = false;
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t.as_str().to_owned(),
                    Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                    Some(Ok(Message::Close(_))) | None => break Ended::Lost("closed by the gateway".into()),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => break Ended::Lost(e.to_string()),
                };
                if handle(&state, &text, &out_tx, &mut pending).await {
                    break Ended::Disconnect;
                }
            }
        }
    };
    if ended == Ended::Disconnect {
        // The gateway keeps the connection open a little while: finish and acknowledge what is
        // being stored, so it is not delivered again.
        let _ = tokio::time::timeout(DRAIN, async { while pending.join_next().await.is_some() {} }).await;
    }
    // Whatever is still being stored completes on its own (its ACK is lost; DingTalk redelivers
    // and the redelivery is deduplicated).
    pending.detach_all();
    let _ = out_tx.send(Message::Close(None)).await;
    drop(out_tx);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    ended
}

/// Handles one frame; `true` when the gateway asked to disconnect.
async fn handle(
    state: &Arc<CallbackState>,
    text: &str,
    out: &mpsc::Sender<Message>,
    pending: &mut JoinSet<()>,
) -> bool {
    let Ok(frame) = serde_json::from_str::<Frame>(text) else {
        tracing::warn!(channel = %state.channel, "DingTalk Stream frame is not JSON; ignored");
        return false;
    };
    let id = frame.header("messageId").to_string();
    let topic = frame.header("topic").to_string();
    match (frame.kind.as_str(), topic.as_str()) {
        ("SYSTEM", "ping") => {
            let _ = out.send(Message::text(ack(200, &id, "OK", &frame.data))).await;
        }
        ("SYSTEM", "disconnect") => {
            // Acknowledged like every system frame (as the official SDKs do), then wound down.
            let _ = out.send(Message::text(ack(200, &id, "OK", &frame.data))).await;
            return true;
        }
        ("SYSTEM", other) => {
            tracing::debug!(channel = %state.channel, topic = other, "DingTalk Stream system frame");
            let _ = out.send(Message::text(ack(200, &id, "OK", &frame.data))).await;
        }
        ("CALLBACK", BOT_MESSAGE_TOPIC) => {
            let (st, out) = (state.clone(), out.clone());
            pending.spawn(async move {
                let answer = match st.accept(&frame.data, chrono::Utc::now()).await {
                    Outcome::Stored | Outcome::Ignored => ack(200, &id, "OK", r#"{"response":null}"#),
                    // Never understandable: redelivering it would not help (logged in `accept`).
                    Outcome::Malformed(why) => ack(400, &id, why, r#"{"response":null}"#),
                    Outcome::NotStored => {
                        tracing::warn!(channel = %st.channel, "DingTalk message not stored; left unacknowledged for redelivery");
                        return;
                    }
                };
                let _ = out.send(Message::text(answer)).await;
            });
        }
        (kind, topic) => {
            // Dudao subscribes to the robot messages only; answer as the official SDKs do for a
            // topic with no handler.
            tracing::warn!(channel = %state.channel, kind, topic, "unexpected DingTalk Stream frame");
            let _ = out.send(Message::text(ack(404, &id, "no handler", "{}"))).await;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_carry_the_message_id_and_the_data_as_text() {
        let a: Value = serde_json::from_str(&ack(200, "m-1", "OK", r#"{"opaque":"x"}"#)).unwrap();
        assert_eq!(a["code"], 200);
        assert_eq!(a["headers"]["messageId"], "m-1");
        assert_eq!(a["headers"]["contentType"], "application/json");
        assert_eq!(a["message"], "OK");
        assert_eq!(a["data"], r#"{"opaque":"x"}"#);
    }

    #[test]
    fn frames_parse_and_unknown_fields_are_tolerated() {
        let f: Frame = serde_json::from_str(
            r#"{"specVersion":"1.0","type":"SYSTEM","headers":{"topic":"ping","messageId":"p1","time":"1"},"data":"{}","x":1}"#,
        )
        .unwrap();
        assert_eq!((f.kind.as_str(), f.header("topic"), f.header("messageId")), ("SYSTEM", "ping", "p1"));
        assert_eq!(f.header("missing"), "");
    }

    #[test]
    fn the_tls_client_for_wss_gateways_builds() {
        assert!(tls_connector().is_ok());
    }

    #[test]
    fn a_secret_echoed_by_the_platform_is_masked() {
        assert_eq!(clean("bad secret Gm3-s3cret given", "Gm3-s3cret"), "bad secret *** given");
        assert_eq!(clean("plain", ""), "plain");
    }
}
