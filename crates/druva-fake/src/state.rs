//! What the fake server knows and remembers: its credentials, the tokens it
//! issued (each for one tenant, or for the MSP), its counters and request log,
//! its queued faults and its tenants' data sets. Shared by every connection;
//! each part behind its own small lock.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;

use super::config::{CaughtUp, FakeConfig, LastPage};
use super::faults::FaultQueue;
use super::lock::lock;
use super::request::{RecordedRequest, RequestKind};
use super::tenant::Tenant;

/// How many requests the log keeps; older ones are forgotten so that a long
/// benchmark does not grow the server without bound.
const REQUEST_LOG_CAPACITY: usize = 10_000;

/// Live tokens are pruned of expired ones when their number reaches this.
const TOKEN_PRUNE_THRESHOLD: usize = 1024;

/// Whom a token was issued to: one tenant's API, or the MSP's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// A tenant's token (index into the tenants): reads only its data.
    Tenant(usize),
    /// An MSP token: reads the MSP API and exchanges customer tokens.
    Msp,
}

/// The state every connection of one server shares.
pub(crate) struct Shared {
    pub client_id: String,
    pub secret: String,
    pub page_size: usize,
    /// Whether the credential is an MSP one (see `tenant`).
    pub msp: bool,
    pub latency: Duration,
    pub max_in_flight: Option<usize>,
    pub tracker_ttl: Option<Duration>,
    pub token_lifetime: Mutex<Duration>,
    pub last_page: Mutex<LastPage>,
    pub caught_up: Mutex<CaughtUp>,
    pub faults: FaultQueue,
    /// One tenant without MSP; with it, the customers in listing order.
    pub tenants: Vec<Arc<Tenant>>,
    in_flight: AtomicUsize,
    /// `rate_limit`'s token bucket; `None` without a limit.
    rate: Option<Mutex<RateBucket>>,
    /// When the server started: trackers carry their issue time from it.
    started: Instant,
    /// Counts caught-up polls, so that a new token can differ from the last.
    polls: AtomicU64,
    token_requests: AtomicU64,
    api_requests: AtomicU64,
    log: Mutex<VecDeque<RecordedRequest>>,
    tokens: Mutex<TokenStore>,
}

/// The tokens issued and not yet expired, each with its deadline.
#[derive(Default)]
struct TokenStore {
    expiries: HashMap<String, (Instant, Scope)>,
    prune_at: usize,
}

impl Shared {
    pub fn new(config: &FakeConfig) -> Self {
        Shared {
            client_id: config.client_id.clone().unwrap_or_else(generate_client_id),
            secret: config.secret.clone().unwrap_or_else(generate_secret),
            page_size: config.page_size,
            msp: config.msp,
            latency: config.latency,
            max_in_flight: config.max_in_flight,
            tracker_ttl: config.tracker_ttl,
            token_lifetime: Mutex::new(config.token_lifetime),
            last_page: Mutex::new(config.last_page),
            caught_up: Mutex::new(config.caught_up),
            faults: FaultQueue::default(),
            tenants: Tenant::generate_all(config)
                .into_iter()
                .map(Arc::new)
                .collect(),
            in_flight: AtomicUsize::new(0),
            rate: config
                .rate_limit
                .map(|rate| Mutex::new(RateBucket::new(rate))),
            started: Instant::now(),
            polls: AtomicU64::new(0),
            token_requests: AtomicU64::new(0),
            api_requests: AtomicU64::new(0),
            log: Mutex::new(VecDeque::new()),
            tokens: Mutex::new(TokenStore {
                expiries: HashMap::new(),
                prune_at: TOKEN_PRUNE_THRESHOLD,
            }),
        }
    }

    pub fn token_requests(&self) -> u64 {
        self.token_requests.load(Ordering::SeqCst)
    }

    pub fn api_requests(&self) -> u64 {
        self.api_requests.load(Ordering::SeqCst)
    }

    /// Counts a request and appends it to the log.
    pub fn record(&self, request: RecordedRequest) {
        let counter = match request.kind {
            RequestKind::Token => &self.token_requests,
            RequestKind::Api => &self.api_requests,
        };
        counter.fetch_add(1, Ordering::SeqCst);
        let mut log = lock(&self.log);
        if log.len() == REQUEST_LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(request);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.log).iter().cloned().collect()
    }

    pub fn reset_counters(&self) {
        let mut log = lock(&self.log);
        self.token_requests.store(0, Ordering::SeqCst);
        self.api_requests.store(0, Ordering::SeqCst);
        log.clear();
    }

    /// Whether both halves of HTTP Basic credentials are the accepted ones.
    pub fn credentials_match(&self, client_id: &str, secret: &str) -> bool {
        client_id == self.client_id && secret == self.secret
    }

    /// Issues a new token for `scope`, valid for the current lifetime.
    pub fn issue_token(&self, scope: Scope) -> (String, Duration) {
        let lifetime = *lock(&self.token_lifetime);
        let token = generate_access_token();
        let now = Instant::now();
        let mut store = lock(&self.tokens);
        if store.expiries.len() >= store.prune_at {
            store.expiries.retain(|_, (expiry, _)| *expiry > now);
            store.prune_at = TOKEN_PRUNE_THRESHOLD.max(2 * store.expiries.len());
        }
        store
            .expiries
            .insert(token.clone(), (now + lifetime, scope));
        (token, lifetime)
    }

    /// Whom `token` was issued to, when it was issued here, has not expired,
    /// and was not expired by [`Shared::expire_tokens`].
    pub fn token_scope(&self, token: &str) -> Option<Scope> {
        lock(&self.tokens)
            .expiries
            .get(token)
            .filter(|(expiry, _)| Instant::now() < *expiry)
            .map(|(_, scope)| *scope)
    }

    pub fn tenant(&self, index: usize) -> Option<&Arc<Tenant>> {
        self.tenants.get(index)
    }

    /// The index of the MSP customer with this ID.
    pub fn customer_index(&self, id: &str) -> Option<usize> {
        if !self.msp {
            return None;
        }
        self.tenants.iter().position(|tenant| tenant.id == id)
    }

    /// Takes a place among the API requests in flight, or `None` when
    /// `max_in_flight` are already there. The place is given back when the
    /// guard drops.
    pub fn enter_flight(&self) -> Option<FlightGuard<'_>> {
        let before = self.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = FlightGuard(&self.in_flight);
        match self.max_in_flight {
            Some(limit) if before >= limit => None,
            _ => Some(guard),
        }
    }

    /// Takes a request's place in `rate_limit`'s bucket: `false` when it is
    /// empty (the request is answered 429).
    pub fn admit_at_rate(&self) -> bool {
        self.rate
            .as_ref()
            .is_none_or(|bucket| lock(bucket).take(Instant::now()))
    }

    /// Milliseconds since the server started: the issue time a tracker
    /// carries.
    pub fn clock_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether a tracker issued at `issued_ms` is past `tracker_ttl`.
    pub fn tracker_expired(&self, issued_ms: u64) -> bool {
        self.tracker_ttl.is_some_and(|ttl| {
            let age = Duration::from_millis(self.clock_ms().saturating_sub(issued_ms));
            age > ttl
        })
    }

    /// A number that differs on every call, for tokens that must change.
    pub fn next_poll(&self) -> u64 {
        self.polls.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub fn caught_up(&self) -> CaughtUp {
        *lock(&self.caught_up)
    }

    pub fn expire_tokens(&self) {
        let mut store = lock(&self.tokens);
        store.expiries.clear();
        store.prune_at = TOKEN_PRUNE_THRESHOLD;
    }

    pub fn last_page(&self) -> LastPage {
        *lock(&self.last_page)
    }
}

/// A token bucket of `rate` requests a second that holds one second's worth:
/// a burst of `rate` passes at once, then one every `1 / rate` seconds.
struct RateBucket {
    rate: f64,
    tokens: f64,
    refilled: Instant,
}

impl RateBucket {
    fn new(rate: usize) -> Self {
        // At most 100 000: exact in an f64.
        #[allow(clippy::cast_precision_loss)]
        let rate = rate as f64;
        RateBucket {
            rate,
            tokens: rate,
            refilled: Instant::now(),
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        self.refilled = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// One API request in flight; dropping it ends the request's stay.
pub(crate) struct FlightGuard<'a>(&'a AtomicUsize);

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A Client ID shaped like Druva's: 32 letters and digits.
fn generate_client_id() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

/// A Secret Key shaped like Druva's: base64, so it may hold `+`, `/` and `=`.
fn generate_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An opaque access token of 100 base64url characters.
fn generate_access_token() -> String {
    let mut bytes = [0u8; 75];
    rand::rng().fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_bucket_lets_one_seconds_worth_through_then_refills_at_the_rate() {
        let start = Instant::now();
        let mut bucket = RateBucket::new(4);
        bucket.refilled = start;
        let burst = (0..10).filter(|_| bucket.take(start)).count();
        assert_eq!(burst, 4);
        assert!(bucket.take(start + Duration::from_millis(250)));
        assert!(!bucket.take(start + Duration::from_millis(260)));
        let after_idle = (0..10)
            .filter(|_| bucket.take(start + Duration::from_secs(60)))
            .count();
        assert_eq!(after_idle, 4, "the bucket holds one second's worth");
    }
}
