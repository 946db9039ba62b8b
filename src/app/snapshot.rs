//! The in-memory snapshot of what every inbound message reads and what rarely changes: who a
//! chat account is (the roster person, role, zone and schools), the groups, and the county's
//! schools (names, short names, aliases) that report texts are read against.
//!
//! Every write to those tables bumps `directory_version` (triggers, so writes from the CLI or
//! another process count too). Each message reads that counter once, inside its transaction;
//! when it moved, the snapshot is dropped and refilled lazily. Entries filled inside a
//! transaction that is later rolled back (a failed message's savepoint, a failed or abandoned
//! batch) could describe rows that never committed, and a later commit could bring the counter
//! back to the same number — so any rollback drops the snapshot too.

use crate::chat::ChatRef;
use crate::domain::actor::Actor;
use crate::domain::school_match::SchoolRef;
use crate::store::groups::Group;
use crate::store::people::SchoolRow;
use crate::store::{self, Conn};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Inner {
    /// The counter the entries were read at; `None` when nothing is known.
    version: Option<i64>,
    /// Set while a batch's transaction is open; found set at the start of the next batch, it
    /// means that batch never finished (its future was dropped) and its reads are suspect.
    in_batch: bool,
    actors: HashMap<(&'static str, String), Option<Actor>>,
    /// Groups by (platform, external id); `None`: no such group.
    groups: HashMap<(&'static str, String), Option<Group>>,
    /// Every active school, by code.
    schools: Option<Arc<Vec<SchoolRow>>>,
    /// The same schools as report texts are read against (built once, not per message: a
    /// province has twelve thousand).
    county_refs: Option<Arc<Vec<SchoolRef>>>,
}

impl Inner {
    fn clear(&mut self) {
        self.version = None;
        self.actors.clear();
        self.groups.clear();
        self.schools = None;
        self.county_refs = None;
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
    pub async fn sync(&self, conn: &mut Conn) -> crate::sql::Result<()> {
        let v = store::people::directory_version(conn).await?;
        let mut g = self.lock();
        if g.version != Some(v) {
            g.clear();
            g.version = Some(v);
        }
        Ok(())
    }

    /// The active roster person behind an account, if bound.
    pub async fn actor(
        &self,
        conn: &mut Conn,
        platform: &'static str,
        account: &str,
    ) -> crate::sql::Result<Option<Actor>> {
        let key = (platform, account.to_string());
        if let Some(a) = self.lock().actors.get(&key) {
            return Ok(a.clone());
        }
        let a = store::people::actor_for_account(conn, platform, account).await?;
        self.lock().actors.insert(key, a.clone());
        Ok(a)
    }

    /// A group by its platform id.
    pub async fn group(
        &self,
        conn: &mut Conn,
        platform: &'static str,
        external_id: &str,
    ) -> crate::sql::Result<Option<Group>> {
        let key = (platform, external_id.to_string());
        if let Some(g) = self.lock().groups.get(&key) {
            return Ok(g.clone());
        }
        let g = store::groups::get(conn, platform, external_id).await?;
        self.lock().groups.insert(key, g.clone());
        Ok(g)
    }

    /// Records that a group was seen on `chat.channel`, writing only when that is news.
    pub async fn touch_group(&self, conn: &mut Conn, platform: &'static str, chat: &ChatRef) -> crate::sql::Result<()> {
        let known = self.group(conn, platform, &chat.id).await?;
        if known.is_some_and(|g| g.channel == chat.channel) {
            return Ok(());
        }
        store::groups::touch(conn, platform, chat).await?;
        // The write bumped the counter, so the next message's sync starts afresh; until then
        // this message reads the row as written.
        self.lock().groups.remove(&(platform, chat.id.clone()));
        Ok(())
    }

    /// Every active school of the county, by code.
    pub async fn schools(&self, conn: &mut Conn) -> crate::sql::Result<Arc<Vec<SchoolRow>>> {
        if let Some(s) = &self.lock().schools {
            return Ok(s.clone());
        }
        let s = Arc::new(store::people::all_schools(conn).await?);
        self.lock().schools = Some(s.clone());
        Ok(s)
    }

    /// Every active school as report texts are matched against.
    pub async fn county_refs(&self, conn: &mut Conn) -> crate::sql::Result<Arc<Vec<SchoolRef>>> {
        if let Some(r) = &self.lock().county_refs {
            return Ok(r.clone());
        }
        let refs = Arc::new(self.schools(conn).await?.iter().map(SchoolRow::match_ref).collect::<Vec<_>>());
        self.lock().county_refs = Some(refs.clone());
        Ok(refs)
    }

    /// The active schools among `ids`, in that order, as report texts are matched against.
    pub async fn school_refs(&self, conn: &mut Conn, ids: &[i64]) -> crate::sql::Result<Vec<SchoolRef>> {
        let all = self.schools(conn).await?;
        Ok(ids.iter().filter_map(|id| all.iter().find(|s| s.id == *id)).map(SchoolRow::match_ref).collect())
    }
}
