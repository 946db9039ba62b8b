//! The task commands: create, the assignee's moves, review, views and management.

use super::*;

pub(super) async fn create(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let Some(actor) = ctx.actor.clone() else { return Ok(()) };
    if let Err(e) = dt::authorize(actor.role, Op::Create, false) {
        deny(ctx, e, "");
        return Ok(());
    }
    let tz = ctx.app.tz;
    let mentions = mentions(ctx);
    let now_local = local(tz, ctx.now);
    let spec = parse_create(args, mentions.len(), now_local, ctx.app.settings.tasks.default_time());
    create_checked(ctx, spec, &mentions).await?;
    Ok(())
}

/// `布置任务` from a spec written another way (the platform's form, `web::act`): the same
/// rules (`CreateSpec::checked`), the same target resolution, notices and answer as the
/// command. The new task's id, or `None` when it was refused (the reason is the reply).
pub(crate) async fn create_from_spec(ctx: &mut Ctx<'_>, spec: dt::CreateSpec) -> anyhow::Result<Option<i64>> {
    let Some(actor) = ctx.actor.clone() else { return Ok(None) };
    if let Err(e) = dt::authorize(actor.role, Op::Create, false) {
        deny(ctx, e, "");
        return Ok(None);
    }
    let now_local = local(ctx.app.tz, ctx.now);
    create_checked(ctx, spec.checked(0, now_local), &[]).await
}

/// Creates a task from a spec that passed (or failed) the create rules.
async fn create_checked(
    ctx: &mut Ctx<'_>,
    spec: Result<dt::CreateSpec, dt::CreateError>,
    mentions: &[(String, String)],
) -> anyhow::Result<Option<i64>> {
    let Some(actor) = ctx.actor.clone() else { return Ok(None) };
    let tz = ctx.app.tz;
    let spec = match spec {
        Ok(s) => s,
        Err(e) => {
            let ex = crate::app::examples::load(ctx.tx).await?;
            ctx.reply(e.message(&ex));
            return Ok(None);
        }
    };
    let Addressees { people, problems, no_contact } = resolve_targets(ctx, &spec.targets, mentions).await?;
    if !problems.is_empty() {
        ctx.reply(format!("任务未布置。{}", problems.join("\n")));
        return Ok(None);
    }
    if people.is_empty() {
        ctx.reply("任务未布置：任务对象中没有可通知的人员。");
        return Ok(None);
    }
    if people.len() > MAX_ASSIGNEES {
        ctx.reply(format!("任务未布置：承办人共{}人，超过上限{MAX_ASSIGNEES}人，请缩小范围。", people.len()));
        return Ok(None);
    }
    let Some(deadline) = to_utc(tz, spec.deadline) else {
        ctx.reply(dt::CreateError::BadDeadline(spec.deadline.to_string()).to_string());
        return Ok(None);
    };
    let targets_json = targets_as_typed(&spec.targets, mentions);
    let new = store::tasks::NewTask {
        title: &spec.title,
        description: &spec.description,
        requires_result: spec.requires_result,
        targets: json!(targets_json),
        deadline,
        created_by: actor.person_id,
        inbound_id: Some(ctx.inbound_id),
    };
    let task_id = store::tasks::create(ctx.tx, new, ctx.now).await?;
    let Some(task) = store::tasks::get(ctx.tx, task_id).await? else { return Ok(None) };
    let code = task.code();
    event(ctx, task_id, None, "created", Some(&spec.title), &[]).await?;
    let notice = assignment_notice(tz, &task, ctx.now);
    let mut unreachable = Vec::new();
    for p in &people {
        let aid = store::tasks::add_assignment(ctx.tx, task_id, p.id, ctx.now).await?;
        notify(ctx, format!("task:{code}:assign:{aid}"), p.id, notice.clone(), task_id, Some(aid)).await?;
        let route = crate::outbox::route::resolve(ctx.tx, &ctx.app.directory, &Recipient::Person(p.id), false).await?;
        if route.is_none() {
            unreachable.push(p.name.clone());
        }
    }
    audit(
        ctx,
        task_id,
        "created",
        json!({
            "title": spec.title,
            "deadline": crate::db::ts(deadline),
            "requires_result": spec.requires_result,
            "targets": targets_json,
            "assignees": people.iter().map(|p| p.code.clone()).collect::<Vec<_>>(),
        }),
    )
    .await?;
    let names: Vec<&str> = people.iter().take(30).map(|p| p.name.as_str()).collect();
    let more = if people.len() > 30 { format!("等{}人", people.len()) } else { String::new() };
    let mut lines = vec![
        format!("已布置任务 {code}：{}", task.title),
        format!(
            "截止：{}{}",
            deadline_text(tz, &task, ctx.now),
            if task.requires_result { "｜需提交材料" } else { "" }
        ),
        format!("承办人（{}）：{}{more}", people.len(), names.join("、")),
    ];
    if !no_contact.is_empty() {
        lines.push(format!("以下学校没有登记学校联络员或校长，未能布置：{}。", no_contact.join("、")));
    }
    if !unreachable.is_empty() {
        lines.push(format!(
            "其中{}人暂时无法送达（尚未绑定聊天账号）：{}；绑定后会自动补发。",
            unreachable.len(),
            unreachable.iter().take(10).cloned().collect::<Vec<_>>().join("、")
        ));
    }
    lines.push(format!("已通知承办人。发送“任务 {code}”查看进度。"));
    ctx.reply(lines.join("\n"));
    Ok(Some(task_id))
}

// ---- the assignee's moves ----

pub(super) async fn acknowledge(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let Some(own) = own_assignment(ctx, args, Action::Acknowledge, "收到").await? else { return Ok(()) };
    let (task, a) = (&own.task, &own.assignment);
    let code = task.code();
    match next_state(a.state, Action::Acknowledge) {
        Ok(state) => {
            let via = if own.via_quote { "quote" } else { "command" };
            let change = Change { ack_via: Some(via), ..Default::default() };
            store::tasks::set_state(ctx.tx, a.id, state, change, ctx.now).await?;
            event(ctx, task.id, Some(a.id), "acknowledged", None, &[]).await?;
            audit(ctx, task.id, "acknowledged", json!({ "assignment": a.id, "person": a.person_code, "via": via }))
                .await?;
            let tz = ctx.app.tz;
            ctx.reply(format!(
                "已确认收到任务 {code}“{}”，截止{}。完成后请发送“完成 {code} 结果说明”。",
                task.title,
                deadline_text(tz, task, ctx.now)
            ));
        }
        Err(TransitionError::AlreadyAcknowledged) => {
            ctx.reply(format!("您已确认过任务 {code}（当前：{}）。", a.state.label()));
        }
        Err(e) => ctx.reply(transition_reply(&code, e)),
    }
    Ok(())
}

pub(super) async fn progress(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let Some(own) = own_assignment(ctx, args, Action::Progress, "进展").await? else { return Ok(()) };
    let (task, a) = (&own.task, &own.assignment);
    let code = task.code();
    let note = own.rest.trim();
    if note.is_empty() {
        ctx.reply(format!("请写明进展情况，例如：进展 {code} 已完成3所学校的检查"));
        return Ok(());
    }
    if note.chars().count() > dt::MAX_RESULT_CHARS {
        ctx.reply(format!("进展说明太长（最多{}字）。", dt::MAX_RESULT_CHARS));
        return Ok(());
    }
    match next_state(a.state, Action::Progress) {
        Ok(state) => {
            let change = Change { ack_via: Some("progress"), progress_note: Some(note), ..Default::default() };
            store::tasks::set_state(ctx.tx, a.id, state, change, ctx.now).await?;
            event(ctx, task.id, Some(a.id), "progress", Some(note), &[]).await?;
            audit(ctx, task.id, "progress", json!({ "assignment": a.id, "person": a.person_code })).await?;
            ctx.reply(format!("已记录任务 {code} 的进展。完成后请发送“完成 {code} 结果说明”。"));
        }
        Err(e) => ctx.reply(transition_reply(&code, e)),
    }
    Ok(())
}

pub(super) async fn submit(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let Some(own) = own_assignment(ctx, args, Action::Submit, "完成").await? else { return Ok(()) };
    let (task, a) = (&own.task, &own.assignment);
    let code = task.code();
    let text = own.rest.trim().to_string();
    let media = attachments(ctx);
    if task.requires_result && text.is_empty() && media.is_empty() {
        ctx.reply(format!(
            "任务 {code} 需提交书面结果或材料。请发送“完成 {code} 结果说明”，可在同一条消息里附图片或文件。"
        ));
        return Ok(());
    }
    if text.chars().count() > dt::MAX_RESULT_CHARS {
        ctx.reply(format!("结果说明太长（最多{}字），请精简或以文件形式附上。", dt::MAX_RESULT_CHARS));
        return Ok(());
    }
    let state = match next_state(a.state, Action::Submit) {
        Ok(s) => s,
        Err(e) => {
            ctx.reply(transition_reply(&code, e));
            return Ok(());
        }
    };
    let change = Change { ack_via: Some("submit"), result: Some((&text, &media)), ..Default::default() };
    store::tasks::set_state(ctx.tx, a.id, state, change, ctx.now).await?;
    let eid = event(ctx, task.id, Some(a.id), "submitted", Some(&text), &media).await?;
    let round = a.submissions + 1;
    audit(
        ctx,
        task.id,
        "submitted",
        json!({ "assignment": a.id, "person": a.person_code, "round": round, "attachments": media.len() }),
    )
    .await?;
    let mut lines = vec![format!(
        "【任务提交】{code}“{}”：{}提交了结果{}。",
        task.title,
        a.person_name,
        if round > 1 { format!("（第{round}次）") } else { String::new() }
    )];
    if !text.is_empty() {
        lines.push(format!("结果：{}", crate::domain::text::truncate_chars(&text, 500)));
    }
    if !media.is_empty() {
        lines.push(format!("附件：{}个", media.len()));
    }
    lines.push(format!(
        "请回复“通过 {code} {name}”或“退回 {code} {name} 原因”（也可引用本消息回复“通过”或“退回 原因”）。",
        name = a.person_name
    ));
    let creator = task.created_by;
    notify(ctx, format!("task:{code}:submitted:{eid}"), creator, lines.join("\n"), task.id, Some(a.id)).await?;
    let files = if media.is_empty() { String::new() } else { format!("（含附件{}个）", media.len()) };
    ctx.reply(format!("已提交任务 {code} 的结果{files}，等待督导室审核。"));
    Ok(())
}

// ---- review ----

/// Live assignments matching a name or 编号.
fn matching<'a>(list: &'a [Assignment], token: &str) -> Vec<&'a Assignment> {
    list.iter().filter(|a| a.person_name == token || a.person_code.eq_ignore_ascii_case(token)).collect()
}

fn live(list: Vec<Assignment>) -> Vec<Assignment> {
    list.into_iter().filter(|a| a.state != AssignmentState::Cancelled).collect()
}

pub(super) async fn approve(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    if let Err(e) = dt::authorize(actor_role(ctx), Op::Review, false) {
        deny(ctx, e, "");
        return Ok(());
    }
    let Some(r) = task_ref(ctx, args, "通过 T1 张三").await? else { return Ok(()) };
    let task = r.task;
    let code = task.code();
    if !ensure_open(ctx, &task) {
        return Ok(());
    }
    let all = live(store::tasks::assignments(ctx.tx, task.id).await?);
    let names = split_names(&r.rest);
    let mut targets: Vec<&Assignment> = Vec::new();
    let mut problems = Vec::new();
    if names.is_empty() || names.iter().all(|n| n == "全部" || n == "所有") {
        match r.quoted_assignment.filter(|_| names.is_empty()) {
            Some(aid) => targets.extend(all.iter().filter(|a| a.id == aid)),
            None => targets.extend(all.iter().filter(|a| a.state == AssignmentState::Submitted)),
        }
        if targets.is_empty() {
            ctx.reply(format!("任务 {code} 暂无待审核的结果。发送“任务 {code}”查看进度。"));
            return Ok(());
        }
    } else {
        for n in &names {
            match matching(&all, n).as_slice() {
                [] => problems.push(format!("任务 {code} 没有承办人“{n}”。")),
                [one] => targets.push(one),
                _ => problems.push(format!("“{n}”有同名承办人，请改用编号。")),
            }
        }
    }
    let mut approved = Vec::new();
    for a in targets {
        match next_state(a.state, Action::Approve) {
            Ok(state) => {
                let reviewer = ctx.actor.as_ref().map(|x| x.person_id);
                let change = Change { reviewed_by: reviewer, ..Default::default() };
                store::tasks::set_state(ctx.tx, a.id, state, change, ctx.now).await?;
                let eid = event(ctx, task.id, Some(a.id), "approved", None, &[]).await?;
                audit(ctx, task.id, "approved", json!({ "assignment": a.id, "person": a.person_code })).await?;
                let text = format!("【审核通过】您提交的任务 {code}“{}”结果已审核通过，感谢！", task.title);
                notify(ctx, format!("task:{code}:approved:{eid}"), a.person_id, text, task.id, Some(a.id)).await?;
                approved.push(a.person_name.clone());
            }
            Err(e) => problems.push(format!("{}{e}，不能审核（当前：{}）。", a.person_name, a.state.label())),
        }
    }
    let mut lines = Vec::new();
    if !approved.is_empty() {
        lines.push(format!("已通过任务 {code}：{}。", approved.join("、")));
    }
    lines.extend(problems);
    let after = live(store::tasks::assignments(ctx.tx, task.id).await?);
    let done = after.iter().filter(|a| a.state == AssignmentState::Approved).count();
    if !approved.is_empty() && done == after.len() {
        let by = ctx.actor.as_ref().map(|x| x.person_id);
        store::tasks::end_task(ctx.tx, task.id, TaskStatus::Closed, by, Some("全部通过"), ctx.now).await?;
        event(ctx, task.id, None, "closed", Some("全部通过"), &[]).await?;
        audit(ctx, task.id, "closed", json!({ "reason": "all_approved" })).await?;
        lines.push(format!("全部{}位承办人已通过，任务 {code} 已办结。", after.len()));
    } else if !approved.is_empty() {
        lines.push(format!("进度：已通过 {done}/{}。", after.len()));
    }
    ctx.reply(lines.join("\n"));
    Ok(())
}

pub(super) async fn return_result(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    if let Err(e) = dt::authorize(actor_role(ctx), Op::Review, false) {
        deny(ctx, e, "");
        return Ok(());
    }
    let Some(r) = task_ref(ctx, args, "退回 T1 张三 缺少现场照片").await? else { return Ok(()) };
    let task = r.task;
    let code = task.code();
    if !ensure_open(ctx, &task) {
        return Ok(());
    }
    let all = live(store::tasks::assignments(ctx.tx, task.id).await?);
    let rest = r.rest.trim();
    let (first, after_first) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let first_clean = first.trim_start_matches(['@', '＠']).trim_end_matches(['，', ',', ':', '：']);
    let named = matching(&all, first_clean);
    let submitted: Vec<&Assignment> = all.iter().filter(|a| a.state == AssignmentState::Submitted).collect();
    let quoted = r.quoted_assignment.and_then(|aid| all.iter().find(|a| a.id == aid));
    let (target, reason) = match (named.as_slice(), quoted, submitted.as_slice()) {
        ([one], _, _) => (*one, after_first.trim()),
        ([_, _, ..], _, _) => {
            ctx.reply(format!("“{first_clean}”有同名承办人，请改用编号。"));
            return Ok(());
        }
        ([], Some(q), _) => (q, rest),
        ([], None, [only]) => (*only, rest),
        _ => {
            ctx.reply(format!("请写明退回谁和原因，例如：退回 {code} 张三 缺少现场照片"));
            return Ok(());
        }
    };
    let reason = reason.trim_start_matches(['，', ',', ':', '：']).trim();
    if reason.is_empty() {
        ctx.reply(format!("请写明退回原因，例如：退回 {code} {} 缺少现场照片", target.person_name));
        return Ok(());
    }
    if reason.chars().count() > dt::MAX_REASON_CHARS {
        ctx.reply(format!("退回原因太长（最多{}字）。", dt::MAX_REASON_CHARS));
        return Ok(());
    }
    let state = match next_state(target.state, Action::Return) {
        Ok(s) => s,
        Err(e) => {
            ctx.reply(format!("{}{e}，不能退回（当前：{}）。", target.person_name, target.state.label()));
            return Ok(());
        }
    };
    let reviewer = ctx.actor.as_ref().map(|x| x.person_id);
    let change = Change { return_reason: Some(reason), reviewed_by: reviewer, ..Default::default() };
    store::tasks::set_state(ctx.tx, target.id, state, change, ctx.now).await?;
    let eid = event(ctx, task.id, Some(target.id), "returned", Some(reason), &[]).await?;
    audit(ctx, task.id, "returned", json!({ "assignment": target.id, "person": target.person_code, "reason": reason }))
        .await?;
    let tz = ctx.app.tz;
    let text = format!(
        "【任务退回】您提交的任务 {code}“{}”结果被退回。\n原因：{reason}\n请修改后重新发送“完成 {code} 结果说明”。截止：{}。",
        task.title,
        deadline_text(tz, &task, ctx.now)
    );
    notify(ctx, format!("task:{code}:returned:{eid}"), target.person_id, text, task.id, Some(target.id)).await?;
    ctx.reply(format!("已退回{}在任务 {code} 中提交的结果，并已通知本人。", target.person_name));
    Ok(())
}

// ---- views ----

fn assignment_line(a: &Assignment) -> String {
    let mut s = format!("· {}：{}", a.person_name, a.state.label());
    match a.state {
        AssignmentState::Submitted | AssignmentState::Approved => {
            if let Some(t) = a.result_text.as_deref().filter(|t| !t.is_empty()) {
                s.push_str(&format!(" — {}", crate::domain::text::truncate_chars(t, 40)));
            }
            if !a.result_media.is_empty() {
                s.push_str(&format!("（附件{}个）", a.result_media.len()));
            }
        }
        AssignmentState::Returned => {
            if let Some(r) = &a.return_reason {
                s.push_str(&format!("（退回原因：{}）", crate::domain::text::truncate_chars(r, 40)));
            }
        }
        AssignmentState::InProgress => {
            if let Some(p) = &a.progress_note {
                s.push_str(&format!(" — {}", crate::domain::text::truncate_chars(p, 40)));
            }
        }
        _ => {}
    }
    s
}

fn task_header(tz: Tz, task: &Task, now: DateTime<Utc>) -> Vec<String> {
    let code = task.code();
    let when = if task.status == TaskStatus::Open {
        format!("（{}）", remaining(task.deadline, now))
    } else {
        String::new()
    };
    let mut lines = vec![
        format!("任务 {code}：{}（{}）", task.title, task.status.label()),
        format!(
            "截止：{}{when}{}",
            deadline_text(tz, task, now),
            if task.requires_result { "｜需提交材料" } else { "" }
        ),
        format!("布置：{}，{}", task.creator_name, local(tz, task.created_at).format("%m-%d %H:%M")),
    ];
    if !task.description.is_empty() {
        lines.push(format!("说明：{}", task.description));
    }
    if let Some(r) = task.end_reason.as_deref().filter(|_| task.status != TaskStatus::Open) {
        lines.push(format!("{}原因：{r}", task.status.label()));
    }
    lines
}

pub(super) async fn show(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let Some(actor) = ctx.actor.clone() else { return Ok(()) };
    if parse_task_ref(args).is_none() && ctx.msg.reply_to().is_none() {
        return mine(ctx).await;
    }
    let Some(r) = task_ref(ctx, args, "任务 T1").await? else { return Ok(()) };
    let task = r.task;
    let code = task.code();
    let all = store::tasks::assignments(ctx.tx, task.id).await?;
    let own: Option<&Assignment> =
        all.iter().rev().find(|a| a.person_id == actor.person_id && a.state != AssignmentState::Cancelled);
    if dt::authorize(actor.role, Op::View, own.is_some()).is_err() {
        ctx.reply(format!("您不是任务{code}的承办人，无权查看。"));
        return Ok(());
    }
    let tz = ctx.app.tz;
    let mut lines = task_header(tz, &task, ctx.now);
    if actor.role.is_supervisor() {
        let live: Vec<&Assignment> = all.iter().filter(|a| a.state != AssignmentState::Cancelled).collect();
        let count = |s: AssignmentState| live.iter().filter(|a| a.state == s).count();
        lines.push(format!(
            "承办情况（已通过 {}/{}，待审核 {}，未确认 {}）：",
            count(AssignmentState::Approved),
            live.len(),
            count(AssignmentState::Submitted),
            count(AssignmentState::Assigned)
        ));
        if live.len() <= DETAIL_LINES {
            lines.extend(live.iter().map(|a| assignment_line(a)));
        } else {
            for s in AssignmentState::ALL {
                let names: Vec<&str> = live.iter().filter(|a| a.state == s).map(|a| a.person_name.as_str()).collect();
                if !names.is_empty() {
                    lines.push(format!("· {}（{}）：{}", s.label(), names.len(), names.join("、")));
                }
            }
        }
        let moved: Vec<String> = all
            .iter()
            .filter(|a| a.state == AssignmentState::Cancelled && task.status == TaskStatus::Open)
            .map(|a| format!("{}（{}）", a.person_name, a.end_reason.clone().unwrap_or_default()))
            .collect();
        if !moved.is_empty() {
            lines.push(format!("已改派：{}", moved.join("、")));
        }
    } else if let Some(a) = own {
        lines.push(format!("您的状态：{}", a.state.label()));
        if let Some(p) = &a.progress_note {
            lines.push(format!("最近进展：{p}"));
        }
        if let Some(t) = a.result_text.as_deref().filter(|t| !t.is_empty()) {
            lines.push(format!("提交的结果：{}", crate::domain::text::truncate_chars(t, 200)));
        }
        if a.state == AssignmentState::Returned {
            if let Some(r) = &a.return_reason {
                lines.push(format!("退回原因：{r}"));
            }
        }
        if a.state.awaits_assignee() && task.status == TaskStatus::Open {
            lines.push(format!("完成后请发送“完成 {code} 结果说明”。"));
        }
    }
    ctx.reply(lines.join("\n"));
    Ok(())
}

pub(super) async fn mine(ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    let Some(actor) = ctx.actor.clone() else { return Ok(()) };
    let open = store::tasks::open_for_person(ctx.tx, actor.person_id).await?;
    if open.is_empty() {
        ctx.reply("您目前没有未办结的任务。");
        return Ok(());
    }
    let tz = ctx.app.tz;
    let mut lines = vec![format!("您有{}项未办结的任务：", open.len())];
    for (t, a) in &open {
        lines.push(format!(
            "· {} {}｜截止{}（{}）｜{}",
            t.code(),
            t.title,
            deadline_text(tz, t, ctx.now),
            remaining(t.deadline, ctx.now),
            a.state.label()
        ));
    }
    lines.push("发送“任务 T编号”查看详情。".into());
    ctx.reply(lines.join("\n"));
    Ok(())
}

pub(super) async fn list(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    if let Err(e) = dt::authorize(actor_role(ctx), Op::Manage, false) {
        deny(ctx, e, "");
        return Ok(());
    }
    let all = matches!(args.trim(), "全部" | "所有" | "all");
    let rows = store::tasks::list(ctx.tx, all, 30).await?;
    if rows.is_empty() {
        ctx.reply(if all {
            "还没有布置过任务。"
        } else {
            "目前没有进行中的督办任务。发送“任务列表 全部”查看已办结的。"
        });
        return Ok(());
    }
    let tz = ctx.app.tz;
    let mut lines = vec![if all {
        "督办任务（最近30项）：".to_string()
    } else {
        "进行中的督办任务：".to_string()
    }];
    for s in &rows {
        let t = &s.task;
        let mut line = format!("· {} {}｜截止{}", t.code(), t.title, deadline_text(tz, t, ctx.now));
        if t.status == TaskStatus::Open {
            line.push_str(&format!("｜通过 {}/{}", s.approved, s.total));
            if s.submitted > 0 {
                line.push_str(&format!("，待审核 {}", s.submitted));
            }
            if s.unacknowledged > 0 {
                line.push_str(&format!("，未确认 {}", s.unacknowledged));
            }
            if t.deadline <= ctx.now {
                line.push_str("｜已逾期");
            }
        } else {
            line.push_str(&format!("｜{}", t.status.label()));
        }
        lines.push(line);
    }
    lines.push("发送“任务 T编号”查看详情。".into());
    ctx.reply(lines.join("\n"));
    Ok(())
}

// ---- management ----

/// Ends every live, unfinished assignment (cancel or close) and tells each assignee.
async fn end_assignments(
    ctx: &mut Ctx<'_>,
    task: &Task,
    action: Action,
    reason: &str,
    notice: &str,
) -> anyhow::Result<usize> {
    let code = task.code();
    let mut n = 0;
    for a in live(store::tasks::assignments(ctx.tx, task.id).await?) {
        let Ok(state) = next_state(a.state, action) else { continue };
        let change = Change { end_reason: Some(reason), ..Default::default() };
        store::tasks::set_state(ctx.tx, a.id, state, change, ctx.now).await?;
        let kind = if action == Action::Cancel { "cancelled" } else { "closed" };
        notify(ctx, format!("task:{code}:{kind}:{}", a.id), a.person_id, notice.to_string(), task.id, Some(a.id))
            .await?;
        n += 1;
    }
    Ok(n)
}

pub(super) async fn cancel(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    if let Err(e) = dt::authorize(actor_role(ctx), Op::Manage, false) {
        deny(ctx, e, "");
        return Ok(());
    }
    let Some(r) = task_ref(ctx, args, "撤销 T1 工作安排调整").await? else { return Ok(()) };
    let task = r.task;
    let code = task.code();
    if !ensure_open(ctx, &task) {
        return Ok(());
    }
    let reason = r.rest.trim();
    if reason.chars().count() > dt::MAX_REASON_CHARS {
        ctx.reply(format!("撤销原因太长（最多{}字）。", dt::MAX_REASON_CHARS));
        return Ok(());
    }
    let reason_text = if reason.is_empty() { String::new() } else { format!("\n原因：{reason}") };
    let notice = format!("【任务撤销】任务 {code}“{}”已撤销，无需再办理。{reason_text}", task.title);
    let n = end_assignments(ctx, &task, Action::Cancel, "任务撤销", &notice).await?;
    let by = ctx.actor.as_ref().map(|x| x.person_id);
    store::tasks::end_task(ctx.tx, task.id, TaskStatus::Cancelled, by, Some(reason).filter(|r| !r.is_empty()), ctx.now)
        .await?;
    event(ctx, task.id, None, "cancelled", Some(reason), &[]).await?;
    audit(ctx, task.id, "cancelled", json!({ "reason": reason, "notified": n })).await?;
    ctx.reply(format!("已撤销任务 {code}，已通知{n}位承办人。"));
    Ok(())
}

pub(super) async fn close(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    if let Err(e) = dt::authorize(actor_role(ctx), Op::Manage, false) {
        deny(ctx, e, "");
        return Ok(());
    }
    let Some(r) = task_ref(ctx, args, "办结 T1").await? else { return Ok(()) };
    let task = r.task;
    let code = task.code();
    if !ensure_open(ctx, &task) {
        return Ok(());
    }
    let before = live(store::tasks::assignments(ctx.tx, task.id).await?);
    let approved = before.iter().filter(|a| a.state == AssignmentState::Approved).count();
    let notice = format!("【任务办结】任务 {code}“{}”已由督导室办结，您无需再提交。", task.title);
    let n = end_assignments(ctx, &task, Action::Close, "任务办结", &notice).await?;
    let reason = r.rest.trim();
    let by = ctx.actor.as_ref().map(|x| x.person_id);
    let stored = if reason.is_empty() { "督导室办结" } else { reason };
    store::tasks::end_task(ctx.tx, task.id, TaskStatus::Closed, by, Some(stored), ctx.now).await?;
    event(ctx, task.id, None, "closed", Some(stored), &[]).await?;
    audit(ctx, task.id, "closed", json!({ "reason": stored, "unfinished": n })).await?;
    let tail = if n > 0 { format!("；{n}人未完成，不再催办，已通知本人") } else { String::new() };
    ctx.reply(format!("任务 {code} 已办结。已通过 {approved}/{}{tail}。", before.len()));
    Ok(())
}

pub(super) async fn reassign(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    if let Err(e) = dt::authorize(actor_role(ctx), Op::Manage, false) {
        deny(ctx, e, "");
        return Ok(());
    }
    let Some(r) = task_ref(ctx, args, "改派 T1 张三 李四").await? else { return Ok(()) };
    let task = r.task;
    let code = task.code();
    if !ensure_open(ctx, &task) {
        return Ok(());
    }
    let cleaned = r.rest.replace("改派给", " ").replace("改为", " ").replace("->", " ").replace('→', " ");
    let names: Vec<String> = split_names(&cleaned).into_iter().filter(|n| n != "给").collect();
    let [from, to] = names.as_slice() else {
        ctx.reply(format!("请写明原承办人和新承办人，例如：改派 {code} 张三 李四"));
        return Ok(());
    };
    let all = live(store::tasks::assignments(ctx.tx, task.id).await?);
    let old = match matching(&all, from).as_slice() {
        [one] => (*one).clone(),
        [] => {
            ctx.reply(format!("任务 {code} 没有承办人“{from}”。发送“任务 {code}”查看承办人。"));
            return Ok(());
        }
        _ => {
            ctx.reply(format!("“{from}”有同名承办人，请改用编号。"));
            return Ok(());
        }
    };
    let new = match store::people::find_people(ctx.tx, to).await?.as_slice() {
        [p] => PersonRef { id: p.id, code: p.code.clone(), name: p.name.clone() },
        [] => {
            let ex = crate::app::examples::load(ctx.tx).await?;
            ctx.reply(format!("没有找到人员“{to}”。请检查姓名，或改用编号（如 {}）。", ex.person_code));
            return Ok(());
        }
        many => {
            let list: Vec<String> = many.iter().map(|p| format!("{} {}", p.code, p.name)).collect();
            ctx.reply(format!("“{to}”有多位同名人员（{}），请改用编号。", list.join("、")));
            return Ok(());
        }
    };
    if all.iter().any(|a| a.person_id == new.id) {
        ctx.reply(format!("{}已是任务 {code} 的承办人。", new.name));
        return Ok(());
    }
    if let Err(e) = next_state(old.state, Action::Reassign) {
        ctx.reply(format!("{}{e}，不能改派（当前：{}）。", old.person_name, old.state.label()));
        return Ok(());
    }
    let why = format!("改派给{}", new.name);
    let change = Change { end_reason: Some(&why), ..Default::default() };
    store::tasks::set_state(ctx.tx, old.id, AssignmentState::Cancelled, change, ctx.now).await?;
    let aid = store::tasks::add_assignment(ctx.tx, task.id, new.id, ctx.now).await?;
    event(ctx, task.id, Some(aid), "reassigned", Some(&format!("{} → {}", old.person_code, new.code)), &[]).await?;
    audit(ctx, task.id, "reassigned", json!({ "from": old.person_code, "to": new.code, "assignment": aid })).await?;
    let text = format!("【任务改派】任务 {code}“{}”已改派给{}，您无需再办理。", task.title, new.name);
    notify(ctx, format!("task:{code}:unassigned:{}", old.id), old.person_id, text, task.id, Some(old.id)).await?;
    let tz = ctx.app.tz;
    let notice = assignment_notice(tz, &task, ctx.now);
    notify(ctx, format!("task:{code}:assign:{aid}"), new.id, notice, task.id, Some(aid)).await?;
    ctx.reply(format!("已将任务 {code} 由{}改派给{}，已通知双方。", old.person_name, new.name));
    Ok(())
}

pub(super) async fn extend(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    if let Err(e) = dt::authorize(actor_role(ctx), Op::Manage, false) {
        deny(ctx, e, "");
        return Ok(());
    }
    let Some(r) = task_ref(ctx, args, "延期 T1 12月5日17:00").await? else { return Ok(()) };
    let task = r.task;
    let code = task.code();
    if !ensure_open(ctx, &task) {
        return Ok(());
    }
    let tz = ctx.app.tz;
    let now_local = local(tz, ctx.now);
    let text = r.rest.trim();
    if text.is_empty() {
        ctx.reply(format!("请写明新的截止时间，例如：延期 {code} 12月5日17:00"));
        return Ok(());
    }
    let Some(new_local) = dt::parse_deadline(text, now_local, ctx.app.settings.tasks.default_time()) else {
        ctx.reply(dt::CreateError::BadDeadline(text.to_string()).to_string());
        return Ok(());
    };
    if let Err(e) = check_deadline(new_local, now_local) {
        ctx.reply(e.to_string());
        return Ok(());
    }
    let Some(deadline) = to_utc(tz, new_local) else { return Ok(()) };
    store::tasks::set_deadline(ctx.tx, task.id, deadline).await?;
    let when = fmt_deadline(new_local, now_local);
    let eid = event(ctx, task.id, None, "extended", Some(&crate::db::ts(deadline)), &[]).await?;
    audit(ctx, task.id, "extended", json!({ "from": crate::db::ts(task.deadline), "to": crate::db::ts(deadline) }))
        .await?;
    let mut n = 0;
    for a in live(store::tasks::assignments(ctx.tx, task.id).await?) {
        if !a.state.awaits_assignee() {
            continue;
        }
        let text = format!("【任务延期】任务 {code}“{}”的截止时间调整为{when}。", task.title);
        notify(ctx, format!("task:{code}:extended:{eid}:{}", a.id), a.person_id, text, task.id, Some(a.id)).await?;
        n += 1;
    }
    ctx.reply(format!("任务 {code} 的截止时间已改为{when}，已通知{n}位未完成的承办人。"));
    Ok(())
}
