//! The chat side of the supervision platform (督导信息平台): `登录` sends a one-time login link
//! in a private chat (the catalog refuses it in groups, and unbound accounts only get the
//! binding hint); `退出登录` ends the person's sessions. The pages themselves are `crate::web`.

use crate::app::Ctx;
use crate::chat::Segment;
use crate::domain::web::{self as dw, BaseUrl};
use crate::outbox::{Envelope, Recipient};
use crate::store;
use serde_json::json;

/// Ended links and sessions are forgotten this long after they ended.
const FORGET_AFTER_DAYS: i64 = 30;

/// A new secret token: 256 random bits, URL-safe base64 (43 characters).
pub fn new_token() -> String {
    use base64::Engine;
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `登录`: a link bound to the sender's person, valid once for `web.link_minutes`.
async fn login(ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    let Some(actor) = ctx.actor.clone() else { return Ok(()) };
    let Some(base) = BaseUrl::parse(&ctx.app.settings.web.base_url) else {
        ctx.reply(dw::NOT_CONFIGURED);
        return Ok(());
    };
    let minutes = ctx.app.settings.web.link_minutes;
    let token = new_token();
    let hash = dw::token_hash(&token);
    let expires = ctx.now + chrono::Duration::minutes(i64::from(minutes));
    store::web::forget_ended(ctx.tx, actor.person_id, ctx.now - chrono::Duration::days(FORGET_AFTER_DAYS)).await?;
    store::web::add_link(ctx.tx, &hash, actor.person_id, ctx.now, expires).await?;
    // The audit names the event, never the token.
    ctx.audit("web_login", None, "link_issued", json!({ "minutes": minutes })).await?;
    // The answer goes back to this private chat under a key derived from the token's hash, so
    // the login can blank the link in the stored message once it is spent
    // (`store::web::take_link`).
    ctx.outgoing.push(Envelope {
        prompted: true,
        ..Envelope::new(
            dw::message_key(&hash),
            Recipient::Chat(ctx.msg.chat.clone()),
            vec![Segment::text(dw::link_text(&base.login_link(&token), minutes))],
            format!("inbound:{}", ctx.inbound_id),
        )
    });
    Ok(())
}

/// `退出登录`: every session of the sender's person ends, and unspent links are dropped.
async fn logout(ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    let Some(actor) = ctx.actor.clone() else { return Ok(()) };
    let idle = chrono::Duration::minutes(i64::from(ctx.app.settings.web.session_idle_minutes));
    let ended = store::web::revoke_person(ctx.tx, actor.person_id, ctx.now, ctx.now - idle).await?;
    ctx.audit("web_session", None, "revoked", json!({ "sessions": ended })).await?;
    ctx.reply(dw::logout_text(ended));
    Ok(())
}

/// The platform's chat commands.
pub struct Web;

crate::app::registry::workflow!(Web, "web", |ctx, _args| {
    WebLogin => login(ctx),
    WebLogout => logout(ctx),
});
