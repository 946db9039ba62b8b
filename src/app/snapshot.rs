//! The in-memory snapshot of what every inbound message reads and what rarely changes: who a
//! chat account is (the roster person, role, zone and schools) and which groups are known.
//!
//! Every write to those tables bumps `directory_version` (triggers, so writes from the CLI or
//! another process count too). Each message reads that counter once, inside its transaction;
//! when it moved, the snapshot is dropped and refilled lazily. Entries filled inside a
//! transaction that is later rolled back (a failed message's savepoint, a failed or abandoned
//! batch) could describe rows that never committed, and a later commit could bring the counter
//! back to the same number — so any rollback drops the snapshot too.

use crate::chat::ChatRef;
use crate::domain::actor::Actor;
use crate::store::{self, Conn};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
struct Inner {
    /// The counter the entries were read at; `None` when nothing is known.
    version: Option<i64>,
    /// Set while a batch's transaction is open; found set at the start of the next batch, it
    /// means that batch never finished (its future was dropped) and its reads are suspect.
    in_batch: bool,
    actors: HashMap<(&'static str, String), Option<Actor>>,
    /// Groups known to exist, with the channel instance that last saw them.
    groups: HashMap<(&'static str, String), String>,
}

impl Inner {
    fn clear(&mut self) {
        self.version = None;
        self.actors.clear();
        self.groups.clear();
    }
}

#[derive(Default)]
pub struct Snapshot {
    inner: Mutex<Inner>,
}

impl Snapshot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops everything; the next reads go to the database.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// A batch's transaction begins.
    pub fn begin_batch(&self) {
        let mut g = self.lock();
        if g.in_batch {
            g.clear();
        }
        g.in_batch = true;
    }

    /// A batch's transaction ended; `committed` false drops what it read.
    pub fn end_batch(&self, committed: bool) {
        let mut g = self.lock();
        g.in_batch = false;
        if !committed {
            g.clear();
        }
    }

    /// Brings the snapshot up to the database's counter (one point read).
    pub async fn sync(&self, conn: &mut Conn) -> sqlx::Result<()> {
        let v = store::people::directory_version(conn).await?;
        let mut g = self.lock();
        if g.version != Some(v) {
            g.clear();
            g.version = Some(v);
        }
        Ok(())
    }

    /// The active roster person behind an account, if bound.
    pub async fn actor(&self, conn: &mut Conn, platform: &'static str, account: &str) -> sqlx::Result<Option<Actor>> {
        let key = (platform, account.to_string());
        if let Some(a) = self.lock().actors.get(&key) {
            return Ok(a.clone());
        }
        let a = store::people::actor_for_account(conn, platform, account).await?;
        self.lock().actors.insert(key, a.clone());
        Ok(a)
    }

    /// Records that a group was seen on `chat.channel`, writing only when that is news.
    pub async fn touch_group(&self, conn: &mut Conn, platform: &'static str, chat: &ChatRef) -> sqlx::Result<()> {
        let key = (platform, chat.id.clone());
        if self.lock().groups.get(&key) == Some(&chat.channel) {
            return Ok(());
        }
        store::groups::touch(conn, platform, chat).await?;
        // The write bumped the counter: the next message's sync drops this entry with the rest,
        // which is what a new group should cost — once.
        self.lock().groups.insert(key, chat.channel.clone());
        Ok(())
    }
}
