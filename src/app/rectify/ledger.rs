//! The ledger (整改台账) and month-end reconciliation.

use super::*;

/// Figures of a set of items.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LedgerStats {
    pub total: usize,
    pub open: usize,
    /// Open items by age since recorded: ≤7 days, 8–30, >30.
    pub by_age: [usize; 3],
    pub overdue: usize,
    /// Open items whose notice never went out (nobody listed at the school).
    pub unnotified: usize,
    pub closed_on_time: usize,
    pub closed_late: usize,
    pub cancelled: usize,
    /// Closed ÷ (total − cancelled), percent.
    pub rate: Option<f64>,
    pub avg_days_to_close: Option<f64>,
}

/// The ledger's figures from the open items (loaded: they are listed) and the finished ones
/// (counted in SQL).
pub fn stats(
    open: &[rs::OpenItem],
    finished: &rs::FinishedSummary,
    tz: chrono_tz::Tz,
    today: NaiveDate,
) -> LedgerStats {
    let mut s = LedgerStats {
        total: open.len() + finished.cancelled + finished.closed_on_time + finished.closed_late,
        cancelled: finished.cancelled,
        closed_on_time: finished.closed_on_time,
        closed_late: finished.closed_late,
        ..LedgerStats::default()
    };
    for it in open.iter().filter(|it| it.status.is_open()) {
        let created = it.created_at.with_timezone(&tz).date_naive();
        s.open += 1;
        if it.status == Status::Identified {
            s.unnotified += 1;
        }
        let age = (today - created).num_days();
        s.by_age[if age <= 7 {
            0
        } else if age <= 30 {
            1
        } else {
            2
        }] += 1;
        if overdue_days(it.status, it.deadline, today) > 0 {
            s.overdue += 1;
        }
    }
    let base = s.total - s.cancelled;
    if base > 0 {
        s.rate = Some(100.0 * (s.closed_on_time + s.closed_late) as f64 / base as f64);
    }
    if finished.timed > 0 {
        s.avg_days_to_close = Some(finished.days_to_close as f64 / finished.timed as f64);
    }
    s
}

/// The figures the platform's ledger page shows, from the counts the store keeps per school
/// (`rs::ledger_counts`): total, open, overdue, unnotified, closed on time/late, cancelled and
/// the rate, equal to [`stats`] on the same items. The ages of open items and the average days
/// to close need the items themselves and stay empty.
pub fn counted_stats(c: &rs::LedgerCounts) -> LedgerStats {
    let mut s = LedgerStats {
        open: c.open(),
        overdue: c.overdue,
        unnotified: c.count(Status::Identified),
        closed_on_time: c.closed_on_time,
        closed_late: c.closed_late,
        cancelled: c.count(Status::Cancelled),
        ..LedgerStats::default()
    };
    s.total = s.open + s.cancelled + s.closed_on_time + s.closed_late;
    let base = s.total - s.cancelled;
    if base > 0 {
        s.rate = Some(100.0 * (s.closed_on_time + s.closed_late) as f64 / base as f64);
    }
    s
}

/// The chat's ledger figures without reading the scope's items: the kept counts
/// ([`counted_stats`]), the open items' ages counted in SQL and the average days to close from
/// the finished items' summary. Equal to [`stats`] over [`rs::open_items_in`] (tests hold it).
pub async fn counted_ledger(
    conn: &mut Conn,
    scope: &rs::Scope,
    tz: chrono_tz::Tz,
    today: NaiveDate,
) -> anyhow::Result<LedgerStats> {
    use chrono::{Duration, TimeZone};
    let counts = rs::ledger_counts(conn, scope, today).await?;
    let mut s = counted_stats(&counts);
    // An item is ≤7 days old when recorded on or after the local day 7 days ago (ages count
    // local calendar days), 8–30 when on or after the day 30 days ago.
    let start_of = |d: NaiveDate| {
        // A zone whose clocks skip midnight on that day starts it an hour later.
        let midnight = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        [midnight, midnight + Duration::hours(1)]
            .iter()
            .find_map(|t| tz.from_local_datetime(t).earliest())
            .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
    };
    s.by_age =
        rs::open_ages(conn, scope, start_of(today - Duration::days(7)), start_of(today - Duration::days(30))).await?;
    let finished = rs::finished_summary(conn, scope, offset_days(tz, today)).await?;
    if finished.timed > 0 {
        s.avg_days_to_close = Some(finished.days_to_close as f64 / finished.timed as f64);
    }
    Ok(s)
}

/// The zone's UTC offset today, in days. Chinese zones keep one offset all year; elsewhere a
/// day-count near a clock change may be off by one.
pub fn offset_days(tz: chrono_tz::Tz, today: NaiveDate) -> f64 {
    use chrono::{Offset, TimeZone};
    let noon = today.and_hms_opt(12, 0, 0).unwrap_or_default();
    f64::from(tz.offset_from_utc_datetime(&noon).fix().local_minus_utc()) / 86_400.0
}

pub(super) fn stats_text(title: &str, s: &LedgerStats) -> String {
    let rate = s.rate.map(|r| format!("{r:.1}%")).unwrap_or_else(|| "—".into());
    let avg = s.avg_days_to_close.map(|d| format!("{d:.1}天")).unwrap_or_else(|| "—".into());
    format!(
        "【整改台账】{title}\n问题{}条：在办{}（7天内{}，8–30天{}，30天以上{}），{}逾期{}；已销号{}（按期{}，逾期{}），撤销{}。\n整改率{rate}，平均销号用时{avg}。",
        s.total,
        s.open,
        s.by_age[0],
        s.by_age[1],
        s.by_age[2],
        if s.unnotified > 0 { format!("未通知{}，", s.unnotified) } else { String::new() },
        s.overdue,
        s.closed_on_time + s.closed_late,
        s.closed_on_time,
        s.closed_late,
        s.cancelled
    )
}

/// What a ledger request covers, by the chat's scope rules (the chat's `整改台账 [学校/责任区]`
/// and the platform's 整改台账 page both ask here): its title and scope, or the polite refusal.
/// A school contact sees the schools they serve; an inspector their own schools, or their zone
/// or one school of it by name; supervisors the county or any zone or school.
pub async fn ledger_scope(
    conn: &mut Conn,
    actor: &Actor,
    arg: &str,
) -> anyhow::Result<Result<(String, rs::Scope), String>> {
    let arg = arg.trim();
    Ok(Ok(match (actor.role, arg) {
        (Role::SchoolContact, _) => {
            // Every school the contact serves.
            let mut names = Vec::new();
            for sid in &actor.contact_schools {
                names.extend(store::people::school_by_id(conn, *sid).await?.map(|s| s.name));
            }
            (names.join("、"), rs::Scope::Schools(actor.contact_schools.clone()))
        }
        (_, "" | "全县") if actor.role != Role::Inspector || arg == "全县" => {
            if actor.role == Role::Inspector {
                let zone = match actor.zone_id {
                    Some(id) => crate::store::people::zone_name(conn, id).await?,
                    None => None,
                };
                let zone = match zone {
                    Some(z) => z,
                    None => crate::app::examples::load(conn).await?.zone_name,
                };
                return Ok(Err(format!("督学可查看本人负责学校或本责任区的台账，如“整改台账 {zone}”。")));
            }
            ("全县".to_string(), rs::Scope::County)
        }
        (Role::Inspector, "") => ("我负责的学校".to_string(), rs::Scope::Schools(actor.schools.clone())),
        _ => {
            if let Some(z) = store::people::find_zone(conn, arg).await? {
                if actor.check_zone(z.id).is_err() {
                    return Ok(Err("您只能查看本责任区的台账。".to_string()));
                }
                (z.name, rs::Scope::Zone(z.id))
            } else {
                let schools = store::people::find_schools(conn, arg).await?;
                let [s] = schools.as_slice() else {
                    return Ok(Err(format!("没有找到唯一的学校或责任区“{arg}”。")));
                };
                if actor.check_view_school(s.id, s.zone_id).is_err() {
                    return Ok(Err(format!("您不能查看{}的台账。", s.name)));
                }
                (s.name.clone(), rs::Scope::Schools(vec![s.id]))
            }
        }
    }))
}

pub(super) async fn ledger(ctx: &mut Ctx<'_>, actor: &Actor, args: &str) -> anyhow::Result<()> {
    let (title, scope) = match ledger_scope(ctx.tx, actor, args).await? {
        Ok(found) => found,
        Err(refusal) => {
            ctx.reply(refusal);
            return Ok(());
        }
    };
    let today = ctx.today();
    let s = counted_ledger(ctx.tx, &scope, ctx.app.tz, today).await?;
    let mut lines = vec![stats_text(&title, &s)];
    let open_statuses: Vec<Status> = Status::ALL.into_iter().filter(|s| s.is_open()).collect();
    let listed = rs::most_overdue(ctx.tx, &scope, &open_statuses, today, false, LIST_LINES as u32).await?;
    if !listed.is_empty() {
        lines.push("在办问题：".into());
    }
    for it in &listed {
        let over = overdue_days(it.status, it.deadline, today);
        lines.push(format!(
            "· {} {} {}：{}，{}，期限{}{}",
            item_code(it.id),
            it.school_name,
            category_label(it.category),
            it.description.chars().take(30).collect::<String>(),
            it.status.label(),
            md(it.deadline),
            if over > 0 { format!("，逾期{over}天") } else { String::new() }
        ));
    }
    if s.open > LIST_LINES {
        lines.push(format!("……等共{}条", s.open));
    }
    if matches!(actor.role, Role::Admin | Role::Supervisor) && matches!(scope, rs::Scope::County) {
        let month = dr::month_of(today);
        let rows = reconciliation(ctx.tx, today, Grouping::County).await?;
        if let Some(r) = rows.get(&(String::new(), month.clone())) {
            lines.push(format!(
                "本月对账（{month}）：期初{} + 新增{} + 重开{} − 销号{} − 撤销{} = 期末{}",
                r.opening, r.new, r.reopened, r.closed, r.cancelled, r.closing
            ));
        }
    }
    ctx.reply(lines.join("\n"));
    Ok(())
}

/// Month-end reconciliation per scope and month through `through`, from the monthly counts.
pub async fn reconciliation(
    conn: &mut Conn,
    through: NaiveDate,
    grouping: Grouping,
) -> anyhow::Result<std::collections::BTreeMap<(String, String), dr::MonthRow>> {
    let counts = rs::month_counts(conn, grouping, &dr::month_of(through)).await?;
    Ok(dr::reconcile_counts(&counts, through))
}

pub(super) async fn reconcile_command(ctx: &mut Ctx<'_>, args: &str) -> anyhow::Result<()> {
    let today = ctx.today();
    let month = match args.trim() {
        "" => dr::month_of(today),
        m => match NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d") {
            Ok(d) if d <= today => dr::month_of(d),
            _ => {
                ctx.reply("格式：整改对账 [2026-11]（不能是未来的月份）。");
                return Ok(());
            }
        },
    };
    let mut lines = vec![format!("【整改对账】{month}（期初 + 新增 + 重开 − 销号 − 撤销 = 期末）")];
    let fmt = |name: &str, r: &dr::MonthRow| {
        format!(
            "· {name}：{} + {} + {} − {} − {} = {}{}",
            r.opening,
            r.new,
            r.reopened,
            r.closed,
            r.cancelled,
            r.closing,
            if r.balances() { "" } else { "（不平）" }
        )
    };
    for grouping in [Grouping::Zone, Grouping::County] {
        for ((scope, m), r) in reconciliation(ctx.tx, today, grouping).await? {
            if m == month {
                lines.push(fmt(if scope.is_empty() { "全县" } else { &scope }, &r));
            }
        }
    }
    if lines.len() == 1 {
        lines.push("该月及以前没有整改问题记录。".into());
    }
    ctx.reply(lines.join("\n"));
    Ok(())
}
