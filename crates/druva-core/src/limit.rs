//! A session's cap on requests in flight (`max_concurrency`), adaptive under
//! throttling: after a 429 it halves what it lets through (from the number in
//! flight at that moment, at most once a second so that one burst counts
//! once, down to 1), and each call that succeeds raises it back by one, up to
//! the cap. A throttled batch slows down instead of failing.
//!
//! A session without `max_concurrency` has no cap but adapts the same way.
//!
//! Every API request of a session takes a [`Permit`] for the time it is in
//! flight, whichever caller sent it (threads, `map`, tasks); token requests
//! do not.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The shortest time between two halvings: one burst of 429s counts once.
const HALVING_INTERVAL: Duration = Duration::from_secs(1);

/// A cap on requests in flight that adapts to throttling.
#[derive(Debug)]
pub struct Limiter {
    max: usize,
    allowed: AtomicUsize,
    in_flight: AtomicUsize,
    released: Notify,
    last_halving: Mutex<Option<Instant>>,
}

/// One request's place among those in flight; given back when dropped.
#[derive(Debug)]
pub struct Permit<'a> {
    limiter: &'a Limiter,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.limiter.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.limiter.released.notify_waiters();
    }
}

impl Limiter {
    /// A limiter letting through at most `max` requests at once (at least 1).
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Limiter {
            max,
            allowed: AtomicUsize::new(max),
            in_flight: AtomicUsize::new(0),
            released: Notify::new(),
            last_halving: Mutex::new(None),
        }
    }

    /// A session's limiter: `max_concurrency` when given; without one no
    /// cap, but the limit still falls after 429s and climbs back.
    pub fn for_cap(max_concurrency: Option<usize>) -> Self {
        Limiter::new(max_concurrency.unwrap_or(usize::MAX))
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// How many requests it lets through now.
    pub fn allowed(&self) -> usize {
        self.allowed.load(Ordering::Acquire)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Waits for a place among the requests in flight.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            // Registered before the check, so a release in between is not missed.
            let released = self.released.notified();
            if self.try_take() {
                return Permit { limiter: self };
            }
            released.await;
        }
    }

    fn try_take(&self) -> bool {
        let mut current = self.in_flight.load(Ordering::Acquire);
        loop {
            if current >= self.allowed() {
                return false;
            }
            match self.in_flight.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// A request was throttled (429): halve what is let through, from the
    /// number in flight now, unless that was done less than a second ago.
    pub fn throttled(&self) {
        let now = Instant::now();
        let mut last = self
            .last_halving
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|last| now.duration_since(last) < HALVING_INTERVAL) {
            return;
        }
        *last = Some(now);
        let halved = (self.in_flight().max(1) / 2).max(1);
        self.allowed.store(halved.min(self.max), Ordering::Release);
    }

    /// A request succeeded: let one more through, up to the cap.
    pub fn succeeded(&self) {
        let raised = self
            .allowed
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |allowed| {
                (allowed < self.max).then(|| allowed + 1)
            });
        if raised.is_ok() {
            self.released.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn no_more_than_the_cap_are_in_flight() {
        let limiter = Arc::new(Limiter::new(3));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (limiter, peak) = (Arc::clone(&limiter), Arc::clone(&peak));
                tokio::spawn(async move {
                    let _permit = limiter.acquire().await;
                    peak.fetch_max(limiter.in_flight(), Ordering::AcqRel);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(peak.load(Ordering::Acquire), 3);
        assert_eq!(limiter.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_halves_from_the_number_in_flight_once_a_second_and_successes_raise_it() {
        let limiter = Limiter::new(16);
        let permits: Vec<_> = futures::future::join_all((0..10).map(|_| limiter.acquire())).await;
        limiter.throttled();
        assert_eq!(limiter.allowed(), 5, "half of the 10 in flight");
        limiter.throttled();
        assert_eq!(limiter.allowed(), 5, "the same burst counts once");
        drop(permits);
        tokio::time::advance(HALVING_INTERVAL).await;
        limiter.throttled();
        assert_eq!(limiter.allowed(), 1, "down to 1, not 0");
        for _ in 0..40 {
            limiter.succeeded();
        }
        assert_eq!(
            limiter.allowed(),
            16,
            "back up by one a success, to the cap"
        );
    }
}
