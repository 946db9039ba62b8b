//! Posting to the supervision office: its registered group(s), or each supervisor privately
//! when no group is registered. Used by every workflow's wrap-ups and escalations.

use crate::chat::Segment;
use crate::db::Tx;
use crate::domain::group::GroupPurpose;
use crate::outbox::{Envelope, Recipient};
use crate::scheduler::JobCtx;
use crate::store;

/// Enqueues `text` for the supervisors. `key` must identify the occurrence (e.g.
/// `weekly:2026-W48:wrapup`); each recipient gets one message per key, ever.
pub async fn to_supervisors(
    app: &JobCtx,
    tx: &mut Tx<'static>,
    key: &str,
    source: &str,
    text: &str,
) -> anyhow::Result<()> {
    let now = app.clock.now();
    let groups = store::groups::with_purpose(tx, GroupPurpose::Supervisors, None, None).await?;
    if groups.is_empty() {
        let people = store::people::supervisor_ids(tx).await?;
        for pid in people {
            let env = Envelope::new(format!("{key}:p{pid}"), Recipient::Person(pid), vec![Segment::text(text)], source);
            crate::outbox::enqueue(tx, &app.directory, now, env).await?;
        }
    }
    for g in groups {
        let env =
            Envelope::new(format!("{key}:g{}", g.id), Recipient::Chat(g.chat()), vec![Segment::text(text)], source);
        crate::outbox::enqueue(tx, &app.directory, now, env).await?;
    }
    Ok(())
}
