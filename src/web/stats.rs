//! 统计 (`/stats`) and the export downloads (`/stats/export`), read-only.
//!
//! The page is the chat's `统计 <主题> [期间] [范围]`: the same roles (`CommandId::Stats`), the
//! same period and scope words (`domain::stats::args`, `export::resolve_scope`), the same rows
//! (`export::load_figures`) and the same figures (`charts::figures::summary`); the charts are those
//! figures laid out as SVG (`charts::svg`). A download is the chat's `导出`: the same roles
//! (`CommandId::Export`) and the very bytes of `export::build`.

use super::pages::{page, signed_in};
use super::{Me, Web};
use crate::charts::figures::{self, Topic};
use crate::domain::command::{CommandId, CommandSpec};
use crate::domain::stats::args;
use crate::export::{self, ExportError, Kind};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize, Default)]
pub(super) struct StatsQuery {
    #[serde(default)]
    topic: String,
    #[serde(default)]
    period: String,
    #[serde(default)]
    scope: String,
}

#[derive(Deserialize, Default)]
pub(super) struct ExportQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    period: String,
    #[serde(default)]
    scope: String,
}

/// Whether the chat lets this person use `command` (its catalogue roles).
pub(super) fn may(me: &Me, command: CommandId) -> bool {
    CommandSpec::get(command).allowed(Some(me.actor.role))
}

/// A query-string value.
pub(super) fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// At most this many characters of a typed period or scope are read.
fn clip(s: &str) -> String {
    s.trim().chars().take(40).collect()
}

/// 统计: a topic's figures, charts and the export links, for supervisors (as `统计` in chat).
pub(super) async fn stats(State(web): State<Arc<Web>>, headers: HeaderMap, Query(q): Query<StatsQuery>) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    if !may(&me, CommandId::Stats) {
        return web.message(StatusCode::FORBIDDEN, Some(&me), "统计", "统计由督导室查看。");
    }
    page(&web, stats_page(&web, &me, q).await)
}

async fn stats_page(web: &Web, me: &Me, q: StatsQuery) -> anyhow::Result<Response> {
    // Words the chat would not read get its kind of sentence on the page, as a scope does.
    let (topic, unknown_topic) = match Topic::parse(&q.topic) {
        Some(t) => (t, None),
        None if q.topic.trim().is_empty() => (Topic::Weekly, None),
        None => {
            let known: Vec<&str> = Topic::ALL.iter().map(|t| t.name()).collect();
            (Topic::Weekly, Some(format!("没有“{}”这项统计，可选：{}。", clip(&q.topic), known.join("、"))))
        }
    };
    let (period_text, scope_text) = (clip(&q.period), clip(&q.scope));
    let now = web.app.clock.now();
    let today = now.with_timezone(&web.app.tz).date_naive();
    let topics: Vec<_> =
        Topic::ALL.iter().map(|t| context! { value => t.name(), label => t.name(), on => *t == topic }).collect();
    let mut conn = web.app.db.acquire().await?;
    let loaded = async {
        if let Some(msg) = unknown_topic {
            return Err(ExportError::Input(msg));
        }
        let period = if period_text.is_empty() {
            topic.default_period(today)
        } else {
            args::parse_period(&period_text, today, Some(&web.app.calendar)).map_err(ExportError::Input)?
        };
        let (scope, _) =
            export::resolve_scope(&mut conn, if scope_text.is_empty() { "全县" } else { &scope_text }).await?;
        export::load_figures(&mut conn, web.app.tz, &web.app.settings, topic.kind(), period, scope, now).await
    }
    .await;
    let (refusal, summary, charts) = match loaded {
        Ok(data) => {
            let s = figures::summary(topic, &data);
            let charts: Vec<_> = s.charts.iter().map(crate::charts::svg::layout).collect();
            (String::new(), s.text, charts)
        }
        Err(ExportError::Input(msg)) => (msg, String::new(), Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let exports: Vec<_> = Kind::ALL
        .iter()
        .map(|k| {
            let mut query = format!("kind={}", encode(k.name()));
            if !period_text.is_empty() {
                query.push_str(&format!("&period={}", encode(&period_text)));
            }
            if !scope_text.is_empty() {
                query.push_str(&format!("&scope={}", encode(&scope_text)));
            }
            context! { name => k.name(), title => k.title(), query }
        })
        .collect();
    let ctx = context! {
        title => "统计",
        topics,
        topic => topic.name(),
        period => period_text,
        scope => scope_text,
        refusal,
        summary,
        charts,
        exports,
        can_export => may(me, CommandId::Export),
        ..web.frame(Some(me), "stats")
    };
    Ok(web.render(StatusCode::OK, "stats.html", ctx))
}

/// `GET /stats/export?kind=整改台账&period=上月&scope=第一责任区`: the workbook `导出` sends in
/// chat, as a download. Refused to the roles the chat refuses (403); words it cannot read get
/// the chat's sentence (400).
pub(super) async fn download(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(q): Query<ExportQuery>,
) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    if !may(&me, CommandId::Export) {
        return web.message(StatusCode::FORBIDDEN, Some(&me), "导出", "导出表格由督导室办理。");
    }
    let Some(kind) = Kind::parse(&q.kind) else {
        let text = format!("没有“{}”这种导出。种类：{}。", clip(&q.kind), export::kinds_text());
        return web.message(StatusCode::BAD_REQUEST, Some(&me), "导出", &text);
    };
    let now = web.app.clock.now();
    let today = now.with_timezone(&web.app.tz).date_naive();
    let (period_text, scope_text) = (clip(&q.period), clip(&q.scope));
    let built = async {
        let period = export::resolve_period(kind, &period_text, today, Some(&web.app.calendar))?;
        let mut conn = web.app.db.acquire().await.map_err(|e| ExportError::Figures(e.into()))?;
        let scope_text = if scope_text.is_empty() { "全县" } else { scope_text.as_str() };
        let (scope, _) = export::resolve_scope(&mut conn, scope_text).await?;
        export::build(&mut conn, web.app.tz, &web.app.settings, kind, period, scope, now).await
    }
    .await;
    match built {
        Ok(file) => {
            tracing::info!(person = me.actor.person_id, kind = kind.name(), bytes = file.bytes.len(), "web export");
            let mut res = file.bytes.into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            );
            if let Ok(v) = HeaderValue::from_str(&crate::domain::files::content_disposition(&file.file_name)) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(ExportError::Input(msg)) => web.message(StatusCode::BAD_REQUEST, Some(&me), "导出", &msg),
        Err(e) => {
            tracing::error!(kind = kind.name(), error = %e, "web export failed");
            web.message(StatusCode::SERVICE_UNAVAILABLE, Some(&me), "导出", "生成表格时出错，已记录。请稍后再试。")
        }
    }
}
