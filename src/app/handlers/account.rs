//! Identity: help, binding an account, who am I, issuing binding codes.

use crate::app::Ctx;
use crate::domain::command::{help_detail, help_text};
use crate::domain::role::Role;
use crate::store::{self, binding::Redeemed};
use chrono::Duration;
use serde_json::json;

/// Failed attempts per account per hour before binding is refused for a while.
const MAX_FAILURES_PER_HOUR: i64 = 5;

pub async fn help(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let role = ctx.actor.as_ref().map(|a| a.role);
    if args.trim().is_empty() {
        ctx.reply(help_text(role, &ctx.app.settings.service.bot_name));
    } else {
        ctx.reply(help_detail(role, args));
    }
    Ok(())
}

pub async fn bind(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let unbound = ctx.actor.is_none();
    if args.trim().is_empty() {
        if unbound {
            return ctx.hint_unbound().await;
        }
        ctx.reply("请在“绑定”后面加上督导室发给您的绑定码，例如：绑定 AB23CD45");
        return Ok(());
    }
    let account = ctx.msg.sender.id.clone();
    let key = format!("{}:{}", ctx.platform, account);
    if store::binding::recent_failures(ctx.tx, ctx.platform, &account, ctx.now).await? >= MAX_FAILURES_PER_HOUR {
        // Once blocked, a stranger hammering codes hears about it once per quiet period.
        let quiet = Duration::hours(i64::from(ctx.app.settings.roster.unbound_hint_quiet_hours));
        let key_hint = format!("{account}#bind_blocked");
        if store::binding::take_unbound_hint(ctx.tx, ctx.platform, &key_hint, ctx.now, quiet).await? {
            ctx.reply("绑定码错误次数过多，请一小时后再试，或联系督导室。");
        }
        return Ok(());
    }
    let display = ctx.msg.sender.display.clone();
    let outcome = store::binding::redeem(ctx.tx, ctx.platform, &account, display.as_deref(), args, ctx.now).await?;
    match outcome {
        Redeemed::Bound { person_id } => {
            let actor = store::people::actor(ctx.tx, person_id).await?;
            ctx.actor = actor;
            ctx.audit("chat_account", Some(key), "bound", json!({ "person_id": person_id })).await?;
            let greeting = match &ctx.actor {
                Some(a) => format!("绑定成功！您好，{}（{}）。发送“帮助”查看您可用的指令。", a.name, a.role.label()),
                None => "绑定成功。".to_string(),
            };
            ctx.reply(greeting);
        }
        other => {
            ctx.actor = None;
            let why = match other {
                Redeemed::Expired => "绑定码已过期，请向督导室重新索取。",
                Redeemed::AlreadyUsed => "该绑定码已被使用过，请向督导室重新索取。",
                _ => "绑定码不正确，请核对后重新发送。",
            };
            let action = "bind_failed";
            store::audit::record(
                ctx.tx,
                ctx.now,
                store::audit::AuditEntry {
                    actor_id: None,
                    via: &ctx.msg.chat.channel,
                    entity: "chat_account",
                    entity_id: Some(key),
                    action,
                    detail: json!({ "reason": format!("{other:?}") }),
                },
            )
            .await?;
            ctx.reply(why);
        }
    }
    Ok(())
}

pub async fn whoami(ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    let Some(a) = ctx.actor.clone() else { return Ok(()) };
    let mut lines = vec![format!("{}（{}，编号 {}）", a.name, a.role.label(), a.code)];
    if let Some(z) = a.zone_id {
        if let Some(name) = store::people::zone_name(ctx.tx, z).await? {
            lines.push(format!("责任区：{name}"));
        }
    }
    let mut schools = Vec::new();
    for s in a.school_id.iter().chain(a.contact_schools.iter().filter(|s| Some(**s) != a.school_id)) {
        if let Some(school) = store::people::school_by_id(ctx.tx, *s).await? {
            schools.push(school.name);
        }
    }
    if !schools.is_empty() {
        lines.push(format!("学校：{}", schools.join("、")));
    }
    if a.role == Role::Inspector {
        let mut names = Vec::new();
        for sid in &a.schools {
            if let Some(s) = store::people::school_by_id(ctx.tx, *sid).await? {
                names.push(s.short_name.unwrap_or(s.name));
            }
        }
        lines.push(format!(
            "挂牌督导学校（{}所）：{}",
            names.len(),
            if names.is_empty() { "无".into() } else { names.join("、") }
        ));
    }
    ctx.reply(lines.join("\n"));
    Ok(())
}

pub async fn issue_code(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    if args.trim().is_empty() {
        let ex = crate::app::examples::load(ctx.tx).await?;
        ctx.reply(format!("请写明为谁生成绑定码，例如：绑定码 {} 或 绑定码 {}", ex.person_code, ex.person_name));
        return Ok(());
    }
    let people = store::people::find_people(ctx.tx, args).await?;
    let person = match people.as_slice() {
        [] => {
            ctx.reply(format!("花名册中没有找到“{}”。", args.trim()));
            return Ok(());
        }
        [one] => one.clone(),
        many => {
            let list: Vec<String> = many.iter().map(|p| format!("{} {}", p.code, p.name)).collect();
            ctx.reply(format!("有多位同名人员，请改用编号：{}", list.join("；")));
            return Ok(());
        }
    };
    let ttl = Duration::hours(i64::from(ctx.app.settings.roster.binding_code_ttl_hours));
    let (code, expires) = store::binding::issue(ctx.tx, person.id, ctx.now, ttl).await?;
    ctx.audit("person", Some(person.code.clone()), "binding_code_issued", json!({})).await?;
    let local = expires.with_timezone(&ctx.app.tz).format("%Y-%m-%d %H:%M");
    ctx.reply(format!(
        "{}（{}）的绑定码：{code}\n有效期至 {local}，只能使用一次。请转告本人私聊我发送“绑定 {code}”。",
        person.name, person.code
    ));
    Ok(())
}

/// Binding accounts to roster people, help and identity.
pub struct Account;

crate::app::registry::workflow!(Account, "account", |ctx, args| {
    Help => help(ctx, args),
    Bind => bind(ctx, args),
    WhoAmI => whoami(ctx),
    More => crate::app::paging::more(ctx),
    IssueCode => issue_code(ctx, args),
});
