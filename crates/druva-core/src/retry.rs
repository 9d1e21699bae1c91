//! The retry policy, in one place: which failures are retried, and how long to
//! wait before the next attempt (exponential backoff with full jitter, or the
//! server's `Retry-After`).

use std::time::{Duration, SystemTime};

use rand::Rng;

/// Statuses that say "try again later": rate limiting and gateway trouble.
pub const RETRYABLE_STATUSES: [u16; 4] = [429, 502, 503, 504];

/// How often and how patiently a request is retried.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 disables retrying.
    pub max_retries: u32,
    /// The backoff ceiling of the first retry; doubles with each further one.
    pub base_delay: Duration,
    /// No computed backoff waits longer than this.
    pub max_delay: Duration,
    /// A server's `Retry-After` is honoured up to this long.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    pub fn with_max_retries(max_retries: u32) -> Self {
        RetryPolicy {
            max_retries,
            ..RetryPolicy::default()
        }
    }

    /// Whether attempt number `retry` (1 for the first retry) is still allowed.
    pub fn allows(&self, retry: u32) -> bool {
        retry <= self.max_retries
    }

    /// The wait before retry number `retry` (1-based): the server's
    /// `Retry-After` when it sent a usable one, else full-jitter backoff,
    /// a uniform draw from zero to `base * 2^(retry-1)`, capped.
    pub fn delay(&self, retry: u32, retry_after: Option<&str>) -> Duration {
        if let Some(wait) =
            retry_after.and_then(|value| parse_retry_after(value, SystemTime::now()))
        {
            return wait.min(self.max_retry_after);
        }
        let exponent = retry.saturating_sub(1).min(20);
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        let fraction: f64 = rand::rng().random_range(0.0..=1.0);
        ceiling.mul_f64(fraction)
    }
}

/// Whether a status is worth retrying.
pub fn is_retryable_status(status: u16) -> bool {
    RETRYABLE_STATUSES.contains(&status)
}

/// Whether a method may be sent twice without changing the outcome (RFC 9110).
pub fn is_idempotent(method: &str) -> bool {
    matches!(
        method,
        "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS" | "TRACE"
    )
}

/// Parses `Retry-After`: delta-seconds (a decimal fraction is tolerated) or an
/// HTTP date. Garbage, negative or non-finite values give `None`, so the caller
/// falls back to its own backoff.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value
        .bytes()
        .all(|byte| byte.is_ascii_digit() || byte == b'.')
    {
        let seconds: f64 = value.parse().ok()?;
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after(" 1.5 ", now),
            Some(Duration::from_millis(1500))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_garbage_is_ignored() {
        let now = SystemTime::now();
        for garbage in ["", "soon", "-1", "1e400", "..", "Mon, 99 Foo 2020"] {
            assert_eq!(parse_retry_after(garbage, now), None, "{garbage:?}");
        }
    }

    #[test]
    fn retry_after_is_capped_and_backoff_stays_under_its_ceiling() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, Some("3600")), policy.max_retry_after);
        for retry in 1..=40 {
            let delay = policy.delay(retry, None);
            assert!(delay <= policy.max_delay);
            let ceiling = policy.base_delay.saturating_mul(1 << (retry - 1).min(20));
            assert!(delay <= ceiling);
        }
    }

    #[test]
    fn only_rate_limits_and_gateway_errors_are_retryable() {
        for status in [429, 502, 503, 504] {
            assert!(is_retryable_status(status));
        }
        for status in [200, 400, 401, 403, 404, 500, 501] {
            assert!(!is_retryable_status(status));
        }
        assert!(is_idempotent("GET") && is_idempotent("DELETE"));
        assert!(!is_idempotent("POST") && !is_idempotent("PATCH"));
    }
}
