//! Whom a task or notice is for: names, groups of people and platform mentions as typed.

use super::*;

/// What a target name turned out to be.
enum Resolved {
    People(Vec<PersonRef>, Vec<String>),
    Problem(String),
    NotFound,
}

async fn resolve_named(ctx: &mut Ctx<'_>, name: &str) -> anyhow::Result<Resolved> {
    let people = store::people::find_people(ctx.tx, name).await?;
    match people.as_slice() {
        [p] => {
            return Ok(Resolved::People(
                vec![PersonRef { id: p.id, code: p.code.clone(), name: p.name.clone() }],
                vec![],
            ))
        }
        [] => {}
        many => {
            let list: Vec<String> = many.iter().map(|p| format!("{} {}", p.code, p.name)).collect();
            return Ok(Resolved::Problem(format!("“{name}”有多位同名人员（{}），请改用编号。", list.join("、"))));
        }
    }
    if let Some(zone) = store::people::find_zone(ctx.tx, name).await? {
        let inspectors = store::tasks::inspectors(ctx.tx, Some(zone.id)).await?;
        if inspectors.is_empty() {
            return Ok(Resolved::Problem(format!("{}目前没有在职督学。", zone.name)));
        }
        return Ok(Resolved::People(inspectors, vec![]));
    }
    if let Some(prefix) = dt::zone_schools_prefix(name) {
        if let Some(zone) = store::people::find_zone(ctx.tx, prefix).await? {
            let schools = store::tasks::schools(ctx.tx, Some(zone.id)).await?;
            return school_contacts(ctx, &schools).await;
        }
    }
    let schools = store::people::find_schools(ctx.tx, name).await?;
    match schools.as_slice() {
        [] => Ok(Resolved::NotFound),
        [s] => school_contacts(ctx, &[(s.id, s.name.clone())]).await,
        many => {
            let names: Vec<&str> = many.iter().take(5).map(|s| s.name.as_str()).collect();
            let more = if many.len() > 5 { format!("等{}所", many.len()) } else { String::new() };
            Ok(Resolved::Problem(format!("“{name}”对应多所学校：{}{more}，请写全称。", names.join("、"))))
        }
    }
}

async fn school_contacts(ctx: &mut Ctx<'_>, schools: &[(i64, String)]) -> anyhow::Result<Resolved> {
    let (mut people, mut missing) = (Vec::new(), Vec::new());
    for (id, name) in schools {
        match store::tasks::school_contact(ctx.tx, *id).await? {
            Some(p) => people.push(p),
            None => missing.push(name.clone()),
        }
    }
    if people.is_empty() && !missing.is_empty() {
        return Ok(Resolved::Problem(format!("{}没有登记学校联络员或校长。", missing.join("、"))));
    }
    Ok(Resolved::People(people, missing))
}

/// Platform mentions in the message other than of the bot: (account, display name).
pub(crate) fn mentions(ctx: &Ctx<'_>) -> Vec<(String, String)> {
    let bot = &ctx.app.settings.service.bot_name;
    ctx.msg
        .segments
        .iter()
        .filter_map(|s| match s {
            Segment::Mention { user_id, name } if user_id != "bot" && name != bot => {
                Some((user_id.clone(), name.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The targets as the sender typed them, mentions last ("全体督学", "第一督学责任区", "@张三"),
/// kept with a task or notice to show whom it was meant for.
pub(crate) fn targets_as_typed(targets: &[Target], mentions: &[(String, String)]) -> Vec<String> {
    targets
        .iter()
        .map(|t| match t {
            Target::AllInspectors => "全体督学".to_string(),
            Target::AllSchools => "全部学校".to_string(),
            Target::Named(n) => n.clone(),
        })
        .chain(mentions.iter().map(|(_, n)| format!("@{n}")))
        .collect()
}

/// The people a list of targets (as typed) and platform mentions mean. Shared by tasks and
/// notices so both read 对象 the same way.
pub(crate) struct Addressees {
    /// Without duplicates, in the order found.
    pub people: Vec<PersonRef>,
    /// Why the list cannot be used as typed (unknown, ambiguous or unbound names); nothing
    /// should be sent while there are any.
    pub problems: Vec<String>,
    /// Schools with nobody registered to receive for them.
    pub no_contact: Vec<String>,
}

pub(crate) async fn resolve_targets(
    ctx: &mut Ctx<'_>,
    targets: &[Target],
    mentions: &[(String, String)],
) -> anyhow::Result<Addressees> {
    let mut people: Vec<PersonRef> = Vec::new();
    let (mut not_found, mut problems, mut no_contact) = (Vec::new(), Vec::new(), Vec::new());
    for (account, name) in mentions {
        match store::tasks::person_for_account(ctx.tx, ctx.platform, account).await? {
            Some(p) => people.push(p),
            None => problems.push(format!("@{name} 尚未绑定身份，请改写姓名或编号。")),
        }
    }
    for target in targets {
        match target {
            Target::AllInspectors => people.extend(store::tasks::inspectors(ctx.tx, None).await?),
            Target::AllSchools => {
                let schools = store::tasks::schools(ctx.tx, None).await?;
                match school_contacts(ctx, &schools).await? {
                    Resolved::People(p, missing) => {
                        people.extend(p);
                        no_contact.extend(missing);
                    }
                    Resolved::Problem(m) => problems.push(m),
                    Resolved::NotFound => {}
                }
            }
            Target::Named(name) => match resolve_named(ctx, name).await? {
                Resolved::People(p, missing) => {
                    people.extend(p);
                    no_contact.extend(missing);
                }
                Resolved::Problem(m) => problems.push(m),
                Resolved::NotFound => {
                    // A misspelt school name gets a suggestion.
                    let hint = store::people::suggest_school(ctx.tx, name, |_| true).await?;
                    not_found.push(match hint {
                        Some(h) => format!("“{name}”（是否为“{h}”？）"),
                        None => format!("“{name}”"),
                    });
                }
            },
        }
    }
    if !not_found.is_empty() {
        let ex = crate::app::examples::load(ctx.tx).await?;
        problems.insert(
            0,
            format!(
                "没有找到人员、责任区或学校：{}。请检查名称，或改用编号（如 {}、{}）。",
                not_found.join("、"),
                ex.person_code,
                ex.zone_code
            ),
        );
    }
    let mut seen = std::collections::HashSet::new();
    people.retain(|p| seen.insert(p.id));
    Ok(Addressees { people, problems, no_contact })
}
