//! The fast path of `get_token`: remembers which cache slot a set of
//! arguments resolved to and how its token is sent, so a repeated call with
//! the same arguments (the usual case: the same variables every call) skips
//! checking them again, whether its token is cached or must be fetched.
//!
//! Argument objects are matched by identity, or for exact `str` objects by
//! value. That is sound only for objects that cannot change: a remembered
//! object is held, so its address is not reused, and an immutable one still
//! means what it meant. So only `None` and exact `str` objects are ever
//! remembered; a call with any other object (a scope given as a list, which
//! the caller may change between calls; a `pathlib.Path`) is checked in full
//! every time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyString;

use druva_core::errors::Result;
use druva_core::grant::{TokenCall, TokenSlot};
use druva_core::http::ClientOptions;
use druva_core::token::SendOptions;

/// How many argument sets are remembered; the oldest is forgotten first.
const CAPACITY: usize = 16;

/// The `N` object arguments that choose a token, in the caller's order
/// (`None` when not given).
pub type ArgumentObjects<'a, 'py, const N: usize> = [Option<&'a Bound<'py, PyAny>>; N];

/// A call's arguments as the memo compares them.
pub struct MemoKey<'a, 'py, const N: usize> {
    pub objects: ArgumentObjects<'a, 'py, N>,
    pub region: &'a str,
    pub client_auth: &'a str,
    pub timeout: f64,
}

impl<const N: usize> MemoKey<'_, '_, N> {
    /// Whether these arguments may be remembered: every object is an exact `str`.
    fn is_immutable(&self) -> bool {
        self.objects
            .iter()
            .flatten()
            .all(|object| object.is_exact_instance_of::<PyString>())
    }
}

/// What a set of arguments resolved to: its token's cache entry and what
/// its token requests are sent with.
pub struct Resolved {
    pub slot: Arc<TokenSlot>,
    client_options: ClientOptions,
    timeout: Duration,
}

impl Resolved {
    pub fn of(call: &TokenCall, slot: Arc<TokenSlot>) -> Self {
        Resolved {
            slot,
            client_options: call.client_options.clone(),
            timeout: call.send.timeout,
        }
    }

    /// How this token is sent, with this process's client (a forked child's
    /// own, never the parent's).
    pub fn send_options(&self) -> Result<SendOptions> {
        TokenCall::send_options(&self.client_options, self.timeout)
    }
}

struct Entry<const N: usize> {
    objects: [Option<Py<PyAny>>; N],
    region: String,
    client_auth: String,
    timeout: f64,
    resolved: Arc<Resolved>,
}

impl<const N: usize> Entry<N> {
    fn matches(&self, key: &MemoKey<'_, '_, N>) -> bool {
        self.region == key.region
            && self.client_auth == key.client_auth
            && self.timeout.to_bits() == key.timeout.to_bits()
            && self
                .objects
                .iter()
                .zip(&key.objects)
                .all(|(remembered, given)| match (remembered, given) {
                    (None, None) => true,
                    (Some(remembered), Some(given)) => same_argument(remembered, given),
                    _ => false,
                })
    }
}

/// The same object, or an equal exact `str` (as from `os.environ[...]`,
/// which makes a new string each time). Other objects are never compared by
/// value: that could run arbitrary Python code.
fn same_argument(remembered: &Py<PyAny>, given: &Bound<'_, PyAny>) -> bool {
    if remembered.as_ptr() == given.as_ptr() {
        return true;
    }
    let remembered = remembered.bind(given.py());
    remembered.is_exact_instance_of::<PyString>()
        && given.is_exact_instance_of::<PyString>()
        && remembered.eq(given).unwrap_or(false)
}

/// The argument objects with an explicit `None` read as "not given".
pub fn given<'a, 'py, const N: usize>(
    arguments: ArgumentObjects<'a, 'py, N>,
) -> ArgumentObjects<'a, 'py, N> {
    arguments.map(|argument| argument.filter(|object| !object.is_none()))
}

/// Argument sets of `N` objects already resolved.
///
/// Its lock is taken only with the GIL held and never across a call into
/// Python, so no thread can hold it at a fork (`os.fork` holds the GIL).
pub struct ArgumentMemo<const N: usize> {
    entries: Mutex<Vec<Entry<N>>>,
}

impl<const N: usize> ArgumentMemo<N> {
    pub const fn new() -> Self {
        ArgumentMemo {
            entries: Mutex::new(Vec::new()),
        }
    }

    /// What these arguments resolved to before, if remembered.
    pub fn find(&self, key: &MemoKey<'_, '_, N>) -> Option<Arc<Resolved>> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .iter()
            .find(|entry| entry.matches(key))
            .map(|entry| Arc::clone(&entry.resolved))
    }

    /// Remembers that `key`, already checked, resolves to `resolved` (unless
    /// an argument is an object that could change).
    pub fn remember(&self, key: &MemoKey<'_, '_, N>, resolved: Resolved) {
        if !key.is_immutable() {
            return;
        }
        let entry = Entry {
            objects: key
                .objects
                .map(|argument| argument.map(|object| object.clone().unbind())),
            region: key.region.to_owned(),
            client_auth: key.client_auth.to_owned(),
            timeout: key.timeout,
            resolved: Arc::new(resolved),
        };
        let forgotten = {
            let mut entries = self
                .entries
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if entries.iter().any(|known| known.matches(key)) {
                return;
            }
            entries.push(entry);
            (entries.len() > CAPACITY).then(|| entries.remove(0))
        };
        // Dropped outside the lock: releasing Python objects may run Python code.
        drop(forgotten);
    }
}
