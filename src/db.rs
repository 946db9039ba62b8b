//! SQLite access: connection options, migrations, write transactions and timestamp encoding.

use crate::config::{DatabaseSettings, Synchronous};
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::path::Path;
use std::time::Duration;

pub type Db = SqlitePool;
pub type Tx<'a> = Transaction<'a, Sqlite>;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot create the database directory {path}: {source}")]
    Dir { path: String, source: std::io::Error },
    #[error("cannot open the database: {0}")]
    Open(#[source] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
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
    MIGRATOR.run(&db).await?;
    Ok(db)
}

/// Starts a write transaction that takes the write lock up front, so a read-then-write
/// transaction never fails with SQLITE_BUSY on lock upgrade.
pub async fn begin_write(db: &Db) -> Result<Tx<'static>, sqlx::Error> {
    db.begin_with("BEGIN IMMEDIATE").await
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
