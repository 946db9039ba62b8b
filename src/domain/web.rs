//! Rules of the supervision platform (督导信息平台) that need no I/O: where links point, the
//! session cookie, session expiry, the CSRF token, the login rate limit, and the texts the chat
//! answers with.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;

/// The session cookie's name.
pub const COOKIE: &str = "dudao_session";

/// The configured external address, split into what links and cookies need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// Without a trailing '/': `https://edu.example.org/dudao`.
    pub url: String,
    /// The path part, without a trailing '/' (empty at the root): `/dudao`. Pages link with it,
    /// since a reverse proxy may serve the platform under a path it strips.
    pub path: String,
    /// Served over TLS: the cookie is `Secure`.
    pub secure: bool,
}

impl BaseUrl {
    /// `None` when empty or not an http(s) address.
    pub fn parse(s: &str) -> Option<BaseUrl> {
        let url = s.trim().trim_end_matches('/');
        let (secure, rest) =
            if let Some(r) = url.strip_prefix("https://") { (true, r) } else { (false, url.strip_prefix("http://")?) };
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if host.is_empty() || path.contains(['?', '#']) {
            return None;
        }
        Some(BaseUrl { url: url.to_string(), path: path.to_string(), secure })
    }

    pub fn login_link(&self, token: &str) -> String {
        format!("{}/login/{token}", self.url)
    }

    /// The path of a page under the base (`page` starts with '/').
    pub fn page(&self, page: &str) -> String {
        format!("{}{page}", self.path)
    }

    fn cookie_path(&self) -> &str {
        if self.path.is_empty() {
            "/"
        } else {
            &self.path
        }
    }

    /// `Set-Cookie` for a new session: HttpOnly, SameSite=Lax, Secure over https, and a
    /// Max-Age of the absolute lifetime (the server enforces the idle limit).
    pub fn session_cookie(&self, token: &str, max_age: Duration) -> String {
        format!(
            "{COOKIE}={token}; Path={}; Max-Age={}; HttpOnly; SameSite=Lax{}",
            self.cookie_path(),
            max_age.num_seconds().max(0),
            if self.secure { "; Secure" } else { "" }
        )
    }

    /// `Set-Cookie` that removes the session cookie.
    pub fn clear_cookie(&self) -> String {
        format!(
            "{COOKIE}=; Path={}; Max-Age=0; HttpOnly; SameSite=Lax{}",
            self.cookie_path(),
            if self.secure { "; Secure" } else { "" }
        )
    }
}

/// The session token in a `Cookie` header, if any and plausibly shaped.
pub fn session_token(cookie_header: &str) -> Option<&str> {
    cookie_header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| crate::domain::files::is_token_shaped(v))
}

/// A token as stored (hex SHA-256): the database never holds a usable link or session.
pub fn token_hash(token: &str) -> String {
    crate::domain::files::token_hash(token)
}

/// The CSRF token of a session, derived from its secret token: forms carry it, a cross-site
/// page cannot read it, and nothing more is stored.
pub fn csrf_token(session_token: &str) -> String {
    let digest = Sha256::digest(format!("dudao-csrf:{session_token}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares in time independent of where the strings differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Session lifetimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    pub idle: Duration,
    pub absolute: Duration,
}

/// Whether a session is still good at `now`.
pub fn session_alive(last_seen: DateTime<Utc>, expires_at: DateTime<Utc>, idle: Duration, now: DateTime<Utc>) -> bool {
    now < expires_at && now < last_seen + idle
}

/// Last-seen times are written at most this often (a page view is otherwise a read).
pub const TOUCH_EVERY: Duration = Duration::seconds(60);

/// Where a login link may lead after the session opens (`?next=`): only the platform's own
/// pages, never another site (no open redirect). `None` for anything else.
pub fn safe_next(next: &str) -> Option<&str> {
    let (path, query) = next.split_once('?').unwrap_or((next, ""));
    let page_ok = match path.strip_prefix('/')?.split_once('/') {
        None => {
            matches!(
                path,
                "/" | "/weekly"
                    | "/ledger"
                    | "/tasks"
                    | "/roster"
                    | "/themes"
                    | "/stats"
                    | "/bulletins"
                    | "/selfchecks"
            )
        }
        Some(("ledger" | "tasks", id)) => !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()),
        Some(("visits" | "reports", "new")) => true,
        Some(_) => false,
    };
    let query_ok = query.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'&' | b'_' | b'-' | b'%'));
    (page_ok && query_ok).then_some(next)
}

/// Fixed one-minute windows per client address.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: HashMap<IpAddr, (DateTime<Utc>, u32)>,
}

/// Addresses remembered at most; past it, finished windows are dropped first.
const LIMITER_CAP: usize = 10_000;

impl RateLimiter {
    /// Counts an attempt; false when the address used up its attempts in this window.
    pub fn allow(&mut self, ip: IpAddr, per_minute: u32, now: DateTime<Utc>) -> bool {
        let window = Duration::seconds(60);
        if self.windows.len() >= LIMITER_CAP {
            self.windows.retain(|_, (start, _)| now - *start < window);
            if self.windows.len() >= LIMITER_CAP {
                // Still full of live windows: a flood. Refuse newcomers rather than grow.
                if !self.windows.contains_key(&ip) {
                    return false;
                }
            }
        }
        let entry = self.windows.entry(ip).or_insert((now, 0));
        if now - entry.0 >= window || now < entry.0 {
            *entry = (now, 0);
        }
        if entry.1 >= per_minute {
            return false;
        }
        entry.1 += 1;
        true
    }
}

/// The client address: the peer, or (behind a trusted proxy) the last `X-Forwarded-For` entry.
pub fn client_ip(peer: Option<IpAddr>, forwarded_for: Option<&str>, trust_forwarded: bool) -> Option<IpAddr> {
    if trust_forwarded {
        if let Some(ip) = forwarded_for.and_then(|h| h.rsplit(',').next()).and_then(|s| s.trim().parse().ok()) {
            return Some(ip);
        }
    }
    peer
}

/// The `Content-Security-Policy` of every page: nothing from elsewhere, no inline script, no
/// framing.
pub const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The outbox key of the message carrying a login link, from the link's token hash.
pub fn message_key(token_hash: &str) -> String {
    format!("web_login:{token_hash}")
}

/// What the stored copy of a spent link's message says instead.
pub const SPENT_TEXT: &str = "督导信息平台登录链接（已使用）";

/// The chat's answer to `登录` with the link.
pub fn link_text(link: &str, minutes: u32) -> String {
    format!(
        "督导信息平台登录链接（{minutes}分钟内有效，只能使用一次，请勿转发）：\n{link}\n\
         如需在其他设备登录，请重新发送“登录”。用完可发送“退出登录”。"
    )
}

/// `登录` when no external address is configured.
pub const NOT_CONFIGURED: &str = "督导信息平台尚未启用（未配置访问地址），请联系管理员。";

/// The chat's answer to `退出登录`.
pub fn logout_text(ended: u64) -> String {
    if ended == 0 {
        "您当前没有已登录的督导信息平台会话。".to_string()
    } else {
        format!("已退出督导信息平台（结束{ended}个登录会话）。")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn base_url_parts() {
        let b = BaseUrl::parse("https://edu.example.org/dudao/").unwrap();
        assert_eq!(b.url, "https://edu.example.org/dudao");
        assert_eq!(b.path, "/dudao");
        assert!(b.secure);
        assert_eq!(b.login_link("abc"), "https://edu.example.org/dudao/login/abc");
        assert_eq!(b.page("/weekly"), "/dudao/weekly");
        let plain = BaseUrl::parse("http://10.0.0.5:8080").unwrap();
        assert_eq!(plain.path, "");
        assert!(!plain.secure);
        assert_eq!(plain.page("/"), "/");
        assert!(BaseUrl::parse("").is_none());
        assert!(BaseUrl::parse("ftp://x").is_none());
        assert!(BaseUrl::parse("https://").is_none());
        assert!(BaseUrl::parse("https://x/?a=1").is_none());
    }

    #[test]
    fn cookies() {
        let b = BaseUrl::parse("https://x.org").unwrap();
        let c = b.session_cookie("tok", Duration::hours(12));
        assert_eq!(c, "dudao_session=tok; Path=/; Max-Age=43200; HttpOnly; SameSite=Lax; Secure");
        let p = BaseUrl::parse("http://x.org/d").unwrap();
        assert_eq!(p.clear_cookie(), "dudao_session=; Path=/d; Max-Age=0; HttpOnly; SameSite=Lax");
        let t = "A".repeat(43);
        let header = format!("other=1; {COOKIE}={t}; x=y");
        assert_eq!(session_token(&header), Some(t.as_str()));
        assert_eq!(session_token("dudao_session=<script>"), None);
        assert_eq!(session_token("foo=bar"), None);
    }

    #[test]
    fn csrf_and_compare() {
        let a = csrf_token("one");
        assert_eq!(a.len(), 64);
        assert_ne!(a, csrf_token("two"));
        assert!(same_secret(&a, &csrf_token("one")));
        assert!(!same_secret(&a, &csrf_token("two")));
        assert!(!same_secret(&a, ""));
    }

    #[test]
    fn expiry() {
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap();
        let idle = Duration::minutes(120);
        let abs = t0 + Duration::hours(12);
        assert!(session_alive(t0, abs, idle, t0 + Duration::minutes(119)));
        assert!(!session_alive(t0, abs, idle, t0 + Duration::minutes(120)));
        // Kept busy, it still ends at the absolute limit.
        assert!(!session_alive(abs - Duration::minutes(1), abs, idle, abs));
    }

    #[test]
    fn rate_limit_per_address_and_window() {
        let mut r = RateLimiter::default();
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(r.allow(a, 2, t0));
        assert!(r.allow(a, 2, t0));
        assert!(!r.allow(a, 2, t0 + Duration::seconds(30)));
        assert!(r.allow(b, 2, t0 + Duration::seconds(30)));
        assert!(r.allow(a, 2, t0 + Duration::seconds(61)));
    }

    #[test]
    fn next_stays_on_the_platform() {
        for ok in [
            "/",
            "/weekly",
            "/ledger",
            "/ledger/12",
            "/ledger?status=overdue&q=%E5%9F%8E",
            "/tasks",
            "/tasks/3",
            "/roster",
            "/themes",
            "/stats",
            "/bulletins",
            "/visits/new",
            "/reports/new",
        ] {
            assert_eq!(safe_next(ok), Some(ok), "{ok}");
        }
        for bad in [
            "",
            "//evil.example",
            "https://evil.example",
            "/ledger/12/x",
            "/ledger/",
            "/tasks/T3/x",
            "/roster/1",
            "/visits/new/x",
            "/visits/",
            "/logout",
            "weekly",
            "/\\evil",
            "/ledger?x=<",
        ] {
            assert_eq!(safe_next(bad), None, "{bad}");
        }
    }

    #[test]
    fn forwarded_only_when_trusted() {
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let h = Some("1.2.3.4, 5.6.7.8");
        assert_eq!(client_ip(Some(peer), h, false), Some(peer));
        assert_eq!(client_ip(Some(peer), h, true), Some("5.6.7.8".parse().unwrap()));
        assert_eq!(client_ip(Some(peer), Some("junk"), true), Some(peer));
    }
}
