//! Retention: pruning old delivery and bookkeeping rows in bounded batches.
//!
//! Only rows whose work is finished go: sent or cancelled outbox rows, processed inbound messages
//! that no workflow row references, final firings, and files delivered (or whose link was
//! used or expired). The audit log is never touched.

use super::Conn;
use crate::config::RetentionSettings;
use crate::db::ts;
use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Days kept; 0 keeps forever.
    pub outbox_days: u32,
    pub inbound_days: u32,
    pub firings_days: u32,
    /// Rows per delete statement.
    pub batch_size: u32,
    /// Statements per table per run; what is left waits for the next run.
    pub max_batches: u32,
}

impl From<&RetentionSettings> for Policy {
    fn from(r: &RetentionSettings) -> Self {
        Policy {
            outbox_days: r.outbox_days,
            inbound_days: r.inbound_days,
            firings_days: r.firings_days,
            batch_size: r.batch_size,
            max_batches: r.max_batches,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub outbox: u64,
    pub inbound: u64,
    pub firings: u64,
    /// Delivered files whose bytes are no longer needed (always pruned: they are the bulk).
    pub files: u64,
    /// The batch bound was reached somewhere: more rows are due for the next run.
    pub more: bool,
}

fn cutoff(now: DateTime<Utc>, days: u32) -> Option<String> {
    (days > 0).then(|| ts(now - Duration::days(i64::from(days))))
}

/// Double-quotes an SQL identifier read from the schema.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Deletes, batch by batch in rowid order, the rows of `table` matching `filter` (whose only
/// parameter is the cutoff). Each batch selects the next ids, then deletes exactly those by
/// range with the same filter, so the walk visits every row at most once.
async fn prune_table(
    conn: &mut Conn,
    table: &str,
    filter: &str,
    cutoff: &str,
    p: &Policy,
) -> crate::sql::Result<(u64, bool)> {
    let select = format!("SELECT rowid FROM {table} WHERE rowid > ? AND ({filter}) ORDER BY rowid LIMIT ?");
    let delete = format!("DELETE FROM {table} WHERE rowid BETWEEN ? AND ? AND ({filter})");
    let mut after = i64::MIN;
    let mut total = 0;
    for _ in 0..p.max_batches.max(1) {
        let ids: Vec<i64> = crate::sql::query_scalar(&select)
            .bind(after)
            .bind(cutoff)
            .bind(i64::from(p.batch_size.max(1)))
            .fetch_all(&mut *conn)
            .await?;
        let (Some(first), Some(last)) = (ids.first().copied(), ids.last().copied()) else {
            return Ok((total, false));
        };
        total +=
            crate::sql::query(&delete).bind(first).bind(last).bind(cutoff).execute(&mut *conn).await?.rows_affected();
        after = last;
        if ids.len() < p.batch_size.max(1) as usize {
            return Ok((total, false));
        }
    }
    Ok((total, true))
}

/// Prunes what `p` allows as of `now`.
pub async fn prune(conn: &mut Conn, p: &Policy, now: DateTime<Utc>) -> crate::sql::Result<Pruned> {
    let mut out = Pruned::default();
    if let Some(c) = cutoff(now, p.outbox_days) {
        // Pending, sending, unknown, dead and unroutable rows are still someone's business.
        let filter = "status IN ('sent', 'cancelled') AND COALESCE(sent_at, created_at) < ?";
        let (n, more) = prune_table(conn, "outbox", filter, &c, p).await?;
        out.outbox = n;
        out.more |= more;
    }
    if let Some(c) = cutoff(now, p.inbound_days) {
        // Workflows keep the messages they were built from (report parts, visit parts, tasks):
        // every foreign key into inbound_messages, read from the schema so new ones count too.
        let refs: Vec<(String, String)> = crate::sql::query_as(
            "SELECT m.name, k.\"from\" FROM sqlite_master m, pragma_foreign_key_list(m.name) k
             WHERE m.type = 'table' AND k.\"table\" = 'inbound_messages' ORDER BY m.name, k.\"from\"",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut filter = String::from("status = 'processed' AND received_at < ?");
        for (table, column) in &refs {
            let (t, c) = (ident(table), ident(column));
            filter.push_str(&format!(" AND id NOT IN (SELECT {c} FROM {t} WHERE {c} IS NOT NULL)"));
        }
        let (n, more) = prune_table(conn, "inbound_messages", &filter, &c, p).await?;
        out.inbound = n;
        out.more |= more;
    }
    if let Some(c) = cutoff(now, p.firings_days) {
        // A firing still waiting for a retry stays. Cursors live in `schedules`, so pruned
        // occurrences are never fired again.
        let filter = "recorded_at < ? AND retry_at IS NULL";
        let (n, more) = prune_table(conn, "firings", filter, &c, p).await?;
        out.firings = n;
        out.more |= more;
    }
    // A delivered file is gone from the database at the next run, whatever `outbox_days` says:
    // once no undelivered row and no usable link needs it, its bytes serve nobody.
    let (files, _links) = super::files::prune(conn, now, p.batch_size.max(1)).await?;
    out.files = files;
    out.more |= files >= u64::from(p.batch_size.max(1));
    Ok(out)
}
