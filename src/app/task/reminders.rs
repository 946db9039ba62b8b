//! The task reminder sweep (job `task_reminders`): reminds assignees who have not finished before
//! the deadline and once at it, and reports unfinished assignments to the supervisors' group some
//! hours after it. Each reminder and escalation has an outbox key derived from the assignment (or
//! task) and the deadline, so it goes out once even across restarts and racing sweeps, and again
//! only if the deadline is moved (延期).

use crate::chat::Segment;
use crate::config::{ScheduleSettings, Settings};
use crate::db::Tx;
use crate::domain::group::GroupPurpose;
use crate::domain::task::{due_reminder, escalation_due, fmt_deadline, remaining, AssignmentState, ReminderStage};
use crate::outbox::{Delivery, Envelope, Recipient};
use crate::scheduler::{Firing, Job, JobCtx, Jobs};
use crate::store::{self, tasks::Task, Conn};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use std::sync::Arc;

/// The job name to use in `[[schedules]]`.
pub const JOB: &str = "task_reminders";
/// The built-in schedule derived from `[tasks] sweep_cron`.
pub const SCHEDULE: &str = "task-reminders";
/// Escalations list at most this many names; the rest are counted.
const ESCALATION_NAMES: usize = 30;

pub fn register(jobs: &mut Jobs) {
    jobs.register(JOB, Arc::new(TaskReminders));
}

/// The built-in sweep schedule, unless disabled or replaced by a configured one.
pub fn schedules(settings: &Settings) -> Vec<ScheduleSettings> {
    let t = &settings.tasks;
    if t.sweep_cron.trim().is_empty() || settings.schedules.iter().any(|s| s.job == JOB || s.name == SCHEDULE) {
        return Vec::new();
    }
    vec![ScheduleSettings {
        name: SCHEDULE.into(),
        cron: t.sweep_cron.clone(),
        job: JOB.into(),
        enabled: Some(true),
        workdays: Some(t.sweep_workdays.clone()),
        school_days_only: Some(false),
        // The sweep looks at current state; a late run is as good as an on-time one.
        grace_minutes: Some(24 * 60),
        params: None,
    }]
}

pub struct TaskReminders;

#[async_trait]
impl Job for TaskReminders {
    async fn run(&self, app: &JobCtx, tx: &mut Tx<'static>, firing: &Firing) -> anyhow::Result<()> {
        let r = sweep(app, tx, app.clock.now()).await?;
        if r.reminders + r.escalations > 0 {
            tracing::info!(schedule = %firing.schedule, reminders = r.reminders, escalations = r.escalations, "task reminders sent");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub reminders: usize,
    pub escalations: usize,
    /// Due reminders not sent because the person is on leave today.
    pub on_leave: usize,
    /// Due reminders not sent because no channel can reach the person yet.
    pub unreachable: usize,
}

fn reminder_text(
    app: &JobCtx,
    task: &Task,
    state: AssignmentState,
    stage: ReminderStage,
    now: DateTime<Utc>,
) -> String {
    let code = task.code();
    let when =
        fmt_deadline(task.deadline.with_timezone(&app.tz).naive_local(), now.with_timezone(&app.tz).naive_local());
    match (stage, state) {
        (ReminderStage::Overdue, _) => format!(
            "【逾期提醒】任务 {code}“{}”已于{when}截止，您尚未完成。请尽快办理并发送“完成 {code} 结果说明”；如有困难请联系督导室。",
            task.title
        ),
        (ReminderStage::Before(_), AssignmentState::Assigned) => format!(
            "【督办提醒】任务 {code}“{}”将于{when}截止（{}），您尚未确认。请回复“收到 {code}”（或引用本消息回复“收到”），完成后发送“完成 {code} 结果说明”。",
            task.title,
            remaining(task.deadline, now)
        ),
        (ReminderStage::Before(_), AssignmentState::Returned) => format!(
            "【督办提醒】任务 {code}“{}”将于{when}截止（{}），您的结果已被退回，请修改后重新发送“完成 {code} 结果说明”。",
            task.title,
            remaining(task.deadline, now)
        ),
        (ReminderStage::Before(_), _) => format!(
            "【督办提醒】任务 {code}“{}”将于{when}截止（{}），请按时完成并发送“完成 {code} 结果说明”。",
            task.title,
            remaining(task.deadline, now)
        ),
    }
}

/// A reminder or escalation: at most once, since a missed nudge beats a duplicate one.
fn envelope(key: String, to: Recipient, text: String, task: &Task) -> Envelope {
    Envelope {
        delivery: Delivery::AtMostOnce,
        ..Envelope::new(key, to, vec![Segment::text(text)], format!("task:{}", task.code()))
    }
}

/// Enqueues and notes which task (and assignment) the message is about, so quoting it works.
async fn enqueue(
    app: &JobCtx,
    conn: &mut Conn,
    env: Envelope,
    task_id: i64,
    assignment: Option<i64>,
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    store::tasks::record_message(conn, &env.key, task_id, assignment).await?;
    Ok(crate::outbox::enqueue(conn, &app.directory, now, env).await?)
}

async fn audit(
    conn: &mut Conn,
    task: &Task,
    action: &str,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let entry = store::audit::AuditEntry {
        actor_id: None,
        via: "scheduler",
        entity: "task",
        entity_id: Some(task.code()),
        action,
        detail,
    };
    store::audit::record(conn, now, entry).await?;
    Ok(())
}

/// Sends what is due at `now`. Safe to run any number of times: what was sent before is not sent again.
pub async fn sweep(app: &JobCtx, conn: &mut Conn, now: DateTime<Utc>) -> anyhow::Result<SweepReport> {
    let cfg = &app.settings.tasks;
    let mut report = SweepReport::default();
    let lead = cfg.remind_before_hours.iter().copied().max().unwrap_or(0);
    let horizon = now + Duration::hours(i64::from(lead));
    let today = now.with_timezone(&app.tz).date_naive();
    for task in store::tasks::open_due_before(conn, horizon).await? {
        let code = task.code();
        let stamp = task.deadline.timestamp();
        let live: Vec<_> = store::tasks::assignments(conn, task.id)
            .await?
            .into_iter()
            .filter(|a| a.state != AssignmentState::Cancelled)
            .collect();
        let mut leave = Vec::new();
        for a in &live {
            let on_leave = store::leave::on_leave(conn, a.person_id, today).await?;
            if on_leave {
                leave.push(a.id);
            }
            let Some(stage) = due_reminder(a.state, a.assigned_at, task.deadline, &cfg.remind_before_hours, now) else {
                continue;
            };
            let key = format!("task:{code}:remind:{}:{}:{stamp}", a.id, stage.key());
            if store::tasks::outbox_has(conn, &key).await? {
                continue;
            }
            if on_leave {
                // Not recorded: if the leave ends before a later stage is due, this one still goes out.
                report.on_leave += 1;
                continue;
            }
            // Nobody can reach them yet (no bound account, no group): a reminder parked as unroutable
            // would be delivered stale once they bind, so skip it like leave; the escalation still lists them.
            let to = Recipient::Person(a.person_id);
            if crate::outbox::route::resolve(conn, &app.directory, &to, false).await?.is_none() {
                report.unreachable += 1;
                continue;
            }
            let text = reminder_text(app, &task, a.state, stage, now);
            let env = envelope(key, to, text, &task);
            if enqueue(app, conn, env, task.id, Some(a.id), now).await? > 0 {
                report.reminders += 1;
                audit(
                    conn,
                    &task,
                    "reminded",
                    json!({ "assignment": a.id, "person": a.person_code, "stage": stage.key() }),
                    now,
                )
                .await?;
            }
        }
        if !escalation_due(task.deadline, cfg.escalate_after_hours, now) {
            continue;
        }
        let late: Vec<_> = live.iter().filter(|a| a.state.awaits_assignee()).collect();
        if late.is_empty() {
            continue;
        }
        let base = format!("task:{code}:escalate:{stamp}");
        let groups = store::groups::with_purpose(conn, GroupPurpose::Supervisors, None, None).await?;
        let targets: Vec<(String, Recipient)> = if groups.is_empty() {
            vec![(format!("{base}:p{}", task.created_by), Recipient::Person(task.created_by))]
        } else {
            groups.iter().map(|g| (format!("{base}:g{}", g.id), Recipient::Chat(g.chat()))).collect()
        };
        let mut fresh = Vec::new();
        for (key, to) in targets {
            if !store::tasks::outbox_has(conn, &key).await? {
                fresh.push((key, to));
            }
        }
        if fresh.is_empty() {
            continue;
        }
        let when =
            fmt_deadline(task.deadline.with_timezone(&app.tz).naive_local(), now.with_timezone(&app.tz).naive_local());
        let mut lines = vec![format!(
            "【督办逾期】任务 {code}“{}”已于{when}截止（{}），以下承办人尚未完成（{}/{}）：",
            task.title,
            remaining(task.deadline, now),
            late.len(),
            live.len()
        )];
        for a in late.iter().take(ESCALATION_NAMES) {
            let place = store::tasks::zone_of(conn, a.person_id).await?.map(|z| format!("（{z}）")).unwrap_or_default();
            let leave_note = if leave.contains(&a.id) { "，请假中" } else { "" };
            lines.push(format!("· {}{place}：{}{leave_note}", a.person_name, a.state.label()));
        }
        if late.len() > ESCALATION_NAMES {
            lines.push(format!("……等共{}人", late.len()));
        }
        lines.push(format!(
            "布置人：{}。发送“任务 {code}”查看详情，可“延期 {code} 新时间”或“改派 {code} 原承办人 新承办人”。",
            task.creator_name
        ));
        let text = lines.join("\n");
        let mut sent = 0;
        for (key, to) in fresh {
            sent += enqueue(app, conn, envelope(key, to, text.clone(), &task), task.id, None, now).await?;
        }
        if sent > 0 {
            report.escalations += 1;
            let who: Vec<&str> = late.iter().map(|a| a.person_code.as_str()).collect();
            audit(conn, &task, "escalated", json!({ "unfinished": who }), now).await?;
        }
    }
    Ok(report)
}
