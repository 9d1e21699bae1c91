//! druva's log records and the gate in front of its DEBUG ones.
//!
//! Records go to the `log` target `druva`, which the Python binding sends to
//! `logging.getLogger("druva")`. Asking the Python bridge whether DEBUG is on
//! costs a lookup per record, too much for the cache-hit path, so DEBUG
//! records first pass a flag that the binding keeps in step with the `druva`
//! logger's level (`set_debug_enabled`). Outside Python the flag stays on and
//! `log`'s own filtering decides.

use std::sync::atomic::{AtomicBool, Ordering};

/// The `log` target of every druva record.
pub const TARGET: &str = "druva";

static DEBUG_ENABLED: AtomicBool = AtomicBool::new(true);

/// Whether DEBUG records may be emitted at all.
pub fn debug_enabled() -> bool {
    DEBUG_ENABLED.load(Ordering::Relaxed)
}

/// Turns DEBUG records on or off, e.g. when Python's `druva` logger level changes.
pub fn set_debug_enabled(enabled: bool) {
    DEBUG_ENABLED.store(enabled, Ordering::Relaxed);
}

/// A DEBUG record to the `druva` target; its arguments are not even evaluated
/// while DEBUG is off.
macro_rules! debug {
    ($($argument:tt)+) => {
        if $crate::logging::debug_enabled() {
            log::debug!(target: $crate::logging::TARGET, $($argument)+);
        }
    };
}

/// An INFO record to the `druva` target.
macro_rules! info {
    ($($argument:tt)+) => {
        log::info!(target: $crate::logging::TARGET, $($argument)+);
    };
}

/// A WARNING record to the `druva` target.
macro_rules! warning {
    ($($argument:tt)+) => {
        log::warn!(target: $crate::logging::TARGET, $($argument)+);
    };
}

pub(crate) use {debug, info, warning};
