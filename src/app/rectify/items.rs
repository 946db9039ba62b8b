//! Writing an item's transitions and sending its notices: shared by the commands and the sweep.

use super::*;

/// Writes a transition and its ledger event.
#[allow(clippy::too_many_arguments)]
pub(super) async fn apply(
    conn: &mut Conn,
    app: &JobCtx,
    it: &mut Item,
    action: Action,
    to: Status,
    actor_id: Option<i64>,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<i64> {
    let from = it.status;
    it.status = to;
    rs::save(conn, it, now).await?;
    let ev = rs::EventRow {
        item_id: it.id,
        action: action.as_str(),
        from: Some(from),
        to,
        actor_id,
        note,
        deadline: it.deadline,
    };
    Ok(rs::add_event(conn, &ev, now, local_date(app, now)).await?)
}

pub(super) fn notice_text(it: &Item) -> String {
    let owner = if it.owner == "school" { String::new() } else { format!("\n牵头部门：{}", it.owner) };
    format!(
        "【整改通知】{code} {school}\n问题类别：{cat}\n严重程度：{sev}\n问题：{desc}{owner}\n整改期限：{dl}\n请回复“收到 {code}”确认；整改中可发送“进展 {code} 情况”；整改完成后发送“完成 {code} 整改情况”并在同一条消息里附整改后的照片，由责任督学核查销号。",
        code = item_code(it.id),
        school = it.school_name,
        cat = category_label(it.category),
        sev = it.severity.label(),
        desc = it.description,
        dl = md(it.deadline),
    )
}

/// Sends an identified item's notice to everyone at the school who can receive it and marks it
/// notified; returns whom it reached (`学校联络员甲和校长乙`), or `None` when nobody is listed,
/// in which case the item stays identified (未通知): no reminders, no escalation.
pub(super) async fn send_notice(
    conn: &mut Tx<'static>,
    app: &JobCtx,
    it: &mut Item,
    actor_id: Option<i64>,
    now: DateTime<Utc>,
    out: &mut Vec<Envelope>,
) -> anyhow::Result<Option<String>> {
    let people = rs::school_recipients(conn, it.school_id).await?;
    let names = |principal: bool| -> Vec<&str> {
        people.iter().filter(|r| r.principal == principal).map(|r| r.name.as_str()).collect()
    };
    let Some(mut reach) = dr::notice_reach(&names(false), &names(true)) else { return Ok(None) };
    // Someone listed but not yet bound gets the notice when they bind (the outbox keeps it);
    // the inspector is told so rather than that it arrived.
    let mut waiting = Vec::new();
    for r in &people {
        let to = Recipient::Person(r.person_id);
        if crate::outbox::route::resolve(conn, &app.directory, &to, false).await?.is_none() {
            waiting.push(r.name.as_str());
        }
    }
    if !waiting.is_empty() {
        reach.push_str(&format!("（{}尚未绑定聊天账号，通知将在绑定后送达）", waiting.join("、")));
    }
    apply(conn, app, it, Action::Notify, Status::Notified, actor_id, Some(&reach), now).await?;
    let text = notice_text(it);
    for r in &people {
        let key = format!("rectify:{}:notice:p{}", item_code(it.id), r.person_id);
        out.push(env(key, Recipient::Person(r.person_id), text.clone(), it.id));
    }
    Ok(Some(reach))
}

/// Tells the supervisors that an item's notice could not go out.
pub(super) async fn report_unnotified(conn: &mut Tx<'static>, app: &JobCtx, it: &Item) -> anyhow::Result<()> {
    let code = item_code(it.id);
    let msg = format!(
        "【整改通知未发出】{code} {}：{}。该校没有登记学校联络员或校长，整改通知无法发出，问题暂列“未通知”，不计逾期。请在名册中为该校补登学校联络员或校长，下次整改巡查时将自动补发通知。",
        it.school_name, it.description
    );
    crate::app::broadcast::to_supervisors(app, conn, &format!("rectify:{code}:unnotified"), "rectify", &msg).await
}

/// The recording inspector's words for an item whose notice could not go out.
pub(super) fn unnotified_reply() -> &'static str {
    "该校没有登记学校联络员或校长，整改通知未能发出，已告知督导室；问题暂列“未通知”，不计逾期，补登联络员或校长后将自动补发通知。"
}

/// Creates an item (identified), then closes it on site (minor) or sends the notice (notified).
/// Serious items are also reported to the office the same day. The second value names whom
/// the notice reached; `None` for items closed on site and for items nobody could be told of.
pub(super) async fn create_item(
    conn: &mut Tx<'static>,
    app: &JobCtx,
    n: &rs::NewItem<'_>,
    now: DateTime<Utc>,
    out: &mut Vec<Envelope>,
) -> anyhow::Result<(Item, Option<String>)> {
    let id = rs::insert(conn, n, now).await?;
    let ev = rs::EventRow {
        item_id: id,
        action: "created",
        from: None,
        to: Status::Identified,
        actor_id: n.created_by,
        note: Some(n.description),
        deadline: n.deadline,
    };
    rs::add_event(conn, &ev, now, local_date(app, now)).await?;
    let Some(mut it) = rs::get(conn, id).await? else { anyhow::bail!("rectify item {id} vanished") };
    if n.severity == Severity::Minor {
        it.closed_at = Some(now);
        it.closed_late = Some(false);
        apply(conn, app, &mut it, Action::CloseOnSite, Status::Closed, n.created_by, Some("当场整改"), now).await?;
        return Ok((it, None));
    }
    let reach = send_notice(conn, app, &mut it, n.created_by, now, out).await?;
    if reach.is_none() {
        report_unnotified(conn, app, &it).await?;
    }
    if n.severity == Severity::Serious {
        let msg = format!(
            "【严重问题报告】{} {}：{}（{}），整改期限{}。",
            item_code(id),
            it.school_name,
            it.description,
            category_label(it.category),
            md(it.deadline)
        );
        crate::app::broadcast::to_supervisors(
            app,
            conn,
            &format!("rectify:{}:serious", item_code(id)),
            "rectify",
            &msg,
        )
        .await?;
    }
    Ok((it, reach))
}
