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
use std::sync::atomic::{AtomicU64, Ordering};
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
#[derive(Default)]
pub struct TokenCache {
    entries: RwLock<HashMap<Key, Vec<Arc<Slot>>>>,
}

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
        entries
            .get(&key)?
            .iter()
            .find(|slot| slot.holds(credentials, customer))
            .cloned()
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
        slots.push(Arc::clone(&slot));
        slot
    }
}

/// One credential's token and its flight.
pub struct Slot {
    request: TokenRequest,
    token: ArcSwapOption<Token>,
    flight: Mutex<Option<FlightHandle>>,
}

struct FlightHandle {
    id: u64,
    generation: u64,
    future: WeakShared<BoxFuture<'static, Result<Arc<Token>>>>,
}

static FLIGHT_IDS: AtomicU64 = AtomicU64::new(0);

impl Slot {
    fn new(request: TokenRequest) -> Self {
        Slot {
            request,
            token: ArcSwapOption::empty(),
            flight: Mutex::new(None),
        }
    }

    /// Whether this is the entry of `credentials` for this kind of grant.
    fn holds(&self, credentials: &Credentials, customer: bool) -> bool {
        self.request.grant.is_customer() == customer
            && self.request.credentials.same_as(credentials)
    }

    /// The cached token if it is fresh under `leeway`: the cache-hit path.
    pub fn fresh_token(&self, leeway: Duration) -> Option<Arc<Token>> {
        let token = self.token.load_full()?;
        if !token.is_fresh(leeway, Instant::now()) {
            return None;
        }
        logging::debug!("token for {} served from cache", self.request.describe());
        Some(token)
    }

    /// The cached token, or the flight that fetches one (joining any flight
    /// already under way). `force_refresh` skips the cached token.
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
        if let Some(handle) = flight.as_ref().filter(|h| h.generation == generation) {
            if let Some(future) = handle.future.upgrade() {
                return Lookup::Pending(future);
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
        let future = Arc::clone(self).fly(id, flight_options).boxed().shared();
        if let Some(weak) = future.downgrade() {
            *flight = Some(FlightHandle {
                id,
                generation,
                future: weak,
            });
        }
        Lookup::Pending(future)
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

    async fn fly(self: Arc<Self>, id: u64, options: SendOptions) -> Result<Arc<Token>> {
        let renewing = self.token.load().is_some();
        let result = self.request.fetch(&options).await.map(Arc::new);
        if let Ok(token) = &result {
            self.token.store(Some(Arc::clone(token)));
            logging::info!(
                "token {} for {} from {} (expires in {} s)",
                if renewing { "renewed" } else { "fetched" },
                self.request.describe(),
                self.request.token_url.path(),
                token.lifetime.as_secs()
            );
        }
        let mut flight = self.flight.lock().unwrap_or_else(PoisonError::into_inner);
        if flight.as_ref().is_some_and(|handle| handle.id == id) {
            *flight = None;
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
