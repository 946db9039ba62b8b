//! 督导纪实 H5: a phone-friendly form for a visit record (`/visits/new`), pre-filled from the
//! inspector's data (their schools, the methods the chat's parser knows, this month's theme
//! checklist), with photos. A submission lands exactly as the chat's `督导纪实` would: the form's
//! text is stored as the person's message and `app::monthly::submit_form` runs on it (the same
//! steps, checks, problems, audit and confirmation in chat as `log_visit`). Photos are sniffed
//! from their bytes (JPEG, PNG, WebP), held to `rectify.evidence_max_bytes` each, and stored
//! content-addressed in the evidence directory like chat evidence (`app::evidence::store_content`).
//! `/visits/<id>` shows a saved record to its author and to those who may see the school, with
//! its photos' thumbnails; `/visits/<id>/photos/<n>` serves each photo under the same scope.

use super::pages::{page, signed_in};
use super::{see_other, Me, Web};
use crate::app::web::WebTurn;
use crate::domain::monthly as m;
use crate::domain::report_parse::VisitMethod;
use crate::domain::role::Role;
use crate::domain::visit_parse::{FollowUp, IndicatorResult, VisitField, VisitForm, VisitKind};
use crate::store::{self, monthly as sm};
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::NaiveDate;
use minijinja::context;
use serde::Serialize;
use std::sync::Arc;

/// Photos one record may carry (a chat evidence page shows as many).
pub(super) const MAX_PHOTOS: usize = crate::domain::evidence::PAGE;

/// Longest text field kept (characters).
const FIELD_CHARS: usize = 2000;

/// The body limit of the form's POST: every photo at the cap, and the text fields.
pub(super) fn body_limit(photo_cap: u64) -> usize {
    usize::try_from(photo_cap).unwrap_or(usize::MAX / 16).saturating_mul(MAX_PHOTOS).saturating_add(1 << 20)
}

/// What the person typed, kept to re-render the form after an error.
#[derive(Serialize, Default)]
struct Filled {
    school: String,
    date: String,
    kind: String,
    methods: Vec<String>,
    lessons: String,
    /// One result per checklist item ("" none).
    indicators: Vec<String>,
    narrative: String,
    good: String,
    problems: String,
    follow_up: String,
}

/// An uploaded photo, checked.
struct Photo {
    bytes: Vec<u8>,
    mime: &'static str,
}

fn is_inspector(me: &Me) -> bool {
    me.actor.role == Role::Inspector
}

fn refused(web: &Web, me: &Me) -> Response {
    web.message(StatusCode::FORBIDDEN, Some(me), "督导纪实", "督导纪实由责任督学填写，您的账号无需填写。")
}

/// The inspector's own schools (recused ones are not theirs to visit): (id, name).
async fn schools(web: &Web, me: &Me) -> anyhow::Result<Vec<(i64, String)>> {
    let mut conn = web.app.db.acquire().await?;
    let refs = web.app.snapshot.school_refs(&mut conn, &me.actor.schools).await?;
    Ok(refs.into_iter().filter(|s| !me.actor.recused.contains(&s.id)).map(|s| (s.id, s.name)).collect())
}

/// This month's theme title and checklist, if one is published.
async fn checklist(web: &Web, today: NaiveDate) -> anyhow::Result<Option<(String, Vec<String>)>> {
    let mut conn = web.app.db.acquire().await?;
    Ok(sm::theme_for(&mut conn, &m::month_label(today)).await?.map(|t| (t.def.title, t.def.indicators)))
}

/// `GET /visits/new`: the empty form.
pub(super) async fn new(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    if !is_inspector(&me) {
        return refused(&web, &me);
    }
    let today = web.app.clock.now().with_timezone(&web.app.tz).date_naive();
    let filled = Filled { date: today.format("%Y-%m-%d").to_string(), lessons: "1".into(), ..Filled::default() };
    page(&web, form_page(&web, &me, StatusCode::OK, filled, "").await)
}

async fn form_page(web: &Web, me: &Me, status: StatusCode, filled: Filled, error: &str) -> anyhow::Result<Response> {
    let today = web.app.clock.now().with_timezone(&web.app.tz).date_naive();
    let schools: Vec<_> = schools(web, me)
        .await?
        .into_iter()
        .map(|(id, name)| context! { id => id.to_string(), on => filled.school == id.to_string(), name })
        .collect();
    let theme = checklist(web, today).await?;
    let indicators: Vec<_> = theme
        .as_ref()
        .map(|(_, list)| list.as_slice())
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, text)| context! { no => i + 1, text, value => filled.indicators.get(i).cloned().unwrap_or_default() })
        .collect();
    let methods: Vec<_> = VisitMethod::ALL
        .iter()
        .map(|m| context! { value => m.as_str(), label => m.label(), on => filled.methods.iter().any(|v| v == m.as_str()) })
        .collect();
    let kinds: Vec<_> = VisitKind::ALL
        .iter()
        .map(|k| context! { value => k.as_str(), label => k.label(), on => filled.kind == k.as_str() })
        .collect();
    let results: Vec<_> =
        IndicatorResult::ALL.iter().map(|r| context! { value => r.as_str(), label => r.label() }).collect();
    let follow_ups: Vec<_> = FollowUp::ALL
        .iter()
        .map(|f| context! { value => f.as_str(), label => f.label(), on => filled.follow_up == f.as_str() })
        .collect();
    let ctx = context! {
        title => "填写督导纪实",
        error,
        filled,
        schools,
        theme => theme.as_ref().map(|(t, _)| t.clone()).unwrap_or_default(),
        indicators,
        results,
        methods,
        kinds,
        follow_ups,
        today => today.format("%Y-%m-%d").to_string(),
        max_photos => MAX_PHOTOS,
        max_mb => web.app.settings.rectify.evidence_max_bytes / (1024 * 1024),
        ..web.frame(Some(me), "home")
    };
    Ok(web.render(status, "visit_form.html", ctx))
}

/// Why a form was not taken: the sentence for the person and the status to answer with.
struct Invalid(StatusCode, String);

fn invalid(text: impl Into<String>) -> Invalid {
    Invalid(StatusCode::UNPROCESSABLE_ENTITY, text.into())
}

/// Reads the multipart body: the text fields into `filled`, the photos checked.
async fn read_form(
    mut multipart: Multipart,
    filled: &mut Filled,
    csrf: &mut String,
    cap: u64,
) -> Result<Vec<Photo>, Invalid> {
    let mut photos = Vec::new();
    let too_big = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Invalid(StatusCode::PAYLOAD_TOO_LARGE, "上传的照片总量过大，请少选几张或压缩后重新选择。".into())
        } else {
            tracing::warn!(error = %e, "web visit form: unreadable body");
            Invalid(StatusCode::BAD_REQUEST, "表单内容不完整，请重新填写提交。".into())
        }
    };
    while let Some(mut field) = multipart.next_field().await.map_err(too_big)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "photos" {
            // A file input with nothing chosen still sends an empty part.
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(too_big)? {
                bytes.extend_from_slice(&chunk);
                if bytes.len() as u64 > cap {
                    return Err(Invalid(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("每张照片不能超过{}MB，请压缩后重新选择。", cap / (1024 * 1024)),
                    ));
                }
            }
            if bytes.is_empty() {
                continue;
            }
            let mime = match crate::domain::evidence::image_ext(&bytes) {
                "jpg" => "image/jpeg",
                "png" => "image/png",
                "webp" => "image/webp",
                _ => return Err(invalid("只能上传 JPG、PNG 或 WebP 格式的照片，请重新选择。")),
            };
            if photos.len() == MAX_PHOTOS {
                return Err(invalid(format!("每条纪实最多上传{MAX_PHOTOS}张照片。")));
            }
            photos.push(Photo { bytes, mime });
            continue;
        }
        let value = field.text().await.map_err(too_big)?;
        let value: String = value.chars().take(FIELD_CHARS).collect();
        match name.as_str() {
            "csrf" => *csrf = value,
            "school" => filled.school = value,
            "date" => filled.date = value,
            "kind" => filled.kind = value,
            "method" => filled.methods.push(value),
            "lessons" => filled.lessons = value,
            "narrative" => filled.narrative = value,
            "good" => filled.good = value,
            "problems" => filled.problems = value,
            "follow_up" => filled.follow_up = value,
            other => {
                if let Some(no) = other.strip_prefix("ind").and_then(|n| n.parse::<usize>().ok()) {
                    if (1..=100).contains(&no) {
                        if filled.indicators.len() < no {
                            filled.indicators.resize(no, String::new());
                        }
                        filled.indicators[no - 1] = value;
                    }
                }
            }
        }
    }
    Ok(photos)
}

/// The record the form describes, or why it cannot be taken (the chat's rules: one of the
/// inspector's schools, not recused, not a future date, something done).
fn check(me: &Me, filled: &Filled, today: NaiveDate, checklist: &[String]) -> Result<VisitForm, Invalid> {
    let school = filled.school.parse::<i64>().ok().filter(|s| me.actor.schools.contains(s));
    let Some(school) = school else { return Err(invalid("请选择督导的学校。")) };
    if me.actor.check_act_for_school(school).is_err() {
        return Err(invalid("您与该校存在回避关系，按规定不能督导该校。如需督导，请联系督导室另行安排。"));
    }
    let date = match filled.date.trim() {
        "" => None,
        d => match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => return Err(invalid("督导日期没有看懂，请重新选择。")),
        },
    };
    if date.is_some_and(|d| d > today) {
        return Err(invalid("督导日期不能晚于今天。"));
    }
    let methods: Vec<VisitMethod> =
        VisitMethod::ALL.into_iter().filter(|m| filled.methods.iter().any(|v| v == m.as_str())).collect();
    let lessons = filled.lessons.trim().parse::<u32>().unwrap_or(1).clamp(1, 50);
    let indicators = filled
        .indicators
        .iter()
        .enumerate()
        .filter(|(i, _)| *i < checklist.len())
        .filter_map(|(i, v)| IndicatorResult::parse(v).map(|r| (i + 1, r)))
        .collect();
    let form = VisitForm {
        school: Some(school),
        date,
        kind: VisitKind::parse(&filled.kind).unwrap_or_default(),
        methods,
        lessons,
        indicators,
        narrative: filled.narrative.clone(),
        good_practice: filled.good.clone(),
        problems: filled.problems.clone(),
        follow_up: FollowUp::parse(&filled.follow_up),
    };
    if form.to_parsed(today).missing_required() == Some(VisitField::Activity) {
        return Err(invalid("请至少勾选一种督导方式，或填写督导过程、发现问题、亮点或指标结果。"));
    }
    Ok(form)
}

/// `POST /visits/new` (multipart): the record, as `督导纪实` in chat, then its page (303).
pub(super) async fn submit(State(web): State<Arc<Web>>, headers: HeaderMap, multipart: Multipart) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    if !is_inspector(&me) {
        return refused(&web, &me);
    }
    let mut filled = Filled::default();
    let mut csrf = String::new();
    let cap = web.app.settings.rectify.evidence_max_bytes;
    let read = read_form(multipart, &mut filled, &mut csrf, cap).await;
    if let Some(r) = web.csrf_refusal(&me, &csrf) {
        return r;
    }
    let today = web.app.clock.now().with_timezone(&web.app.tz).date_naive();
    let list = match checklist(&web, today).await {
        Ok(t) => t.map(|(_, l)| l).unwrap_or_default(),
        Err(e) => return page(&web, Err(e)),
    };
    let checked = read.and_then(|photos| check(&me, &filled, today, &list).map(|f| (f, photos)));
    let (form, photos) = match checked {
        Ok(ok) => ok,
        Err(Invalid(status, text)) => {
            let text = format!("{text}（已填写的内容已保留；照片需重新选择。）");
            return page(&web, form_page(&web, &me, status, filled, &text).await);
        }
    };
    let saved = save(&web, &me, form, &list, photos, today).await;
    if saved.is_err() {
        web.app.snapshot.clear(); // the turn's transaction was rolled back
    }
    match saved {
        Ok(Some(id)) => see_other(&web.base.page(&format!("/visits/V{id}")), None),
        Ok(None) => web.message(
            StatusCode::CONFLICT,
            Some(&me),
            "未能保存",
            "本条纪实未保存，原因已发送到您的聊天中。请核对后重新填写。",
        ),
        Err(e) => page(&web, Err(e)),
    }
}

/// Stores the photos, then the record in one write transaction as the person's message.
async fn save(
    web: &Web,
    me: &Me,
    form: VisitForm,
    checklist: &[String],
    photos: Vec<Photo>,
    today: NaiveDate,
) -> anyhow::Result<Option<i64>> {
    let app = &web.app;
    let school = form.school.unwrap_or_default();
    let name = schools(web, me).await?.into_iter().find(|(id, _)| *id == school).map(|(_, n)| n).unwrap_or_default();
    let text = form.text(&name, checklist);
    // Files first (content-addressed, written once): a record never points at a missing file;
    // a failed transaction leaves at most a file no row names, as the chat's fetcher can.
    let dir = crate::app::evidence::evidence_dir(&app.settings);
    let mut stored = Vec::new();
    for p in &photos {
        let (hash, rel) = crate::app::evidence::store_content(&dir, &p.bytes).await?;
        stored.push((hash, i64::try_from(p.bytes.len()).unwrap_or(i64::MAX), p.mime, rel));
    }
    let now = app.clock.now();
    let mut tx = crate::db::begin_write(&app.db).await?;
    let turn = WebTurn::open(app, &mut tx, me.actor.person_id, &text, now).await?;
    let mut ctx = turn.ctx(app, &mut tx, me.actor.clone(), now);
    let (intent, id) = crate::app::monthly::submit_form(&mut ctx, form.to_parsed(today), &text).await?;
    if let Some(id) = id {
        for (hash, size, mime, rel) in &stored {
            sm::add_visit_photo(ctx.tx, id, hash, *size, mime, rel, now).await?;
        }
        if !stored.is_empty() {
            ctx.audit("visit", Some(id.to_string()), "photos", serde_json::json!({ "photos": stored.len() })).await?;
        }
    }
    let queued = turn.finish(ctx, intent).await?;
    tx.commit().await?;
    if queued > 0 {
        app.outbox_notify.notify_waiters();
    }
    tracing::info!(person = me.actor.person_id, visit = ?id, photos = stored.len(), "visit record from the web form");
    Ok(id)
}

/// A saved record the person may see: its author and those who may see the school
/// (`Actor::check_view_school`, as `查问题` and the 主题与纪实 page); `None` for anything else,
/// exactly as for an id that does not exist.
pub(super) async fn visible(web: &Web, me: &Me, id: &str) -> anyhow::Result<Option<store::web::VisitView>> {
    let Some(id) = id.trim_start_matches(['V', 'v']).parse::<i64>().ok().filter(|id| *id > 0) else {
        return Ok(None);
    };
    let mut conn = web.app.db.acquire().await?;
    let Some(v) = store::web::visit(&mut conn, id).await? else { return Ok(None) };
    if v.person_id != me.actor.person_id && me.actor.check_view_school(v.school_id, v.zone_id).is_err() {
        return Ok(None);
    }
    Ok(Some(v))
}

pub(super) fn not_found(web: &Web, me: &Me) -> Response {
    web.message(StatusCode::NOT_FOUND, Some(me), "没有找到", "没有找到这条纪实，或您无权查看。")
}

/// `GET /visits/<id>`: a saved record with its photos' thumbnails, for those [`visible`] allows.
pub(super) async fn show(State(web): State<Arc<Web>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let v = match visible(&web, &me, &id).await {
        Ok(Some(v)) => v,
        Ok(None) => return not_found(&web, &me),
        Err(e) => return page(&web, Err(e)),
    };
    let code = format!("V{}", v.id);
    let photo_numbers: Vec<i64> = (1..=v.photos.max(0)).collect();
    let ctx = context! {
        title => format!("督导纪实 {code}"),
        code,
        person => v.person,
        school => v.school,
        date => v.date,
        kind => VisitKind::parse(&v.kind).map(|k| k.label()).unwrap_or_default(),
        themed => v.themed,
        text => v.texts.join("\n"),
        photos => v.photos,
        photo_numbers,
        problems => v.problems,
        ..web.frame(Some(&me), "home")
    };
    web.render(StatusCode::OK, "visit.html", ctx)
}
