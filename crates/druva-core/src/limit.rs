//! A session's limiter: how many requests it lets through at once (its
//! places, at most `max_concurrency`) and how fast it starts them, paced
//! under throttling like TCP's congestion avoidance.
//!
//! - A new limiter starts with [`INITIAL_PLACES`] (or its cap, if lower) and
//!   grows a place a success until the first 429 (TCP's slow start from its
//!   initial window): the places double each round trip, up to twice the
//!   most requests ever in flight at once, so a cold batch does not open
//!   with a burst of its whole concurrency against a server already at its
//!   limit (another client's, or a previous run's).
//! - A 429 is multiplicative decrease: the places halve (from the number in
//!   flight when the throttled request was sent or when its answer came,
//!   whichever is more, down to 1) and starts are paced one round trip
//!   divided by the places apart, so both the requests in flight and the
//!   rate of starting them fall. Only a request sent after the last decrease
//!   decreases again: one burst of 429s counts once. At one place, each
//!   further 429 doubles the time between starts (from a second, up to a
//!   minute): a server that keeps refusing is backed off from.
//! - Success is additive increase: one place more a round trip (once as many
//!   calls have succeeded as there are places), a round trip counted as at
//!   least [`MIN_ROUND`], so a server that limits requests a second (a token
//!   bucket refilled over a second) is not overrun again at once. A success
//!   also ends a back-off: starts are paced by the round trip again.
//!   Places that were never all taken have not been tried and do not grow
//!   (TCP's congestion window validation, RFC 7661).
//! - A 429 tells the two ways a server throttles apart. The most requests in
//!   flight at once through a round of [`MIN_ROUND`], before the places grew
//!   beyond them, are known to be good. Refused above that (or before any
//!   number held), the server takes so many in flight: the places fall to
//!   half but not below the known-good number (a probe above a cap costs
//!   its one 429, not a regrowth from half), grow back a place each measured
//!   round trip up to what the server answered in the last round trip if
//!   more (a server kept busy answers about as many a round trip as it
//!   holds, Little's law), and by [`MIN_ROUND`]s beyond (CUBIC's plateau at
//!   its last good window). Refused at or below it, a number that held is
//!   refused now: the server limits the rate (or now takes fewer), so the
//!   number is forgotten, the places halve and growth stays slow, letting
//!   its bucket fill again.
//!
//! A throttled call goes back behind the limiter: it waits one pacing
//! interval ([`Limiter::wait_after_throttle`], or the server's `Retry-After`
//! if longer), then queues for a place like any other call.
//!
//! A session without `max_concurrency` has no cap but adapts the same way.
//! Every API request of a session takes a [`Permit`] for the time it is in
//! flight, whichever caller sent it (threads, `map`, tasks); token requests
//! do not.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::retry::Pace;

/// The shortest round trip that growth counts: one place a round trip, but
/// no faster than one place this often.
pub const MIN_ROUND: Duration = Duration::from_millis(500);

/// How many places a new limiter starts with, below its cap. TCP's initial
/// window is 10 segments (RFC 6928); 16 lets a fan-out of 32 reach its
/// concurrency in one round trip.
pub const INITIAL_PLACES: usize = 16;

/// How late a paced start may come and still count as on time: tokio's
/// timer fires on the millisecond after its instant, so a pace of a few
/// milliseconds would otherwise lose up to one in each interval.
const PACE_SLACK: Duration = Duration::from_millis(2);

/// The first time between starts once a single place is throttled again,
/// and the longest: a refusing server is backed off from as a lone retry would.
const BACKOFF_FLOOR: Duration = Duration::from_secs(1);
const BACKOFF_CEILING: Duration = Duration::from_secs(60);

/// A cap on requests in flight and a pace of starting them, both adapting
/// to throttling.
#[derive(Debug)]
pub struct Limiter {
    max: usize,
    state: Mutex<State>,
    released: Notify,
}

#[derive(Debug)]
struct State {
    /// How many requests it lets through at once.
    places: usize,
    /// No 429 yet: the places grow a place a success (TCP's slow start).
    slow_start: bool,
    in_flight: usize,
    /// The least time between two starts; zero until the first 429.
    interval: Duration,
    /// When the next request may start: one interval after the last start
    /// was due, or after it came if that was more than [`PACE_SLACK`] late.
    next_start: Instant,
    /// The smoothed round trip of answered requests (`None` before the first).
    round_trip: Option<Duration>,
    /// When the places last fell: a 429 to a request sent before it is part
    /// of the burst that caused it.
    last_decrease: Option<Instant>,
    /// Calls succeeded since the places last grew or fell, and when that was.
    succeeded: usize,
    last_change: Instant,
    /// The most requests in flight at once when one of them was sent since
    /// then: places that were never all taken have not been tried, so they
    /// do not grow (TCP's congestion window validation, RFC 7661).
    peak: usize,
    /// The most requests in flight at once through a round of at least
    /// [`MIN_ROUND`] before the places grew beyond them, since a 429 last
    /// refused such a number (0: none).
    known_good: usize,
    /// Below this many places, they grow back a place each round trip: what
    /// held, or what the server answered in a round trip between the last
    /// two decreases (0: none).
    regrow_to: usize,
    deliveries: Deliveries,
}

/// Successes since the last decrease, counted a round trip at a time: about
/// how many requests the server holds at once while it is kept busy
/// (Little's law).
#[derive(Debug)]
struct Deliveries {
    round_started: Instant,
    this_round: usize,
    last_round: usize,
}

/// One request's place among those in flight; given back when dropped.
#[derive(Debug)]
pub struct Permit<'a> {
    limiter: &'a Limiter,
    sent: Sent,
}

/// When a request took its place, and how many were in flight with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    pub at: Instant,
    pub in_flight: usize,
}

impl Permit<'_> {
    /// When the request took its place (was sent), and with how many.
    pub fn sent(&self) -> Sent {
        self.sent
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.limiter.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        drop(state);
        self.limiter.released.notify_waiters();
    }
}

impl Limiter {
    /// A limiter letting through at most `max` requests at once (at least 1).
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        let now = Instant::now();
        Limiter {
            max,
            state: Mutex::new(State {
                places: max.min(INITIAL_PLACES),
                slow_start: true,
                in_flight: 0,
                interval: Duration::ZERO,
                next_start: now,
                round_trip: None,
                last_decrease: None,
                succeeded: 0,
                last_change: now,
                peak: 0,
                known_good: 0,
                regrow_to: 0,
                deliveries: Deliveries::since(now),
            }),
            released: Notify::new(),
        }
    }

    /// A session's limiter: `max_concurrency` when given; without one no
    /// cap, but the limit still falls after 429s and climbs back.
    pub fn for_cap(max_concurrency: Option<usize>) -> Self {
        Limiter::new(max_concurrency.unwrap_or(usize::MAX))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// How many requests it lets through now.
    pub fn allowed(&self) -> usize {
        self.lock().places
    }

    /// The most requests in flight known to hold (0: none known).
    #[cfg(test)]
    fn known_good(&self) -> usize {
        self.lock().known_good
    }

    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    /// The least time between two starts now (zero: not paced).
    pub fn interval(&self) -> Duration {
        self.lock().interval
    }

    /// Waits for a place among the requests in flight and for its turn to start.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            // Registered before the check, so a release in between is not missed.
            let released = self.released.notified();
            match self.try_take() {
                Ok(sent) => {
                    return Permit {
                        limiter: self,
                        sent,
                    }
                }
                Err(Some(turn)) => {
                    tokio::select! {
                        () = released => {}
                        () = tokio::time::sleep_until(turn) => {}
                    }
                }
                Err(None) => released.await,
            }
        }
    }

    /// Takes a place if one is free and the pace allows a start now; else
    /// says when the pace will (`None`: when a place is given back). In slow
    /// start, places all taken and no answer for [`MIN_ROUND`] double: calls
    /// that take long to answer do not hold the rest back for as long.
    fn try_take(&self) -> Result<Sent, Option<Instant>> {
        let mut state = self.lock();
        let now = Instant::now();
        if state.in_flight >= state.places {
            if !state.slow_start || state.places >= self.max {
                return Err(None);
            }
            let doubles_at = state.last_change + MIN_ROUND;
            if now < doubles_at {
                return Err(Some(doubles_at));
            }
            state.places = state.places.saturating_mul(2).min(self.max);
            state.last_change = now;
        }
        if now < state.next_start {
            return Err(Some(state.next_start));
        }
        state.in_flight += 1;
        state.peak = state.peak.max(state.in_flight);
        // A start late by no more than the timer's slack was on time: the
        // next is due an interval after this one was, so the rate is the
        // one intended and not one slowed by every timer's delay. Later
        // than that, the pace starts again from now (no burst after a pause).
        let due = if now.duration_since(state.next_start) <= PACE_SLACK {
            state.next_start
        } else {
            now
        };
        state.next_start = due + state.interval;
        Ok(Sent {
            at: now,
            in_flight: state.in_flight,
        })
    }

    /// A request `sent` was throttled (429) after `round_trip`: fewer
    /// places and a slower pace, unless the burst it belongs to already
    /// counted. Refused at a number in flight known to hold, the server
    /// limits the rate: that number is no longer known to be good.
    pub fn throttled(&self, sent: Sent, round_trip: Duration) {
        let mut state = self.lock();
        state.measure(round_trip);
        if state
            .last_decrease
            .is_some_and(|decrease| sent.at < decrease)
        {
            return;
        }
        let now = Instant::now();
        state.slow_start = false;
        state.last_decrease = Some(now);
        state.succeeded = 0;
        state.last_change = now;
        state.peak = 0;
        if state.places > 1 {
            // The throttled request's own place is already given back.
            let from = state.places.min(sent.in_flight.max(state.in_flight + 1));
            state.halve_from(from, now);
        } else {
            let doubled = state.interval.saturating_mul(2);
            state.interval = doubled.clamp(BACKOFF_FLOOR, BACKOFF_CEILING);
        }
        state.next_start = state.next_start.max(now + state.interval);
    }

    /// A request was answered after `round_trip`, neither throttled nor
    /// failed (a 2xx, or a 4xx other than 429): one place more once a round
    /// trip's worth of calls has been, up to the cap; the pace follows.
    pub fn succeeded(&self, round_trip: Duration) {
        let mut state = self.lock();
        state.measure(round_trip);
        state.succeeded += 1;
        let now = Instant::now();
        let smoothed = state.round_trip.unwrap_or(round_trip);
        state.deliveries.count(now, smoothed);
        let regrowing = state.places < state.regrow_to;
        let round = if regrowing { smoothed } else { MIN_ROUND };
        let grows = state.places < self.max
            && if state.slow_start {
                // Up to twice the most ever in flight: what a round trip of
                // slow start can take from what was used.
                state.peak.saturating_mul(2) > state.places
            } else {
                state.succeeded >= state.places
                    && state.peak >= state.places
                    && now.duration_since(state.last_change) >= round
            };
        if grows {
            // Slow start keeps its peak: growth there is bounded by it.
            if !state.slow_start {
                if !regrowing {
                    state.known_good = state.known_good.max(state.peak);
                }
                state.peak = 0;
                state.succeeded = 0;
            }
            state.places += 1;
            state.last_change = now;
        }
        if !state.interval.is_zero() {
            state.interval = state.paced_interval();
        }
        drop(state);
        if grows {
            self.released.notify_waiters();
        }
    }
}

impl Pace for Limiter {
    fn wait_after_throttle(&self) -> Duration {
        self.interval()
    }
}

impl State {
    /// Multiplicative decrease from `from` requests in flight, one of them
    /// refused, and what the refusal says of the server: a number that held
    /// refused now is a rate limit, and the places halve; above it, a cap:
    /// the places fall to half but not below what held, and grow back soon
    /// to what the server answered.
    fn halve_from(&mut self, from: usize, now: Instant) {
        let floor = if from <= self.known_good {
            self.known_good = 0;
            self.regrow_to = 0;
            1
        } else {
            let answered = self.deliveries.per_round();
            self.regrow_to = self.known_good.max(answered).min(from.saturating_sub(1));
            self.known_good.max(1)
        };
        // What the server answers next is counted apart: a bucket just
        // emptied answers fewer than the burst that emptied it.
        self.deliveries = Deliveries::since(now);
        self.places = (from / 2).max(floor);
        self.interval = self.paced_interval();
    }

    /// Smooths the round trip as TCP does (7/8 the old, 1/8 the new).
    fn measure(&mut self, sample: Duration) {
        self.round_trip = Some(match self.round_trip {
            Some(smoothed) => (smoothed.saturating_mul(7).saturating_add(sample)) / 8,
            None => sample,
        });
    }

    /// One round trip divided among the places: starts spread evenly.
    fn paced_interval(&self) -> Duration {
        let places = u32::try_from(self.places).unwrap_or(u32::MAX).max(1);
        self.round_trip.unwrap_or_default() / places
    }
}

impl Deliveries {
    fn since(now: Instant) -> Self {
        Deliveries {
            round_started: now,
            this_round: 0,
            last_round: 0,
        }
    }

    /// One success, `now`; a round lasts `round_trip`.
    fn count(&mut self, now: Instant, round_trip: Duration) {
        if now.duration_since(self.round_started) >= round_trip {
            self.last_round = self.this_round;
            self.this_round = 0;
            self.round_started = now;
        }
        self.this_round += 1;
    }

    /// The successes of the last round or of this one, whichever are more.
    fn per_round(&self) -> usize {
        self.last_round.max(self.this_round)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    const RTT: Duration = Duration::from_millis(20);

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

    /// Takes `count` places at once and answers them all with 429 after a
    /// round trip, as a burst the server refused, the last sent first.
    async fn throttle_burst(limiter: &Limiter, count: usize) {
        let permits: Vec<_> =
            futures::future::join_all((0..count).map(|_| limiter.acquire())).await;
        tokio::time::advance(RTT).await;
        for permit in permits.into_iter().rev() {
            let sent = permit.sent();
            drop(permit);
            limiter.throttled(sent, RTT);
        }
    }

    /// Takes `count` places at once and answers them all with success after
    /// a round trip.
    async fn succeed_burst(limiter: &Limiter, count: usize) {
        let permits: Vec<_> =
            futures::future::join_all((0..count).map(|_| limiter.acquire())).await;
        tokio::time::advance(RTT).await;
        for permit in permits {
            drop(permit);
            limiter.succeeded(RTT);
        }
    }

    /// Takes every place and answers them all with success after a round trip.
    async fn succeed_full_round(limiter: &Limiter) {
        succeed_burst(limiter, limiter.allowed()).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_429s_halves_the_places_once_and_paces_the_starts() {
        let limiter = Limiter::new(16);
        throttle_burst(&limiter, 10).await;
        assert_eq!(limiter.allowed(), 5, "half of the 10 in flight, once");
        assert_eq!(limiter.interval(), RTT / 5, "a round trip spread over 5");
        throttle_burst(&limiter, 5).await;
        assert_eq!(
            limiter.allowed(),
            2,
            "a request sent after the decrease counts"
        );
        throttle_burst(&limiter, 2).await;
        assert_eq!(limiter.allowed(), 1, "down to 1, not 0");
        assert_eq!(limiter.interval(), RTT);
    }

    #[tokio::test(start_paused = true)]
    async fn at_one_place_each_429_doubles_the_time_between_starts_until_a_success() {
        let limiter = Limiter::new(1);
        let mut intervals = Vec::new();
        for _ in 0..9 {
            throttle_burst(&limiter, 1).await;
            intervals.push(limiter.wait_after_throttle().as_secs());
        }
        assert_eq!(intervals, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        limiter.succeeded(RTT);
        assert_eq!(limiter.interval(), RTT, "paced by the round trip again");
    }

    #[tokio::test(start_paused = true)]
    async fn starts_are_spread_one_interval_apart() {
        let limiter = Limiter::new(4);
        throttle_burst(&limiter, 4).await;
        assert_eq!((limiter.allowed(), limiter.interval()), (2, RTT / 2));
        // Past the pause the throttle set: two places, started RTT/2 apart.
        tokio::time::advance(RTT).await;
        let first = limiter.acquire().await.sent();
        let second = limiter.acquire().await.sent();
        assert_eq!(second.at.duration_since(first.at), RTT / 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_start_late_by_a_timer_s_slack_does_not_slow_the_pace() {
        let limiter = Limiter::new(4);
        throttle_burst(&limiter, 4).await;
        let interval = limiter.interval();
        assert_eq!((limiter.allowed(), interval), (2, RTT / 2));
        tokio::time::advance(RTT).await;
        let first = limiter.acquire().await;
        // The second start comes a millisecond late, as a timer's does.
        let late = Duration::from_millis(1);
        tokio::time::advance(interval + late).await;
        let second = limiter.acquire().await;
        drop(first);
        let third = limiter.acquire().await.sent();
        assert_eq!(
            third.at.duration_since(second.sent().at) + late,
            interval,
            "the third is due an interval after the second was due"
        );
        drop(second);
        // Later than the slack: the pace starts again from the late start.
        tokio::time::advance(interval + PACE_SLACK * 2).await;
        let fourth = limiter.acquire().await.sent();
        let fifth = limiter.acquire().await.sent();
        assert_eq!(fifth.at.duration_since(fourth.at), interval);
    }

    #[tokio::test(start_paused = true)]
    async fn successes_add_one_place_a_round_trip_of_at_least_min_round() {
        let limiter = Limiter::new(8);
        throttle_burst(&limiter, 8).await;
        assert_eq!(limiter.allowed(), 4);
        // Many successes within one round trip: no growth yet.
        for _ in 0..40 {
            limiter.succeeded(RTT);
        }
        assert_eq!(limiter.allowed(), 4, "a round trip is at least MIN_ROUND");
        let mut places = Vec::new();
        for _ in 0..6 {
            tokio::time::advance(MIN_ROUND).await;
            succeed_full_round(&limiter).await;
            places.push(limiter.allowed());
        }
        assert_eq!(
            places,
            [5, 6, 7, 8, 8, 8],
            "one a round trip, up to the cap"
        );
        assert_eq!(limiter.interval(), RTT / 8);
    }

    /// Halves 16 places to 8 and holds them a round of [`MIN_ROUND`], so
    /// that they grow to 9 and 8 are known to be good.
    async fn hold_eight_of_sixteen() -> Limiter {
        let limiter = Limiter::new(16);
        throttle_burst(&limiter, 16).await;
        tokio::time::advance(MIN_ROUND).await;
        succeed_full_round(&limiter).await;
        assert_eq!((limiter.allowed(), limiter.known_good()), (9, 8));
        limiter
    }

    /// The places after each of `rounds` full rounds of successes.
    async fn places_by_round_trip(limiter: &Limiter, rounds: usize) -> Vec<usize> {
        let mut places = Vec::new();
        for _ in 0..rounds {
            succeed_full_round(limiter).await;
            places.push(limiter.allowed());
        }
        places
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_above_the_known_good_places_falls_back_to_them_not_to_half() {
        let limiter = hold_eight_of_sixteen().await;
        throttle_burst(&limiter, 9).await;
        assert_eq!(limiter.allowed(), 8, "9 never held; 8 did, not 4");
        assert_eq!(limiter.known_good(), 8);
        assert_eq!(limiter.interval(), RTT / 8, "starts paced over the 8");
        assert_eq!(
            places_by_round_trip(&limiter, 4).await,
            [8, 8, 8, 8],
            "no faster than a place each MIN_ROUND beyond what held"
        );
        tokio::time::advance(MIN_ROUND).await;
        succeed_full_round(&limiter).await;
        assert_eq!(limiter.allowed(), 9, "beyond 8, a place each MIN_ROUND");
        throttle_burst(&limiter, 8).await;
        assert_eq!(
            (limiter.allowed(), limiter.known_good()),
            (4, 0),
            "refused at the 8 that held: the server takes fewer now, half"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_at_the_known_good_places_is_a_rate_limit_and_growth_stays_slow() {
        let limiter = hold_eight_of_sixteen().await;
        throttle_burst(&limiter, 8).await;
        assert_eq!(limiter.allowed(), 4, "halved from the 8 in flight");
        assert_eq!(limiter.known_good(), 0, "8 held, but is refused now");
        assert_eq!(
            places_by_round_trip(&limiter, 6).await,
            [4, 4, 4, 4, 4, 4],
            "no place back within MIN_ROUND"
        );
        tokio::time::advance(MIN_ROUND).await;
        succeed_full_round(&limiter).await;
        assert_eq!(limiter.allowed(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_429_regrows_a_place_a_round_trip_up_to_what_the_server_answered() {
        let limiter = Limiter::new(32);
        let mut permits: Vec<_> =
            futures::future::join_all((0..12).map(|_| limiter.acquire())).await;
        tokio::time::advance(RTT).await;
        let refused = permits.split_off(8);
        for permit in permits {
            drop(permit);
            limiter.succeeded(RTT);
        }
        for permit in refused.into_iter().rev() {
            let sent = permit.sent();
            drop(permit);
            limiter.throttled(sent, RTT);
        }
        assert_eq!(limiter.allowed(), 6, "half of the 12 in flight");
        assert_eq!(
            places_by_round_trip(&limiter, 4).await,
            [7, 8, 8, 8],
            "the server answered 8 in the round trip before it refused"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn places_never_all_taken_do_not_grow() {
        let limiter = Limiter::new(16);
        throttle_burst(&limiter, 16).await;
        for _ in 0..4 {
            tokio::time::advance(MIN_ROUND).await;
            succeed_burst(&limiter, 4).await;
            succeed_burst(&limiter, 4).await;
        }
        assert_eq!(
            limiter.allowed(),
            8,
            "only 4 of the 8 places were ever used"
        );
        succeed_full_round(&limiter).await;
        assert_eq!(
            limiter.allowed(),
            9,
            "all 8 taken, after MIN_ROUND: one more"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_limiter_without_a_cap_falls_from_the_number_in_flight() {
        let limiter = Limiter::for_cap(None);
        assert_eq!(limiter.interval(), Duration::ZERO, "not paced before a 429");
        succeed_full_round(&limiter).await;
        throttle_burst(&limiter, 32).await;
        assert_eq!(limiter.allowed(), 16);
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_limiter_doubles_its_initial_places_each_round_trip_up_to_the_cap() {
        let limiter = Limiter::new(100);
        let mut places = vec![limiter.allowed()];
        for _ in 0..4 {
            succeed_full_round(&limiter).await;
            places.push(limiter.allowed());
        }
        assert_eq!(places, [INITIAL_PLACES, 32, 64, 100, 100]);
        assert_eq!(
            Limiter::new(4).allowed(),
            4,
            "a cap below the initial places"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn slow_start_grows_to_twice_the_most_in_flight_and_no_further() {
        let limiter = Limiter::new(100);
        for _ in 0..20 {
            succeed_burst(&limiter, 1).await;
        }
        assert_eq!(
            limiter.allowed(),
            INITIAL_PLACES,
            "one at a time uses no more"
        );
        for _ in 0..4 {
            succeed_burst(&limiter, 12).await;
        }
        assert_eq!(limiter.allowed(), 24, "twice the 12 ever in flight");
    }

    #[tokio::test(start_paused = true)]
    async fn in_slow_start_places_taken_without_answers_double_each_min_round() {
        let limiter = Limiter::new(40);
        let started = Instant::now();
        let held: Vec<_> = futures::future::join_all((0..40).map(|_| limiter.acquire())).await;
        assert_eq!(held.len(), 40);
        assert_eq!(
            started.elapsed(),
            MIN_ROUND * 2,
            "16, then 32, then the cap of 40"
        );
        assert_eq!(limiter.allowed(), 40);
        drop(held);

        let limiter = Limiter::new(100);
        succeed_full_round(&limiter).await;
        throttle_burst(&limiter, 32).await;
        let held: Vec<_> = futures::future::join_all((0..16).map(|_| limiter.acquire())).await;
        let waited = tokio::time::timeout(MIN_ROUND * 10, limiter.acquire()).await;
        assert!(waited.is_err(), "after a 429, only answers make room");
        drop(held);
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_429_ends_slow_start() {
        let limiter = Limiter::new(100);
        succeed_full_round(&limiter).await;
        throttle_burst(&limiter, 32).await;
        assert_eq!(limiter.allowed(), 16, "half of the 32 in flight");
        for _ in 0..3 {
            succeed_full_round(&limiter).await;
        }
        assert_eq!(
            limiter.allowed(),
            16,
            "a place a round trip of MIN_ROUND now"
        );
    }
}
