//! The token cache: one entry (a [`Slot`]) per token source, shared by every
//! caller, generic over how a token is fetched ([`TokenSource`]) and over
//! where an entry keeps its token ([`TokenStore`]; the process's memory,
//! [`ProcessStore`]). A source may also find its token in a store shared
//! with other processes (`crate::store`): [`Wanted`] tells it what it may
//! serve from there.
//!
//! A hit is a hash lookup plus an atomic load: no runtime, no network, no
//! lock. A miss starts at most one token request per entry (a "flight"): a
//! shared future that every concurrent caller awaits, so they all get its
//! token or its error. The slot keeps only a weak handle on the flight, so
//! when every waiter gives up (Ctrl-C, a cancelled task) the request itself
//! is dropped and cancelled.
//!
//! Fork-safe by construction: the cache holds no lock. Its map, each entry's
//! token, flight and refused renewal are atomically swapped pointers
//! (`arc-swap`, lock-free: a writer never waits for a reader, so a runtime
//! thread that vanished at a fork mid-read blocks nothing in the child). A
//! flight belongs to the process generation that started it; a forked child
//! ignores the parent's flights and starts its own.

use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use futures::future::{BoxFuture, FutureExt, Shared, WeakShared};
use hashbrown::HashMap;

use crate::config;
use crate::errors::{Error, Result};
use crate::logging;
use crate::retry;
use crate::runtime;
use crate::token::{SendOptions, Token};

/// How a cache entry gets its token: the grant, the credential and the
/// endpoint of one token.
pub trait TokenSource: Send + Sync + 'static {
    /// What identifies the token without the secret: entries of one key are
    /// told apart by [`TokenSource::same_as`].
    type Key: Hash + Eq + Clone + Send + Sync + 'static;

    fn key(&self) -> Self::Key;

    /// Whether `other` is this very source, secret included (compared in
    /// constant time: a caller who can time its own lookups learns nothing
    /// of another caller's secret).
    fn same_as(&self, other: &Self) -> bool;

    /// One token, as `wanted` says: a token request, retried as the source
    /// sees fit, unless the source finds a token elsewhere (a shared store).
    fn fetch<'a>(
        &'a self,
        options: &'a SendOptions,
        wanted: &'a Wanted,
    ) -> BoxFuture<'a, Result<Token>>;

    /// Whose token this is, for log records: never a secret.
    fn describe(&self) -> String;

    /// The token endpoint's host, for a timeout message.
    fn host(&self) -> &str;

    /// The token endpoint's path, for log records.
    fn path(&self) -> &str;
}

/// What a flight asks its source for, beyond a token request: what a token
/// found elsewhere than in this process (a shared store) must be to serve.
#[derive(Clone, Debug, Default)]
pub struct Wanted {
    /// A token found elsewhere is served only if fresh under this leeway.
    pub leeway: Duration,
    /// No token found elsewhere is served: `force_refresh`.
    pub new_token: bool,
    /// The token the API last refused: never served again.
    pub refused: Option<Arc<Token>>,
    /// How long the caller that started the flight waits for it.
    pub patience: Duration,
}

/// Where a cache entry keeps its token in this process. Each operation is
/// on this entry's one token, so callers never name a key. A store shared
/// by processes (`crate::store::SharedStore`, Python's `druva.TokenStore`)
/// sits behind the source's `fetch` instead, which [`Wanted`] guides.
pub trait TokenStore: Default + Send + Sync + 'static {
    /// The token kept, if any.
    fn load(&self) -> Option<Arc<Token>>;
    /// Keeps `token`, replacing any other.
    fn save(&self, token: Arc<Token>);
    /// Drops `token` only while it is the one kept; whether it was.
    fn delete(&self, token: &Arc<Token>) -> bool;
}

/// The token in this process's memory, behind an atomic pointer.
#[derive(Default)]
pub struct ProcessStore {
    token: ArcSwapOption<Token>,
}

impl TokenStore for ProcessStore {
    fn load(&self) -> Option<Arc<Token>> {
        self.token.load_full()
    }

    fn save(&self, token: Arc<Token>) {
        self.token.store(Some(token));
    }

    fn delete(&self, token: &Arc<Token>) -> bool {
        let current = self.token.load();
        if !current
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, token))
        {
            return false;
        }
        let previous = self.token.compare_and_swap(&*current, None);
        previous
            .as_ref()
            .is_some_and(|previous| Arc::ptr_eq(previous, token))
    }
}

/// A token request in flight, as every waiter sees it.
pub type Flight = Shared<BoxFuture<'static, Result<Arc<Token>>>>;

/// Either a cached token or the flight that will bring one.
pub enum Lookup {
    Cached(Arc<Token>),
    /// No token may be served: wait for the token request in flight.
    InFlight(Flight),
}

/// What a refusal (401/403) of a token means for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The token was dropped (if it was still the cached one): get a new
    /// one and resend once.
    Renew,
    /// The refused token was itself fetched because of a refusal: the cause
    /// is access (rights, licence, scope, cloud), not the token, and a new
    /// token would be refused too. Return the refusal as it is.
    Access,
}

/// How long refusals of a token fetched because of a refusal are taken as
/// about access, without another renewal (or until that token expires, if
/// sooner): persistent refusals cost at most one token request a minute.
pub const ACCESS_REFUSAL_WINDOW: Duration = Duration::from_secs(60);

/// A token refused after it was fetched because of a refusal, and until
/// when its refusals are about access.
struct AccessRefusal {
    token: Arc<Token>,
    until: Instant,
}

/// The number of entries past which unused ones are dropped.
pub const CAPACITY: usize = 1024;

/// Tokens by their source's key, then by secret: a wrong secret never
/// matches the entry of the right one.
///
/// The cache is bounded: past [`CAPACITY`] entries, the entries that nothing
/// but the cache holds (no session, no flight, no memo) are dropped, least
/// recently looked up first, so a long-lived service that rotates secrets
/// does not grow without bound. An entry a session holds is never dropped.
pub struct TokenCache<S: TokenSource, K: TokenStore = ProcessStore> {
    /// Replaced whole on each insertion (copy on write: insertions are rare,
    /// lookups many), never locked.
    entries: ArcSwap<Entries<S, K>>,
    /// The clock of the entries' last use.
    clock: AtomicU64,
    /// The count past which the next eviction pass runs (0: [`CAPACITY`]):
    /// a pass that could drop little is not repeated on every insertion.
    evict_above: AtomicUsize,
}

/// The slots of one key share a list, so copying the map for an insertion
/// leaves every other key's slots held once.
type Slots<S, K> = Arc<Vec<Arc<Slot<S, K>>>>;

struct Entries<S: TokenSource, K: TokenStore> {
    by_key: HashMap<S::Key, Slots<S, K>>,
    count: usize,
}

impl<S: TokenSource, K: TokenStore> Clone for Entries<S, K> {
    fn clone(&self) -> Self {
        Entries {
            by_key: self.by_key.clone(),
            count: self.count,
        }
    }
}

impl<S: TokenSource, K: TokenStore> Default for TokenCache<S, K> {
    fn default() -> Self {
        TokenCache {
            entries: ArcSwap::from_pointee(Entries {
                by_key: HashMap::new(),
                count: 0,
            }),
            clock: AtomicU64::new(0),
            evict_above: AtomicUsize::new(0),
        }
    }
}

impl<S: TokenSource + Clone, K: TokenStore> TokenCache<S, K> {
    /// The entry of `source`, if one exists.
    pub fn find(&self, source: &S) -> Option<Arc<Slot<S, K>>> {
        let entries = self.entries.load();
        let slot = Self::find_in(&entries, &source.key(), source)?;
        slot.last_used
            .store(self.clock.load(Ordering::Relaxed), Ordering::Relaxed);
        Some(slot)
    }

    fn find_in(entries: &Entries<S, K>, key: &S::Key, source: &S) -> Option<Arc<Slot<S, K>>> {
        entries
            .by_key
            .get(key)?
            .iter()
            .find(|slot| slot.source.same_as(source))
            .map(Arc::clone)
    }

    /// The entry of `source`, created on first use.
    pub fn slot(&self, source: &S) -> Arc<Slot<S, K>> {
        if let Some(slot) = self.find(source) {
            return slot;
        }
        let key = source.key();
        let created = Arc::new(Slot::new(source.clone()));
        created.last_used.store(
            self.clock.fetch_add(1, Ordering::Relaxed) + 1,
            Ordering::Relaxed,
        );
        // Lock-free: a retry means another insertion won the swap.
        loop {
            let current = self.entries.load_full();
            // Another thread may have added it since.
            if let Some(slot) = Self::find_in(&current, &key, source) {
                return slot;
            }
            let next = self.inserted(&current, key.clone(), &created);
            let previous = self.entries.compare_and_swap(&current, Arc::new(next));
            if Arc::ptr_eq(&previous, &current) {
                return created;
            }
        }
    }

    /// `entries` with `slot` added under `key`, and unused entries dropped
    /// when there are too many.
    fn inserted(
        &self,
        entries: &Entries<S, K>,
        key: S::Key,
        slot: &Arc<Slot<S, K>>,
    ) -> Entries<S, K> {
        let mut next = entries.clone();
        let threshold = match self.evict_above.load(Ordering::Relaxed) {
            0 => CAPACITY,
            threshold => threshold,
        };
        // Before `key`'s list is copied: a copy holds its slots twice.
        if next.count + 1 > threshold {
            Self::evict_unused(&mut next);
            self.evict_above.store(
                CAPACITY.max(next.count + 1 + CAPACITY / 4),
                Ordering::Relaxed,
            );
        }
        let mut slots = next
            .by_key
            .get(&key)
            .map(|slots| Vec::clone(slots))
            .unwrap_or_default();
        slots.push(Arc::clone(slot));
        next.by_key.insert(key, Arc::new(slots));
        next.count += 1;
        next
    }

    /// Drops the least recently used entries that only the cache holds,
    /// down to three quarters of [`CAPACITY`] if it can.
    fn evict_unused(entries: &mut Entries<S, K>) {
        let mut unused: Vec<u64> = entries
            .by_key
            .values()
            .flat_map(|slots| slots.iter())
            .filter(|slot| Arc::strong_count(slot) == 1)
            .map(|slot| slot.last_used.load(Ordering::Relaxed))
            .collect();
        // Room for the entry being added.
        let excess = (entries.count + 1).saturating_sub(CAPACITY * 3 / 4);
        if unused.is_empty() || excess == 0 {
            return;
        }
        unused.sort_unstable();
        let Some(&newest_dropped) = unused.get(excess.min(unused.len()) - 1) else {
            return;
        };
        let dropped = |slot: &Arc<Slot<S, K>>| {
            Arc::strong_count(slot) == 1 && slot.last_used.load(Ordering::Relaxed) <= newest_dropped
        };
        let mut count = 0;
        entries.by_key.retain(|_, slots| {
            if slots.iter().any(dropped) {
                let kept: Vec<_> = slots
                    .iter()
                    .filter(|slot| !dropped(slot))
                    .cloned()
                    .collect();
                *slots = Arc::new(kept);
            }
            count += slots.len();
            !slots.is_empty()
        });
        logging::debug!(
            "token cache: dropped {} entries no session uses",
            entries.count - count
        );
        entries.count = count;
    }

    /// How many entries the cache holds.
    pub fn len(&self) -> usize {
        self.entries.load().count
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One source's token and its flight.
pub struct Slot<S: TokenSource, K: TokenStore = ProcessStore> {
    source: S,
    store: K,
    flight: ArcSwapOption<FlightHandle>,
    /// The runtime generation in which a background renewal is under way
    /// ([`NOT_RENEWING`]: none), so that callers inside the leeway window keep the valid
    /// token at cache-hit speed while it runs. A fork starts a new generation.
    renewing: AtomicU64,
    /// The token the API last refused (see [`Wanted::refused`]).
    refused: ArcSwapOption<Token>,
    /// The token whose renewal the token endpoint refused: it is served
    /// until it expires, and not renewed again in the background.
    refused_renewal: ArcSwapOption<Token>,
    /// The token fetched because of a refusal that was refused too, and
    /// until when its refusals return without renewal.
    access_refused: ArcSwapOption<AccessRefusal>,
    /// Set when the API's refusal dropped the token: the next token fetched
    /// is one fetched because of a refusal.
    dropped_for_refusal: AtomicBool,
    /// That token, until the resend it was fetched for is answered: refused
    /// too (see [`Slot::refused`]) or accepted ([`Slot::accepted`]).
    fetched_after_refusal: ArcSwapOption<Token>,
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

/// The backoff ceilings between background renewal attempts: from 1 s,
/// doubling to 30 s (full jitter, as every retry of druva's).
const RENEWAL_BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));

impl<S: TokenSource, K: TokenStore> Slot<S, K> {
    fn new(source: S) -> Self {
        Slot {
            source,
            store: K::default(),
            flight: ArcSwapOption::empty(),
            renewing: AtomicU64::new(NOT_RENEWING),
            refused: ArcSwapOption::empty(),
            refused_renewal: ArcSwapOption::empty(),
            access_refused: ArcSwapOption::empty(),
            dropped_for_refusal: AtomicBool::new(false),
            fetched_after_refusal: ArcSwapOption::empty(),
            last_used: AtomicU64::new(0),
        }
    }

    /// Where this entry's token comes from.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The cached token if it may be served without the runtime: fresh
    /// under `leeway`, or still valid while a background renewal runs. The
    /// cache-hit path: no runtime, no I/O.
    pub fn fresh_token(&self, leeway: Duration) -> Option<Arc<Token>> {
        self.fresh_token_now(leeway).map(|(token, _)| token)
    }

    /// [`Slot::fresh_token`], with the clock reading that judged it: the
    /// caller's "now" for the token's `expires_in`, so that a cache hit
    /// reads the clock once.
    pub fn fresh_token_now(&self, leeway: Duration) -> Option<(Arc<Token>, Instant)> {
        let token = self.store.load()?;
        let now = Instant::now();
        if !token.is_fresh(leeway, now) {
            let renewing = self.renewing.load(Ordering::Acquire) == runtime::generation();
            if !(renewing && token.is_valid(now)) {
                return None;
            }
        }
        logging::debug!("token for {} served from cache", self.source.describe());
        Some((token, now))
    }

    /// The cached token, or the flight that fetches one (joining any flight
    /// of this process already under way). A token inside its leeway window
    /// but still valid is served at once while one background renewal
    /// starts (single flight). `force_refresh` skips the cached token.
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
        let generation = runtime::generation();
        // Lock-free: a retry means another caller installed a flight first,
        // which the next pass joins.
        loop {
            let installed = self.flight.load_full();
            let valid = self
                .store
                .load()
                .filter(|token| !force_refresh && token.is_valid(Instant::now()));
            let under_way = installed
                .as_ref()
                .filter(|handle| handle.generation == generation)
                .and_then(|handle| handle.future.upgrade());
            if let Some(future) = under_way {
                return match valid {
                    // A renewal is under way: the valid token meanwhile.
                    Some(token) => Lookup::Cached(token),
                    None => Lookup::InFlight(future),
                };
            }
            // Checked again: a flight may have just landed.
            if !force_refresh {
                if let Some(token) = self.fresh_token(leeway) {
                    return Lookup::Cached(token);
                }
            }
            if let Some(token) = valid.as_ref().filter(|t| self.renewal_was_refused(t)) {
                return Lookup::Cached(Arc::clone(token));
            }
            let id = FLIGHT_IDS.fetch_add(1, Ordering::Relaxed);
            // A flight serves every caller that joins it, so the impatience of
            // the one that started it does not bound it: each caller bounds its
            // own wait (see `get`), and the flight ends when nobody waits.
            let flight_options = SendOptions {
                timeout: options.timeout.max(config::TIMEOUT),
                ..options.clone()
            };
            let wanted = Wanted {
                leeway,
                new_token: force_refresh,
                refused: self.refused.load_full(),
                patience: options.timeout,
            };
            let future = Arc::clone(self)
                .fly(id, flight_options, wanted, valid.clone())
                .boxed()
                .shared();
            let Some(weak) = future.downgrade() else {
                return Lookup::InFlight(future);
            };
            let handle = Arc::new(FlightHandle {
                id,
                generation,
                future: weak,
            });
            let previous = self
                .flight
                .compare_and_swap(&installed, Some(Arc::clone(&handle)));
            if !same_handle(previous.as_ref(), installed.as_ref()) {
                // Not started, so dropping it sends nothing.
                drop(future);
                continue;
            }
            // A whole flight may have come and gone since `installed` was
            // read (its handle cleared again): then its token is here, and
            // ours, not started, is withdrawn.
            if !force_refresh {
                if let Some(token) = self.fresh_token(leeway) {
                    self.flight.compare_and_swap(&Some(handle), None);
                    return Lookup::Cached(token);
                }
            }
            let Some(token) = valid else {
                return Lookup::InFlight(future);
            };
            // In the leeway window: renew in the background, serve the
            // valid token. The runtime task keeps the flight alive.
            if let Ok(handle) = runtime::handle() {
                self.renewing.store(generation, Ordering::Release);
                handle.spawn(async move {
                    let _ = future.await;
                });
            }
            return Lookup::Cached(token);
        }
    }

    fn renewal_was_refused(&self, token: &Arc<Token>) -> bool {
        self.refused_renewal
            .load()
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
            Lookup::InFlight(flight) => flight,
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
                self.source.host()
            ),
        })
    }

    /// Drops `token` if it is still the cached one: the API refused it.
    /// A token that another caller already replaced stays.
    pub fn invalidate(&self, token: &Arc<Token>) {
        if self.store.delete(token) {
            self.refused.store(Some(Arc::clone(token)));
            self.dropped_for_refusal.store(true, Ordering::Release);
            logging::debug!(
                "token for {} dropped after the API refused it",
                self.source.describe()
            );
        }
    }

    /// The API refused `token` (401/403): whether to renew it and resend,
    /// or whether the refusal is about access (DESIGN "Fresh tokens"): once
    /// a token fetched because of a refusal is refused too, by the call that
    /// fetched it ([`Slot::refused_after_renewal`]) or by any other call that
    /// sent it, its refusals return without renewal for
    /// [`ACCESS_REFUSAL_WINDOW`] (or until it expires, if sooner). Then the
    /// next refusal renews it again, so a token that really expired is still
    /// renewed within a minute.
    pub fn refused(&self, token: &Arc<Token>) -> Refusal {
        self.refused_at(token, Instant::now())
    }

    fn refused_at(&self, token: &Arc<Token>, now: Instant) -> Refusal {
        let window = self.access_refused.load();
        if let Some(window) = window.as_ref() {
            if Arc::ptr_eq(&window.token, token) && now < window.until {
                return Refusal::Access;
            }
        }
        // A call that sent the token fetched because of a refusal before the
        // resend it was fetched for was answered (a call that started after
        // that token came) meets the same refusal: it opens the window.
        let fetched = self.fetched_after_refusal.load();
        if fetched
            .as_ref()
            .is_some_and(|fetched| Arc::ptr_eq(fetched, token))
        {
            self.refused_after_renewal_at(token, now);
            return Refusal::Access;
        }
        self.invalidate(token);
        Refusal::Renew
    }

    /// The API accepted `token`, fetched because it refused the one before,
    /// on the resend it was fetched for: the refusal was the old token's, and
    /// a later refusal of this one is renewed like any token's.
    pub fn accepted(&self, token: &Arc<Token>) {
        self.forget_fetched_after_refusal(token);
    }

    fn forget_fetched_after_refusal(&self, token: &Arc<Token>) {
        let fetched = self.fetched_after_refusal.load_full();
        if fetched
            .as_ref()
            .is_some_and(|fetched| Arc::ptr_eq(fetched, token))
        {
            self.fetched_after_refusal.compare_and_swap(&fetched, None);
        }
    }

    /// The API refused `token`, fetched because it refused the one before:
    /// the cause is access, not the token, and for the next minute its
    /// refusals return without renewal (see [`Slot::refused`]).
    pub fn refused_after_renewal(&self, token: &Arc<Token>) {
        self.refused_after_renewal_at(token, Instant::now());
    }

    fn refused_after_renewal_at(&self, token: &Arc<Token>, now: Instant) {
        // Its refusal is on record: once the window ends, the next one
        // renews it like any token's.
        self.forget_fetched_after_refusal(token);
        let current = self.access_refused.load_full();
        let recorded = current
            .as_ref()
            .is_some_and(|window| Arc::ptr_eq(&window.token, token) && now < window.until);
        if recorded {
            return;
        }
        let until = (now + ACCESS_REFUSAL_WINDOW).min(token.expires());
        let window = Arc::new(AccessRefusal {
            token: Arc::clone(token),
            until,
        });
        // One WARNING a window, however many calls were refused together.
        let previous = self.access_refused.compare_and_swap(&current, Some(window));
        if same_window(previous.as_ref(), current.as_ref()) {
            logging::warning!(
                "the API refused a new token for {} as it refused the one before: the cause \
                 is access (rights, licence, scope or cloud), not the token; its refusals \
                 return without renewal for the next {} s",
                self.source.describe(),
                until.saturating_duration_since(now).as_secs()
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
        wanted: Wanted,
        renewing: Option<Arc<Token>>,
    ) -> Result<Arc<Token>> {
        let replacing = self.store.load().is_some();
        let mut retry = 0;
        let result = loop {
            let result = self.source.fetch(&options, &wanted).await.map(Arc::new);
            let Err(error) = &result else { break result };
            let Some(valid) = renewing.as_ref().filter(|t| t.is_valid(Instant::now())) else {
                break result;
            };
            if matches!(error, Error::Authentication { .. }) {
                logging::warning!(
                    "renewing the token for {} was refused ({error}); the current token \
                     stays in use until it expires in {} s",
                    self.source.describe(),
                    valid.expires_in(Instant::now())
                );
                self.refused_renewal.store(Some(Arc::clone(valid)));
                break result;
            }
            retry += 1;
            if retry == 1 {
                logging::warning!(
                    "renewing the token for {} failed ({error}); the current token stays \
                     in use (it expires in {} s) and renewal is retried",
                    self.source.describe(),
                    valid.expires_in(Instant::now())
                );
            }
            let until_expiry = valid.expires().saturating_duration_since(Instant::now());
            let backoff = retry::full_jitter(RENEWAL_BACKOFF.0, retry, RENEWAL_BACKOFF.1);
            tokio::time::sleep(backoff.min(until_expiry)).await;
        };
        if let Ok(token) = &result {
            self.store.save(Arc::clone(token));
            if self.dropped_for_refusal.swap(false, Ordering::AcqRel) {
                self.fetched_after_refusal.store(Some(Arc::clone(token)));
            }
            logging::info!(
                "token {} for {} from {} (expires in {} s)",
                if replacing { "renewed" } else { "fetched" },
                self.source.describe(),
                self.source.path(),
                token.lifetime.as_secs()
            );
        }
        let installed = self.flight.load_full();
        if installed.as_ref().is_some_and(|handle| handle.id == id) {
            let previous = self.flight.compare_and_swap(&installed, None);
            if same_handle(previous.as_ref(), installed.as_ref()) {
                self.renewing.store(NOT_RENEWING, Ordering::Release);
            }
        }
        result
    }
}

fn same_window(a: Option<&Arc<AccessRefusal>>, b: Option<&Arc<AccessRefusal>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

fn same_handle(a: Option<&Arc<FlightHandle>>, b: Option<&Arc<FlightHandle>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::RetryPolicy;
    use std::time::SystemTime;

    /// A source that counts its token requests and answers at once.
    #[derive(Clone)]
    struct Counting {
        name: String,
        secret: String,
        requests: Arc<AtomicUsize>,
    }

    impl Counting {
        fn new(secret: &str) -> Self {
            Counting {
                name: "client".into(),
                secret: secret.into(),
                requests: Arc::default(),
            }
        }
    }

    impl TokenSource for Counting {
        type Key = String;

        fn key(&self) -> String {
            self.name.clone()
        }

        fn same_as(&self, other: &Self) -> bool {
            self.name == other.name && self.secret == other.secret
        }

        fn fetch<'a>(
            &'a self,
            _options: &'a SendOptions,
            _wanted: &'a Wanted,
        ) -> BoxFuture<'a, Result<Token>> {
            self.requests.fetch_add(1, Ordering::SeqCst);
            async {
                Ok(Token {
                    access_token: "t".into(),
                    token_type: "bearer".into(),
                    scope: None,
                    lifetime: Duration::from_secs(1800),
                    requested_at: Instant::now(),
                    requested_at_wall: SystemTime::now(),
                })
            }
            .boxed()
        }

        fn describe(&self) -> String {
            self.name.clone()
        }

        fn host(&self) -> &'static str {
            "localhost"
        }

        fn path(&self) -> &'static str {
            "/token"
        }
    }

    fn options() -> SendOptions {
        SendOptions {
            client: crate::http::ClientOptions::default()
                .shared_client()
                .unwrap(),
            timeout: Duration::from_secs(1),
            retry: RetryPolicy::with_max_retries(0),
        }
    }

    /// A new cache's entry for a counting source, fetched on the process
    /// runtime.
    struct Entry {
        source: Counting,
        slot: Arc<Slot<Counting>>,
        runtime: Arc<tokio::runtime::Runtime>,
    }

    impl Entry {
        fn new() -> Self {
            let source = Counting::new("s");
            Entry {
                slot: TokenCache::<Counting>::default().slot(&source),
                source,
                runtime: runtime::runtime().unwrap(),
            }
        }

        /// The entry's token: the cached one, or a new one when `force_refresh`.
        fn get(&self, force_refresh: bool) -> Arc<Token> {
            let slot = Arc::clone(&self.slot);
            let token = slot.get(options(), Duration::ZERO, force_refresh);
            self.runtime.block_on(token).unwrap()
        }

        fn requests(&self) -> usize {
            self.source.requests.load(Ordering::SeqCst)
        }
    }

    #[test]
    fn the_cache_drops_unused_entries_least_recently_used_first() {
        let cache = TokenCache::<Counting>::default();
        let held = cache.slot(&Counting::new("held by a session"));
        let first = cache.slot(&Counting::new("looked up again"));
        drop(first);
        for n in 0..CAPACITY {
            cache.slot(&Counting::new(&format!("rotated secret {n}")));
            if n == CAPACITY / 2 {
                // A lookup makes it recent again.
                drop(cache.slot(&Counting::new("looked up again")));
            }
        }
        assert!(cache.len() <= CAPACITY, "{} entries", cache.len());
        assert!(cache.len() >= CAPACITY / 2);
        let found = |secret: &str| cache.find(&Counting::new(secret)).is_some();
        assert!(found("held by a session"), "a held entry is never dropped");
        assert!(Arc::ptr_eq(
            &held,
            &cache.slot(&Counting::new("held by a session"))
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
        let cache = TokenCache::<Counting>::default();
        let slot = cache.slot(&Counting::new("s"));
        let options = options();
        let _guard = runtime::runtime().unwrap().enter();
        let first = slot.lookup(&options, Duration::ZERO, false);
        let second = slot.lookup(&options, Duration::ZERO, false);
        match (first, second) {
            (Lookup::InFlight(a), Lookup::InFlight(b)) => assert!(a.ptr_eq(&b)),
            _ => panic!("expected one shared flight"),
        }
    }

    #[test]
    fn threads_on_a_cold_entry_make_one_token_request_and_then_hit() {
        let cache = Arc::new(TokenCache::<Counting>::default());
        let source = Counting::new("s");
        let runtime = runtime::runtime().unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (cache, source, runtime) =
                    (Arc::clone(&cache), source.clone(), Arc::clone(&runtime));
                std::thread::spawn(move || {
                    let slot = cache.slot(&source);
                    runtime
                        .block_on(slot.get(options(), Duration::ZERO, false))
                        .unwrap()
                })
            })
            .collect();
        let tokens: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(source.requests.load(Ordering::SeqCst), 1);
        assert!(tokens.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])));
        assert_eq!(cache.len(), 1);
        let slot = cache.find(&source).unwrap();
        assert!(Arc::ptr_eq(
            &slot.fresh_token(Duration::ZERO).unwrap(),
            &tokens[0]
        ));
    }

    #[test]
    fn an_invalidated_token_is_dropped_only_while_it_is_the_cached_one() {
        let entry = Entry::new();
        let slot = &entry.slot;
        let first = entry.get(false);
        let second = entry.get(true);
        slot.invalidate(&first);
        assert!(Arc::ptr_eq(
            &slot.fresh_token(Duration::ZERO).unwrap(),
            &second
        ));
        slot.invalidate(&second);
        assert!(slot.fresh_token(Duration::ZERO).is_none());
        assert_eq!(entry.requests(), 2);
    }

    #[test]
    fn refusals_of_a_token_fetched_because_of_a_refusal_are_about_access_for_a_minute() {
        let entry = Entry::new();
        let slot = &entry.slot;
        let get = || entry.get(false);
        let first = get();
        let now = Instant::now();
        // A first refusal renews: the token may have expired.
        assert_eq!(slot.refused_at(&first, now), Refusal::Renew);
        let second = get();
        assert!(!Arc::ptr_eq(&first, &second));
        // The renewed token refused too: access, for a minute, however often.
        slot.refused_after_renewal_at(&second, now);
        for seconds in [0, 1, 30, 59] {
            let at = now + Duration::from_secs(seconds);
            slot.refused_after_renewal_at(&second, at);
            assert_eq!(slot.refused_at(&second, at), Refusal::Access);
            assert_eq!(
                slot.refused_at(&first, at),
                Refusal::Renew,
                "an older token"
            );
        }
        assert!(Arc::ptr_eq(&get(), &second), "no renewal in the window");
        assert_eq!(entry.requests(), 2);
        // After the window, a refusal renews again: one token request a minute.
        let later = now + ACCESS_REFUSAL_WINDOW;
        assert_eq!(slot.refused_at(&second, later), Refusal::Renew);
        let third = get();
        assert_eq!(entry.requests(), 3);
        // That renewal was because of a refusal too: its refusal is access.
        assert_eq!(slot.refused_at(&third, later), Refusal::Access);
        assert_eq!(entry.requests(), 3);
    }

    /// An entry whose first token the API refused, the token fetched
    /// because of it, and the time of the refusal.
    fn renewed_after_a_refusal() -> (Entry, Arc<Token>, Instant) {
        let entry = Entry::new();
        let first = entry.get(false);
        let now = Instant::now();
        assert_eq!(entry.slot.refused_at(&first, now), Refusal::Renew);
        let second = entry.get(false);
        assert!(!Arc::ptr_eq(&first, &second));
        (entry, second, now)
    }

    #[test]
    fn any_call_refused_with_the_token_fetched_because_of_a_refusal_opens_the_window() {
        // Calls gathered at once: one's refusal renews the token; another,
        // which started after the renewal, is refused with the new token on
        // its first attempt, before the renewing call's resend is answered.
        let (entry, second, now) = renewed_after_a_refusal();
        let slot = &entry.slot;
        assert_eq!(
            slot.refused_at(&second, now),
            Refusal::Access,
            "a late starter"
        );
        // The renewing call's own resend, refused too, changes nothing.
        slot.refused_after_renewal_at(&second, now);
        assert_eq!(slot.refused_at(&second, now), Refusal::Access);
        assert!(Arc::ptr_eq(&entry.get(false), &second));
        assert_eq!(entry.requests(), 2, "one renewal however the refusals came");
        // Past the window, a refusal renews again.
        let later = now + ACCESS_REFUSAL_WINDOW;
        assert_eq!(slot.refused_at(&second, later), Refusal::Renew);
    }

    #[test]
    fn a_token_its_resend_accepted_is_renewed_on_a_later_refusal() {
        let (entry, second, now) = renewed_after_a_refusal();
        let slot = &entry.slot;
        // The resend it was fetched for went through: the refusal was the
        // old token's; this one's next refusal (say, revoked) renews it.
        slot.accepted(&second);
        assert_eq!(slot.refused_at(&second, now), Refusal::Renew);
        let third = entry.get(false);
        assert!(!Arc::ptr_eq(&second, &third));
        assert_eq!(entry.requests(), 3);
    }

    #[test]
    fn a_token_fetched_for_another_reason_is_renewed_on_its_first_refusal() {
        // force_refresh, not a refusal: the refusal of its token may be expiry.
        let entry = Entry::new();
        entry.get(false);
        let refreshed = entry.get(true);
        let refusal = entry.slot.refused_at(&refreshed, Instant::now());
        assert_eq!(refusal, Refusal::Renew);
        assert_eq!(entry.requests(), 2);
    }
}
