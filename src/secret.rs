//! A secret configuration value (tokens, keys). A leaf module: adapters and configuration both
//! use it without depending on each other.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A secret value: never printed by `Debug` or `Display`.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// Whether `given` equals the secret. Both are hashed first and the fixed-size digests
    /// compared without an early exit, so the time taken depends on neither the secret's
    /// length nor how much of a guess was right.
    pub fn matches(&self, given: &[u8]) -> bool {
        use sha2::{Digest, Sha256};
        let (a, b) = (Sha256::digest(self.0.as_bytes()), Sha256::digest(given));
        a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_themselves_whatever_the_length() {
        let s = Secret::new("hook_s3cret-x");
        assert!(s.matches(b"hook_s3cret-x"));
        for guess in [&b""[..], b"h", b"hook_s3cret-", b"hook_s3cret-xx", b"hook_s3cret-y", b"HOOK_S3CRET-X"] {
            assert!(!s.matches(guess), "{}", String::from_utf8_lossy(guess));
        }
        assert!(Secret::default().matches(b""));
        assert!(!Secret::default().matches(b"x"));
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
