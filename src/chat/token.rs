//! The access-token cache the app channels share (WeCom, DingTalk, Feishu): a token fetched with the
//! app's credentials, kept until shortly before the platform says it expires, refetched on demand
//! when the platform refuses it.

use super::SendError;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Lifetimes the platforms give (seconds) are clamped to this range before the margin.
const MIN_LIFE_SECS: u64 = 60;
const MAX_LIFE_SECS: u64 = 7200;
/// Renew this much early so a token never expires between fetch and use.
const RENEW_EARLY_SECS: u64 = 300;
/// …but keep any token at least this long.
const MIN_KEEP_SECS: u64 = 30;

struct Cached {
    token: String,
    valid_until: Instant,
}

#[derive(Default)]
pub struct TokenCache {
    slot: Mutex<Option<Cached>>,
}

impl TokenCache {
    /// The cached token unless it is stale or `refresh` is asked; otherwise `fetch()`, which
    /// answers the new token and its lifetime in seconds. Callers wait for one fetch at a time.
    pub async fn get<F, Fut>(&self, refresh: bool, fetch: F) -> Result<String, SendError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(String, u64), SendError>>,
    {
        let mut slot = self.slot.lock().await;
        if !refresh {
            if let Some(t) = slot.as_ref().filter(|t| t.valid_until > Instant::now()) {
                return Ok(t.token.clone());
            }
        }
        let (token, expires_in) = fetch().await?;
        *slot = Some(Cached { token: token.clone(), valid_until: Instant::now() + keep_for(expires_in) });
        Ok(token)
    }

    /// Whether a token was fetched and has gone stale; `None` while a fetch is under way.
    pub fn expired(&self) -> Option<bool> {
        self.slot.try_lock().ok().map(|t| t.as_ref().is_some_and(|t| t.valid_until <= Instant::now()))
    }
}

fn keep_for(expires_in: u64) -> Duration {
    Duration::from_secs(
        expires_in.clamp(MIN_LIFE_SECS, MAX_LIFE_SECS).saturating_sub(RENEW_EARLY_SECS).max(MIN_KEEP_SECS),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn tokens_are_kept_five_minutes_less_than_their_life() {
        assert_eq!(keep_for(7200), Duration::from_secs(6900));
        assert_eq!(keep_for(100_000), Duration::from_secs(6900));
        assert_eq!(keep_for(0), Duration::from_secs(30));
        assert_eq!(keep_for(320), Duration::from_secs(30));
    }

    #[tokio::test]
    async fn a_token_is_fetched_once_until_refresh_is_asked() {
        let cache = TokenCache::default();
        let fetches = AtomicU32::new(0);
        let fetch = || async {
            let n = fetches.fetch_add(1, Ordering::SeqCst) + 1;
            Ok((format!("t{n}"), 7200))
        };
        assert_eq!(cache.expired(), Some(false));
        assert_eq!(cache.get(false, fetch).await.unwrap(), "t1");
        assert_eq!(cache.get(false, fetch).await.unwrap(), "t1");
        assert_eq!(cache.get(true, fetch).await.unwrap(), "t2");
        assert_eq!(cache.get(false, fetch).await.unwrap(), "t2");
        assert_eq!(cache.expired(), Some(false));
        let failed = cache.get(true, || async { Err(SendError::Transient("无法连接".into())) }).await;
        assert!(failed.is_err());
        assert_eq!(cache.get(false, fetch).await.unwrap(), "t2", "a failed refresh keeps the last token");
    }
}
