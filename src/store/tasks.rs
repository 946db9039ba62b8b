//! Tasks (督办), their assignments and history, and the roster look-ups that turn a task's
//! targets (a zone, all inspectors, schools) into people.

use super::Conn;
use crate::chat::MediaRef;
use crate::db::{parse_ts, ts};
use crate::domain::role::Role;
use crate::domain::task::{AssignmentState, TaskStatus};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct Task {
    pub id: i64,
    pub title: String,
    pub description: String,
    pub requires_result: bool,
    pub deadline: DateTime<Utc>,
    pub status: TaskStatus,
    pub created_by: i64,
    pub creator_name: String,
    pub created_at: DateTime<Utc>,
    pub end_reason: Option<String>,
}

impl Task {
    pub fn code(&self) -> String {
        crate::domain::task::task_code(self.id)
    }
}

#[derive(Debug, Clone)]
pub struct Assignment {
    pub id: i64,
    pub task_id: i64,
    pub person_id: i64,
    pub person_code: String,
    pub person_name: String,
    pub role: Option<Role>,
    pub state: AssignmentState,
    pub assigned_at: DateTime<Utc>,
    pub progress_note: Option<String>,
    pub result_text: Option<String>,
    pub result_media: Vec<MediaRef>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub submissions: i64,
    pub return_reason: Option<String>,
    pub end_reason: Option<String>,
}

const TASK_SELECT: &str =
    "SELECT t.id, t.title, t.description, t.requires_result, t.deadline_at, t.status, t.created_by,
        p.name AS creator_name, t.created_at, t.end_reason
     FROM tasks t JOIN people p ON p.id = t.created_by";

fn task_row(r: &crate::sql::Row) -> Option<Task> {
    Some(Task {
        id: r.get("id"),
        title: r.get("title"),
        description: r.get("description"),
        requires_result: r.get::<bool, _>("requires_result"),
        deadline: parse_ts(r.get("deadline_at"))?,
        status: TaskStatus::parse_db(r.get("status"))?,
        created_by: r.get("created_by"),
        creator_name: r.get("creator_name"),
        created_at: parse_ts(r.get("created_at"))?,
        end_reason: r.get("end_reason"),
    })
}

const ASSIGNMENT_SELECT: &str =
    "SELECT a.id, a.task_id, a.person_id, p.code AS person_code, p.name AS person_name, p.role,
        a.state, a.assigned_at, a.progress_note, a.result_text, a.result_media, a.submitted_at, a.submissions,
        a.return_reason, a.end_reason
     FROM task_assignments a JOIN people p ON p.id = a.person_id";

fn assignment_row(r: &crate::sql::Row) -> Option<Assignment> {
    Some(Assignment {
        id: r.get("id"),
        task_id: r.get("task_id"),
        person_id: r.get("person_id"),
        person_code: r.get("person_code"),
        person_name: r.get("person_name"),
        role: Role::parse_db(r.get("role")),
        state: AssignmentState::parse_db(r.get("state"))?,
        assigned_at: parse_ts(r.get("assigned_at"))?,
        progress_note: r.get("progress_note"),
        result_text: r.get("result_text"),
        result_media: serde_json::from_str(r.get::<&str, _>("result_media")).unwrap_or_default(),
        submitted_at: r.get::<Option<&str>, _>("submitted_at").and_then(parse_ts),
        submissions: r.get("submissions"),
        return_reason: r.get("return_reason"),
        end_reason: r.get("end_reason"),
    })
}

pub struct NewTask<'a> {
    pub title: &'a str,
    pub description: &'a str,
    pub requires_result: bool,
    pub targets: serde_json::Value,
    pub deadline: DateTime<Utc>,
    pub created_by: i64,
    pub inbound_id: Option<i64>,
}

pub async fn create(conn: &mut Conn, t: NewTask<'_>, now: DateTime<Utc>) -> crate::sql::Result<i64> {
    crate::sql::query_scalar(
        "INSERT INTO tasks (title, description, requires_result, targets, deadline_at, created_by, created_at, inbound_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(t.title)
    .bind(t.description)
    .bind(t.requires_result)
    .bind(t.targets.to_string())
    .bind(ts(t.deadline))
    .bind(t.created_by)
    .bind(ts(now))
    .bind(t.inbound_id)
    .fetch_one(conn)
    .await
}

pub async fn get(conn: &mut Conn, id: i64) -> crate::sql::Result<Option<Task>> {
    let r = crate::sql::query(&format!("{TASK_SELECT} WHERE t.id = ?")).bind(id).fetch_optional(conn).await?;
    Ok(r.as_ref().and_then(task_row))
}

pub async fn add_assignment(
    conn: &mut Conn,
    task_id: i64,
    person_id: i64,
    now: DateTime<Utc>,
) -> crate::sql::Result<i64> {
    crate::sql::query_scalar(
        "INSERT INTO task_assignments (task_id, person_id, assigned_at, updated_at) VALUES (?, ?, ?, ?) RETURNING id",
    )
    .bind(task_id)
    .bind(person_id)
    .bind(ts(now))
    .bind(ts(now))
    .fetch_one(conn)
    .await
}

/// Every assignment of a task, reassigned-away ones included, in the order they were made.
pub async fn assignments(conn: &mut Conn, task_id: i64) -> crate::sql::Result<Vec<Assignment>> {
    let rows = crate::sql::query(&format!("{ASSIGNMENT_SELECT} WHERE a.task_id = ? ORDER BY a.id"))
        .bind(task_id)
        .fetch_all(conn)
        .await?;
    Ok(rows.iter().filter_map(assignment_row).collect())
}

/// A person's live (not reassigned-away) assignment on a task.
pub async fn assignment_of(conn: &mut Conn, task_id: i64, person_id: i64) -> crate::sql::Result<Option<Assignment>> {
    let r = crate::sql::query(&format!(
        "{ASSIGNMENT_SELECT} WHERE a.task_id = ? AND a.person_id = ? AND a.state <> 'cancelled' ORDER BY a.id DESC LIMIT 1"
    ))
    .bind(task_id)
    .bind(person_id)
    .fetch_optional(conn)
    .await?;
    Ok(r.as_ref().and_then(assignment_row))
}

/// Whether the person was ever given the task (reassigned-away and ended ones included).
pub async fn ever_assigned(conn: &mut Conn, task_id: i64, person_id: i64) -> crate::sql::Result<bool> {
    let n: i64 = crate::sql::query_scalar("SELECT COUNT(*) FROM task_assignments WHERE task_id = ? AND person_id = ?")
        .bind(task_id)
        .bind(person_id)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

/// A person's assignments on open tasks that still need something from them or from review.
pub async fn open_for_person(conn: &mut Conn, person_id: i64) -> crate::sql::Result<Vec<(Task, Assignment)>> {
    let rows = crate::sql::query(&format!(
        "{ASSIGNMENT_SELECT} JOIN tasks t ON t.id = a.task_id
         WHERE a.person_id = ? AND t.status = 'open' AND a.state IN ('assigned', 'acknowledged', 'in_progress', 'submitted', 'returned')
         ORDER BY t.deadline_at, t.id"
    ))
    .bind(person_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    for a in rows.iter().filter_map(assignment_row) {
        if let Some(t) = get(conn, a.task_id).await? {
            out.push((t, a));
        }
    }
    Ok(out)
}

/// How a state change is recorded on the assignment row.
#[derive(Debug, Clone, Default)]
pub struct Change<'a> {
    pub ack_via: Option<&'a str>,
    pub progress_note: Option<&'a str>,
    pub result: Option<(&'a str, &'a [MediaRef])>,
    pub return_reason: Option<&'a str>,
    pub reviewed_by: Option<i64>,
    pub end_reason: Option<&'a str>,
}

/// Moves an assignment to `state` (already checked against the domain rules) and records the
/// fields that go with it.
pub async fn set_state(
    conn: &mut Conn,
    id: i64,
    state: AssignmentState,
    c: Change<'_>,
    now: DateTime<Utc>,
) -> crate::sql::Result<()> {
    let now = ts(now);
    let media = c.result.map(|(_, m)| serde_json::to_string(m).unwrap_or_else(|_| "[]".into()));
    crate::sql::query(
        "UPDATE task_assignments SET
             state = ?1,
             acknowledged_at = CASE WHEN ?2 IS NOT NULL AND acknowledged_at IS NULL THEN ?8 ELSE acknowledged_at END,
             ack_via = CASE WHEN ?2 IS NOT NULL AND ack_via IS NULL THEN ?2 ELSE ack_via END,
             progress_note = COALESCE(?3, progress_note),
             progress_at = CASE WHEN ?3 IS NOT NULL THEN ?8 ELSE progress_at END,
             result_text = CASE WHEN ?4 IS NOT NULL THEN ?4 ELSE result_text END,
             result_media = COALESCE(?5, result_media),
             submitted_at = CASE WHEN ?4 IS NOT NULL THEN ?8 ELSE submitted_at END,
             submissions = submissions + CASE WHEN ?4 IS NOT NULL THEN 1 ELSE 0 END,
             return_reason = CASE WHEN ?6 IS NOT NULL THEN ?6 WHEN ?1 = 'approved' THEN NULL ELSE return_reason END,
             returned_at = CASE WHEN ?6 IS NOT NULL THEN ?8 ELSE returned_at END,
             reviewed_by = COALESCE(?7, reviewed_by),
             approved_at = CASE WHEN ?1 = 'approved' THEN ?8 ELSE approved_at END,
             ended_at = CASE WHEN ?1 IN ('cancelled', 'closed') THEN ?8 ELSE ended_at END,
             end_reason = COALESCE(?9, end_reason),
             updated_at = ?8
         WHERE id = ?10",
    )
    .bind(state.as_str())
    .bind(c.ack_via)
    .bind(c.progress_note)
    .bind(c.result.map(|(t, _)| t))
    .bind(media)
    .bind(c.return_reason)
    .bind(c.reviewed_by)
    .bind(now)
    .bind(c.end_reason)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub struct Event<'a> {
    pub task_id: i64,
    pub assignment_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub kind: &'a str,
    pub body: Option<&'a str>,
    pub media: &'a [MediaRef],
    pub inbound_id: Option<i64>,
}

pub async fn add_event(conn: &mut Conn, e: Event<'_>, now: DateTime<Utc>) -> crate::sql::Result<i64> {
    crate::sql::query_scalar(
        "INSERT INTO task_events (task_id, assignment_id, actor_id, kind, body, media, inbound_id, at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(e.task_id)
    .bind(e.assignment_id)
    .bind(e.actor_id)
    .bind(e.kind)
    .bind(e.body)
    .bind(serde_json::to_string(e.media).unwrap_or_else(|_| "[]".into()))
    .bind(e.inbound_id)
    .bind(ts(now))
    .fetch_one(conn)
    .await
}

/// Ends a task (closed or cancelled).
pub async fn end_task(
    conn: &mut Conn,
    id: i64,
    status: TaskStatus,
    by: Option<i64>,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> crate::sql::Result<()> {
    crate::sql::query(
        "UPDATE tasks SET status = ?, ended_at = ?, ended_by = ?, end_reason = ? WHERE id = ? AND status = 'open'",
    )
    .bind(status.as_str())
    .bind(ts(now))
    .bind(by)
    .bind(reason)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_deadline(conn: &mut Conn, id: i64, deadline: DateTime<Utc>) -> crate::sql::Result<()> {
    crate::sql::query("UPDATE tasks SET deadline_at = ? WHERE id = ?")
        .bind(ts(deadline))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// One line of the supervisors' task list.
#[derive(Debug, Clone)]
pub struct Summary {
    pub task: Task,
    pub total: i64,
    pub approved: i64,
    pub submitted: i64,
    pub unacknowledged: i64,
}

/// Open tasks by deadline; with `all`, also the most recently ended ones.
pub async fn list(conn: &mut Conn, all: bool, limit: i64) -> crate::sql::Result<Vec<Summary>> {
    let filter = if all { "" } else { "WHERE t.status = 'open'" };
    let rows = crate::sql::query(&format!(
        "{TASK_SELECT} {filter} ORDER BY t.status = 'open' DESC, CASE WHEN t.status = 'open' THEN t.deadline_at END, t.id DESC LIMIT ?"
    ))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    for task in rows.iter().filter_map(task_row) {
        let r = crate::sql::query(
            "SELECT COUNT(*) AS total,
                    COALESCE(SUM(state = 'approved'), 0) AS approved,
                    COALESCE(SUM(state = 'submitted'), 0) AS submitted,
                    COALESCE(SUM(state = 'assigned'), 0) AS unack
             FROM task_assignments WHERE task_id = ? AND state <> 'cancelled'",
        )
        .bind(task.id)
        .fetch_one(&mut *conn)
        .await?;
        out.push(Summary {
            task,
            total: r.get("total"),
            approved: r.get("approved"),
            submitted: r.get("submitted"),
            unacknowledged: r.get("unack"),
        });
    }
    Ok(out)
}

/// Open tasks whose deadline is before `horizon`: the only ones a reminder sweep can act on.
pub async fn open_due_before(conn: &mut Conn, horizon: DateTime<Utc>) -> crate::sql::Result<Vec<Task>> {
    let rows =
        crate::sql::query(&format!("{TASK_SELECT} WHERE t.status = 'open' AND t.deadline_at <= ? ORDER BY t.id"))
            .bind(ts(horizon))
            .fetch_all(conn)
            .await?;
    Ok(rows.iter().filter_map(task_row).collect())
}

/// Notes that an outgoing message concerns a task (and an assignment).
pub async fn record_message(
    conn: &mut Conn,
    outbox_key: &str,
    task_id: i64,
    assignment_id: Option<i64>,
) -> crate::sql::Result<()> {
    crate::sql::query("INSERT OR IGNORE INTO task_messages (outbox_key, task_id, assignment_id) VALUES (?, ?, ?)")
        .bind(outbox_key)
        .bind(task_id)
        .bind(assignment_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The task (and assignment) a sent message was about, by the platform id a reply quotes.
pub async fn by_platform_message(
    conn: &mut Conn,
    channel: &str,
    platform_msg_id: &str,
) -> crate::sql::Result<Option<(i64, Option<i64>)>> {
    let Some(root) = super::outbox::quoted_key(&mut *conn, channel, platform_msg_id).await? else { return Ok(None) };
    let root = root.as_str();
    let r = crate::sql::query("SELECT task_id, assignment_id FROM task_messages WHERE outbox_key = ?")
        .bind(root)
        .fetch_optional(conn)
        .await?;
    Ok(r.map(|r| (r.get("task_id"), r.get("assignment_id"))))
}

/// Whether an outbox row with this key exists (a reminder already sent or queued).
pub async fn outbox_has(conn: &mut Conn, key: &str) -> crate::sql::Result<bool> {
    let n: Option<i64> = crate::sql::query_scalar("SELECT id FROM outbox WHERE idempotency_key = ?")
        .bind(key)
        .fetch_optional(conn)
        .await?;
    Ok(n.is_some())
}

// ---- Roster look-ups for targets ----

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRef {
    pub id: i64,
    pub code: String,
    pub name: String,
}

fn person_ref(r: &crate::sql::Row) -> PersonRef {
    PersonRef { id: r.get("id"), code: r.get("code"), name: r.get("name") }
}

/// Active inspectors, optionally of one zone.
pub async fn inspectors(conn: &mut Conn, zone_id: Option<i64>) -> crate::sql::Result<Vec<PersonRef>> {
    let rows = crate::sql::query(
        "SELECT id, code, name FROM people WHERE active = 1 AND role = 'inspector' AND (? IS NULL OR zone_id = ?) ORDER BY code",
    )
    .bind(zone_id)
    .bind(zone_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(person_ref).collect())
}

/// The person who answers for a school: its 联络员, or the principal when it has none.
pub async fn school_contact(conn: &mut Conn, school_id: i64) -> crate::sql::Result<Option<PersonRef>> {
    let r = crate::sql::query(
        "SELECT p.id, p.code, p.name FROM school_contacts c JOIN people p ON p.id = c.person_id
          WHERE p.active = 1 AND p.role = 'school_contact' AND c.school_id = ?
         ORDER BY CASE WHEN COALESCE(p.title, '') LIKE '%校长%' THEN 1 ELSE 0 END, p.code LIMIT 1",
    )
    .bind(school_id)
    .fetch_optional(conn)
    .await?;
    Ok(r.as_ref().map(person_ref))
}

/// Active schools, optionally of one zone, as (id, name).
pub async fn schools(conn: &mut Conn, zone_id: Option<i64>) -> crate::sql::Result<Vec<(i64, String)>> {
    let rows =
        crate::sql::query("SELECT id, name FROM schools WHERE active = 1 AND (? IS NULL OR zone_id = ?) ORDER BY code")
            .bind(zone_id)
            .bind(zone_id)
            .fetch_all(conn)
            .await?;
    Ok(rows.iter().map(|r| (r.get("id"), r.get("name"))).collect())
}

/// Whether a person is still active (targets resolved from an old message may have left).
pub async fn person_ref_by_id(conn: &mut Conn, id: i64) -> crate::sql::Result<Option<PersonRef>> {
    let r = crate::sql::query("SELECT id, code, name FROM people WHERE id = ? AND active = 1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(r.as_ref().map(person_ref))
}

/// The person bound to a chat account (a platform mention).
pub async fn person_for_account(
    conn: &mut Conn,
    platform: &str,
    account: &str,
) -> crate::sql::Result<Option<PersonRef>> {
    let r = crate::sql::query(
        "SELECT p.id, p.code, p.name FROM chat_accounts a JOIN people p ON p.id = a.person_id
         WHERE a.platform = ? AND a.account_id = ? AND p.active = 1",
    )
    .bind(platform)
    .bind(account)
    .fetch_optional(conn)
    .await?;
    Ok(r.as_ref().map(person_ref))
}

/// A person's zone name, for the escalation list.
pub async fn zone_of(conn: &mut Conn, person_id: i64) -> crate::sql::Result<Option<String>> {
    crate::sql::query_scalar(
        "SELECT COALESCE(z.name, s.name) FROM people p LEFT JOIN zones z ON z.id = p.zone_id
         LEFT JOIN schools s ON s.id = p.school_id WHERE p.id = ?",
    )
    .bind(person_id)
    .fetch_optional(conn)
    .await
    .map(Option::flatten)
}
