//! SQLite access: the connection pool, migrations, write transactions and timestamp encoding.
//!
//! Connections are `rusqlite` ones, used on the calling thread (`crate::sql` runs statements on
//! them); sqlx applies the migrations through a connection of its own, opened for that only.

use crate::config::{DatabaseSettings, Synchronous};
use crate::sql;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot create the database directory {path}: {source}")]
    Dir { path: String, source: std::io::Error },
    #[error("cannot open the database: {0}")]
    Open(#[source] sql::Error),
    #[error("cannot open the database for migration: {0}")]
    OpenMigrator(#[source] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("repairing a database created by an earlier build failed: {0}")]
    Repair(#[source] sqlx::Error),
    #[error("filling the name lookup keys failed: {0}")]
    Keys(#[source] sql::Error),
    #[error("cannot read the applied migrations: {0}")]
    Ledger(#[source] sql::Error),
    #[error(
        "数据库 {path} 已由更新版本的 Dudao 升级：它记录了本程序不认识的迁移 {found}，本程序认识的最新迁移是 \
         {known}。请换回更新版本的程序，或用升级前的备份恢复（dudao restore）。/ the database was migrated by a \
         newer Dudao (migration {found}; this build knows up to {known})"
    )]
    Newer { path: String, found: i64, known: i64 },
    #[error("迁移前的备份失败，数据库未改动 / the backup before migrating failed: {0}")]
    PreBackup(#[source] crate::backup::BackupError),
}

/// The most connections open at once. Statements run on the calling thread, so a connection
/// is held only by a transaction or a caller between two statements: a few suffice.
const MAX_CONNECTIONS: usize = 8;
/// The most read transactions of read-only commands at once (`service.reads_in_flight`): the
/// rest of the pool stays for the writer, the outbox and the scheduler.
pub const MAX_READERS: usize = 4;

/// How long a caller waits for a connection or the write gate before giving up, like SQLite's
/// busy timeout would.
const WAIT: Duration = Duration::from_secs(30);

/// The database: a pool of connections to one SQLite file and its write gate. Cheap to clone.
#[derive(Clone)]
pub struct Db(Arc<Shared>);

struct Shared {
    path: PathBuf,
    sync: Synchronous,
    busy: Duration,
    /// Idle connections, the most recently used last (taken first: its page cache is warm).
    idle: Mutex<Vec<rusqlite::Connection>>,
    permits: Arc<Semaphore>,
    gate: Arc<tokio::sync::Mutex<()>>,
    /// Where committed write transactions' durations go (`/metrics`), once set.
    tx_seconds: std::sync::OnceLock<Arc<crate::metrics::Histogram>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.0.path).finish_non_exhaustive()
    }
}

/// A connection. Store functions take `&mut Conn`: a transaction's (`Tx` derefs to it) or one
/// taken from the pool (`PoolConn` derefs to it).
pub struct Conn {
    raw: rusqlite::Connection,
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl Conn {
    pub(crate) fn raw(&self) -> &rusqlite::Connection {
        &self.raw
    }

    /// The database's write gate, for a statement that writes outside a transaction. (Returns
    /// a future that does not borrow the connection, which is not `Sync`.)
    pub(crate) fn write_gate(&self) -> impl std::future::Future<Output = Result<OwnedMutexGuard<()>, sql::Error>> {
        lock_gate(self.gate.clone())
    }
}

async fn lock_gate(gate: Arc<tokio::sync::Mutex<()>>) -> Result<OwnedMutexGuard<()>, sql::Error> {
    tokio::time::timeout(WAIT, gate.lock_owned()).await.map_err(|_| sql::Error::PoolTimedOut)
}

/// A connection taken from the pool; back to it when dropped.
pub struct PoolConn {
    conn: Option<Conn>,
    db: Db,
    _permit: OwnedSemaphorePermit,
}

impl std::ops::Deref for PoolConn {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn.as_ref().expect("a pooled connection is present until dropped")
    }
}

impl std::ops::DerefMut for PoolConn {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("a pooled connection is present until dropped")
    }
}

impl Drop for PoolConn {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if !conn.raw.is_autocommit() {
            // Left inside a transaction (a caller cancelled mid-way): undo it before reuse.
            if conn.raw.execute_batch("ROLLBACK").is_err() {
                return; // closed, not reused
            }
        }
        if self.db.0.permits.is_closed() {
            return;
        }
        self.db.0.idle.lock().unwrap_or_else(|e| e.into_inner()).push(conn.raw);
    }
}

fn open_raw(path: &Path, sync: Synchronous, busy: Duration) -> Result<rusqlite::Connection, sql::Error> {
    let raw = rusqlite::Connection::open(path)?;
    raw.busy_timeout(busy)?;
    let sync = match sync {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    // The journal mode is the file's and answers a row; the others are per connection.
    raw.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    raw.execute_batch(&format!("PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON;"))?;
    raw.set_prepared_statement_cache_capacity(256);
    Ok(raw)
}

impl Db {
    /// A connection from the pool, opened when none is idle.
    pub async fn acquire(&self) -> Result<PoolConn, sql::Error> {
        let permit = match tokio::time::timeout(WAIT, self.0.permits.clone().acquire_owned()).await {
            Err(_) => return Err(sql::Error::PoolTimedOut),
            Ok(Err(_)) => return Err(sql::Error::PoolClosed),
            Ok(Ok(p)) => p,
        };
        let idle = self.0.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let raw = match idle {
            Some(raw) => raw,
            None => open_raw(&self.0.path, self.0.sync, self.0.busy)?,
        };
        Ok(PoolConn { conn: Some(Conn { raw, gate: self.0.gate.clone() }), db: self.clone(), _permit: permit })
    }

    /// Closes the idle connections and refuses new ones; connections in use close when
    /// returned.
    pub async fn close(&self) {
        self.0.permits.close();
        self.0.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Records the duration of every committed write transaction in `h` from now on (the
    /// first call wins: one service per pool).
    pub fn observe_transactions(&self, h: Arc<crate::metrics::Histogram>) {
        let _ = self.0.tx_seconds.set(h);
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.0.path
    }
}

/// Opens (creating if needed) the SQLite file with WAL, foreign keys and a busy timeout.
pub async fn connect(settings: &DatabaseSettings) -> Result<Db, DbError> {
    connect_path(&settings.path, settings.synchronous, Duration::from_millis(settings.busy_timeout_ms)).await
}

pub async fn connect_path(path: &Path, sync: Synchronous, busy: Duration) -> Result<Db, DbError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| DbError::Dir { path: dir.display().to_string(), source })?;
    }
    // One connection now: the file is created, WAL set, and a bad path reported here.
    let first = open_raw(path, sync, busy).map_err(DbError::Open)?;
    let gate = {
        let mut gates = WRITE_GATES.lock().unwrap_or_else(|e| e.into_inner());
        gates.entry(path.to_path_buf()).or_default().clone()
    };
    Ok(Db(Arc::new(Shared {
        path: path.to_path_buf(),
        sync,
        busy,
        idle: Mutex::new(vec![first]),
        permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        gate,
        tx_seconds: std::sync::OnceLock::new(),
    })))
}

/// sqlx's own connection to the file, for the migrations only.
async fn migration_pool(db: &Db) -> Result<SqlitePool, DbError> {
    let opts = SqliteConnectOptions::new()
        .filename(&db.0.path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(match db.0.sync {
            Synchronous::Full => SqliteSynchronous::Full,
            Synchronous::Normal => SqliteSynchronous::Normal,
        })
        .foreign_keys(true)
        .busy_timeout(db.0.busy);
    SqlitePoolOptions::new().max_connections(1).connect_with(opts).await.map_err(DbError::OpenMigrator)
}

/// Opens and migrates: what every entry point wants. With `[backup] before_migrate`, a
/// database that already has migrations and is about to get new ones is copied first.
pub async fn open_and_migrate(settings: &DatabaseSettings) -> Result<Db, DbError> {
    let db = connect(settings).await?;
    migrate_with_backup(&db, settings.backup_before_migrate.as_deref()).await?;
    Ok(db)
}

/// Where a database stands against the migrations this build carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Versions recorded in the database's ledger, ascending.
    pub applied: Vec<i64>,
    /// This build's migrations not applied yet: version and description, ascending.
    pub pending: Vec<(i64, String)>,
    /// Applied versions this build does not know: a newer build migrated the database.
    pub unknown: Vec<i64>,
}

impl SchemaStatus {
    pub fn of(applied: Vec<i64>) -> SchemaStatus {
        let pending = MIGRATOR
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .map(|m| (m.version, m.description.to_string()))
            .collect();
        let unknown = applied.iter().copied().filter(|v| !MIGRATOR.iter().any(|m| m.version == *v)).collect();
        SchemaStatus { applied, pending, unknown }
    }
}

/// The newest migration this build carries.
pub fn newest_known_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The versions recorded in sqlx's ledger (`_sqlx_migrations`), ascending; none for a new file.
fn ledger(raw: &rusqlite::Connection) -> Result<Vec<i64>, sql::Error> {
    let has: i64 = raw.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        [],
        |r| r.get(0),
    )?;
    if has == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = raw.prepare("SELECT version FROM _sqlx_migrations ORDER BY version")?;
    let versions = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<i64>, _>>()?;
    Ok(versions)
}

/// The database's migration status; reads only.
pub async fn schema_status(db: &Db) -> Result<SchemaStatus, sql::Error> {
    let conn = db.acquire().await?;
    Ok(SchemaStatus::of(ledger(conn.raw())?))
}

/// Opens an existing database file read-only (a backup, or a database not to be created).
fn open_existing_read_only(path: &Path) -> Result<rusqlite::Connection, sql::Error> {
    use rusqlite::OpenFlags;
    if !path.is_file() {
        return Err(sql::Error::Open(format!("{} does not exist", path.display())));
    }
    Ok(rusqlite::Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?)
}

/// The migration status of a database file, without creating or changing it.
pub fn file_schema_status(path: &Path) -> Result<SchemaStatus, sql::Error> {
    Ok(SchemaStatus::of(ledger(&open_existing_read_only(path)?)?))
}

/// `PRAGMA integrity_check` on a database file: `["ok"]` when sound, else the problems found.
pub fn integrity_check(path: &Path) -> Result<Vec<String>, sql::Error> {
    let raw = open_existing_read_only(path)?;
    let mut stmt = raw.prepare("PRAGMA integrity_check")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// A consistent copy of the database at `dest` (which must not exist) with `VACUUM INTO`, on a
/// connection of its own. It reads in one transaction: under WAL the service's writers carry on
/// meanwhile, and the copy is the database as of the moment the read began.
pub fn vacuum_into(src: &Path, dest: &Path, busy: Duration) -> Result<(), sql::Error> {
    use rusqlite::OpenFlags;
    let raw = rusqlite::Connection::open_with_flags(
        src,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    raw.busy_timeout(busy)?;
    let dest = dest.to_str().ok_or_else(|| sql::Error::Open(format!("not a UTF-8 path: {}", dest.display())))?;
    raw.execute("VACUUM INTO ?1", [dest])?;
    Ok(())
}

/// Brings a database to the current schema: first repairs migrations that were edited after
/// they shipped, then applies the new ones.
pub async fn migrate(db: &Db) -> Result<(), DbError> {
    migrate_with_backup(db, None).await
}

/// [`migrate`], refusing a database a newer build migrated, and copying the database into
/// `backup_dir` first when it has migrations and is about to get new ones (an upgrade).
pub async fn migrate_with_backup(db: &Db, backup_dir: Option<&Path>) -> Result<(), DbError> {
    // The gate keeps this process's own writers out while sqlx's connection migrates.
    let gate = db.0.gate.clone().lock_owned().await;
    let status = schema_status(db).await.map_err(DbError::Ledger)?;
    if let Some(&found) = status.unknown.last() {
        return Err(DbError::Newer { path: db.0.path.display().to_string(), found, known: newest_known_migration() });
    }
    if let (Some(dir), Some(&from)) = (backup_dir, status.applied.last()) {
        if !status.pending.is_empty() {
            let copy = crate::backup::before_migration(&db.0.path, dir, from, newest_known_migration(), db.0.busy)
                .map_err(DbError::PreBackup)?;
            tracing::info!(backup = %copy.display(), from, pending = status.pending.len(), "copied the database before migrating");
        }
    }
    let pool = migration_pool(db).await?;
    let outcome = async {
        repair_edited_migrations(&pool).await.map_err(DbError::Repair)?;
        MIGRATOR.run(&pool).await?;
        Ok::<_, DbError>(())
    }
    .await;
    pool.close().await;
    drop(gate);
    outcome?;
    fill_name_keys(db).await.map_err(DbError::Keys)?;
    Ok(())
}

/// The backfill of migration 20261202000010_name_keys.sql (SQLite cannot compute the keys):
/// fills every key not computed yet. Cheap when there is nothing to do.
pub async fn fill_name_keys(db: &Db) -> Result<usize, sql::Error> {
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
    // Shipped in 758e0ee with two indexes changed after its first release (8bbcba3); the text is
    // that release's again and 20261216000200 makes the change, on either history.
    EditedMigration {
        version: 20261215000300,
        old_checksum:
            "b4d52de74b4a36cf69481583f65977e1ebe26d028a9c8ada663fb85a177e63ec8ef917f2184cd646df446f0a075ccba2",
        what: "index once_events_kind_at covering, rectify_items_finished dropped (redone by 20261216000200)",
        fix: "DROP INDEX IF EXISTS rectify_items_finished;",
    },
];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Applies the fixes of `EDITED_MIGRATIONS` to a database that recorded an old text, in one
/// write transaction (a racing second process then sees the current checksums and does nothing).
async fn repair_edited_migrations(db: &SqlitePool) -> Result<(), sqlx::Error> {
    let ledger: Option<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
            .fetch_optional(db)
            .await?;
    if ledger.is_none() {
        return Ok(()); // a new database
    }
    let mut tx = db.begin_with("BEGIN IMMEDIATE").await?;
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
pub async fn ping(db: &Db) -> Result<(), sql::Error> {
    sql::query_scalar::<i64>("SELECT 1").fetch_one(db).await.map(|_| ())
}

/// A write transaction: a SQLite transaction begun with `BEGIN IMMEDIATE` on a pooled
/// connection, plus this process's write gate for the database file. It derefs to the
/// connection, so store functions take it as `&mut Conn`; it ends with [`Tx::commit`] or, when
/// dropped, rolls back. (The lifetime is kept for the callers' signatures; it is `'static`.)
///
/// A read transaction ([`begin_read`]) has the same type, so code written for a transaction runs
/// on either; it holds no gate and its connection refuses writes (`PRAGMA query_only`).
pub struct Tx<'a> {
    conn: PoolConn,
    /// When `BEGIN IMMEDIATE` returned (the wait for the gate is not the transaction's).
    began: std::time::Instant,
    /// `None` for a read transaction.
    gate: Option<OwnedMutexGuard<()>>,
    _life: std::marker::PhantomData<&'a ()>,
}

impl Tx<'_> {
    pub async fn commit(self) -> Result<(), sql::Error> {
        self.conn.raw.execute_batch("COMMIT")?;
        if let (Some(h), Some(_)) = (self.conn.db.0.tx_seconds.get(), &self.gate) {
            h.observe(self.began.elapsed());
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), sql::Error> {
        self.conn.raw.execute_batch("ROLLBACK")?;
        Ok(())
    }

    /// Whether this is a read transaction ([`begin_read`]).
    pub fn is_read(&self) -> bool {
        self.gate.is_none()
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.gate.is_none() {
            // The connection goes back to the pool able to write again, or is closed.
            let ended = self.conn.raw.is_autocommit() || self.conn.raw.execute_batch("ROLLBACK").is_ok();
            if !ended || self.conn.raw.execute_batch("PRAGMA query_only = OFF").is_err() {
                self.conn.conn.take();
            }
        }
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.conn
    }
}

impl std::ops::DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

/// One gate per database file in this process. SQLite lets one writer in at a time; a second
/// connection that asks meanwhile sleeps in SQLite's busy handler (1, 2, 5, 10 … ms a try) on
/// the thread it shares with everything else. Writers queue here instead, in order, and are
/// woken the moment the previous one commits. Other processes (the CLI beside a running
/// service) still meet the busy handler.
static WRITE_GATES: LazyLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> = LazyLock::new(Default::default);

/// Starts a write transaction that takes the write lock up front, so a read-then-write
/// transaction never fails with SQLITE_BUSY on lock upgrade.
pub async fn begin_write(db: &Db) -> Result<Tx<'static>, sql::Error> {
    let gate = lock_gate(db.0.gate.clone()).await?;
    let conn = db.acquire().await?;
    conn.raw.execute_batch("BEGIN IMMEDIATE")?;
    // Dropped without a commit (an error, a cancelled caller): `PoolConn` rolls back.
    Ok(Tx { conn, began: std::time::Instant::now(), gate: Some(gate), _life: std::marker::PhantomData })
}

/// Starts a read transaction: one consistent snapshot of the database (WAL lets writers go on
/// meanwhile), without the write gate. Any statement that would write fails. Ends by being
/// dropped (or `commit`/`rollback`, which change nothing).
pub async fn begin_read(db: &Db) -> Result<Tx<'static>, sql::Error> {
    let conn = db.acquire().await?;
    conn.raw.execute_batch("PRAGMA query_only = ON; BEGIN")?;
    // A `BEGIN` alone takes no snapshot until the first read: take it now, so the transaction
    // sees the database as of its start.
    conn.raw.query_row("SELECT 1 FROM sqlite_schema LIMIT 1", [], |_| Ok(())).or_else(|e| match e {
        rusqlite::Error::QueryReturnedNoRows => Ok(()),
        e => Err(e),
    })?;
    Ok(Tx { conn, began: std::time::Instant::now(), gate: None, _life: std::marker::PhantomData })
}

/// Marks a point inside a write transaction that [`rollback_to_savepoint`] can return to,
/// undoing one message's work without undoing the rest of its batch. Not nested.
pub async fn savepoint(tx: &mut Tx<'_>) -> Result<(), sql::Error> {
    tx.raw.execute_batch("SAVEPOINT dudao_step")?;
    Ok(())
}

/// Undoes everything since [`savepoint`] and forgets the savepoint.
pub async fn rollback_to_savepoint(tx: &mut Tx<'_>) -> Result<(), sql::Error> {
    tx.raw.execute_batch("ROLLBACK TO dudao_step")?;
    release_savepoint(tx).await
}

/// Keeps everything since [`savepoint`] as part of the enclosing transaction.
pub async fn release_savepoint(tx: &mut Tx<'_>) -> Result<(), sql::Error> {
    tx.raw.execute_batch("RELEASE dudao_step")?;
    Ok(())
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

    #[tokio::test]
    async fn a_read_transaction_sees_one_snapshot_refuses_writes_and_leaves_its_connection_writable() {
        let dir = tempfile::tempdir().unwrap();
        let db =
            connect_path(&dir.path().join("r.sqlite"), Synchronous::Full, Duration::from_millis(500)).await.unwrap();
        let mut conn = db.acquire().await.unwrap();
        sql::raw_sql("CREATE TABLE notes (body TEXT)").execute(&mut conn).await.unwrap();
        drop(conn);
        let mut read = begin_read(&db).await.unwrap();
        assert!(read.is_read());
        // A writer commits meanwhile; the reader neither waits for it nor sees it.
        let mut tx = begin_write(&db).await.unwrap();
        sql::query("INSERT INTO notes VALUES ('第一条')").execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        let seen: i64 = sql::query_scalar("SELECT COUNT(*) FROM notes").fetch_one(&mut *read).await.unwrap();
        assert_eq!(seen, 0);
        let refused = sql::query("INSERT INTO notes VALUES ('第二条')").execute(&mut *read).await;
        assert!(refused.is_err(), "a read transaction must not write");
        drop(read);
        // The pool hands out connections that write again (the reader's was the idle one).
        let mut conn = db.acquire().await.unwrap();
        sql::query("INSERT INTO notes VALUES ('第三条')").execute(&mut *conn).await.unwrap();
        let n: i64 = sql::query_scalar("SELECT COUNT(*) FROM notes").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn timestamps_sort_as_text() {
        let a = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let b = a + chrono::Duration::milliseconds(1);
        assert!(ts(a) < ts(b));
        assert_eq!(ts(a), "2026-01-02T03:04:05.000Z");
        assert_eq!(parse_ts(&ts(b)), Some(b));
    }
}
