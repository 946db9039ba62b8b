//! Filling the normalised lookup keys (migration 20261202000010_name_keys.sql).
//!
//! SQLite cannot compute the key (NFKC), so rows are written without it and this fills every
//! row whose key is NULL: after the migrations (the backfill) and after each import. Lookups
//! treat a NULL key as "compare the source column in Rust", so filling late is never wrong.

use super::Conn;
use crate::domain::text::normalize_key;

/// Computes the missing keys of people, schools and zones. Returns how many rows were filled.
pub async fn refresh(conn: &mut Conn) -> crate::sql::Result<usize> {
    let mut filled = 0;
    // People and zones have the same two keys; schools add the short name.
    for table in ["people", "zones"] {
        let rows: Vec<(i64, String, String)> = crate::sql::query_as(&format!(
            "SELECT id, code, name FROM {table} WHERE name_key IS NULL OR code_key IS NULL"
        ))
        .fetch_all(&mut *conn)
        .await?;
        for (id, code, name) in rows {
            crate::sql::query(&format!("UPDATE {table} SET name_key = ?, code_key = ? WHERE id = ?"))
                .bind(normalize_key(&name))
                .bind(normalize_key(&code))
                .bind(id)
                .execute(&mut *conn)
                .await?;
            filled += 1;
        }
    }
    let schools: Vec<(i64, String, String, Option<String>)> = crate::sql::query_as(
        "SELECT id, code, name, short_name FROM schools WHERE name_key IS NULL OR code_key IS NULL",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (id, code, name, short) in schools {
        crate::sql::query("UPDATE schools SET name_key = ?, short_key = ?, code_key = ? WHERE id = ?")
            .bind(normalize_key(&name))
            .bind(short.as_deref().map(normalize_key))
            .bind(normalize_key(&code))
            .bind(id)
            .execute(&mut *conn)
            .await?;
        filled += 1;
    }
    Ok(filled)
}
