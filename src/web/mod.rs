//! The supervision platform (督导信息平台): server-rendered pages on the HTTP listener, over
//! the same store and the same rules as the chat.
//!
//! - Login: `GET /login/<token>[?next=/weekly]` spends a one-time link that `登录` sent in a
//!   private chat (`app::web`), opens a session (only its hash stored) and redirects home, or to
//!   one of the platform's own pages (`domain::web::safe_next`). Rate-limited per client address.
//! - Pages (`pages`): 我的待办 (`/`), 周报 (`/weekly`), 整改台账 (`/ledger`, `/ledger/<id>`);
//!   (`board`): 督办 (`/tasks`, `/tasks/<id>`) and 花名册 (`/roster`); (`themes`): 主题与纪实
//!   (`/themes`); (`stats`): 统计 (`/stats`) and the XLSX downloads (`/stats/export`);
//!   (`bulletins`): 通报 (`/bulletins`, `/bulletins/view`, `/bulletins/docx`); (`visit`): the
//!   督导纪实 form (`/visits/new`, multipart with photos) and a record (`/visits/<id>`);
//!   (`report`): the 周交流 form (`/reports/new`).
//!   Every query is scoped server-side by the person's `Actor`, with the chat's checks
//!   (`app::rectify::ledger_scope`, `Actor::check_view_school`, `Actor::check_zone`); an item
//!   outside the scope is "not found", like one that does not exist.
//! - State-changing requests carry the CSRF token derived from the session (`Web::csrf_refusal`):
//!   `POST /logout`, `POST /bulletins/publish`, and the acts (`act`): `POST /ledger/<id>/close|return`,
//!   `POST /tasks/<id>/ack|done`, each through the chat's own functions.
//! - Templates are minijinja with HTML auto-escaping on every template (chat text is hostile);
//!   the stylesheet is compiled in and served from `/static/style.css`; every response carries
//!   the security headers (`domain::web::CSP`, nosniff, no referrer, no framing).

mod act;
mod assign;
mod board;
mod bulletins;
mod pages;
mod photos;
mod report;
mod selfcheck;
mod stats;
mod themes;
mod visit;

use crate::app::App;
use crate::domain::actor::Actor;
use crate::domain::web::{self as dw, BaseUrl, RateLimiter};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::{AutoEscape, Environment, Value};
use std::sync::{Arc, Mutex};

/// What the platform's handlers share.
pub struct Web {
    pub(crate) app: Arc<App>,
    env: Environment<'static>,
    limiter: Mutex<RateLimiter>,
    /// The configured external address; links and cookie paths come from it.
    pub(crate) base: BaseUrl,
}

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("home.html", include_str!("templates/home.html")),
    ("weekly.html", include_str!("templates/weekly.html")),
    ("ledger.html", include_str!("templates/ledger.html")),
    ("item.html", include_str!("templates/item.html")),
    ("tasks.html", include_str!("templates/tasks.html")),
    ("task.html", include_str!("templates/task.html")),
    ("roster.html", include_str!("templates/roster.html")),
    ("message.html", include_str!("templates/message.html")),
    ("themes.html", include_str!("templates/themes.html")),
    ("stats.html", include_str!("templates/stats.html")),
    ("bulletins.html", include_str!("templates/bulletins.html")),
    ("bulletin.html", include_str!("templates/bulletin.html")),
    ("published.html", include_str!("templates/published.html")),
    ("visit_form.html", include_str!("templates/visit_form.html")),
    ("visit.html", include_str!("templates/visit.html")),
    ("report_form.html", include_str!("templates/report_form.html")),
    ("selfchecks.html", include_str!("templates/selfchecks.html")),
    ("selfcheck_list.html", include_str!("templates/selfcheck_list.html")),
    ("selfcheck.html", include_str!("templates/selfcheck.html")),
];

const STYLE: &str = include_str!("static/style.css");

/// The template environment: every template HTML-escaped, undefined values an error.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, source) in TEMPLATES {
        if let Err(e) = env.add_template(name, source) {
            // Compiled in and covered by the tests: a broken template is a build defect.
            tracing::error!(template = name, error = %e, "web template does not parse");
        }
    }
    env
}

/// The platform's routes, to merge into the listener's router.
pub fn router(app: Arc<App>) -> Router {
    let base = BaseUrl::parse(&app.settings.web.base_url).unwrap_or(BaseUrl {
        url: String::new(),
        path: String::new(),
        secure: false,
    });
    let app_photo_cap = app.settings.rectify.evidence_max_bytes;
    let web = Arc::new(Web { app, env: environment(), limiter: Mutex::new(RateLimiter::default()), base });
    Router::new()
        .route("/", get(pages::home))
        .route("/weekly", get(pages::weekly))
        .route("/ledger", get(pages::ledger))
        .route("/ledger/{id}", get(pages::item))
        .route("/ledger/{id}/photos/{n}", get(photos::item_photo))
        .route("/ledger/{id}/close", post(act::close))
        .route("/ledger/{id}/return", post(act::give_back))
        .route(
            "/visits/new",
            get(visit::new)
                .post(visit::submit)
                .layer(axum::extract::DefaultBodyLimit::max(visit::body_limit(app_photo_cap))),
        )
        .route("/visits/{id}", get(visit::show))
        .route("/visits/{id}/photos/{n}", get(photos::visit_photo))
        .route("/reports/new", get(report::new).post(report::submit))
        .route("/selfchecks", get(selfcheck::list))
        .route("/selfchecks/{id}", get(selfcheck::show))
        .route("/selfchecks/{id}/review", post(selfcheck::review))
        .route("/selfchecks/{id}/confirm", post(selfcheck::confirm))
        .route("/tasks", get(board::tasks))
        .route("/tasks/new", post(assign::assign))
        .route("/tasks/{id}", get(board::task))
        .route("/tasks/{id}/ack", post(act::task_ack))
        .route("/tasks/{id}/done", post(act::task_done))
        .route("/roster", get(board::roster))
        .route("/themes", get(themes::themes))
        .route("/themes/publish", post(assign::publish))
        .route("/stats", get(stats::stats))
        .route("/stats/export", get(stats::download))
        .route("/bulletins", get(bulletins::bulletins))
        .route("/bulletins/view", get(bulletins::view))
        .route("/bulletins/docx", get(bulletins::docx))
        .route("/bulletins/publish", post(bulletins::publish))
        .route("/login/{token}", get(login))
        .route("/logout", post(logout))
        .route("/static/style.css", get(style))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(web)
}

/// The headers every platform response carries.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(dw::CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=86400")], STYLE)
        .into_response()
}

/// The signed-in person of a request.
pub(crate) struct Me {
    pub actor: Actor,
    /// The session token from the cookie (the CSRF token derives from it).
    pub token: String,
}

impl Web {
    /// A rendered page, or a plain error when rendering fails (logged).
    pub(crate) fn render(&self, status: StatusCode, name: &str, ctx: Value) -> Response {
        let html = self.env.get_template(name).and_then(|t| t.render(ctx));
        match html {
            Ok(body) => (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
                body,
            )
                .into_response(),
            Err(e) => {
                tracing::error!(template = name, error = %e, "web page failed to render");
                unavailable()
            }
        }
    }

    /// A short page with a title and a sentence (errors, notices), with the menu when signed in.
    pub(crate) fn message(&self, status: StatusCode, me: Option<&Me>, title: &str, text: &str) -> Response {
        let ctx = minijinja::context! { title, text, ..self.frame(me, "") };
        self.render(status, "message.html", ctx)
    }

    /// A short page like [`Web::message`] with a link back to `back` (a platform path).
    pub(crate) fn message_back(&self, status: StatusCode, me: &Me, title: &str, text: &str, back: &str) -> Response {
        let back = self.base.page(back);
        let ctx = minijinja::context! { title, text, back, ..self.frame(Some(me), "") };
        self.render(status, "message.html", ctx)
    }

    /// The refusal of a state-changing request whose form does not carry the session's CSRF
    /// token; `None` when it does.
    pub(crate) fn csrf_refusal(&self, me: &Me, sent: &str) -> Option<Response> {
        if dw::same_secret(sent, &dw::csrf_token(&me.token)) {
            return None;
        }
        tracing::warn!(person = me.actor.person_id, "web form refused: CSRF token missing or wrong");
        Some(self.message(StatusCode::FORBIDDEN, Some(me), "请求无效", "页面已过期，请刷新后重试。"))
    }

    /// What `base.html` needs: the base path, the person and the logout form's CSRF token.
    pub(crate) fn frame(&self, me: Option<&Me>, nav: &str) -> Value {
        let person = me.map(|m| {
            minijinja::context! {
                name => m.actor.name.clone(),
                role => m.actor.role.label(),
                weekly => m.actor.role != crate::domain::role::Role::SchoolContact,
                themes => stats::may(m, crate::domain::command::CommandId::ThemeShow),
                stats => stats::may(m, crate::domain::command::CommandId::Stats),
                bulletins => stats::may(m, crate::domain::command::CommandId::Bulletin),
                visits => m.actor.role == crate::domain::role::Role::Inspector,
                selfchecks => stats::may(m, crate::domain::command::CommandId::SelfCheckReview),
                assign => stats::may(m, crate::domain::command::CommandId::TaskCreate),
                publish => stats::may(m, crate::domain::command::CommandId::ThemePublish),
            }
        });
        minijinja::context! {
            base => self.base.path.clone(),
            nav,
            me => person,
            csrf => me.map(|m| dw::csrf_token(&m.token)).unwrap_or_default(),
        }
    }

    /// The person of a request's session cookie, if the session is live and the person still
    /// active. Marks the session seen (at most once a minute).
    pub(crate) async fn me(&self, headers: &HeaderMap) -> anyhow::Result<Option<Me>> {
        let Some(token) = cookie_token(headers) else { return Ok(None) };
        let hash = dw::token_hash(&token);
        let now = self.app.clock.now();
        let mut conn = self.app.db.acquire().await?;
        let Some(s) = crate::store::web::session(&mut conn, &hash).await? else { return Ok(None) };
        let idle = chrono::Duration::minutes(i64::from(self.app.settings.web.session_idle_minutes));
        if !dw::session_alive(s.last_seen_at, s.expires_at, idle, now) {
            return Ok(None);
        }
        let Some(actor) = crate::store::people::actor(&mut conn, s.person_id).await? else { return Ok(None) };
        drop(conn);
        if now - s.last_seen_at >= dw::TOUCH_EVERY {
            let mut tx = crate::db::begin_write(&self.app.db).await?;
            crate::store::web::touch_session(&mut tx, &hash, now).await?;
            tx.commit().await?;
        }
        Ok(Some(Me { actor, token }))
    }

    /// The page for a request without a live session.
    pub(crate) fn signed_out(&self) -> Response {
        self.message(
            StatusCode::UNAUTHORIZED,
            None,
            "请先登录",
            "请在 QQ、企业微信等聊天中私聊督导助手发送“登录”，点开收到的一次性链接即可进入。",
        )
    }
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(dw::session_token)
        .map(str::to_string)
}

/// Plain text, for when even a page cannot be rendered.
pub(crate) fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
        "服务暂时不可用，请稍后再试。\n",
    )
        .into_response()
}

/// A redirect within the platform.
fn see_other(location: &str, cookie: Option<String>) -> Response {
    let mut res = (StatusCode::SEE_OTHER, [(header::LOCATION, location.to_string())]).into_response();
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        res.headers_mut().insert(header::SET_COOKIE, c);
    }
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `GET /login/<token>`: spends the link, opens a session, and goes home.
async fn login(
    State(web): State<Arc<Web>>,
    Path(token): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
) -> Response {
    let settings = &web.app.settings.web;
    let peer = ext.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let now = web.app.clock.now();
    if let Some(ip) = dw::client_ip(peer, forwarded, settings.trust_forwarded_for) {
        let allowed = match web.limiter.lock() {
            Ok(mut l) => l.allow(ip, settings.login_attempts_per_minute, now),
            Err(poisoned) => poisoned.into_inner().allow(ip, settings.login_attempts_per_minute, now),
        };
        if !allowed {
            tracing::warn!(%ip, "login links opened too often from one address");
            return web.message(StatusCode::TOO_MANY_REQUESTS, None, "尝试过于频繁", "请一分钟后再试。");
        }
    }
    let gone = || {
        web.message(
            StatusCode::GONE,
            None,
            "链接已失效",
            "该登录链接已使用、已过期或不存在。请在私聊中重新发送“登录”获取新链接。",
        )
    };
    if !crate::domain::files::is_token_shaped(&token) {
        return gone();
    }
    let session = crate::app::web::new_token();
    let lifetime = chrono::Duration::hours(i64::from(settings.session_hours));
    let opened = async {
        let mut tx = crate::db::begin_write(&web.app.db).await?;
        let Some(person) = crate::store::web::take_link(&mut tx, &dw::token_hash(&token), now).await? else {
            tx.commit().await?;
            return Ok::<_, anyhow::Error>(None);
        };
        crate::store::web::add_session(&mut tx, &dw::token_hash(&session), person, now, now + lifetime).await?;
        let entry = crate::store::audit::AuditEntry {
            actor_id: Some(person),
            via: "web",
            entity: "web_session",
            entity_id: None,
            action: "opened",
            detail: serde_json::Value::Null,
        };
        crate::store::audit::record(&mut tx, now, entry).await?;
        tx.commit().await?;
        Ok(Some(person))
    };
    match opened.await {
        Ok(Some(person)) => {
            tracing::info!(person, "web session opened");
            let next = query.get("next").and_then(|n| dw::safe_next(n)).unwrap_or("/");
            see_other(&web.base.page(next), Some(web.base.session_cookie(&session, lifetime)))
        }
        Ok(None) => gone(),
        Err(e) => {
            tracing::error!(error = %e, "web login failed");
            unavailable()
        }
    }
}

/// `POST /logout`: ends this session, with a valid CSRF token only.
async fn logout(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    body: axum::extract::Form<std::collections::HashMap<String, String>>,
) -> Response {
    let me = match web.me(&headers).await {
        Ok(Some(me)) => me,
        Ok(None) => return web.signed_out(),
        Err(e) => {
            tracing::error!(error = %e, "web session lookup failed");
            return unavailable();
        }
    };
    if let Some(r) = web.csrf_refusal(&me, body.get("csrf").map(String::as_str).unwrap_or_default()) {
        return r;
    }
    let now = web.app.clock.now();
    let done = async {
        let mut tx = crate::db::begin_write(&web.app.db).await?;
        crate::store::web::revoke_session(&mut tx, &dw::token_hash(&me.token), now).await?;
        let entry = crate::store::audit::AuditEntry {
            actor_id: Some(me.actor.person_id),
            via: "web",
            entity: "web_session",
            entity_id: None,
            action: "logged_out",
            detail: serde_json::Value::Null,
        };
        crate::store::audit::record(&mut tx, now, entry).await?;
        tx.commit().await?;
        Ok::<_, anyhow::Error>(())
    };
    match done.await {
        Ok(()) => see_other(&web.base.page("/"), Some(web.base.clear_cookie())),
        Err(e) => {
            tracing::error!(error = %e, "web logout failed");
            unavailable()
        }
    }
}
