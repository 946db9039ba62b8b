//! Registering what a group is for (`登记群`).

use crate::app::Ctx;
use crate::domain::group::GroupPurpose;
use crate::store;
use serde_json::json;

pub async fn register(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let mut words = args.split_whitespace();
    let Some(purpose) = words.next().and_then(GroupPurpose::parse) else {
        ctx.reply(
            "请写明本群用途：督导室群、全县督学群、责任区督学群 <责任区>、责任区学校群 <责任区> 或 学校群 <学校>。",
        );
        return Ok(());
    };
    let rest: String = words.collect::<Vec<_>>().join(" ");
    let (mut zone_id, mut school_id, mut scope) = (None, None, String::new());
    if purpose.needs_zone() {
        match store::people::find_zone(ctx.tx, &rest).await? {
            Some(z) if !rest.is_empty() => {
                zone_id = Some(z.id);
                scope = z.name;
            }
            _ => {
                let ex = crate::app::examples::load(ctx.tx).await?;
                ctx.reply(format!(
                    "没有找到责任区“{}”。请写责任区编号或名称，例如：登记群 {} {}",
                    rest,
                    purpose.label(),
                    ex.zone_name
                ));
                return Ok(());
            }
        }
    }
    if purpose.needs_school() {
        let found = store::people::find_schools(ctx.tx, &rest).await?;
        match found.as_slice() {
            [one] => {
                school_id = Some(one.id);
                zone_id = Some(one.zone_id);
                scope = one.name.clone();
            }
            [] => {
                let hint = store::people::suggest_school(ctx.tx, &rest, |_| true).await?;
                ctx.reply(format!("没有找到学校“{rest}”。{}", crate::domain::text::did_you_mean(hint.as_deref())));
                return Ok(());
            }
            many => {
                let names: Vec<&str> = many.iter().take(5).map(|s| s.name.as_str()).collect();
                ctx.reply(format!("“{rest}”对应多所学校：{}。请写全称。", names.join("、")));
                return Ok(());
            }
        }
    }
    let chat = ctx.msg.chat.clone();
    let by = ctx.actor.as_ref().map(|a| a.person_id);
    store::groups::register(ctx.tx, ctx.platform, &chat, None, purpose, zone_id, school_id, by, ctx.now).await?;
    ctx.audit(
        "chat_group",
        Some(format!("{}:{}", ctx.platform, chat.id)),
        "registered",
        json!({ "purpose": purpose.as_str(), "zone_id": zone_id, "school_id": school_id }),
    )
    .await?;
    let scope = if scope.is_empty() { String::new() } else { format!("（{scope}）") };
    ctx.reply(format!("已将本群登记为：{}{scope}。", purpose.label()));
    Ok(())
}

/// Registering group chats for a purpose.
pub struct Groups;

crate::app::registry::workflow!(Groups, "groups", |ctx, args| { RegisterGroup => register(ctx, args) });
