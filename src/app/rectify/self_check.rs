//! Self-check lists (清单工作法): submitted by the school, reviewed and confirmed by the office.

use super::*;

pub(super) async fn self_check_submit(ctx: &mut Ctx<'_>, actor: &Actor, args: &str) -> anyhow::Result<()> {
    let Some(school_id) = actor.school_id else { return Ok(()) };
    let (lines, bad) = dr::parse_self_check(args);
    if lines.is_empty() || !bad.is_empty() {
        let which = if bad.is_empty() {
            String::new()
        } else {
            format!("第{}行没有看懂。", bad.iter().map(ToString::to_string).collect::<Vec<_>>().join("、"))
        };
        ctx.reply(format!("{which}格式：自查清单 ↵1. <类别1-9> [轻微/一般/严重/复杂] <问题描述> ↵2. …（每行一条）"));
        return Ok(());
    }
    let id = rs::add_self_check(ctx.tx, school_id, actor.person_id, &lines, ctx.now).await?;
    let code = dr::self_check_code(id);
    let school = store::people::school_by_id(ctx.tx, school_id).await?.map(|s| s.name).unwrap_or_default();
    let mut text = vec![format!("【自查清单】{code} {school} 提交了{}条自查问题：", lines.len())];
    for (i, l) in lines.iter().enumerate() {
        // Severity labels carry no brackets of their own, so this stays one level deep.
        text.push(format!("{}. {}（{}）{}", i + 1, category_label(l.category), l.severity.label(), l.description));
    }
    text.push(format!(
        "请审核：“审核自查 {code} 通过”（可加“删除2,3”去掉不成立的条目）或“审核自查 {code} 退回 原因”。"
    ));
    let text = text.join("\n");
    for pid in rs::school_inspectors(ctx.tx, school_id).await? {
        ctx.outgoing.push(Envelope::new(
            format!("rectify:{code}:submitted:p{pid}"),
            Recipient::Person(pid),
            vec![Segment::text(text.clone())],
            format!("rectify:{code}"),
        ));
    }
    ctx.audit("rectify_self_check", Some(code.clone()), "submitted", json!({ "lines": lines.len() })).await?;
    ctx.reply(format!("已提交自查清单 {code}（{}条），等待责任督学审核。", lines.len()));
    Ok(())
}

pub(super) async fn self_check_decide(
    ctx: &mut Ctx<'_>,
    actor: &Actor,
    id: CommandId,
    args: &str,
) -> anyhow::Result<()> {
    let confirm = id == CommandId::SelfCheckConfirm;
    let Some((sc_id, rest)) = dr::parse_self_check_ref(args) else {
        ctx.reply(format!("请写明清单编号，格式：{}", crate::domain::command::CommandSpec::get(id).usage));
        return Ok(());
    };
    let code = dr::self_check_code(sc_id);
    let Some(sc) = rs::self_check(ctx.tx, sc_id).await? else {
        ctx.reply(format!("没有找到自查清单 {code}。"));
        return Ok(());
    };
    match party_for(actor, sc.school_id) {
        Ok(Party::Inspector | Party::Supervisor) => {}
        Err(Denied::Recused) => {
            ctx.reply(format!("您对{}需回避，不能审核该校自查清单。", sc.school_name));
            return Ok(());
        }
        _ => {
            ctx.reply(format!("{code} 不属于您负责的学校（{}）。", sc.school_name));
            return Ok(());
        }
    }
    let expected = if confirm { "reviewed" } else { "submitted" };
    if sc.status != expected {
        let label = dr::self_check_status_label(&sc.status);
        ctx.reply(format!("{code} 当前状态为“{label}”，不能办理这一步。"));
        return Ok(());
    }
    let rest = rest.trim();
    if let Some(reason) = rest.strip_prefix("退回").map(str::trim) {
        if reason.is_empty() {
            ctx.reply("请写明退回原因。");
            return Ok(());
        }
        rs::set_self_check_status(ctx.tx, sc_id, expected, "returned", actor.person_id, Some(reason), ctx.now).await?;
        let text = format!("【自查清单退回】{code}：{reason}。请修改后重新发送“自查清单”。");
        for pid in rs::school_contacts(ctx.tx, sc.school_id).await? {
            ctx.outgoing.push(Envelope::new(
                format!("rectify:{code}:returned:p{pid}"),
                Recipient::Person(pid),
                vec![Segment::text(text.clone())],
                format!("rectify:{code}"),
            ));
        }
        ctx.audit("rectify_self_check", Some(code.clone()), "returned", json!({ "reason": reason })).await?;
        ctx.reply(format!("已退回自查清单 {code}。"));
        return Ok(());
    }
    if !confirm {
        let drop = match rest.strip_prefix("通过").map(str::trim) {
            Some(r) => dr::parse_line_numbers(r),
            None => {
                ctx.reply(format!("请写“审核自查 {code} 通过”或“审核自查 {code} 退回 原因”。"));
                return Ok(());
            }
        };
        rs::drop_self_check_lines(ctx.tx, sc_id, &drop).await?;
        let kept = rs::self_check_lines(ctx.tx, sc_id).await?;
        if kept.is_empty() {
            ctx.reply("删去后清单为空；如自查问题都不成立，请退回并说明原因。");
            return Ok(());
        }
        rs::set_self_check_status(ctx.tx, sc_id, "submitted", "reviewed", actor.person_id, None, ctx.now).await?;
        let msg = format!(
            "【自查清单待确认】{code} {}：责任督学已审核，保留{}条。请发送“确认自查 {code}”列入整改台账。",
            sc.school_name,
            kept.len()
        );
        crate::app::broadcast::to_supervisors(
            &ctx.app.job_ctx,
            ctx.tx,
            &format!("rectify:{code}:reviewed"),
            "rectify",
            &msg,
        )
        .await?;
        ctx.audit("rectify_self_check", Some(code.clone()), "reviewed", json!({ "dropped": drop })).await?;
        ctx.reply(format!("已审核自查清单 {code}，保留{}条，已报督导室确认。", kept.len()));
        return Ok(());
    }
    // Confirmed: each kept line becomes a problem item with its notice to the school.
    let today = ctx.today();
    let days = deadline_days(&ctx.app.settings);
    let mut codes = Vec::new();
    let mut unnotified = false;
    let mut out = Vec::new();
    for (line_no, category, severity, description) in rs::self_check_lines(ctx.tx, sc_id).await? {
        let n = rs::NewItem {
            school_id: sc.school_id,
            category,
            severity,
            source: Source::SelfCheck,
            source_ref: Some(format!("self_check:{sc_id}:{line_no}")),
            description: &description,
            owner: "school",
            deadline: dr::default_deadline(severity, today, &days, &ctx.app.calendar),
            created_by: Some(actor.person_id),
        };
        let (it, reach) = create_item(ctx.tx, &ctx.app.job_ctx, &n, ctx.now, &mut out).await?;
        rs::link_self_check_line(ctx.tx, sc_id, line_no, it.id).await?;
        codes.push(item_code(it.id));
        unnotified |= reach.is_none() && it.status == Status::Identified;
    }
    ctx.outgoing.extend(out);
    rs::set_self_check_status(ctx.tx, sc_id, "reviewed", "confirmed", actor.person_id, None, ctx.now).await?;
    ctx.audit("rectify_self_check", Some(code.clone()), "confirmed", json!({ "items": codes })).await?;
    ctx.reply(format!("已确认自查清单 {code}，列入整改台账：{}。", codes.join("、")));
    if unnotified {
        ctx.reply(unnotified_reply());
    }
    Ok(())
}
