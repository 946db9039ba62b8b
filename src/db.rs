//! SQLite access: connection options, migrations, write transactions and timestamp encoding.

use crate::config::{DatabaseSettings, Synchronous};
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

pub type Db = SqlitePool;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot create the database directory {path}: {source}")]
    Dir { path: String, source: std::io::Error },
    #[error("cannot open the database: {0}")]
    Open(#[source] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("repairing a database created by an earlier build failed: {0}")]
    Repair(#[source] sqlx::Error),
    #[error("filling the name lookup keys failed: {0}")]
    Keys(#[source] sqlx::Error),
}

/// Opens (creating if needed) the SQLite file with WAL, foreign keys and a busy timeout.
pub async fn connect(settings: &DatabaseSettings) -> Result<Db, DbError> {
    connect_path(&settings.path, settings.synchronous, Duration::from_millis(settings.busy_timeout_ms)).await
}

pub async fn connect_path(path: &Path, sync: Synchronous, busy: Duration) -> Result<Db, DbError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| DbError::Dir { path: dir.display().to_string(), source })?;
    }
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(match sync {
            Synchronous::Full => SqliteSynchronous::Full,
            Synchronous::Normal => SqliteSynchronous::Normal,
        })
        .foreign_keys(true)
        .busy_timeout(busy);
    SqlitePoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(opts)
        .await
        .map_err(DbError::Open)
}

/// Opens and migrates: what every entry point wants.
pub async fn open_and_migrate(settings: &DatabaseSettings) -> Result<Db, DbError> {
    let db = connect(settings).await?;
    migrate(&db).await?;
    Ok(db)
}

/// Brings a database to the current schema: first repairs migrations that were edited after
/// they shipped, then applies the new ones.
pub async fn migrate(db: &Db) -> Result<(), DbError> {
    repair_edited_migrations(db).await.map_err(DbError::Repair)?;
    MIGRATOR.run(db).await?;
    fill_name_keys(db).await.map_err(DbError::Keys)?;
    Ok(())
}

/// The backfill of migration 20261202000010_name_keys.sql (SQLite cannot compute the keys):
/// fills every key not computed yet. Cheap when there is nothing to do.
pub async fn fill_name_keys(db: &Db) -> Result<usize, sqlx::Error> {
    let mut tx = begin_write(db).await?;
    let n = crate::store::keys::refresh(&mut tx).await?;
    tx.commit().await?;
    Ok(n)
}

/// A released migration whose text was later changed. Databases that applied the old text
/// carry its checksum, on which sqlx refuses to start (`VersionMismatch`); they get `fix`
/// (bringing the schema to what the current text creates) and the current checksum instead.
/// Released migrations are never edited again (tests/migrations.rs), so this list is closed.
struct EditedMigration {
    version: i64,
    /// SHA-384 (hex) of the text as it shipped; see tests/fixtures/schema_levels/.
    old_checksum: &'static str,
    what: &'static str,
    fix: &'static str,
}

const EDITED_MIGRATIONS: &[EditedMigration] = &[
    // Shipped in 306fda4; 11614aa replaced the index for id-ordered claims.
    EditedMigration {
        version: 20261122000002,
        old_checksum:
            "611748055a189f475db3812473e61c4df7d7aab97b784b81cf62c257c925de7133613d55d940a0d86e25304aa01dd250",
        what: "outbox index outbox_ready replaced by outbox_queue",
        fix: "DROP INDEX IF EXISTS outbox_ready;
              CREATE INDEX IF NOT EXISTS outbox_queue ON outbox(channel, status, id);",
    },
    // Shipped in 8c82da5; 9025eaf added the self-check tables.
    EditedMigration {
        version: 20261122000006,
        old_checksum:
            "d22a4075c890aad21053ed9f2ccc18e08fcc39738498d08fc02b4cfbb19a0db7436d958cfbd56677dde21131f9865513",
        what: "tables rectify_self_checks and rectify_self_check_lines added",
        fix: "CREATE TABLE IF NOT EXISTS rectify_self_checks (
                  id              INTEGER PRIMARY KEY,
                  school_id       INTEGER NOT NULL REFERENCES schools(id),
                  submitted_by    INTEGER NOT NULL REFERENCES people(id),
                  status          TEXT NOT NULL CHECK (status IN ('submitted', 'reviewed', 'returned', 'confirmed')),
                  reviewed_by     INTEGER REFERENCES people(id),
                  confirmed_by    INTEGER REFERENCES people(id),
                  note            TEXT,
                  created_at      TEXT NOT NULL,
                  updated_at      TEXT NOT NULL
              );
              CREATE TABLE IF NOT EXISTS rectify_self_check_lines (
                  id              INTEGER PRIMARY KEY,
                  self_check_id   INTEGER NOT NULL REFERENCES rectify_self_checks(id),
                  line_no         INTEGER NOT NULL,
                  category        INTEGER NOT NULL CHECK (category BETWEEN 1 AND 9),
                  severity        TEXT NOT NULL CHECK (severity IN ('minor', 'general', 'serious', 'complex')),
                  description     TEXT NOT NULL,
                  dropped         INTEGER NOT NULL DEFAULT 0,
                  item_id         INTEGER REFERENCES rectify_items(id),
                  UNIQUE (self_check_id, line_no)
              );",
    },
];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Applies the fixes of `EDITED_MIGRATIONS` to a database that recorded an old text, in one
/// write transaction (a racing second process then sees the current checksums and does nothing).
async fn repair_edited_migrations(db: &Db) -> Result<(), sqlx::Error> {
    let ledger: Option<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
            .fetch_optional(db)
            .await?;
    if ledger.is_none() {
        return Ok(()); // a new database
    }
    let mut tx = begin_write(db).await?;
    let mut repaired = 0;
    for m in EDITED_MIGRATIONS {
        let stored: Option<Vec<u8>> = sqlx::query_scalar("SELECT checksum FROM _sqlx_migrations WHERE version = ?")
            .bind(m.version)
            .fetch_optional(&mut *tx)
            .await?;
        if stored.as_deref().map(hex).as_deref() != Some(m.old_checksum) {
            continue;
        }
        let Some(current) = MIGRATOR.iter().find(|c| c.version == m.version) else {
            continue;
        };
        sqlx::raw_sql(m.fix).execute(&mut *tx).await?;
        sqlx::query("UPDATE _sqlx_migrations SET checksum = ? WHERE version = ?")
            .bind(current.checksum.as_ref())
            .bind(m.version)
            .execute(&mut *tx)
            .await?;
        tracing::warn!(version = m.version, repair = m.what, "repaired a migration applied by an earlier build");
        repaired += 1;
    }
    if repaired > 0 {
        tx.commit().await?;
    }
    Ok(())
}

/// A trivial statement through the pool, for health checks: is the database reachable?
pub async fn ping(db: &Db) -> Result<(), sqlx::Error> {
    sqlx::query_scalar::<_, i64>("SELECT 1").fetch_one(db).await.map(|_| ())
}

/// A write transaction: a SQLite transaction begun with `BEGIN IMMEDIATE` plus this process's
/// write gate for the database file. It derefs to the connection, so store functions take it
/// as `&mut Conn`; it ends with [`Tx::commit`] or, when dropped, rolls back.
pub struct Tx<'a> {
    inner: Transaction<'a, Sqlite>,
    _gate: tokio::sync::OwnedMutexGuard<()>,
}

impl Tx<'_> {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.inner.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.inner.rollback().await
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.inner
    }
}

impl std::ops::DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.inner
    }
}

/// One gate per database file in this process. SQLite lets one writer in at a time; a second
/// connection that asks meanwhile sleeps in SQLite's busy handler (1, 2, 5, 10 … ms a try), which
/// on a busy service costs more than the work itself. Writers queue here instead, in order, and
/// are woken the moment the previous one commits. Other processes (the CLI beside a running
/// service) still meet the busy handler, as before.
static WRITE_GATES: LazyLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> = LazyLock::new(Default::default);

/// How long a writer waits for the gate before giving up, like SQLite's busy timeout would.
const GATE_TIMEOUT: Duration = Duration::from_secs(30);

fn write_gate(db: &Db) -> Arc<tokio::sync::Mutex<()>> {
    let path = db.connect_options().get_filename().to_path_buf();
    let mut gates = WRITE_GATES.lock().unwrap_or_else(|e| e.into_inner());
    gates.entry(path).or_default().clone()
}

/// Starts a write transaction that takes the write lock up front, so a read-then-write
/// transaction never fails with SQLITE_BUSY on lock upgrade.
pub async fn begin_write(db: &Db) -> Result<Tx<'static>, sqlx::Error> {
    let gate =
        tokio::time::timeout(GATE_TIMEOUT, write_gate(db).lock_owned()).await.map_err(|_| sqlx::Error::PoolTimedOut)?;
    let inner = db.begin_with("BEGIN IMMEDIATE").await?;
    Ok(Tx { inner, _gate: gate })
}

/// Marks a point inside a write transaction that [`rollback_to_savepoint`] can return to,
/// undoing one message's work without undoing the rest of its batch. Not nested.
pub async fn savepoint(tx: &mut Tx<'_>) -> Result<(), sqlx::Error> {
    sqlx::query("SAVEPOINT dudao_step").execute(&mut **tx).await.map(|_| ())
}

/// Undoes everything since [`savepoint`] and forgets the savepoint.
pub async fn rollback_to_savepoint(tx: &mut Tx<'_>) -> Result<(), sqlx::Error> {
    sqlx::query("ROLLBACK TO dudao_step").execute(&mut **tx).await?;
    release_savepoint(tx).await
}

/// Keeps everything since [`savepoint`] as part of the enclosing transaction.
pub async fn release_savepoint(tx: &mut Tx<'_>) -> Result<(), sqlx::Error> {
    sqlx::query("RELEASE dudao_step").execute(&mut **tx).await.map(|_| ())
}

/// The one timestamp format stored: UTC, millisecond precision, `Z` suffix; sorts as text.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses a stored timestamp; tolerant of other RFC 3339 spellings.
pub fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_sort_as_text() {
        let a = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let b = a + chrono::Duration::milliseconds(1);
        assert!(ts(a) < ts(b));
        assert_eq!(ts(a), "2026-01-02T03:04:05.000Z");
        assert_eq!(parse_ts(&ts(b)), Some(b));
    }
}
