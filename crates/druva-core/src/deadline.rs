//! A call's deadline: made once, when the call starts, from its `timeout`,
//! and handed down to everything the call waits on (the retry loop, the token,
//! a place in flight, the request itself), each of which asks it what is left.
//! Nothing converts it back to a timeout and forward again on the way.

use std::time::Duration;

use tokio::time::Instant;

/// How far ahead a deadline stands when `timeout` is too large for the
/// clock: about thirty years, never reached.
const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// When a call must be over, and the timeout it was made from (messages name it).
///
/// ```
/// use std::time::Duration;
/// use druva_core::deadline::Deadline;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let deadline = Deadline::after(Duration::from_secs(30));
/// assert!(deadline.remaining() <= Duration::from_secs(30));
/// assert!(!deadline.has_passed());
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    at: Instant,
    timeout: Duration,
}

impl Deadline {
    /// The deadline of a call that starts now and may take `timeout`.
    pub fn after(timeout: Duration) -> Self {
        let now = Instant::now();
        let at = now
            .checked_add(timeout)
            .or_else(|| now.checked_add(FAR))
            .unwrap_or(now);
        Deadline { at, timeout }
    }

    /// The instant it falls at, for `tokio::time::timeout_at`.
    pub fn instant(&self) -> Instant {
        self.at
    }

    /// The timeout the call was given.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// What is left of the call's time: zero once the deadline has passed.
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub fn has_passed(&self) -> bool {
        self.remaining().is_zero()
    }

    /// The same deadline, later by `wait`: time the call spent on a wait that
    /// its timeout does not bound (the waits on 429s).
    #[must_use]
    pub fn postponed(self, wait: Duration) -> Self {
        Deadline {
            at: self.at.checked_add(wait).unwrap_or(self.at),
            timeout: self.timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn what_is_left_shrinks_with_the_clock_and_a_postponement_adds_to_it() {
        let deadline = Deadline::after(Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(deadline.remaining(), Duration::from_secs(6));
        assert_eq!(
            deadline.postponed(Duration::from_secs(3)).remaining(),
            Duration::from_secs(9)
        );
        assert_eq!(deadline.timeout(), Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(7)).await;
        assert!(deadline.has_passed());
        assert_eq!(deadline.remaining(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_beyond_the_clock_is_a_deadline_never_reached() {
        let deadline = Deadline::after(Duration::MAX);
        assert!(deadline.remaining() > Duration::from_secs(365 * 24 * 3600));
        assert_eq!(deadline.timeout(), Duration::MAX);
    }
}
