//! The platform (督导信息平台) as a browser reaches it over the real listener: no automatic
//! redirects, cookies handled by hand, and the login through a link obtained in a private
//! console chat (`登录`). Shared by the platform's page tests.

use super::Harness;
use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;

/// The external address the platform's tests configure (`[web] base_url`).
pub const BASE: &str = "https://dudao.example.test";

/// `[web]` with [`BASE`] as the address people open.
pub fn web_config() -> String {
    format!("\n[web]\nbase_url = \"{BASE}/\"\nlogin_attempts_per_minute = 100\n")
}

/// The office's group and zone Z05's inspectors' group on the console channel, as the platform's
/// tests configure them (after their own `[weekly]` section).
pub const OFFICE_GROUPS: &str = r#"
[[groups]]
channel = "console"
id = "office"
purpose = "supervisors"

[[groups]]
channel = "console"
id = "zone5"
purpose = "zone_inspectors"
zone = "Z05"
"#;

pub struct Site {
    pub root: String,
    pub client: reqwest::Client,
}

/// A response: status, headers and the body's bytes.
pub struct Got {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Got {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    }
}

impl Site {
    pub fn of(h: &Harness) -> Site {
        let addr = h.running.as_ref().expect("running").http_addr;
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Site { root: format!("http://{addr}"), client }
    }

    pub async fn fetch(&self, path: &str, cookie: Option<&str>) -> Got {
        let mut req = self.client.get(format!("{}{path}", self.root));
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        let res = req.send().await.unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        Got { status, headers, bytes: res.bytes().await.unwrap().to_vec() }
    }

    /// A form posted with the session cookie: status and text.
    pub async fn post_form(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let res =
            self.client.post(format!("{}{path}", self.root)).header(COOKIE, cookie).form(form).send().await.unwrap();
        let status = res.status();
        (status, res.text().await.unwrap())
    }

    /// A page: status and text.
    pub async fn get(&self, path: &str, cookie: &str) -> (StatusCode, String) {
        let got = self.fetch(path, Some(cookie)).await;
        (got.status, got.text())
    }

    /// Opens a login link (its path on this listener); the `name=value` of the session cookie.
    pub async fn open(&self, link_path: &str) -> String {
        let got = self.fetch(link_path, None).await;
        assert_eq!(got.status, StatusCode::SEE_OTHER, "{}", got.text());
        assert_eq!(got.headers.get(LOCATION).unwrap(), "/");
        let set = got.headers.get(SET_COOKIE).expect("a session cookie").to_str().unwrap().to_string();
        set.split(';').next().unwrap().to_string()
    }
}

/// The path of the login link in the bot's answer (`/login/<token>`), if there is one.
pub fn link_path(out: &str) -> Option<String> {
    let start = out.find(&format!("{BASE}/login/"))? + BASE.len();
    let tail = &out[start..];
    let end = tail["/login/".len()..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .map_or(tail.len(), |i| i + "/login/".len());
    Some(tail[..end].to_string())
}

/// Logs a bound console account in: `登录` privately, then the link; the session cookie.
pub async fn login(h: &mut Harness, site: &Site, account: &str) -> String {
    let out = h.say(&format!("{account}: 登录")).await;
    let path = link_path(&out).unwrap_or_else(|| panic!("no login link for {account}: {out}"));
    site.open(&path).await
}

/// Text as a page's auto-escaping writes it.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

/// The text of the first element opened by `open` (e.g. `<pre class="verbatim figures-text">`),
/// unescaped.
pub fn inner(page: &str, open: &str) -> Option<String> {
    let start = page.find(open)? + open.len();
    let end = page[start..].find("</")? + start;
    Some(
        page[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&#x2f;", "/")
            .replace("&amp;", "&"),
    )
}

/// A query-string value.
pub fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The file name of a `Content-Disposition`'s RFC 5987 `filename*`, decoded.
pub fn filename_star(disposition: &str) -> Option<String> {
    let raw = disposition.split("filename*=UTF-8''").nth(1)?.split(';').next()?;
    Some(percent_encoding::percent_decode_str(raw.trim()).decode_utf8_lossy().into_owned())
}

/// The CSRF token in a page's forms (the logout form every signed-in page has).
pub fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + "name=\"csrf\" value=\"".len();
    page[at..].split('"').next().unwrap().to_string()
}

/// A small real PNG (a 4×3 image), as a phone would upload it.
pub fn tiny_png(shade: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, 4, 3);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().unwrap();
    w.write_image_data(&[shade; 4 * 3 * 3]).unwrap();
    w.finish().unwrap();
    out
}
