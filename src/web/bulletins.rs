//! 通报 (`/bulletins`), read-only: the bulletins published so far and the draft of any month
//! and scope as `通报 预览` builds it (`app::bulletin::draft`, the supervisor's corrections
//! applied), rendered as a page, with its Word document (`app::bulletin::docx_file`) as a
//! download. For the roles `通报` answers (`CommandId::Bulletin`). `POST /bulletins/publish`
//! (CSRF token of the session) publishes through `app::bulletin::publish_bulletin`, the function
//! `通报 发布` / `通报 重新发布` call: the same groups, the same once-per-period rule, the same
//! answer, with the audit entry's `via = web`.

use super::pages::{local_text, page, signed_in};
use super::stats::{encode, may};
use super::{Me, Web};
use crate::app::bulletin::{docx_file, draft, publish_bulletin, resolve_target};
use crate::domain::bulletin::{Bulletin, Month, Target, MONTHLY};
use crate::domain::command::CommandId;
use crate::domain::stats::Scope;
use crate::store::{self, bulletin::Key};
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

/// Most published bulletins listed.
const LISTED: i64 = 60;

#[derive(Deserialize, Default)]
pub(super) struct BulletinQuery {
    #[serde(default)]
    month: String,
    #[serde(default)]
    scope: String,
}

fn clip(s: &str) -> String {
    s.trim().chars().take(40).collect()
}

async fn allowed(web: &Web, headers: &HeaderMap) -> Result<Me, Response> {
    let me = signed_in(web, headers).await?;
    if !may(&me, CommandId::Bulletin) {
        return Err(web.message(StatusCode::FORBIDDEN, Some(&me), "通报", "督导通报由督导室查看和发布。"));
    }
    Ok(me)
}

/// The month and scope asked for, read as `通报 预览 [期间] [范围]` reads them (default: last
/// month, the county); `Err` is the sentence to show.
async fn which(web: &Web, q: &BulletinQuery) -> anyhow::Result<Result<(Month, Target), String>> {
    let today = web.app.clock.now().with_timezone(&web.app.tz).date_naive();
    let typed = clip(&q.month);
    let month = if typed.is_empty() {
        Month::of(today).previous()
    } else {
        match Month::parse(&typed, today) {
            Some(m) => m,
            None => return Ok(Err(format!("期间“{typed}”无法识别：请写 2026-11、2026年11月、本月或上月。"))),
        }
    };
    if month > Month::of(today) {
        return Ok(Err(format!("{}还没有到，不能生成通报。", month.label())));
    }
    let scope = clip(&q.scope);
    let words: Vec<&str> = scope.split_whitespace().collect();
    let mut conn = web.app.db.acquire().await?;
    Ok(resolve_target(&mut conn, &words).await?.map(|t| (month, t)))
}

async fn drafted(web: &Web, month: Month, target: &Target) -> anyhow::Result<Bulletin> {
    let today = web.app.clock.now().with_timezone(&web.app.tz).date_naive();
    let mut conn = web.app.db.acquire().await?;
    draft(&mut conn, &web.app.settings, web.app.tz, month, target, today).await
}

/// The query naming a bulletin, for its links.
fn query_of(month: Month, target: &Target) -> String {
    let scope = match target.scope {
        Scope::County => String::new(),
        _ => format!("&scope={}", encode(&target.label)),
    };
    format!("month={}{scope}", month.key())
}

/// 通报: the list of published bulletins and the form to preview a draft.
pub(super) async fn bulletins(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let me = match allowed(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    page(&web, list_page(&web, &me).await)
}

async fn list_page(web: &Web, me: &Me) -> anyhow::Result<Response> {
    let today = web.app.clock.now().with_timezone(&web.app.tz).date_naive();
    let mut conn = web.app.db.acquire().await?;
    let zones: HashMap<i64, String> = store::people::active_zones(&mut conn).await?.into_iter().collect();
    let rows = store::bulletin::published(&mut conn, MONTHLY, LISTED).await?;
    let published: Vec<_> = rows
        .into_iter()
        .filter_map(|p| {
            let (y, m) = crate::domain::monthly::parse_month_label(&p.period)?;
            let month = Month::new(y, m)?;
            let target = match p.scope.strip_prefix("zone:").map(str::parse::<i64>) {
                None => Target::county(),
                Some(Ok(z)) => Target { scope: Scope::Zone(z), label: zones.get(&z)?.clone() },
                Some(Err(_)) => return None,
            };
            Some(context! {
                title => p.title,
                month => month.label(),
                scope => target.label.clone(),
                issue => p.issue_no,
                revision => p.revision,
                at => local_text(web, p.published_at),
                query => query_of(month, &target),
            })
        })
        .collect();
    let last = Month::of(today).previous();
    let this = Month::of(today);
    let drafts = vec![
        context! { label => format!("{}全县通报（草稿）", last.label()), query => query_of(last, &Target::county()) },
        context! { label => format!("{}全县通报（截至今日）", this.label()), query => query_of(this, &Target::county()) },
    ];
    let zone_list: Vec<&String> = {
        let mut v: Vec<(&i64, &String)> = zones.iter().collect();
        v.sort();
        v.into_iter().map(|(_, n)| n).collect()
    };
    let ctx = context! {
        title => "督导通报",
        published, drafts, zones => zone_list, month => last.key(),
        ..web.frame(Some(me), "bulletins")
    };
    Ok(web.render(StatusCode::OK, "bulletins.html", ctx))
}

/// Most paragraphs of one section the preview page shows (a page stays under 300 KB).
const PREVIEW_PARAGRAPHS: usize = 100;

/// `GET /bulletins/view?month=2026-11[&scope=第一责任区]`: the draft as `通报 预览` shows it; a
/// section longer than [`PREVIEW_PARAGRAPHS`] is cut there with a line counting the rest, which
/// the Word document (and the published text) keep.
pub(super) async fn view(State(web): State<Arc<Web>>, headers: HeaderMap, Query(q): Query<BulletinQuery>) -> Response {
    let me = match allowed(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    page(&web, view_page(&web, &me, q).await)
}

async fn view_page(web: &Web, me: &Me, q: BulletinQuery) -> anyhow::Result<Response> {
    let (month, target) = match which(web, &q).await? {
        Ok(found) => found,
        Err(msg) => return Ok(web.message(StatusCode::BAD_REQUEST, Some(me), "督导通报", &msg)),
    };
    let bulletin = drafted(web, month, &target).await?;
    let (period, scope) = (month.key(), target.key());
    let mut conn = web.app.db.acquire().await?;
    let published = store::bulletin::latest(&mut conn, Key { kind: MONTHLY, period: &period, scope: &scope }).await?;
    drop(conn);
    // A long section (a province's 通报名单 names thousands of items) shows its first
    // paragraphs, in the document's order, and counts the rest; the .docx keeps them all.
    let sections: Vec<_> = bulletin
        .sections
        .iter()
        .map(|s| {
            let shown = s.paragraphs.len().min(PREVIEW_PARAGRAPHS);
            context! {
                heading => s.section.heading(),
                paragraphs => s.paragraphs[..shown].to_vec(),
                more => s.paragraphs.len() - shown,
                overridden => s.overridden,
            }
        })
        .collect();
    let ctx = context! {
        title => bulletin.title.clone(),
        bulletin => context! {
            title => bulletin.title.clone(),
            issuer => bulletin.issuer.clone(),
            date => bulletin.date_line.clone(),
            issue => bulletin.issue_no,
        },
        sections,
        table => context! {
            caption => bulletin.table.caption.clone(),
            header => bulletin.table.header.clone(),
            rows => bulletin.table.rows.clone(),
        },
        published => published.map(|p| context! { at => local_text(web, p.published_at), groups => p.groups, revision => p.revision }),
        which => match target.scope { Scope::County => period.clone(), _ => format!("{period} {}", target.label) },
        month => period.clone(),
        scope => match target.scope { Scope::County => String::new(), _ => target.label.clone() },
        query => query_of(month, &target),
        ..web.frame(Some(me), "bulletins")
    };
    Ok(web.render(StatusCode::OK, "bulletin.html", ctx))
}

/// `GET /bulletins/docx?month=…[&scope=…]`: the draft's Word document, as `通报 预览` sends it.
pub(super) async fn docx(State(web): State<Arc<Web>>, headers: HeaderMap, Query(q): Query<BulletinQuery>) -> Response {
    let me = match allowed(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let built = async {
        let (month, target) = match which(&web, &q).await? {
            Ok(found) => found,
            Err(msg) => return Ok(Err(msg)),
        };
        let bulletin = drafted(&web, month, &target).await?;
        Ok::<_, anyhow::Error>(Ok(docx_file(&bulletin)?))
    };
    match built.await {
        Ok(Ok((name, bytes))) => {
            let mut res = bytes.into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            );
            if let Ok(v) = HeaderValue::from_str(&crate::domain::files::content_disposition(&name)) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Ok(Err(msg)) => web.message(StatusCode::BAD_REQUEST, Some(&me), "督导通报", &msg),
        Err(e) => page(&web, Err(e)),
    }
}

/// `POST /bulletins/publish` (`month`, `scope`, `again`, `csrf`): publishes as `通报 发布` (or
/// `通报 重新发布` with `again=1`) would, and shows its answer.
pub(super) async fn publish(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let me = match allowed(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let sent = form.get("csrf").map(String::as_str).unwrap_or_default();
    if !crate::domain::web::same_secret(sent, &crate::domain::web::csrf_token(&me.token)) {
        tracing::warn!(person = me.actor.person_id, "web bulletin publication refused: CSRF token missing or wrong");
        return web.message(StatusCode::FORBIDDEN, Some(&me), "请求无效", "页面已过期，请刷新后重试。");
    }
    let q = BulletinQuery {
        month: form.get("month").cloned().unwrap_or_default(),
        scope: form.get("scope").cloned().unwrap_or_default(),
    };
    let again = form.get("again").is_some_and(|v| v == "1");
    let done = async {
        let (month, target) = match which(&web, &q).await? {
            Ok(found) => found,
            Err(msg) => return Ok(Err(msg)),
        };
        let now = web.app.clock.now();
        let today = now.with_timezone(&web.app.tz).date_naive();
        let mut tx = crate::db::begin_write(&web.app.db).await?;
        let p =
            publish_bulletin(&mut tx, &web.app, Some(me.actor.person_id), month, &target, again, now, today).await?;
        for env in p.sends {
            crate::outbox::enqueue(&mut tx, &web.app.directory, now, env).await?;
        }
        if let Some((entity_id, action, detail)) = p.audit {
            let entry = crate::store::audit::AuditEntry {
                actor_id: Some(me.actor.person_id),
                via: "web",
                entity: "bulletin",
                entity_id: Some(entity_id),
                action,
                detail,
            };
            crate::store::audit::record(&mut tx, now, entry).await?;
        }
        tx.commit().await?;
        web.app.outbox_notify.notify_waiters();
        Ok::<_, anyhow::Error>(Ok((p.reply, query_of(month, &target))))
    };
    match done.await {
        Ok(Ok((reply, query))) => {
            let ctx =
                context! { title => "督导通报", text => reply, back => query, ..web.frame(Some(&me), "bulletins") };
            web.render(StatusCode::OK, "published.html", ctx)
        }
        Ok(Err(msg)) => web.message(StatusCode::BAD_REQUEST, Some(&me), "督导通报", &msg),
        Err(e) => page(&web, Err(e)),
    }
}
