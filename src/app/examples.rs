//! Usage-hint examples from the deployment's own roster (see `domain::examples`).

use crate::domain::examples::Examples;
use crate::store::Conn;

/// The first active inspector, zone and school by code; placeholders where the roster has none.
pub async fn load(conn: &mut Conn) -> sqlx::Result<Examples> {
    let mut ex = Examples::default();
    let people: Vec<(String, String)> =
        sqlx::query_as("SELECT name, code FROM people WHERE role = 'inspector' AND active = 1 ORDER BY code LIMIT 2")
            .fetch_all(&mut *conn)
            .await?;
    if let Some((name, code)) = people.first() {
        ex.person_name = name.clone();
        // A name and a code of two different people show that either may be written.
        ex.person_code = people.get(1).map_or(code, |(_, c)| c).clone();
    }
    let zone: Option<(String, String)> =
        sqlx::query_as("SELECT name, code FROM zones WHERE active = 1 ORDER BY code LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    if let Some((name, code)) = zone {
        ex.zone_name = name;
        ex.zone_code = code;
    }
    let school: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT name, short_name FROM schools WHERE active = 1 ORDER BY code LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    if let Some((name, short)) = school {
        ex.school_short = short.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| name.clone());
        ex.school = name;
    }
    Ok(ex)
}
