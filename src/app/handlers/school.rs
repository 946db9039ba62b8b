//! School details, within what the asker may see.

use crate::app::Ctx;
use crate::domain::mask::mask_phone;
use crate::store;

pub async fn show(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let Some(actor) = ctx.actor.clone() else { return Ok(()) };
    let query = if args.trim().is_empty() {
        // A school contact asking about "my school"; one serving several is asked which.
        match actor.school_id {
            Some(_) if actor.contact_schools.len() > 1 => {
                let mut names = Vec::new();
                for id in &actor.contact_schools {
                    names.extend(store::people::school_by_id(ctx.tx, *id).await?.map(|s| s.name));
                }
                ctx.reply(format!(
                    "您负责的学校：{}。请写明要查看哪一所，例如：学校 {}",
                    names.join("、"),
                    names.first().cloned().unwrap_or_default()
                ));
                return Ok(());
            }
            Some(id) => store::people::school_by_id(ctx.tx, id).await?.map(|s| s.name).unwrap_or_default(),
            None => {
                // The asker's own school first (an inspector's), else one from the roster.
                let own = match actor.schools.first() {
                    Some(id) => store::people::school_by_id(ctx.tx, *id).await?.map(|s| s.short_name.unwrap_or(s.name)),
                    None => None,
                };
                let example = match own {
                    Some(n) => n,
                    None => crate::app::examples::load(ctx.tx).await?.school_short,
                };
                ctx.reply(format!("请写明学校名称或简称，例如：学校 {example}"));
                return Ok(());
            }
        }
    } else {
        args.trim().to_string()
    };
    let found = store::people::find_schools(ctx.tx, &query).await?;
    // Only schools the asker may see count; others are not even acknowledged to exist.
    let visible: Vec<_> = found.into_iter().filter(|s| actor.check_view_school(s.id, s.zone_id).is_ok()).collect();
    let school = match visible.as_slice() {
        [] => {
            let hint =
                store::people::suggest_school(ctx.tx, &query, |s| actor.check_view_school(s.id, s.zone_id).is_ok())
                    .await?;
            ctx.reply(format!(
                "在您负责的范围内没有找到学校“{query}”。{}",
                crate::domain::text::did_you_mean(hint.as_deref())
            ));
            return Ok(());
        }
        [one] => one.clone(),
        many => {
            let names: Vec<&str> = many.iter().take(8).map(|s| s.name.as_str()).collect();
            ctx.reply(format!("找到多所学校：{}。请写得更具体些。", names.join("、")));
            return Ok(());
        }
    };
    let mut lines = vec![format!("{}（{}，{}）", school.name, school.stage, school.zone_name)];
    let in_group = ctx.in_group();
    for (p, relation) in store::people::school_people(ctx.tx, school.id).await? {
        let label = match relation.as_str() {
            "primary" => "责任督学".to_string(),
            "secondary" => "协同督学".to_string(),
            "recused" => continue,
            _ => p.title.clone().unwrap_or_else(|| "学校联络员".into()),
        };
        // Phone numbers are masked in groups (privacy rule), shown in private chats.
        let phone = p.phone.as_deref().map(|ph| if in_group { mask_phone(ph) } else { ph.to_string() });
        lines.push(match phone {
            Some(ph) => format!("{label}：{} {ph}", p.name),
            None => format!("{label}：{}", p.name),
        });
    }
    ctx.reply(lines.join("\n"));
    Ok(())
}

/// Looking up a school.
pub struct Schools;

crate::app::registry::workflow!(Schools, "schools", |ctx, args| { School => show(ctx, args) });
