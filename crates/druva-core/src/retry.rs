//! Retries, in one place: which outcomes are retried, how long to wait before
//! the next attempt (exponential backoff with full jitter, or the server's
//! `Retry-After`), and the one loop that token requests and API calls share.
//!
//! Two budgets bound a call's retries. Gateway errors (502–504) and transient
//! transport failures count against `max_retries`. A 429 says the request was
//! not processed, so it is retried for every method; its waits count against
//! `rate_limit_wait` instead, and a wait that would pass it is not taken.
//! A session's 429s are paced by its limiter (see [`Pace`]): the throttled
//! call waits one pacing interval, or the server's `Retry-After` if longer,
//! and queues again behind the limiter.
//! A call's `timeout` bounds the whole call (every attempt and every other
//! wait), the waits on 429s aside: a retry whose wait would pass that
//! deadline is not attempted. [`Retrying`] owns every decision between two
//! attempts, and nothing else decides them.

use std::future::Future;
use std::time::{Duration, SystemTime};

use rand::Rng;

use crate::config;
use crate::deadline::Deadline;
use crate::errors::Result;
use crate::logging;
use crate::response::Response;

/// Statuses that say "try again later": rate limiting and gateway trouble.
pub const RETRYABLE_STATUSES: [u16; 4] = [429, 502, 503, 504];

/// The status of a request the server refused to process for now.
pub const RATE_LIMITED: u16 = 429;

/// The shortest wait after a 429 when nothing paces the call (a token
/// request), even when `Retry-After` says less (or 0): resending at once
/// would only be throttled again. A paced call waits what its pacer says.
pub const MIN_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

/// Which failed outcomes a call may send again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryScope {
    /// None at all (`retry=False`).
    Never,
    /// Only 429s: a throttled request was not processed, so resending it is
    /// safe for any method (a POST or PATCH by default).
    RateLimits,
    /// 429s, 502–504 and transient transport failures (idempotent methods by
    /// default, any method with `retry=True`, token requests).
    All,
}

impl RetryScope {
    /// The scope of an API call: `retry` as the caller gave it (`None`:
    /// everything for idempotent methods, rate limits only for the others).
    pub fn for_call(method: &str, retry: Option<bool>) -> Self {
        match retry {
            Some(false) => RetryScope::Never,
            Some(true) => RetryScope::All,
            None if is_idempotent(method) => RetryScope::All,
            None => RetryScope::RateLimits,
        }
    }
}

/// How often and how patiently a request is retried.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after 502–504 and transport failures; 0 disables them.
    pub max_retries: u32,
    /// The backoff ceiling of the first such retry; doubles with each further one.
    pub base_delay: Duration,
    /// No computed backoff waits longer than this.
    pub max_delay: Duration,
    /// A server's `Retry-After` on a 502–504 is honoured up to this long.
    pub max_retry_after: Duration,
    /// How long one call may wait in all on 429s; 0 disables their retries.
    pub rate_limit_wait: Duration,
    /// The backoff ceiling of the first retry after a 429 without
    /// `Retry-After` when nothing paces the call (a token request); doubles
    /// with each further one, up to the max.
    pub rate_limit_base_delay: Duration,
    pub rate_limit_max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: config::MAX_RETRIES,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
            rate_limit_wait: config::RATE_LIMIT_WAIT,
            rate_limit_base_delay: Duration::from_secs(1),
            rate_limit_max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The default policy with these two budgets.
    pub fn new(max_retries: u32, rate_limit_wait: Duration) -> Self {
        RetryPolicy {
            max_retries,
            rate_limit_wait,
            ..RetryPolicy::default()
        }
    }

    /// The default policy with `max_retries` (tests build their policies so).
    #[cfg(test)]
    pub fn with_max_retries(max_retries: u32) -> Self {
        RetryPolicy::new(max_retries, config::RATE_LIMIT_WAIT)
    }

    /// Whether attempt number `retry` (1 for the first retry) is still allowed.
    pub fn allows(&self, retry: u32) -> bool {
        retry <= self.max_retries
    }

    /// The wait before retry number `retry` (1-based) after a 502–504 or a
    /// transport failure: the server's `Retry-After` when it sent a usable
    /// one (capped), else full-jitter backoff from `base_delay`.
    pub fn delay(&self, retry: u32, retry_after: Option<&str>) -> Duration {
        if let Some(wait) = parse_header(retry_after) {
            return wait.min(self.max_retry_after);
        }
        full_jitter(self.base_delay, retry, self.max_delay)
    }

    /// The wait before the `retry`-th retry (1-based) after a 429. Paced
    /// (`paced`: the pacer's wait): that wait, or the server's `Retry-After`
    /// if longer. Unpaced: the server's `Retry-After` (at least
    /// [`MIN_RATE_LIMIT_WAIT`]), else full-jitter backoff from
    /// `rate_limit_base_delay`. Never capped: the budget decides whether it
    /// is taken.
    pub fn rate_limit_delay(
        &self,
        retry: u32,
        retry_after: Option<&str>,
        paced: Option<Duration>,
    ) -> Duration {
        match (parse_header(retry_after), paced) {
            (Some(wait), Some(paced)) => wait.max(paced),
            (Some(wait), None) => wait.max(MIN_RATE_LIMIT_WAIT),
            (None, Some(paced)) => paced,
            (None, None) => {
                full_jitter(self.rate_limit_base_delay, retry, self.rate_limit_max_delay)
            }
        }
    }
}

fn parse_header(retry_after: Option<&str>) -> Option<Duration> {
    retry_after.and_then(|value| parse_retry_after(value, SystemTime::now()))
}

/// A uniform draw from zero to `base * 2^(retry-1)`, capped at `max`.
pub fn full_jitter(base: Duration, retry: u32, max: Duration) -> Duration {
    let exponent = retry.saturating_sub(1).min(20);
    let ceiling = base.saturating_mul(1u32 << exponent).min(max);
    let fraction: f64 = rand::rng().random_range(0.0..=1.0);
    ceiling.mul_f64(fraction)
}

/// What the retry loop judges of an attempt's outcome.
pub trait Outcome {
    /// The server's answer or the transport failure, to be judged; `None`
    /// when the attempt could not be made at all (no token, say), which ends
    /// the loop with the outcome as it is.
    fn sent(&self) -> Option<&Result<Response>>;
}

/// An attempt that always reaches the point of sending.
impl Outcome for Result<Response> {
    fn sent(&self) -> Option<&Result<Response>> {
        Some(self)
    }
}

/// An attempt that may fail before it sends (the outer `Err`).
impl Outcome for Result<Result<Response>> {
    fn sent(&self) -> Option<&Result<Response>> {
        self.as_ref().ok()
    }
}

/// What paces a call's retries after a 429 (a session's limiter): the call
/// waits this long, then queues for its turn again.
pub trait Pace: std::fmt::Debug + Sync {
    /// How long a throttled call waits before it queues again.
    fn wait_after_throttle(&self) -> Duration;
}

/// The retries of one call: attempts are repeated while the outcome is
/// retryable within the call's [`RetryScope`] and the policy's budgets, and
/// the outcome of the last attempt is returned as it is.
///
/// ```
/// # async fn example() {
/// use druva_core::retry::{RetryPolicy, Retrying};
/// # use druva_core::errors::{Error, Result};
/// # use druva_core::response::Response;
/// # async fn send_once() -> Result<Response> { Err(Error::protocol("offline")) }
/// let policy = RetryPolicy::default();
/// let outcome: Result<Response> = Retrying::new(&policy, "GET /insync/usermanagement/v1/users")
///     .run(|_attempt| send_once())
///     .await;
/// # }
/// ```
#[derive(Debug)]
pub struct Retrying<'a> {
    policy: &'a RetryPolicy,
    /// Names the call in log records ("GET /path", "token request for abcd***").
    what: &'a str,
    scope: RetryScope,
    budget: Budget,
    pace: Option<&'a dyn Pace>,
}

/// What a call has spent of its budgets: its retries, its waits on 429s and
/// its time. A call made again later continues it (a page fetched ahead,
/// then again when the caller reaches it), so it never gets two budgets.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Retries after 502–504 and transport failures, against `max_retries`.
    retries: u32,
    /// Retries after 429s, and the time waited on them, against `rate_limit_wait`.
    rate_limited: u32,
    waited_on_rate_limits: Duration,
    /// When the call must be over, postponed by each wait on a 429.
    deadline: Option<Deadline>,
    /// A retry was refused because a budget ran out.
    exhausted: bool,
}

impl Budget {
    fn new() -> Self {
        Budget {
            retries: 0,
            rate_limited: 0,
            waited_on_rate_limits: Duration::ZERO,
            deadline: None,
            exhausted: false,
        }
    }

    /// Whether the call has nothing left for another attempt: a retry was
    /// refused for want of budget, or its deadline has passed.
    pub fn is_spent(&self) -> bool {
        self.exhausted || self.deadline.is_some_and(|deadline| deadline.has_passed())
    }
}

/// One attempt of a call, as the retry loop hands it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// Retries before this attempt: 0 for the first.
    pub retry: u32,
    /// The call's deadline, its 429 waits added: this attempt's own bound.
    /// `None` when the call has no overall timeout.
    pub deadline: Option<Deadline>,
}

/// Why an outcome may deserve another attempt.
enum Retryable {
    RateLimited,
    Transient,
}

impl<'a> Retrying<'a> {
    /// A call that may retry everything under `policy`; `what` names it in
    /// the INFO record of each retry, and must hold no secret.
    pub fn new(policy: &'a RetryPolicy, what: &'a str) -> Self {
        Retrying {
            policy,
            what,
            scope: RetryScope::All,
            budget: Budget::new(),
            pace: None,
        }
    }

    /// Paces the retries after a 429 by `pace` (see [`Pace`]).
    #[must_use]
    pub fn paced_by(self, pace: &'a dyn Pace) -> Self {
        Retrying {
            pace: Some(pace),
            ..self
        }
    }

    /// Bounds the whole call, every attempt and wait but those on 429s, by
    /// `deadline`.
    #[must_use]
    pub fn deadline(mut self, deadline: Deadline) -> Self {
        self.budget.deadline = Some(deadline);
        self
    }

    /// Continues a call that an earlier run left with `budget`: the same
    /// deadline, the retries and the 429 waits it has left.
    #[must_use]
    pub fn continuing(self, budget: Budget) -> Self {
        Retrying { budget, ..self }
    }

    /// What the call has spent so far.
    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// What this call may retry (see [`RetryScope::for_call`]).
    #[must_use]
    pub fn scope(self, scope: RetryScope) -> Self {
        Retrying { scope, ..self }
    }

    /// Runs `attempt` (told its number and its share of the timeout) until
    /// its outcome is final, waiting between attempts, and returns the last
    /// outcome.
    pub async fn run<O, F, Fut>(self, attempt: F) -> O
    where
        O: Outcome,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = O>,
    {
        self.run_spending(attempt).await.0
    }

    /// [`Retrying::run`], returning also what the call spent of its budgets,
    /// for a later run to continue ([`Retrying::continuing`]).
    pub async fn run_spending<O, F, Fut>(mut self, mut attempt: F) -> (O, Budget)
    where
        O: Outcome,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = O>,
    {
        loop {
            let outcome = attempt(Attempt {
                retry: self.budget.retries.saturating_add(self.budget.rate_limited),
                deadline: self.budget.deadline,
            })
            .await;
            let Some(wait) = outcome.sent().and_then(|sent| self.next_wait(sent)) else {
                return (outcome, self.budget);
            };
            // The body of a retried attempt is not held through the wait.
            drop(outcome);
            tokio::time::sleep(wait).await;
        }
    }

    /// The wait before the next attempt, or `None` when `sent` is final.
    /// Counts and logs the retry it allows.
    pub fn next_wait(&mut self, sent: &Result<Response>) -> Option<Duration> {
        match self.retryable(sent)? {
            Retryable::RateLimited => self.rate_limit_wait(sent),
            Retryable::Transient => self.transient_wait(sent),
        }
    }

    fn retryable(&self, sent: &Result<Response>) -> Option<Retryable> {
        let kind = match sent {
            Ok(response) if response.status_code == RATE_LIMITED => Retryable::RateLimited,
            Ok(response) if is_transient_answer(response) => Retryable::Transient,
            Err(error) if error.is_transient_transport() => Retryable::Transient,
            _ => return None,
        };
        let allowed = match (&kind, self.scope) {
            (_, RetryScope::Never) | (Retryable::Transient, RetryScope::RateLimits) => false,
            (Retryable::RateLimited, _) | (Retryable::Transient, RetryScope::All) => true,
        };
        allowed.then_some(kind)
    }

    fn rate_limit_wait(&mut self, sent: &Result<Response>) -> Option<Duration> {
        let retry = self.budget.rate_limited.saturating_add(1);
        let paced = self.pace.map(Pace::wait_after_throttle);
        let wait = self
            .policy
            .rate_limit_delay(retry, retry_after(sent), paced);
        let budget = self.policy.rate_limit_wait;
        let waited = self.budget.waited_on_rate_limits.saturating_add(wait);
        if waited > budget {
            self.budget.exhausted = true;
            logging::info!(
                "{} answered 429; not retried: waiting {:.3} s more would pass \
                 rate_limit_wait ({:.0} s, {:.3} s already waited)",
                self.what,
                wait.as_secs_f64(),
                budget.as_secs_f64(),
                self.budget.waited_on_rate_limits.as_secs_f64()
            );
            return None;
        }
        self.budget.rate_limited = retry;
        self.budget.waited_on_rate_limits = waited;
        self.budget.deadline = self
            .budget
            .deadline
            .map(|deadline| deadline.postponed(wait));
        logging::info!(
            "{} answered 429; rate-limited retry {retry} in {:.3} s \
             ({:.3} s of rate_limit_wait {:.0} s used)",
            self.what,
            wait.as_secs_f64(),
            waited.as_secs_f64(),
            budget.as_secs_f64()
        );
        Some(wait)
    }

    fn transient_wait(&mut self, sent: &Result<Response>) -> Option<Duration> {
        let retry = self.budget.retries.saturating_add(1);
        if !self.policy.allows(retry) {
            self.budget.exhausted = true;
            return None;
        }
        let wait = self.policy.delay(retry, retry_after(sent));
        if let Some(time_left) = self.budget.deadline.map(|deadline| deadline.remaining()) {
            if wait >= time_left {
                self.budget.exhausted = true;
                logging::info!(
                    "{} {}; not retried: waiting {:.3} s would pass the call's timeout \
                     ({:.3} s left)",
                    self.what,
                    describe(sent),
                    wait.as_secs_f64(),
                    time_left.as_secs_f64()
                );
                return None;
            }
        }
        self.budget.retries = retry;
        logging::info!(
            "{} {}; retry {retry} of {} in {:.3} s",
            self.what,
            describe(sent),
            self.policy.max_retries,
            wait.as_secs_f64()
        );
        Some(wait)
    }
}

fn describe(sent: &Result<Response>) -> String {
    match sent {
        Ok(response) => format!("answered {}", response.status_code),
        Err(error) => format!("failed ({error})"),
    }
}

fn retry_after(sent: &Result<Response>) -> Option<&str> {
    sent.as_ref()
        .ok()
        .and_then(|response| response.header("retry-after"))
}

/// Whether a status is worth retrying.
pub fn is_retryable_status(status: u16) -> bool {
    RETRYABLE_STATUSES.contains(&status)
}

/// Whether an answer other than a 429 is retried like a 503 (DESIGN,
/// "Druva's retry hint"): its body's `retryable: true` makes any error
/// status so, `retryable: false` none, and without the hint the status
/// decides. 401 and 403 keep their own rule (a token renewal), whatever the
/// body says.
fn is_transient_answer(response: &Response) -> bool {
    if crate::response::refuses_bearer(response.status_code) {
        return false;
    }
    match response.retry_hint() {
        Some(retryable) => retryable,
        None => is_retryable_status(response.status_code),
    }
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
    use crate::errors::Error;
    use bytes::Bytes;
    use reqwest::header::HeaderValue;
    use std::sync::Mutex;

    fn answer(status_code: u16, retry_after: Option<&'static str>) -> Response {
        let url = "https://apis.druva.com/insync/usermanagement/v1/users";
        let mut answer = Response::answering(status_code, url, "");
        if let Some(value) = retry_after {
            answer
                .headers
                .insert("retry-after", HeaderValue::from_static(value));
        }
        answer
    }

    fn connection_reset() -> Result<Response> {
        Err(Error::Transport {
            message: "connection reset".into(),
        })
    }

    /// No waiting between attempts, so the tests run at once.
    fn impatient(max_retries: u32) -> RetryPolicy {
        RetryPolicy {
            base_delay: Duration::ZERO,
            ..RetryPolicy::with_max_retries(max_retries)
        }
    }

    /// Runs the loop over `script`, one outcome an attempt (the last one
    /// repeated), and returns the final outcome and the attempt numbers seen.
    async fn run_script(
        retrying: Retrying<'_>,
        script: Vec<Result<Response>>,
    ) -> (Result<Response>, Vec<u32>) {
        let seen = Mutex::new(Vec::new());
        let outcome = retrying
            .run(|attempt| {
                let retry = attempt.retry;
                seen.lock().unwrap().push(retry);
                let index = (retry as usize).min(script.len() - 1);
                let outcome = script[index].clone();
                async move { outcome }
            })
            .await;
        (outcome, seen.into_inner().unwrap())
    }

    fn status(outcome: &Result<Response>) -> u16 {
        outcome.as_ref().unwrap().status_code
    }

    /// Runs a GET with `answer` at every attempt and returns the last
    /// status, the attempt numbers seen and the time the loop waited.
    async fn repeat(policy: &RetryPolicy, answer: Response) -> (u16, Vec<u32>, Duration) {
        let started = tokio::time::Instant::now();
        let (last, attempts) = run_script(Retrying::new(policy, "GET /x"), vec![Ok(answer)]).await;
        (status(&last), attempts, started.elapsed())
    }

    /// Runs one attempt a call, `outcome` each time, and returns what the
    /// run spent and how many attempts it made.
    async fn spend(retrying: Retrying<'_>, outcome: Result<Response>) -> (Budget, u32) {
        let attempts = Mutex::new(0);
        let (_, budget) = retrying
            .run_spending(|_| {
                *attempts.lock().unwrap() += 1;
                let outcome = outcome.clone();
                async move { outcome }
            })
            .await;
        (budget, attempts.into_inner().unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn a_continued_call_has_only_the_retries_its_first_run_left() {
        let policy = impatient(2);
        let (budget, attempts) =
            spend(Retrying::new(&policy, "GET /x"), Ok(answer(503, None))).await;
        assert_eq!(attempts, 3);
        assert!(budget.is_spent());
        // A final answer spends no retry: a later run continues with both.
        let (budget, attempts) =
            spend(Retrying::new(&policy, "GET /x"), Ok(answer(500, None))).await;
        assert_eq!(attempts, 1);
        assert!(!budget.is_spent());
        let continued = Retrying::new(&policy, "GET /x").continuing(budget);
        let (budget, attempts) = spend(continued, Ok(answer(503, None))).await;
        assert_eq!(attempts, 3);
        assert!(budget.is_spent());
    }

    #[tokio::test(start_paused = true)]
    async fn a_continued_call_keeps_its_first_runs_deadline() {
        let policy = impatient(5);
        let (budget, _) = spend(
            Retrying::new(&policy, "GET /x").deadline(Deadline::after(Duration::from_secs(1))),
            Ok(answer(500, None)),
        )
        .await;
        assert!(!budget.is_spent());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(budget.is_spent());
    }

    #[tokio::test]
    async fn a_gateway_error_is_retried_max_retries_times_then_returned() {
        let policy = impatient(3);
        for code in [502, 503, 504] {
            let (last, attempts, _) = repeat(&policy, answer(code, None)).await;
            assert_eq!((last, attempts), (code, vec![0, 1, 2, 3]), "{code}");
        }
    }

    #[tokio::test]
    async fn the_first_final_outcome_ends_the_loop() {
        let policy = impatient(3);
        let script = vec![
            Ok(answer(503, None)),
            Ok(answer(502, None)),
            Ok(answer(200, None)),
        ];
        let (last, attempts) = run_script(Retrying::new(&policy, "GET /x"), script).await;
        assert_eq!(attempts, [0, 1, 2]);
        assert_eq!(status(&last), 200);
    }

    #[tokio::test]
    async fn other_statuses_and_permanent_errors_are_not_retried() {
        let policy = impatient(3);
        for code in [200, 400, 401, 403, 404, 500] {
            let (last, attempts, _) = repeat(&policy, answer(code, None)).await;
            assert_eq!((last, attempts), (code, vec![0]), "{code}");
        }
        let protocol = Err(Error::protocol("not JSON"));
        let (last, attempts) = run_script(Retrying::new(&policy, "GET /x"), vec![protocol]).await;
        assert_eq!(attempts, [0]);
        assert!(matches!(last, Err(Error::Protocol { .. })));
    }

    #[tokio::test]
    async fn transient_transport_errors_are_retried_and_the_last_one_returned() {
        let policy = impatient(2);
        let (last, attempts) =
            run_script(Retrying::new(&policy, "GET /x"), vec![connection_reset()]).await;
        assert_eq!(attempts, [0, 1, 2]);
        assert!(matches!(last, Err(Error::Transport { .. })));
    }

    #[tokio::test]
    async fn a_call_that_may_not_be_retried_gets_one_attempt() {
        let policy = impatient(3);
        for script in [
            vec![Ok(answer(503, None))],
            vec![connection_reset()],
            vec![Ok(answer(429, Some("1"))), Ok(answer(200, None))],
        ] {
            let retrying = Retrying::new(&policy, "POST /x").scope(RetryScope::Never);
            let (_, attempts) = run_script(retrying, script).await;
            assert_eq!(attempts, [0]);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_post_is_retried_on_429_but_not_on_gateway_errors() {
        let policy = impatient(3);
        let scope = RetryScope::for_call("POST", None);
        assert_eq!(scope, RetryScope::RateLimits);
        let script = vec![Ok(answer(429, Some("1"))), Ok(answer(201, None))];
        let (last, attempts) =
            run_script(Retrying::new(&policy, "POST /x").scope(scope), script).await;
        assert_eq!((status(&last), attempts), (201, vec![0, 1]));
        for script in [vec![Ok(answer(503, None))], vec![connection_reset()]] {
            let (_, attempts) =
                run_script(Retrying::new(&policy, "POST /x").scope(scope), script).await;
            assert_eq!(attempts, [0]);
        }
    }

    #[test]
    fn the_scope_of_a_call_follows_its_method_and_retry_argument() {
        assert_eq!(RetryScope::for_call("GET", None), RetryScope::All);
        assert_eq!(RetryScope::for_call("DELETE", None), RetryScope::All);
        assert_eq!(RetryScope::for_call("PATCH", None), RetryScope::RateLimits);
        assert_eq!(RetryScope::for_call("POST", Some(true)), RetryScope::All);
        assert_eq!(RetryScope::for_call("GET", Some(false)), RetryScope::Never);
    }

    /// One answer at every attempt, and the attempts and waits the policy
    /// gives it: each row names the behaviour it shows.
    #[tokio::test(start_paused = true)]
    async fn a_repeated_answer_gets_the_attempts_and_waits_its_policy_allows() {
        let seconds = Duration::from_secs;
        let patient = RetryPolicy {
            base_delay: seconds(3600),
            max_delay: seconds(3600),
            ..RetryPolicy::with_max_retries(2)
        };
        let rows = [
            (
                "zero max_retries means one attempt on a gateway error",
                impatient(0),
                answer(503, None),
                vec![0],
                Duration::ZERO,
            ),
            (
                "a zero rate-limit budget means one attempt on a 429",
                RetryPolicy::new(3, Duration::ZERO),
                answer(429, None),
                vec![0],
                Duration::ZERO,
            ),
            (
                // 50 s, 100 s waited; a third wait would reach 150 s > 120 s.
                "a 429 is retried until the next wait would pass the budget",
                RetryPolicy::new(0, seconds(120)),
                answer(429, Some("50")),
                vec![0, 1, 2],
                seconds(100),
            ),
            (
                "a Retry-After longer than the budget is not waited for",
                RetryPolicy::new(3, seconds(120)),
                answer(429, Some("3600")),
                vec![0],
                Duration::ZERO,
            ),
            (
                "an unpaced 429 waits at least a second whatever Retry-After says",
                RetryPolicy::new(3, Duration::from_millis(2500)),
                answer(429, Some("0")),
                vec![0, 1, 2],
                seconds(2),
            ),
            (
                "Retry-After sets the wait between attempts",
                patient,
                answer(503, Some("5")),
                vec![0, 1, 2],
                seconds(10),
            ),
        ];
        for (behaviour, policy, answer, attempts, waited) in rows {
            let expected = (answer.status_code, attempts, waited);
            assert_eq!(repeat(&policy, answer).await, expected, "{behaviour}");
        }
    }

    /// A pacer that always says the same wait.
    #[derive(Debug)]
    struct FixedPace(Duration);

    impl Pace for FixedPace {
        fn wait_after_throttle(&self) -> Duration {
            self.0
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_paced_429_waits_the_pacers_wait_or_retry_after_if_longer() {
        let policy = RetryPolicy::new(3, Duration::from_secs(120));
        let pace = FixedPace(Duration::from_millis(300));
        for (retry_after, waited) in [(None, 300), (Some("0"), 300), (Some("2"), 2000)] {
            let started = tokio::time::Instant::now();
            let script = vec![Ok(answer(429, retry_after)), Ok(answer(200, None))];
            let retrying = Retrying::new(&policy, "GET /x").paced_by(&pace);
            let (last, attempts) = run_script(retrying, script).await;
            assert_eq!((status(&last), attempts), (200, vec![0, 1]));
            assert_eq!(started.elapsed(), Duration::from_millis(waited));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn paced_429_waits_stop_before_they_would_pass_the_budget() {
        let policy = RetryPolicy::new(0, Duration::from_millis(2500));
        let pace = FixedPace(Duration::from_secs(1));
        let retrying = Retrying::new(&policy, "GET /x").paced_by(&pace);
        let (last, attempts) = run_script(retrying, vec![Ok(answer(429, None))]).await;
        assert_eq!((status(&last), attempts), (429, vec![0, 1, 2]));
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limited_retries_do_not_use_up_max_retries() {
        let policy = RetryPolicy {
            base_delay: Duration::ZERO,
            ..RetryPolicy::new(3, Duration::from_secs(120))
        };
        let script = vec![
            Ok(answer(429, Some("1"))),
            Ok(answer(429, Some("1"))),
            Ok(answer(503, None)),
        ];
        let (last, attempts) = run_script(Retrying::new(&policy, "GET /x"), script).await;
        // Two 429 retries, then 1 + 3 gateway retries of the repeated 503.
        assert_eq!(attempts, [0, 1, 2, 3, 4, 5]);
        assert_eq!(status(&last), 503);
    }

    #[test]
    fn backoff_after_a_429_starts_at_a_second_and_doubles_up_to_a_minute() {
        let policy = RetryPolicy::default();
        for retry in 1..=12 {
            let ceiling = Duration::from_secs(1 << (retry - 1)).min(Duration::from_secs(60));
            for _ in 0..50 {
                assert!(policy.rate_limit_delay(retry, None, None) <= ceiling);
            }
        }
        assert_eq!(
            policy.rate_limit_delay(1, Some("300"), None),
            Duration::from_secs(300)
        );
    }

    #[tokio::test]
    async fn an_attempt_that_could_not_be_made_ends_the_loop() {
        let policy = impatient(3);
        let mut attempts = 0;
        let outcome: Result<Result<Response>> = Retrying::new(&policy, "GET /x")
            .run(|_| {
                attempts += 1;
                async {
                    Err(Error::Transport {
                        message: "no token".into(),
                    })
                }
            })
            .await;
        assert_eq!(attempts, 1);
        assert!(outcome.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_whose_wait_would_pass_the_timeout_is_not_attempted() {
        // Retry-After 60 on a 503, timeout 1 s: the call ends at once with the 503.
        let policy = RetryPolicy::with_max_retries(3);
        let started = tokio::time::Instant::now();
        let retrying =
            Retrying::new(&policy, "GET /x").deadline(Deadline::after(Duration::from_secs(1)));
        let (last, attempts) = run_script(retrying, vec![Ok(answer(503, Some("60")))]).await;
        assert_eq!((status(&last), attempts), (503, vec![0]));
        assert_eq!(started.elapsed(), Duration::ZERO);
        // Waits that fit are taken, and each attempt is told what is left.
        let retrying =
            Retrying::new(&policy, "GET /x").deadline(Deadline::after(Duration::from_secs(10)));
        let mut left = Vec::new();
        let outcome: Result<Response> = retrying
            .run(|attempt| {
                left.push(attempt.deadline.unwrap().remaining());
                async { Ok(answer(503, Some("4"))) }
            })
            .await;
        assert_eq!(status(&outcome), 503);
        assert_eq!(
            left,
            [
                Duration::from_secs(10),
                Duration::from_secs(6),
                Duration::from_secs(2)
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waits_on_429s_do_not_use_up_the_timeout() {
        let policy = RetryPolicy::new(3, Duration::from_secs(120));
        let mut left = Vec::new();
        let mut script = vec![
            Ok(answer(503, Some("1"))),
            Ok(answer(429, Some("30"))),
            Ok(answer(429, Some("30"))),
        ];
        script.reverse();
        let outcome: Result<Response> = Retrying::new(&policy, "GET /x")
            .deadline(Deadline::after(Duration::from_secs(5)))
            .run(|attempt| {
                left.push(attempt.deadline.unwrap().remaining());
                let next = script.pop().unwrap_or_else(|| Ok(answer(200, None)));
                async move { next }
            })
            .await;
        assert_eq!(status(&outcome), 200);
        // 1 s of the 5 went to the 503's wait; the 60 s on 429s took none.
        let seconds = |n| Duration::from_secs(n);
        assert_eq!(left, [seconds(5), seconds(4), seconds(4), seconds(4)]);
    }

    #[test]
    fn next_wait_counts_only_the_retries_it_allows() {
        let policy = impatient(1);
        let mut retrying = Retrying::new(&policy, "GET /x");
        assert_eq!(retrying.next_wait(&Ok(answer(200, None))), None);
        assert_eq!(
            retrying.next_wait(&Ok(answer(503, None))),
            Some(Duration::ZERO)
        );
        assert_eq!(retrying.next_wait(&Ok(answer(503, None))), None);
    }

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

    #[allow(clippy::unnecessary_wraps)] // an outcome of the script
    fn hinted(status_code: u16, retryable: Option<bool>) -> Result<Response> {
        let body = match retryable {
            Some(value) => format!(r#"{{"code": "c", "retryable": {value}, "data": {{}}}}"#),
            None => r#"{"code": "c", "message": "Kindly try again after some time"}"#.to_owned(),
        };
        Ok(Response {
            content: Bytes::from(body),
            ..answer(status_code, None)
        })
    }

    #[tokio::test]
    async fn druvas_retry_hint_decides_for_every_status_but_401_403_and_429() {
        let policy = impatient(2);
        let attempts = |status, retryable, scope| {
            let retrying = Retrying::new(&policy, "GET /x").scope(scope);
            async move {
                run_script(retrying, vec![hinted(status, retryable)])
                    .await
                    .1
                    .len()
            }
        };
        for status in [400, 404, 409, 500, 501, 502, 503] {
            assert_eq!(
                attempts(status, Some(true), RetryScope::All).await,
                3,
                "{status}"
            );
            assert_eq!(
                attempts(status, Some(true), RetryScope::RateLimits).await,
                1,
                "{status}"
            );
            assert_eq!(
                attempts(status, Some(false), RetryScope::All).await,
                1,
                "{status}"
            );
        }
        // No hint: the status rules.
        assert_eq!(attempts(500, None, RetryScope::All).await, 1);
        assert_eq!(attempts(503, None, RetryScope::All).await, 3);
        // 401 and 403 keep their own rule; a 429 is retried whatever it says.
        for status in [401, 403] {
            assert_eq!(
                attempts(status, Some(true), RetryScope::All).await,
                1,
                "{status}"
            );
        }
        let throttled = Retrying::new(&policy, "GET /x");
        let (_, tries) =
            run_script(throttled, vec![hinted(429, Some(false)), hinted(200, None)]).await;
        assert_eq!(tries.len(), 2);
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
