//! Token stores shared by processes: the [`SharedStore`] trait (a directory,
//! Redis, any Python object with its methods) and [`StoredTokens`], one
//! credential's view of a store, which seals and names its entries
//! ([`crate::seal`]) and turns a failing store into one WARNING.
//!
//! Every operation blocks (file I/O, a network round trip, a call into
//! Python), so the async callers here run them on the runtime's blocking
//! pool, each bounded by a timeout.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client_auth::Credentials;
use crate::logging;
use crate::seal::SealKeys;
use crate::token::Token;

/// A place several processes keep tokens in. Keys are entry names (hex),
/// blobs are sealed entries; the store sees nothing else.
pub trait SharedStore: Send + Sync + 'static {
    /// The blob stored under `key`, if any.
    fn load(&self, key: &str, timeout: Duration) -> io::Result<Option<Vec<u8>>>;
    /// Stores `blob` under `key`, replacing any other; it may be dropped
    /// after `ttl`.
    fn save(&self, key: &str, blob: &[u8], ttl: Duration, timeout: Duration) -> io::Result<()>;
    /// Deletes the entry under `key` only while it is `blob`.
    fn delete(&self, key: &str, blob: &[u8], timeout: Duration) -> io::Result<()>;
    /// Takes the lock on `key` across processes, waiting at most `timeout`:
    /// `None` when another holder kept it that long. Dropping the guard
    /// releases it; a holder that dies never keeps it past its own timeout.
    fn lock(&self, key: &str, timeout: Duration) -> io::Result<Option<StoreLock>>;
    /// What tells this store apart from another: sessions of one
    /// credential but different stores keep different cache entries.
    fn identity(&self) -> String;
    /// How log records name this store: no password, no token.
    fn describe(&self) -> String;
}

/// A shared store as options carry it: `token_cache=`.
#[derive(Clone)]
pub struct StoreHandle(pub Arc<dyn SharedStore>);

impl fmt::Debug for StoreHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.describe())
    }
}

/// A held store lock; released when dropped.
pub type StoreLock = Box<dyn Send>;

/// One credential's view of a shared store: its entries' keys, and how the
/// store has been failing.
///
/// A store that fails costs one WARNING: the first failure warns, the ones
/// after it are DEBUG records, until a whole round (one token fetched or
/// read through the store, see [`StoredTokens::round`]) goes without a
/// failure; a failure after that warns again. So a store that is down, or
/// half down (a full disk that reads but cannot write), is reported once,
/// and one that recovers and fails again is reported again.
pub struct StoredTokens {
    store: Arc<dyn SharedStore>,
    keys: SealKeys,
    /// Whether the current failures have been warned about.
    warned: AtomicBool,
    failures: AtomicU64,
}

/// The failure count when a round began.
pub struct Round(u64);

impl fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoredTokens({})", self.store.describe())
    }
}

/// The longest a store operation other than the lock may take.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

impl StoredTokens {
    /// `store` as `credentials` see it, with the keys derived from its
    /// secret; `None` only if they cannot be derived (never in practice).
    pub fn new(store: StoreHandle, credentials: &Credentials) -> Option<Self> {
        Some(StoredTokens {
            store: store.0,
            keys: credentials.seal_keys()?,
            warned: AtomicBool::new(false),
            failures: AtomicU64::new(0),
        })
    }

    /// Begins a round of store operations.
    pub fn round(&self) -> Round {
        Round(self.failures.load(Ordering::Relaxed))
    }

    /// Ends `round`: one without a failure means the store works (again).
    pub fn end_round(&self, round: &Round) {
        if self.failures.load(Ordering::Relaxed) == round.0 {
            self.warned.store(false, Ordering::Relaxed);
        }
    }

    pub fn identity(&self) -> String {
        self.store.identity()
    }

    /// The entry name of the token identified by `fields`.
    pub fn entry_name(&self, fields: &[Option<&str>]) -> String {
        self.keys.entry_name(fields)
    }

    /// The token stored under `name` and its blob, if one opens. An entry
    /// that does not open is as good as none: it is replaced.
    pub async fn load(&self, name: &str) -> Option<(Token, Vec<u8>)> {
        let store = Arc::clone(&self.store);
        let key = name.to_owned();
        let blob = self
            .blocking("read", move || store.load(&key, OPERATION_TIMEOUT))
            .await
            .flatten()?;
        let token = self.keys.open(name, &blob)?;
        Some((token, blob))
    }

    /// Stores `token` under `name` for its remaining lifetime.
    pub async fn save(&self, name: &str, token: &Token) {
        let ttl = token.expires().saturating_duration_since(Instant::now());
        let Some(blob) = self.keys.seal(name, token) else {
            return;
        };
        let store = Arc::clone(&self.store);
        let key = name.to_owned();
        self.blocking("write", move || {
            store.save(&key, &blob, ttl, OPERATION_TIMEOUT)
        })
        .await;
    }

    /// Deletes the entry under `name` only while it is `blob`.
    pub async fn delete(&self, name: &str, blob: Vec<u8>) {
        let store = Arc::clone(&self.store);
        let key = name.to_owned();
        self.blocking("delete", move || {
            store.delete(&key, &blob, OPERATION_TIMEOUT)
        })
        .await;
    }

    /// The lock on `name`, waiting at most `timeout`; `None` when it was
    /// not taken (held elsewhere that long, or the store failed).
    pub async fn lock(&self, name: &str, timeout: Duration) -> Option<StoreLock> {
        let store = Arc::clone(&self.store);
        let key = name.to_owned();
        self.blocking("lock", move || store.lock(&key, timeout))
            .await
            .flatten()
    }

    /// Runs `operation` on the blocking pool. A failure is logged as the
    /// type's documentation says, and the call goes on as without a store.
    async fn blocking<T: Send + 'static>(
        &self,
        what: &str,
        operation: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> Option<T> {
        let outcome = match tokio::task::spawn_blocking(operation).await {
            Ok(outcome) => outcome,
            Err(error) => Err(io::Error::other(error.to_string())),
        };
        match outcome {
            Ok(value) => Some(value),
            Err(error) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                if self.warned.swap(true, Ordering::Relaxed) {
                    logging::debug!(
                        "token store {} still failing ({what}: {error})",
                        self.store.describe()
                    );
                } else {
                    logging::warning!(
                        "token store {} failed ({what}: {error}); tokens are kept in this \
                         process only until it works again",
                        self.store.describe()
                    );
                }
                None
            }
        }
    }
}
