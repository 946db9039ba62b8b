//! The sweep (job `rectify_sweep`): visit problems in, reminders and escalation out.

use super::*;
use crate::store::once::{record_once, Subject};

pub fn register(jobs: &mut Jobs) {
    jobs.register(JOB, Arc::new(RectifySweep));
}

pub fn schedules(settings: &Settings) -> Vec<ScheduleSettings> {
    let r = &settings.rectify;
    if r.sweep_cron.trim().is_empty() || settings.schedules.iter().any(|s| s.job == JOB || s.name == SCHEDULE) {
        return Vec::new();
    }
    vec![ScheduleSettings {
        name: SCHEDULE.into(),
        cron: r.sweep_cron.clone(),
        job: JOB.into(),
        enabled: Some(true),
        workdays: Some(r.sweep_workdays.clone()),
        school_days_only: Some(false),
        // The sweep looks at current state; a late run is as good as an on-time one.
        grace_minutes: Some(24 * 60),
        params: None,
    }]
}

pub struct RectifySweep;

#[async_trait]
impl Job for RectifySweep {
    async fn run(&self, app: &JobCtx, tx: &mut Tx<'static>, firing: &Firing) -> anyhow::Result<()> {
        let r = sweep(app, tx, app.clock.now()).await?;
        if r != SweepReport::default() {
            tracing::info!(schedule = %firing.schedule, ?r, "rectification sweep");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub taken_from_visits: usize,
    pub reminders: usize,
    pub inspector: usize,
    pub bulletin: usize,
    pub interview: usize,
    /// Reminders and follow-ups not sent because no channel reaches the person yet.
    pub unreachable: usize,
    /// Notices sent now for items nobody at the school could be told of when recorded.
    pub late_notices: usize,
}

/// Safe to run any number of times: each step of each item fires once (the once-ledger, `store::once`).
pub async fn sweep(app: &JobCtx, conn: &mut Tx<'static>, now: DateTime<Utc>) -> anyhow::Result<SweepReport> {
    let mut report = SweepReport::default();
    let today = local_date(app, now);
    let mut out = Vec::new();
    // Problems written down on visits become items with their visit's follow-up as severity.
    for vp in rs::new_visit_problems(conn).await? {
        if !rs::take_visit_problem(conn, vp.id).await? {
            continue;
        }
        let severity = match vp.follow_up.as_deref().and_then(Severity::parse) {
            Some(s) => s,
            None => Severity::General,
        };
        let n = rs::NewItem {
            school_id: vp.school_id,
            category: vp.category,
            severity,
            source: Source::Visit,
            source_ref: Some(format!("visit_problem:{}", vp.id)),
            description: &vp.description,
            owner: "school",
            deadline: dr::default_deadline(severity, today, &deadline_days(&app.settings), &app.calendar),
            created_by: Some(vp.person_id),
        };
        let (it, reach) = create_item(conn, app, &n, now, &mut out).await?;
        if reach.is_none() && it.status == Status::Identified {
            // The inspector who wrote the visit record hears it too, not only the office.
            let text = format!(
                "【整改通知未发出】{} {}：{}。{}",
                item_code(it.id),
                it.school_name,
                it.description,
                unnotified_reply()
            );
            out.push(env(
                format!("rectify:{}:unnotified:p{}", item_code(it.id), vp.person_id),
                Recipient::Person(vp.person_id),
                text,
                it.id,
            ));
        }
        report.taken_from_visits += 1;
    }
    // Notices that could not go out before: someone is listed at the school now.
    for mut it in rs::unnotified_items(conn).await? {
        it.deadline = dr::deadline_when_notified(local_date(app, it.created_at), it.deadline, today, &app.calendar);
        if send_notice(conn, app, &mut it, None, now, &mut out).await?.is_some() {
            report.late_notices += 1;
        }
    }
    let ladder = ladder(&app.settings);
    let mut bulletin = Vec::new();
    let mut interview = Vec::new();
    for it in rs::open_items(conn).await? {
        let code = item_code(it.id);
        let over = overdue_days(it.status, it.deadline, today);
        for stage in dr::due_stages(it.status, it.deadline, it.returns, today, &ladder) {
            if !record_once(conn, Subject::RectifyItem(it.id), &stage.key(it.deadline), now).await? {
                continue;
            }
            match stage {
                Stage::Remind(d) => {
                    let when = if d == 0 { "今天到期".to_string() } else { format!("还有{d}天到期") };
                    let text = format!(
                        "【整改提醒】{code} {}：“{}”整改期限{}（{when}），当前状态“{}”。整改完成后请发送“完成 {code} 整改情况”并附照片。",
                        it.school_name,
                        it.description,
                        md(it.deadline),
                        it.status.label()
                    );
                    for pid in rs::school_contacts(conn, it.school_id).await? {
                        out.push(Envelope {
                            delivery: Delivery::AtMostOnce,
                            ..env(
                                format!("rectify:{code}:{}:p{pid}", stage.key(it.deadline)),
                                Recipient::Person(pid),
                                text.clone(),
                                it.id,
                            )
                        });
                    }
                    report.reminders += 1;
                }
                Stage::Inspector => {
                    let text = format!(
                        "【整改逾期】{code} {}：“{}”已逾期{over}天（期限{}），学校尚未提交整改。请跟进督促；确需延期请发送“延期 {code} 新期限 原因”。",
                        it.school_name,
                        it.description,
                        md(it.deadline)
                    );
                    for pid in rs::school_inspectors(conn, it.school_id).await? {
                        out.push(Envelope {
                            delivery: Delivery::AtMostOnce,
                            ..env(format!("rectify:{code}:L1:p{pid}"), Recipient::Person(pid), text.clone(), it.id)
                        });
                    }
                    report.inspector += 1;
                }
                Stage::Bulletin => bulletin.push((it.clone(), over)),
                Stage::Interview => interview.push((it.clone(), over)),
            }
        }
    }
    let stamp = now.timestamp();
    for (list, title, rule) in [
        (
            &bulletin,
            "督导通报名单",
            format!("逾期{}天以上或退回{}次", ladder.bulletin_after_days, ladder.bulletin_after_returns),
        ),
        (&interview, "约谈名单", format!("逾期{}天以上", ladder.interview_after_days)),
    ] {
        if list.is_empty() {
            continue;
        }
        let mut lines = vec![format!("【{title}】以下整改问题{rule}，建议列入{title}：")];
        for (it, over) in list.iter().take(LIST_LINES * 2) {
            lines.push(format!(
                "· {} {}（{}）{}：{}{}",
                item_code(it.id),
                it.school_name,
                it.zone_name,
                category_label(it.category),
                if *over > 0 { format!("逾期{over}天") } else { String::new() },
                if it.returns > 0 { format!("，退回{}次", it.returns) } else { String::new() }
            ));
        }
        if list.len() > LIST_LINES * 2 {
            lines.push(format!("……等共{}条", list.len()));
        }
        let key = format!("rectify:{}:{stamp}", if title == "约谈名单" { "L3" } else { "L2" });
        crate::app::broadcast::to_supervisors(app, conn, &key, "rectify", &lines.join("\n")).await?;
    }
    report.bulletin = bulletin.len();
    report.interview = interview.len();
    for e in out {
        // A reminder parked for someone nobody can reach yet would arrive stale once they bind.
        if e.delivery == Delivery::AtMostOnce
            && crate::outbox::route::resolve(conn, &app.directory, &e.to, false).await?.is_none()
        {
            report.unreachable += 1;
            continue;
        }
        crate::outbox::enqueue(conn, &app.directory, now, e).await?;
    }
    Ok(report)
}
