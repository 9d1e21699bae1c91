//! The process-wide token cache, shared by `get_token`, every session, every
//! thread and every task.
//!
//! A cache entry (a [`Slot`]) holds one credential's token behind an
//! `ArcSwapOption`, so a hit is a hash lookup under a read lock plus an atomic
//! load: no runtime, no network, no contended lock. A miss starts at most one
//! token request per entry (a "flight"): a shared future that every concurrent
//! caller awaits, so they all get its token or its error. The slot keeps only a
//! weak handle on the flight, so when every waiter gives up (Ctrl-C, a
//! cancelled task) the request itself is dropped and cancelled.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use futures::future::{BoxFuture, FutureExt, Shared, WeakShared};
use hashbrown::{Equivalent, HashMap};

use crate::config;
use crate::errors::{Error, Result};
use crate::logging;
use crate::runtime;
use crate::token::{Credentials, SendOptions, Token, TokenRequest};

/// A token request in flight, as every waiter sees it.
pub type Flight = Shared<BoxFuture<'static, Result<Arc<Token>>>>;

/// Either a cached token or the flight that will bring one.
pub enum Lookup {
    Cached(Arc<Token>),
    Pending(Flight),
}

/// The cache every part of druva shares.
pub fn global() -> &'static TokenCache {
    static CACHE: LazyLock<TokenCache> = LazyLock::new(TokenCache::default);
    &CACHE
}

/// Tokens by (token URL, client id, scope), then by secret: a wrong secret
/// never matches the entry of the right one.
///
/// The cache is bounded: past [`CAPACITY`] entries, the entries that nothing
/// but the cache holds (no session, no flight, no memo) are dropped, least
/// recently looked up first, so a long-lived service that rotates secrets
/// does not grow without bound. An entry a session holds is never dropped.
#[derive(Default)]
pub struct TokenCache {
    entries: RwLock<HashMap<Key, Vec<Arc<Slot>>>>,
    /// How many entries `entries` holds, and the clock of their last use.
    count: AtomicUsize,
    clock: AtomicU64,
    /// The count past which the next eviction pass runs (0: [`CAPACITY`]):
    /// a pass that could drop little is not repeated on every insertion.
    evict_above: AtomicUsize,
}

/// The number of entries past which unused ones are dropped.
pub const CAPACITY: usize = 1024;

#[derive(Debug, PartialEq, Eq)]
struct Key {
    token_url: String,
    client_id: String,
    scope: Option<String>,
}

/// A borrowed [`Key`], so a lookup allocates nothing.
struct KeyRef<'a> {
    token_url: &'a str,
    client_id: &'a str,
    scope: Option<&'a str>,
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        KeyRef {
            token_url: &self.token_url,
            client_id: &self.client_id,
            scope: self.scope.as_deref(),
        }
        .hash(state);
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.token_url.hash(state);
        self.client_id.hash(state);
        self.scope.hash(state);
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.token_url == key.token_url
            && self.client_id == key.client_id
            && self.scope == key.scope.as_deref()
    }
}

impl TokenCache {
    /// The client-credentials entry for these credentials, if one exists,
    /// without allocating.
    pub fn find(
        &self,
        token_url: &str,
        credentials: &Credentials,
        scope: Option<&str>,
    ) -> Option<Arc<Slot>> {
        self.find_granted(token_url, credentials, scope, false)
    }

    /// The entry for these credentials and kind of grant (an MSP customer's
    /// exchanged token or not), if one exists.
    fn find_granted(
        &self,
        token_url: &str,
        credentials: &Credentials,
        scope: Option<&str>,
        customer: bool,
    ) -> Option<Arc<Slot>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let key = KeyRef {
            token_url,
            client_id: credentials.client_id(),
            scope,
        };
        let slot = entries
            .get(&key)?
            .iter()
            .find(|slot| slot.holds(credentials, customer))?;
        slot.last_used
            .store(self.clock.load(Ordering::Relaxed), Ordering::Relaxed);
        Some(Arc::clone(slot))
    }

    /// The entry for `request`, created on first use.
    pub fn slot(&self, request: &TokenRequest) -> Arc<Slot> {
        let token_url = request.token_url.as_str();
        let scope = request.scope.as_deref();
        let customer = request.grant.is_customer();
        if let Some(slot) = self.find_granted(token_url, &request.credentials, scope, customer) {
            return slot;
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let slots = entries
            .entry(Key {
                token_url: token_url.to_owned(),
                client_id: request.credentials.client_id().to_owned(),
                scope: request.scope.clone(),
            })
            .or_default();
        // Another thread may have added it between the two locks.
        if let Some(slot) = slots
            .iter()
            .find(|slot| slot.holds(&request.credentials, customer))
        {
            return Arc::clone(slot);
        }
        let slot = Arc::new(Slot::new(request.clone()));
        slot.last_used.store(
            self.clock.fetch_add(1, Ordering::Relaxed) + 1,
            Ordering::Relaxed,
        );
        slots.push(Arc::clone(&slot));
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let threshold = match self.evict_above.load(Ordering::Relaxed) {
            0 => CAPACITY,
            threshold => threshold,
        };
        if count > threshold {
            self.evict_unused(&mut entries);
            let left = self.count.load(Ordering::Relaxed);
            self.evict_above
                .store(CAPACITY.max(left + CAPACITY / 4), Ordering::Relaxed);
        }
        slot
    }

    /// Drops the least recently used entries that only the cache holds,
    /// down to three quarters of [`CAPACITY`] if it can.
    fn evict_unused(&self, entries: &mut HashMap<Key, Vec<Arc<Slot>>>) {
        let mut unused: Vec<u64> = entries
            .values()
            .flatten()
            .filter(|slot| Arc::strong_count(slot) == 1)
            .map(|slot| slot.last_used.load(Ordering::Relaxed))
            .collect();
        let excess = self
            .count
            .load(Ordering::Relaxed)
            .saturating_sub(CAPACITY * 3 / 4);
        if unused.is_empty() || excess == 0 {
            return;
        }
        unused.sort_unstable();
        let Some(&newest_dropped) = unused.get(excess.min(unused.len()) - 1) else {
            return;
        };
        let mut dropped = 0;
        entries.retain(|_, slots| {
            slots.retain(|slot| {
                let drop = Arc::strong_count(slot) == 1
                    && slot.last_used.load(Ordering::Relaxed) <= newest_dropped;
                dropped += usize::from(drop);
                !drop
            });
            !slots.is_empty()
        });
        self.count.fetch_sub(dropped, Ordering::Relaxed);
        logging::debug!("token cache: dropped {dropped} entries no session uses");
    }

    /// How many entries the cache holds.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One credential's token and its flight.
pub struct Slot {
    request: TokenRequest,
    token: ArcSwapOption<Token>,
    flight: Mutex<Option<FlightHandle>>,
    /// The runtime generation in which a background renewal is under way
    /// ([`NOT_RENEWING`]: none), so that callers inside the leeway window keep the valid
    /// token at cache-hit speed while it runs. A fork starts a new generation.
    renewing: AtomicU64,
    /// The token whose renewal the token endpoint refused: it is served
    /// until it expires, and not renewed again in the background.
    refused_renewal: Mutex<Option<Arc<Token>>>,
    /// The cache's clock when this entry was last looked up.
    last_used: AtomicU64,
}

struct FlightHandle {
    id: u64,
    generation: u64,
    future: WeakShared<BoxFuture<'static, Result<Arc<Token>>>>,
}

static FLIGHT_IDS: AtomicU64 = AtomicU64::new(0);

/// No background renewal is under way (no generation is this large).
const NOT_RENEWING: u64 = u64::MAX;

/// The backoff between background renewal attempts: from 1 s, doubling to 30 s.
const RENEWAL_BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));

impl Slot {
    fn new(request: TokenRequest) -> Self {
        Slot {
            request,
            token: ArcSwapOption::empty(),
            flight: Mutex::new(None),
            renewing: AtomicU64::new(NOT_RENEWING),
            refused_renewal: Mutex::new(None),
            last_used: AtomicU64::new(0),
        }
    }

    /// Whether this is the entry of `credentials` for this kind of grant.
    fn holds(&self, credentials: &Credentials, customer: bool) -> bool {
        self.request.grant.is_customer() == customer
            && self.request.credentials.same_as(credentials)
    }

    /// The cached token if it may be served without the runtime: fresh
    /// under `leeway`, or still valid while a background renewal runs. The
    /// cache-hit path: no runtime, no I/O.
    pub fn fresh_token(&self, leeway: Duration) -> Option<Arc<Token>> {
        let token = self.token.load_full()?;
        let now = Instant::now();
        if !token.is_fresh(leeway, now) {
            let renewing = self.renewing.load(Ordering::Acquire) == runtime::generation();
            if !(renewing && token.is_valid(now)) {
                return None;
            }
        }
        logging::debug!("token for {} served from cache", self.request.describe());
        Some(token)
    }

    /// The cached token, or the flight that fetches one (joining any flight
    /// already under way). A token inside its leeway window but still valid
    /// is served at once while one background renewal starts (single
    /// flight). `force_refresh` skips the cached token.
    pub fn lookup(
        self: &Arc<Self>,
        options: &SendOptions,
        leeway: Duration,
        force_refresh: bool,
    ) -> Lookup {
        if !force_refresh {
            if let Some(token) = self.fresh_token(leeway) {
                return Lookup::Cached(token);
            }
        }
        let mut flight = self.flight.lock().unwrap_or_else(PoisonError::into_inner);
        let generation = runtime::generation();
        let current = self.token.load_full();
        let valid = current
            .as_ref()
            .filter(|token| !force_refresh && token.is_valid(Instant::now()));
        if let Some(handle) = flight.as_ref().filter(|h| h.generation == generation) {
            if let Some(future) = handle.future.upgrade() {
                return match valid {
                    // A renewal is under way: the valid token meanwhile.
                    Some(token) => Lookup::Cached(Arc::clone(token)),
                    None => Lookup::Pending(future),
                };
            }
        }
        // Checked again under the flight lock: a flight may have just landed.
        if !force_refresh {
            if let Some(token) = self.fresh_token(leeway) {
                return Lookup::Cached(token);
            }
        }
        let id = FLIGHT_IDS.fetch_add(1, Ordering::Relaxed);
        // A flight serves every caller that joins it, so the impatience of
        // the one that started it does not bound it: each caller bounds its
        // own wait (see `get`), and the flight ends when nobody waits.
        let flight_options = SendOptions {
            timeout: options.timeout.max(config::TIMEOUT),
            ..options.clone()
        };
        if let Some(token) = valid {
            if self.renewal_was_refused(token) {
                return Lookup::Cached(Arc::clone(token));
            }
            // In the leeway window: renew in the background, serve the
            // valid token. The runtime task keeps the flight alive.
            let future = Arc::clone(self)
                .fly(id, flight_options, Some(Arc::clone(token)))
                .boxed()
                .shared();
            if let (Some(weak), Ok(handle)) = (future.downgrade(), runtime::handle()) {
                *flight = Some(FlightHandle {
                    id,
                    generation,
                    future: weak,
                });
                self.renewing.store(generation, Ordering::Release);
                handle.spawn(async move {
                    let _ = future.await;
                });
            }
            return Lookup::Cached(Arc::clone(token));
        }
        let future = Arc::clone(self)
            .fly(id, flight_options, None)
            .boxed()
            .shared();
        if let Some(weak) = future.downgrade() {
            *flight = Some(FlightHandle {
                id,
                generation,
                future: weak,
            });
        }
        Lookup::Pending(future)
    }

    fn renewal_was_refused(&self, token: &Arc<Token>) -> bool {
        let refused = self
            .refused_renewal
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        refused
            .as_ref()
            .is_some_and(|refused| Arc::ptr_eq(refused, token))
    }

    /// A token for the caller: the cached one or the result of a flight.
    /// The caller waits at most `options.timeout` (its own bound): a flight
    /// it gave up on goes on for the other callers waiting for it.
    pub async fn get(
        self: Arc<Self>,
        options: SendOptions,
        leeway: Duration,
        force_refresh: bool,
    ) -> Result<Arc<Token>> {
        let patience = options.timeout;
        let flight = match self.lookup(&options, leeway, force_refresh) {
            Lookup::Cached(token) => return Ok(token),
            Lookup::Pending(flight) => flight,
        };
        if let Ok(result) = tokio::time::timeout(patience, flight).await {
            return result;
        }
        Err(Error::Timeout {
            message: format!(
                "timed out after {:.3} s waiting for the token from {} (the token request \
                 goes on for any other caller waiting for it); raise `timeout=` if the \
                 token endpoint is slow",
                patience.as_secs_f64(),
                self.request
                    .token_url
                    .host_str()
                    .unwrap_or("the token endpoint")
            ),
        })
    }

    /// Drops `token` if it is still the cached one: the API refused it.
    /// A token that another caller already replaced stays.
    pub fn invalidate(&self, token: &Arc<Token>) {
        let current = self.token.load();
        if current
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, token))
        {
            self.token.compare_and_swap(&*current, None);
            logging::debug!(
                "token for {} dropped after the API refused it",
                self.request.describe()
            );
        }
    }

    /// One flight: fetches a token and caches it. A background renewal of
    /// the still-valid `renewing` token retries a failure with backoff until
    /// that token expires, while callers keep it; one WARNING says so. A
    /// refusal of the credentials is not retried. A flight that callers wait
    /// for (no valid token, or `force_refresh`) hands them its first error.
    async fn fly(
        self: Arc<Self>,
        id: u64,
        options: SendOptions,
        renewing: Option<Arc<Token>>,
    ) -> Result<Arc<Token>> {
        let replacing = self.token.load().is_some();
        let mut backoff = RENEWAL_BACKOFF.0;
        let mut warned = false;
        let result = loop {
            let result = self.request.fetch(&options).await.map(Arc::new);
            let Err(error) = &result else { break result };
            let Some(valid) = renewing.as_ref().filter(|t| t.is_valid(Instant::now())) else {
                break result;
            };
            if matches!(error, Error::Authentication { .. }) {
                logging::warning!(
                    "renewing the token for {} was refused ({error}); the current token \
                     stays in use until it expires in {} s",
                    self.request.describe(),
                    valid.expires_in(Instant::now())
                );
                *self
                    .refused_renewal
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(valid));
                break result;
            }
            if !warned {
                warned = true;
                logging::warning!(
                    "renewing the token for {} failed ({error}); the current token stays \
                     in use (it expires in {} s) and renewal is retried",
                    self.request.describe(),
                    valid.expires_in(Instant::now())
                );
            }
            let until_expiry = valid.expires().saturating_duration_since(Instant::now());
            tokio::time::sleep(backoff.min(until_expiry)).await;
            backoff = (backoff * 2).min(RENEWAL_BACKOFF.1);
        };
        if let Ok(token) = &result {
            self.token.store(Some(Arc::clone(token)));
            logging::info!(
                "token {} for {} from {} (expires in {} s)",
                if replacing { "renewed" } else { "fetched" },
                self.request.describe(),
                self.request.token_url.path(),
                token.lifetime.as_secs()
            );
        }
        let mut flight = self.flight.lock().unwrap_or_else(PoisonError::into_inner);
        if flight.as_ref().is_some_and(|handle| handle.id == id) {
            *flight = None;
            self.renewing.store(NOT_RENEWING, Ordering::Release);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::RetryPolicy;
    use url::Url;

    fn request(secret: &str) -> TokenRequest {
        TokenRequest {
            token_url: Url::parse("http://127.0.0.1:9/token").unwrap(),
            credentials: Arc::new(Credentials::new("client", secret).unwrap()),
            scope: None,
            grant: crate::token::Grant::ClientCredentials,
        }
    }

    #[test]
    fn a_wrong_secret_never_finds_the_right_ones_entry() {
        let cache = TokenCache::default();
        let right = cache.slot(&request("right"));
        assert!(Arc::ptr_eq(&right, &cache.slot(&request("right"))));
        let wrong = cache.slot(&request("wrong"));
        assert!(!Arc::ptr_eq(&right, &wrong));
        let url = "http://127.0.0.1:9/token";
        let credentials = |secret| Credentials::new("client", secret).unwrap();
        let found = cache.find(url, &credentials("right"), None).unwrap();
        assert!(Arc::ptr_eq(&found, &right));
        assert!(cache.find(url, &credentials("nope"), None).is_none());
        assert!(cache
            .find(url, &credentials("right"), Some("read"))
            .is_none());
    }

    #[test]
    fn the_cache_drops_unused_entries_least_recently_used_first() {
        let cache = TokenCache::default();
        let held = cache.slot(&request("held by a session"));
        let first = cache.slot(&request("looked up again"));
        drop(first);
        for n in 0..CAPACITY {
            cache.slot(&request(&format!("rotated secret {n}")));
            if n == CAPACITY / 2 {
                // A lookup makes it recent again.
                drop(cache.slot(&request("looked up again")));
            }
        }
        assert!(cache.len() <= CAPACITY, "{} entries", cache.len());
        assert!(cache.len() >= CAPACITY / 2);
        let url = "http://127.0.0.1:9/token";
        let found = |secret: &str| {
            let credentials = Credentials::new("client", secret).unwrap();
            cache.find(url, &credentials, None).is_some()
        };
        assert!(found("held by a session"), "a held entry is never dropped");
        assert!(Arc::ptr_eq(
            &held,
            &cache.slot(&request("held by a session"))
        ));
        assert!(found("looked up again"));
        assert!(
            !found("rotated secret 0"),
            "the oldest unused entries go first"
        );
        assert!(found(&format!("rotated secret {}", CAPACITY - 1)));
    }

    #[test]
    fn concurrent_lookups_share_one_flight() {
        let cache = TokenCache::default();
        let slot = cache.slot(&request("s"));
        let options = SendOptions {
            client: crate::http::ClientOptions::default()
                .shared_client()
                .unwrap(),
            timeout: Duration::from_secs(1),
            retry: RetryPolicy::with_max_retries(0),
        };
        let _guard = runtime::runtime().unwrap().enter();
        let first = slot.lookup(&options, Duration::ZERO, false);
        let second = slot.lookup(&options, Duration::ZERO, false);
        match (first, second) {
            (Lookup::Pending(a), Lookup::Pending(b)) => assert!(a.ptr_eq(&b)),
            _ => panic!("expected one shared flight"),
        }
    }
}
