//! The cache-hit fast path of `get_token`: remembers which cache slot a set of
//! Python argument objects resolved to, so a repeated call with the very same
//! objects (the usual case: the same variables every call) skips parsing and
//! validating them again.
//!
//! Entries are matched by object identity, or for exact `str` objects by
//! value. Python strings are immutable and each entry holds a reference to
//! its objects, so an identical object has identical content and its address
//! cannot be reused while remembered: the same objects (or equal strings)
//! always mean the same, already validated, arguments.

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::PyString;

use druva_core::cache::Slot;

/// How many argument sets are remembered; the oldest is forgotten first.
const CAPACITY: usize = 16;

/// The arguments that choose a token: client id, secret, region, base URL,
/// token URL, scope, timeout and CA bundle (`None` when not given).
pub type ArgumentObjects<'a, 'py> = [Option<&'a Bound<'py, PyAny>>; 8];

struct Entry {
    objects: [Option<Py<PyAny>>; 8],
    slot: Arc<Slot>,
}

impl Entry {
    fn matches(&self, arguments: &ArgumentObjects<'_, '_>) -> bool {
        self.objects
            .iter()
            .zip(arguments)
            .all(|(remembered, given)| match (remembered, given) {
                (None, None) => true,
                (Some(remembered), Some(given)) => same_argument(remembered, given),
                _ => false,
            })
    }
}

/// The same object, or an equal `str` (as from `os.environ[...]`, which
/// makes a new string each time). Only exact strings are compared by value:
/// comparing other objects could run arbitrary Python code.
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
pub fn given<'a, 'py>(arguments: ArgumentObjects<'a, 'py>) -> ArgumentObjects<'a, 'py> {
    arguments.map(|argument| argument.filter(|object| !object.is_none()))
}

/// Argument sets already resolved to their slot.
pub struct ArgumentMemo {
    entries: Mutex<Vec<Entry>>,
}

impl ArgumentMemo {
    pub const fn new() -> Self {
        ArgumentMemo {
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The slot these very objects resolved to before, if remembered.
    pub fn find(&self, arguments: &ArgumentObjects<'_, '_>) -> Option<Arc<Slot>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .find(|entry| entry.matches(arguments))
            .map(|entry| Arc::clone(&entry.slot))
    }

    /// Remembers that `arguments`, already validated, resolve to `slot`.
    pub fn remember(&self, arguments: &ArgumentObjects<'_, '_>, slot: &Arc<Slot>) {
        let entry = Entry {
            objects: arguments.map(|argument| argument.map(|object| object.clone().unbind())),
            slot: Arc::clone(slot),
        };
        let forgotten = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if entries.iter().any(|known| known.matches(arguments)) {
                return;
            }
            entries.push(entry);
            (entries.len() > CAPACITY).then(|| entries.remove(0))
        };
        // Dropped outside the lock: releasing Python objects may run Python code.
        drop(forgotten);
    }
}
