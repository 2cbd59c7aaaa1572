//! Retries with exponential backoff and jitter for retryable provider errors.

use std::time::Duration;

use gauntlet_core::model::RetryPolicy;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// The wait before retry number `attempt` (1-based): "full jitter" over an exponentially
/// growing cap, never less than the server's `Retry-After`.
pub fn backoff(
    policy: &RetryPolicy,
    attempt: u32,
    retry_after_ms: Option<u64>,
    rng: &mut ChaCha8Rng,
) -> Duration {
    let exp = policy
        .initial_backoff_ms
        .saturating_mul(1u64 << (attempt - 1).min(20));
    let cap = exp.min(policy.max_backoff_ms).max(1);
    let jittered = cap / 2 + rng.random_range(0..=cap / 2);
    Duration::from_millis(jittered.max(retry_after_ms.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let p = RetryPolicy {
            max_retries: 5,
            initial_backoff_ms: 100,
            max_backoff_ms: 1000,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for attempt in 1..8 {
            let cap = (100u64 << (attempt - 1)).min(1000);
            let d = backoff(&p, attempt, None, &mut rng).as_millis() as u64;
            assert!(d >= cap / 2 && d <= cap, "attempt {attempt}: {d}");
        }
        assert_eq!(backoff(&p, 1, Some(5000), &mut rng).as_millis(), 5000);
    }
}
