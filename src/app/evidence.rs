//! The background evidence fetcher: downloads the photos schools attach to rectification
//! messages, outside any transaction, and stores each content once under its sha256.
//!
//! Photo URLs come from chat messages, so anyone in a group could make the service request any
//! address (server-side request forgery): the cloud metadata service, the router, NapCat's own
//! HTTP API. Every hop is therefore resolved first and refused when any address behind it is not
//! public, unless `[rectify] evidence_allow_hosts` allows the host or network; the connection then
//! goes to the vetted addresses only (no second lookup that DNS rebinding could answer
//! differently), redirects are followed by hand up to [`MAX_REDIRECTS`], and URLs are shown
//! without their query (QQ image URLs carry a download token, `rkey`).
//!
//! Photos that arrive as file ids (Telegram, WeCom) are asked of the channel that received them
//! (`Channel::resolve_media`, the row's `channel`): it downloads them from its own configured
//! platform API with its own credentials (trusted as the platform, held to the same size cap) or
//! hands back a link, which goes through the checks above like any other.

use crate::app::App;
use crate::chat::{Channel, MediaError, MediaRef, MediaSource};
use crate::db::begin_write;
use crate::store::rectify as rs;
use reqwest::{StatusCode, Url};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;

/// How an oversize photo's error starts (`证据` tells those apart from other failures).
pub const TOO_LARGE: &str = "larger than";

/// Whether a failed photo's recorded error says it was over `evidence_max_bytes`.
pub fn is_too_large(error: &str) -> bool {
    error.starts_with(TOO_LARGE)
}

/// Redirects followed for one photo; QQ's image servers use at most one.
pub const MAX_REDIRECTS: usize = 3;

/// Where photos go: `[rectify] evidence_dir`, or `evidence/` next to the database.
pub fn evidence_dir(settings: &Settings) -> PathBuf {
    settings.rectify.evidence_dir.clone().unwrap_or_else(|| {
        settings.database.path.parent().map(|p| p.join("evidence")).unwrap_or_else(|| PathBuf::from("evidence"))
    })
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchReport {
    pub stored: usize,
    pub duplicates: usize,
    pub failed: usize,
}

/// Why a photo was not downloaded. URLs in here are [`shown`] forms: no query, no credentials.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("unsupported URL: {0}")]
    BadUrl(String),
    #[error(
        "refused: {url} points to a non-public address ({ip}); if it is a trusted intranet server, \
         list its host or network in rectify.evidence_allow_hosts"
    )]
    NonPublic { url: String, ip: IpAddr },
    #[error("cannot resolve {url}: {reason}")]
    Resolve { url: String, reason: String },
    #[error("too many redirects (more than {MAX_REDIRECTS}) starting at {0}")]
    TooManyRedirects(String),
    #[error("redirect without a usable Location header from {0}")]
    BadRedirect(String),
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {reason}")]
    Http { url: String, reason: String },
    #[error("{1}: no answer within {0:?}")]
    Timeout(Duration, String),
    #[error("{TOO_LARGE} {0} bytes")]
    TooLarge(u64),
    /// The channel that received the photo could not hand it over (its text has no secret).
    #[error("channel {channel}: {reason}")]
    Channel { channel: String, reason: String },
    #[error("empty body")]
    Empty,
}

/// A URL as it may appear in logs and errors: scheme, host, port and path; a query is shown as
/// `?…` and credentials and fragments are dropped.
pub fn shown(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let query = if url.query().is_some() { "?…" } else { "" };
    format!("{}://{host}{port}{}{query}", url.scheme(), url.path())
}

/// [`shown`] for text that may not even parse as a URL: everything from `?` or `#` is elided.
fn shown_raw(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => shown(&u),
        Err(_) => match url.find(['?', '#']) {
            Some(i) => format!("{}?…", &url[..i]),
            None => url.to_string(),
        },
    }
}

/// One `evidence_allow_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowEntry {
    /// A host name, compared case-insensitively with the URL's host; what it resolves to is trusted.
    Host(String),
    /// An address or network (`10.20.0.0/16`, `192.168.1.5`, `fd00::/8`).
    Net(IpAddr, u8),
}

impl AllowEntry {
    /// Parses an entry; the error says what is wrong, for the configuration message.
    pub fn parse(s: &str) -> Result<AllowEntry, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("an empty entry; expected a host name, an address or a network like 10.20.0.0/16".into());
        }
        if let Some((ip, bits)) = s.split_once('/') {
            let ip: IpAddr = ip.parse().map_err(|_| format!("\"{s}\": not a network (expected e.g. 10.20.0.0/16)"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits: u8 = bits
                .parse()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("\"{s}\": the prefix length must be 0 to {max}"))?;
            return Ok(AllowEntry::Net(canonical(ip), bits));
        }
        if let Ok(ip) = s.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            let ip = canonical(ip);
            return Ok(AllowEntry::Net(ip, if ip.is_ipv4() { 32 } else { 128 }));
        }
        let host = s.trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if host.len() > 253 || !host.split('.').all(label_ok) {
            return Err(format!(
                "\"{s}\": not a host name, address or network (write just the host, e.g. img.intranet.local)"
            ));
        }
        Ok(AllowEntry::Host(host))
    }
}

/// A parsed URL's host: an address literal (the URL parser has already normalised decimal,
/// octal and hex IPv4 spellings to dotted form) or a name.
enum UrlHost<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

fn url_host(url: &Url) -> Option<UrlHost<'_>> {
    let h = url.host_str().filter(|h| !h.is_empty())?;
    if let Some(v6) = h.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse().ok().map(UrlHost::Ip);
    }
    Some(match h.parse::<Ipv4Addr>() {
        Ok(v4) => UrlHost::Ip(IpAddr::V4(v4)),
        Err(_) => UrlHost::Name(h),
    })
}

/// IPv4-mapped IPv6 addresses are the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (canonical(ip), net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - u32::from(bits)) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - u32::from(bits)) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(o[0] == 0 // "this network", including 0.0.0.0 (which Linux connects to loopback)
        || o[0] == 10
        || o[0] == 127
        || (o[0] == 100 && o[1] & 0xc0 == 64) // carrier-grade NAT 100.64/10
        || (o[0] == 169 && o[1] == 254) // link-local, cloud metadata 169.254.169.254
        || (o[0] == 172 && o[1] & 0xf0 == 16)
        || (o[0] == 192 && o[1] == 168)
        || (o[0] == 192 && o[1] == 0 && (o[2] == 0 || o[2] == 2)) // IETF assignments, TEST-NET-1
        || (o[0] == 192 && o[1] == 88 && o[2] == 99) // 6to4 relays
        || (o[0] == 198 && o[1] & 0xfe == 18) // benchmarking 198.18/15
        || (o[0] == 198 && o[1] == 51 && o[2] == 100) // TEST-NET-2
        || (o[0] == 203 && o[1] == 0 && o[2] == 113) // TEST-NET-3
        || o[0] >= 224) // multicast, reserved 240/4, broadcast
}

fn public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return public_v4(v4);
    }
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return public_v4(embedded(s[6], s[7])); // NAT64
    }
    // Only global unicast 2000::/3 is routed on the internet: loopback, unspecified, link-local,
    // unique-local, site-local, multicast, IPv4-compatible and -translated and discard-only
    // addresses are all outside it.
    if s[0] & 0xe000 != 0x2000 {
        return false;
    }
    if s[0] == 0x2002 {
        return public_v4(embedded(s[1], s[2])); // 6to4
    }
    // Documentation 2001:db8::/32 and 3fff::/20; IETF assignments 2001::/23 (Teredo tunnels to
    // anywhere, benchmarking, ORCHID).
    !((s[0] == 0x2001 && (s[1] == 0x0db8 || s[1] < 0x0200)) || (s[0] == 0x3fff && s[1] < 0x1000))
}

/// Whether an address is on the public internet (not loopback, private, link-local, CGNAT,
/// unspecified, multicast, broadcast, documentation or reserved, also when IPv4-mapped).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

/// Downloads photos from vetted addresses only.
pub struct Fetcher {
    allow: Vec<AllowEntry>,
    timeout: Duration,
    max_bytes: u64,
}

impl Fetcher {
    pub fn new(allow_hosts: &[String], timeout: Duration, max_bytes: u64) -> Fetcher {
        // Validation has refused bad entries at startup.
        let allow = allow_hosts.iter().filter_map(|e| AllowEntry::parse(e).ok()).collect();
        Fetcher { allow, timeout, max_bytes }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.allow.iter().any(|e| matches!(e, AllowEntry::Host(h) if h.eq_ignore_ascii_case(host)))
    }

    fn ip_allowed(&self, ip: IpAddr) -> bool {
        is_public(canonical(ip))
            || self.allow.iter().any(|e| matches!(e, AllowEntry::Net(n, bits) if in_net(ip, *n, *bits)))
    }

    /// Resolves the URL's host and returns the addresses to connect to, or why not.
    async fn vet(&self, url: &Url) -> Result<Vec<SocketAddr>, FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::BadUrl(shown(url)));
        }
        let port = url.port_or_known_default().ok_or_else(|| FetchError::BadUrl(shown(url)))?;
        let addrs: Vec<SocketAddr> = match url_host(url) {
            None => return Err(FetchError::BadUrl(shown(url))),
            Some(UrlHost::Ip(ip)) => vec![SocketAddr::new(ip, port)],
            Some(UrlHost::Name(d)) => {
                let found = tokio::net::lookup_host((d, port))
                    .await
                    .map_err(|e| FetchError::Resolve { url: shown(url), reason: e.to_string() })?
                    .collect::<Vec<_>>();
                if found.is_empty() {
                    return Err(FetchError::Resolve { url: shown(url), reason: "no address".into() });
                }
                if self.host_allowed(d) {
                    return Ok(found);
                }
                found
            }
        };
        // Every address must pass: the connection may go to any of them.
        if let Some(bad) = addrs.iter().find(|a| !self.ip_allowed(a.ip())) {
            return Err(FetchError::NonPublic { url: shown(url), ip: canonical(bad.ip()) });
        }
        Ok(addrs)
    }

    /// Downloads one photo, vetting every hop, within the configured time.
    pub async fn download(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        match tokio::time::timeout(self.timeout, self.download_inner(url)).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout(self.timeout, shown_raw(url))),
        }
    }

    async fn download_inner(&self, raw: &str) -> Result<Vec<u8>, FetchError> {
        let mut url = Url::parse(raw.trim()).map_err(|e| FetchError::BadUrl(format!("{} ({e})", shown_raw(raw))))?;
        let first = shown(&url);
        for _ in 0..=MAX_REDIRECTS {
            let addrs = self.vet(&url).await?;
            let mut builder = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                // A proxy would resolve the name again, out of our sight.
                .no_proxy()
                .timeout(self.timeout);
            if let Some(UrlHost::Name(d)) = url_host(&url) {
                builder = builder.resolve_to_addrs(d, &addrs);
            }
            let http = |e: reqwest::Error| FetchError::Http { url: shown(&url), reason: reason(e, &url) };
            let client = builder.build().map_err(http)?;
            let mut resp = client.get(url.clone()).send().await.map_err(http)?;
            let status = resp.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let next = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| url.join(l).ok())
                    .ok_or_else(|| FetchError::BadRedirect(shown(&url)))?;
                url = next;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status { url: shown(&url), status: status.as_u16() });
            }
            let max = self.max_bytes;
            if resp.content_length().is_some_and(|n| n > max) {
                return Err(FetchError::TooLarge(max));
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(http)? {
                body.extend_from_slice(&chunk);
                if body.len() as u64 > max {
                    return Err(FetchError::TooLarge(max));
                }
            }
            if body.is_empty() {
                return Err(FetchError::Empty);
            }
            return Ok(body);
        }
        Err(FetchError::TooManyRedirects(first))
    }
}

/// A transport error's message with its causes, without the URL (reqwest prints it whole,
/// query included) and with the query elided should a cause repeat it.
fn reason(e: reqwest::Error, url: &Url) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    match url.query().filter(|q| !q.is_empty()) {
        Some(q) => text.replace(q, "…"),
        None => text,
    }
}

/// Downloads pending photos (outside any transaction), stores each content once under its
/// sha256, and records the result in a short transaction per photo.
pub async fn fetch_evidence(app: &App) -> anyhow::Result<FetchReport> {
    let cfg = &app.settings.rectify;
    let mut report = FetchReport::default();
    let pending = {
        let mut conn = app.db.acquire().await?;
        rs::pending_evidence(&mut conn, 50).await?
    };
    if pending.is_empty() {
        return Ok(report);
    }
    let fetcher =
        Fetcher::new(&cfg.evidence_allow_hosts, Duration::from_secs(cfg.evidence_timeout_secs), cfg.evidence_max_bytes);
    let dir = evidence_dir(&app.settings);
    let channels = app.channels.get().map(Vec::as_slice).unwrap_or_default();
    for ev in pending {
        let result = async {
            let body = obtain(&fetcher, channels, &ev).await?;
            let (hash, rel) = store_content(&dir, &body).await?;
            anyhow::Ok((hash, body.len(), rel))
        }
        .await;
        let mut tx = begin_write(&app.db).await?;
        match result {
            Ok((hash, size, rel)) => {
                let size = i64::try_from(size).unwrap_or(i64::MAX);
                if rs::evidence_fetched(&mut tx, &ev, &hash, size, &rel, app.clock.now()).await? {
                    report.stored += 1;
                } else {
                    report.duplicates += 1;
                }
            }
            Err(e) => {
                // A photo over the cap stays over it: no point in trying again.
                let too_large = matches!(e.downcast_ref::<FetchError>(), Some(FetchError::TooLarge(_)));
                let give_up = too_large || ev.attempts + 1 >= cfg.evidence_max_attempts;
                tracing::warn!(evidence = ev.id, error = %e, give_up, "evidence download failed");
                rs::evidence_failed(&mut tx, ev.id, &e.to_string(), give_up).await?;
                if give_up {
                    report.failed += 1;
                }
            }
        }
        tx.commit().await?;
    }
    Ok(report)
}

/// A photo's bytes. When the channel that received it is running it says where to get them
/// (a file id resolved through its own API, or the message's link); otherwise the row's link is
/// fetched, as for rows from before channels were recorded. Links always go through the
/// SSRF-guarded [`Fetcher`]; bytes a channel downloaded from its configured platform do not
/// (see [`MediaSource::Bytes`]) but are held to the same size cap.
async fn obtain(
    fetcher: &Fetcher,
    channels: &[Arc<dyn Channel>],
    ev: &rs::PendingEvidence,
) -> Result<Vec<u8>, FetchError> {
    let url = Some(ev.url.trim()).filter(|u| !u.is_empty()).map(str::to_string);
    let running = ev.channel.as_deref().and_then(|name| channels.iter().find(|c| c.name() == name));
    let Some(channel) = running else {
        return match (url, ev.channel.as_deref()) {
            (Some(u), _) => fetcher.download(&u).await,
            (None, Some(name)) => Err(FetchError::Channel {
                channel: name.to_string(),
                reason: "not running; its photos can only be downloaded through it".into(),
            }),
            (None, None) => Err(FetchError::BadUrl("no link and no channel".into())),
        };
    };
    let media = MediaRef { name: None, url, file_id: ev.file_id.clone() };
    let failed = |e: MediaError| match e {
        MediaError::TooLarge(n) => FetchError::TooLarge(n),
        other => FetchError::Channel { channel: channel.name().to_string(), reason: other.to_string() },
    };
    let source = tokio::time::timeout(fetcher.timeout, channel.resolve_media(&media, fetcher.max_bytes))
        .await
        .map_err(|_| FetchError::Timeout(fetcher.timeout, format!("channel {}", channel.name())))?
        .map_err(failed)?;
    match source {
        MediaSource::Link(u) => channel.open_media(fetcher.download(&u).await?).map_err(failed),
        MediaSource::Bytes(b) if b.len() as u64 > fetcher.max_bytes => Err(FetchError::TooLarge(fetcher.max_bytes)),
        MediaSource::Bytes(b) if b.is_empty() => Err(FetchError::Empty),
        MediaSource::Bytes(b) => Ok(b),
    }
}

/// Stores `body` in the evidence directory under its SHA-256 (`ab/abcd…`), once: an existing
/// file of that content is kept. Returns the hash and the path relative to `dir`. Chat photos
/// (the fetcher) and photos uploaded on the platform's forms are stored alike.
pub async fn store_content(dir: &std::path::Path, body: &[u8]) -> std::io::Result<(String, String)> {
    let hash = hex(&Sha256::digest(body));
    let rel = format!("{}/{hash}", &hash[..2]);
    let path = dir.join(&rel);
    if tokio::fs::metadata(&path).await.is_err() {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        // A name of its own per writer, so two stores of one content never share a part file.
        let tmp = path.with_extension(format!("part{}", rand::random::<u32>()));
        tokio::fs::write(&tmp, body).await?;
        tokio::fs::rename(&tmp, &path).await?;
    }
    Ok((hash, rel))
}

/// A stored file's bytes, when its recorded path (relative to `dir`) stays inside `dir` and the
/// content still has the hash it was stored under. Anything else is logged (without the path's
/// content) and answered `None`. `what` and `id` name the row in the logs. Shared by `证据 W12`
/// (rectification evidence) and the platform's visit photos.
pub async fn read_stored(
    dir: &std::path::Path,
    what: &'static str,
    id: i64,
    path: Option<&str>,
    sha256: Option<&str>,
) -> Option<Vec<u8>> {
    let Some(rel) = path.and_then(crate::domain::evidence::safe_relative) else {
        tracing::warn!(what, id, "stored file refused: not a plain relative path");
        return None;
    };
    let read = async {
        let root = tokio::fs::canonicalize(dir).await?;
        let file = tokio::fs::canonicalize(root.join(&rel)).await?;
        // A symbolic link inside the directory must not lead out of it either.
        if !file.starts_with(&root) {
            return Err(std::io::Error::other("outside the evidence directory"));
        }
        tokio::fs::read(&file).await
    };
    match read.await {
        Ok(bytes) => {
            if sha256.is_some_and(|h| h != hex(&Sha256::digest(&bytes))) {
                tracing::warn!(what, id, "stored file does not match its recorded hash");
                return None;
            }
            Some(bytes)
        }
        Err(e) => {
            tracing::warn!(what, id, error = %e, "stored file unreadable");
            None
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The background fetcher: polls for pending photos until shutdown.
pub async fn evidence_loop(app: Arc<App>, shutdown: CancellationToken) {
    let every = Duration::from_secs(app.settings.rectify.evidence_poll_secs.max(1));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(e) = fetch_evidence(&app).await {
            tracing::warn!(error = %e, "evidence fetcher");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn non_public_addresses_in_every_family() {
        for s in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "192.0.2.10",
            "198.51.100.1",
            "203.0.113.5",
            "198.18.0.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "fe80::1",
            "febf::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "2001:db8::1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2001:0:4136:e378::1",
            "2001:2::1",
            "::ffff:0:7f00:1",
            "100::1",
            "3fff::1",
        ] {
            assert!(!is_public(ip(s)), "{s} is not public");
        }
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "169.253.1.1",
            "223.255.255.255",
            "::ffff:8.8.8.8",
            "2400:3200::1",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip(s)), "{s} is public");
        }
    }

    #[test]
    fn odd_spellings_of_loopback_parse_to_loopback() {
        // The URL parser normalises them; the check sees the real address.
        for u in [
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            let url = Url::parse(u).unwrap();
            let ip = match url_host(&url).unwrap() {
                UrlHost::Ip(ip) => ip,
                UrlHost::Name(d) => panic!("{u} parsed as a name {d}"),
            };
            assert_eq!(canonical(ip), ip_of("127.0.0.1"), "{u}");
            assert!(!is_public(ip), "{u}");
        }
        fn ip_of(s: &str) -> IpAddr {
            s.parse().unwrap()
        }
    }

    #[test]
    fn allow_entries() {
        assert_eq!(AllowEntry::parse("Img.Intranet.LOCAL.").unwrap(), AllowEntry::Host("img.intranet.local".into()));
        assert_eq!(AllowEntry::parse("10.20.0.0/16").unwrap(), AllowEntry::Net(ip("10.20.0.0"), 16));
        assert_eq!(AllowEntry::parse("192.168.1.5").unwrap(), AllowEntry::Net(ip("192.168.1.5"), 32));
        assert_eq!(AllowEntry::parse("[::1]").unwrap(), AllowEntry::Net(ip("::1"), 128));
        for bad in ["", "10.0.0.0/33", "fd00::/129", "1.2.3.4/x", "http://x/", "bad host", "a..b", "-x.y"] {
            assert!(AllowEntry::parse(bad).is_err(), "{bad:?}");
        }
        let f = Fetcher::new(
            &["10.20.0.0/16".into(), "fd00::/8".into(), "img.intranet.local".into()],
            Duration::from_secs(1),
            1,
        );
        assert!(f.ip_allowed(ip("10.20.3.4")) && f.ip_allowed(ip("::ffff:10.20.3.4")) && f.ip_allowed(ip("fd00::5")));
        assert!(!f.ip_allowed(ip("10.21.0.1")) && !f.ip_allowed(ip("127.0.0.1")));
        assert!(f.host_allowed("IMG.intranet.local.") && !f.host_allowed("intranet.local"));
    }

    #[test]
    fn urls_are_shown_without_query_or_credentials() {
        let u = Url::parse("https://user:pw@multimedia.nt.qq.com.cn:8443/download?appid=1407&rkey=SECRET#x").unwrap();
        assert_eq!(shown(&u), "https://multimedia.nt.qq.com.cn:8443/download?…");
        assert_eq!(shown(&Url::parse("http://[::1]/a.jpg").unwrap()), "http://[::1]/a.jpg");
        assert_eq!(shown_raw("not a url?rkey=SECRET"), "not a url?…");
    }
}
