//! Calendar years imported by the office, and the once-per-period warnings about missing years.

use super::Conn;
use crate::db::ts;
use chrono::{DateTime, Utc};

/// Years imported with `dudao calendar import`: (year, TOML text).
pub async fn imported(conn: &mut Conn) -> crate::sql::Result<Vec<(i32, String)>> {
    crate::sql::query_as("SELECT year, toml FROM calendar_years ORDER BY year").fetch_all(&mut *conn).await
}

/// Imported years with when and by whom: (year, imported_at, imported_by).
pub async fn imports(conn: &mut Conn) -> crate::sql::Result<Vec<(i32, String, String)>> {
    crate::sql::query_as("SELECT year, imported_at, imported_by FROM calendar_years ORDER BY year")
        .fetch_all(&mut *conn)
        .await
}

pub async fn year_imported(conn: &mut Conn, year: i32) -> crate::sql::Result<bool> {
    let replaced: Option<i64> = crate::sql::query_scalar("SELECT year FROM calendar_years WHERE year = ?")
        .bind(year)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(replaced.is_some())
}

/// Stores a year's calendar, replacing an earlier import of the same year.
pub async fn save_year(conn: &mut Conn, year: i32, toml: &str, now: DateTime<Utc>, by: &str) -> crate::sql::Result<()> {
    crate::sql::query(
        "INSERT INTO calendar_years (year, toml, imported_at, imported_by) VALUES (?, ?, ?, ?)
         ON CONFLICT(year) DO UPDATE SET toml = excluded.toml, imported_at = excluded.imported_at,
         imported_by = excluded.imported_by",
    )
    .bind(year)
    .bind(toml)
    .bind(ts(now))
    .bind(by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
