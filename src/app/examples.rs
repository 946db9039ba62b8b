//! Usage-hint examples from the deployment's own roster (see `domain::examples`).

use crate::domain::examples::Examples;
use crate::store::{people, Conn};

/// The first active inspector, zone and school by code; placeholders where the roster has none.
pub async fn load(conn: &mut Conn) -> crate::sql::Result<Examples> {
    let mut ex = Examples::default();
    let people = people::first_inspectors(conn).await?;
    if let Some((name, code)) = people.first() {
        ex.person_name = name.clone();
        // A name and a code of two different people show that either may be written.
        ex.person_code = people.get(1).map_or(code, |(_, c)| c).clone();
    }
    let zone = people::first_zone(conn).await?;
    if let Some((name, code)) = zone {
        ex.zone_name = name;
        ex.zone_code = code;
    }
    let school = people::first_school(conn).await?;
    if let Some((name, short)) = school {
        ex.school_short = short.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| name.clone());
        ex.school = name;
    }
    Ok(ex)
}
