//! Photos on the platform: a visit record's (`/visits/V3/photos/1`) and a rectification item's
//! evidence (`/ledger/W12/photos/1`). Each is read through the evidence reader
//! (`app::evidence::read_stored`: the path kept inside the evidence directory, the content checked
//! against its hash) after the page's own scope check, and served with the type its bytes show,
//! `nosniff`, and a private cache (the content behind an address never changes).

use super::pages::{item_id, page, signed_in};
use super::{Me, Web};
use crate::store::rectify as rs;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The served type of an image's bytes; anything but JPEG, PNG or WebP is not served.
fn served_type(bytes: &[u8]) -> Option<&'static str> {
    match crate::domain::evidence::image_ext(bytes) {
        "jpg" => Some("image/jpeg"),
        "png" => Some("image/png"),
        "webp" => Some("image/webp"),
        _ => None,
    }
}

/// A stored photo as a response, or `None` when it cannot be read or is not an image.
pub(super) async fn stored(web: &Web, what: &'static str, id: i64, path: &str, sha256: &str) -> Option<Response> {
    let dir = crate::app::evidence::evidence_dir(&web.app.settings);
    let bytes = crate::app::evidence::read_stored(&dir, what, id, Some(path), Some(sha256)).await?;
    let mime = served_type(&bytes)?;
    Some(
        (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, mime),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::CACHE_CONTROL, "private, max-age=86400"),
                (header::CONTENT_DISPOSITION, "inline"),
            ],
            bytes,
        )
            .into_response(),
    )
}

/// The photos of an item that can be shown: stored ones (a duplicate repeats a stored one, a
/// pending or failed one has no file), oldest first. Their 1-based place in this list is their
/// number in `/ledger/W12/photos/<n>`.
pub(super) fn shown(photos: Vec<rs::EvidencePhoto>) -> Vec<rs::EvidencePhoto> {
    photos.into_iter().filter(|p| p.status == "stored" && p.path.is_some() && p.sha256.is_some()).collect()
}

/// Whether `me` may see `it`'s evidence photos (as `证据 W12` in chat).
pub(super) fn may_see(me: &Me, it: &rs::Item) -> bool {
    me.actor.check_see_evidence(it.school_id).is_ok()
}

fn item_not_found(web: &Web, me: &Me) -> Response {
    web.message(StatusCode::NOT_FOUND, Some(me), "没有找到", "没有找到这个问题，或您无权查看。")
}

/// `GET /ledger/<id>/photos/<n>`: an item's n-th evidence photo, for those who may see the item
/// and its photos (as `问题 W12` and `证据 W12` in chat); anything else is "not found".
pub(super) async fn item_photo(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path((id, n)): Path<(String, String)>,
) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let loaded = async {
        let (Some(id), Some(n)) = (item_id(&id), n.parse::<usize>().ok().filter(|n| *n > 0)) else {
            return anyhow::Ok(None);
        };
        let mut conn = web.app.db.acquire().await?;
        let Some(it) = rs::get(&mut conn, id).await? else { return Ok(None) };
        // The chat's two rules: who may see the item (`问题 W12`) and, of those, who may see its
        // photos (`证据 W12`: the office and the school's own inspector, not a recused one).
        if me.actor.check_view_school(it.school_id, it.zone_id).is_err() || !may_see(&me, &it) {
            return Ok(None);
        }
        let photos = shown(rs::evidence_photos(&mut conn, id).await?);
        drop(conn);
        let Some(p) = photos.get(n - 1) else { return Ok(None) };
        let (Some(path), Some(sha)) = (p.path.as_deref(), p.sha256.as_deref()) else { return Ok(None) };
        Ok(stored(&web, "rectify_evidence", p.id, path, sha).await)
    };
    match loaded.await {
        Ok(Some(res)) => res,
        Ok(None) => item_not_found(&web, &me),
        Err(e) => page(&web, Err(e)),
    }
}

/// `GET /visits/<id>/photos/<n>`: the record's n-th photo (1-based), under the record's own scope
/// ([`super::visit::visible`]), read through the evidence reader (`app::evidence::read_stored`: the path kept
/// inside the evidence directory, the content checked against its hash). Served with its image
/// type, `nosniff`, and cached privately (the content behind a URL never changes).
pub(super) async fn visit_photo(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path((id, n)): Path<(String, String)>,
) -> Response {
    let me = match signed_in(&web, &headers).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let loaded = async {
        let Some(v) = super::visit::visible(&web, &me, &id).await? else { return anyhow::Ok(None) };
        let Some(n) = n.parse::<usize>().ok().filter(|n| *n > 0) else { return Ok(None) };
        let mut conn = web.app.db.acquire().await?;
        let photos = crate::store::monthly::visit_photos(&mut conn, v.id).await?;
        drop(conn);
        let Some(p) = photos.get(n - 1) else { return Ok(None) };
        Ok(stored(&web, "visit_photo", p.id, &p.path, &p.sha256).await)
    };
    match loaded.await {
        Ok(Some(res)) => res,
        Ok(None) => super::visit::not_found(&web, &me),
        Err(e) => page(&web, Err(e)),
    }
}
