//! One-time binding codes that tie a chat account to a roster person.

use super::Conn;
use crate::db::ts;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};

/// No 0/O, 1/I/L: codes are read off a phone screen and typed by hand.
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
pub const CODE_LEN: usize = 8;

fn hash(code: &str) -> String {
    let digest = Sha256::digest(code.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Canonical form of what a person typed: upper case, no spaces or dashes.
pub fn canonical(input: &str) -> String {
    crate::domain::text::normalize(input)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

pub fn generate() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// Issues a fresh code; earlier unused codes of the person stay valid until they expire.
pub async fn issue(
    conn: &mut Conn,
    person_id: i64,
    now: DateTime<Utc>,
    ttl: Duration,
) -> crate::sql::Result<(String, DateTime<Utc>)> {
    let code = generate();
    let expires = now + ttl;
    crate::sql::query("INSERT INTO binding_codes (code_hash, person_id, issued_at, expires_at) VALUES (?, ?, ?, ?)")
        .bind(hash(&code))
        .bind(person_id)
        .bind(ts(now))
        .bind(ts(expires))
        .execute(conn)
        .await?;
    Ok((code, expires))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    Bound { person_id: i64 },
    Unknown,
    Expired,
    AlreadyUsed,
}

/// Redeems a code for an account: single use, before expiry. Rebinding an account that was
/// bound to someone else moves it (the code proves the office meant it).
pub async fn redeem(
    conn: &mut Conn,
    platform: &str,
    account: &str,
    display: Option<&str>,
    input: &str,
    now: DateTime<Utc>,
) -> crate::sql::Result<Redeemed> {
    let code = canonical(input);
    if code.len() != CODE_LEN {
        return Ok(Redeemed::Unknown);
    }
    let Some(r) = crate::sql::query("SELECT person_id, expires_at, used_at FROM binding_codes WHERE code_hash = ?")
        .bind(hash(&code))
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(Redeemed::Unknown);
    };
    if r.get::<Option<String>, _>("used_at").is_some() {
        return Ok(Redeemed::AlreadyUsed);
    }
    if r.get::<String, _>("expires_at") <= ts(now) {
        return Ok(Redeemed::Expired);
    }
    let person_id: i64 = r.get("person_id");
    // Conditional on the state just read: of two racing redemptions exactly one wins.
    let taken = crate::sql::query(
        "UPDATE binding_codes SET used_at = ?, used_by = ? WHERE code_hash = ? AND used_at IS NULL AND expires_at > ?",
    )
    .bind(ts(now))
    .bind(format!("{platform}:{account}"))
    .bind(hash(&code))
    .bind(ts(now))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if taken != 1 {
        return Ok(Redeemed::AlreadyUsed);
    }
    crate::sql::query(
        "INSERT INTO chat_accounts (platform, account_id, person_id, source, display_name, bound_at)
         VALUES (?, ?, ?, 'code', ?, ?)
         ON CONFLICT (platform, account_id) DO UPDATE SET person_id = excluded.person_id,
             source = 'code', display_name = excluded.display_name, bound_at = excluded.bound_at",
    )
    .bind(platform)
    .bind(account)
    .bind(person_id)
    .bind(display)
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    crate::sql::query("DELETE FROM unbound_hints WHERE platform = ? AND account_id = ?")
        .bind(platform)
        .bind(account)
        .execute(conn)
        .await?;
    Ok(Redeemed::Bound { person_id })
}

/// Failed binding attempts by this account in the last hour (guards against guessing).
pub async fn recent_failures(
    conn: &mut Conn,
    platform: &str,
    account: &str,
    now: DateTime<Utc>,
) -> crate::sql::Result<i64> {
    crate::sql::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE entity = 'chat_account' AND entity_id = ? AND action = 'bind_failed' AND at > ?",
    )
    .bind(format!("{platform}:{account}"))
    .bind(ts(now - Duration::hours(1)))
    .fetch_one(conn)
    .await
}

/// Whether the account should be told how to bind now (at most once per quiet period).
pub async fn take_unbound_hint(
    conn: &mut Conn,
    platform: &str,
    account: &str,
    now: DateTime<Utc>,
    quiet: Duration,
) -> crate::sql::Result<bool> {
    let res = crate::sql::query(
        "INSERT INTO unbound_hints (platform, account_id, last_hint_at) VALUES (?, ?, ?)
         ON CONFLICT (platform, account_id) DO UPDATE SET last_hint_at = excluded.last_hint_at
         WHERE unbound_hints.last_hint_at <= ?",
    )
    .bind(platform)
    .bind(account)
    .bind(ts(now))
    .bind(ts(now - quiet))
    .execute(conn)
    .await?;
    Ok(res.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unambiguous_and_canonicalised() {
        let c = generate();
        assert_eq!(c.len(), CODE_LEN);
        assert!(c.bytes().all(|b| ALPHABET.contains(&b)));
        assert_eq!(canonical(" ab2c-d3ef "), "AB2CD3EF");
        assert_eq!(canonical("ＡＢ２Ｃ"), "AB2C");
    }
}
