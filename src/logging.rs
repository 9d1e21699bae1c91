//! Rust `log` records to Python's `logging.getLogger("druva")`, via pyo3-log.
//!
//! pyo3-log caches each logger's level the first time it logs, so DEBUG turned
//! on later (as in a notebook) would go unseen. The Python package calls
//! `_reset_log_cache` before each call when the `druva` logger's effective level
//! changed, which keeps the cache and still honours the change.

use std::sync::OnceLock;

use pyo3::prelude::*;

static RESET: OnceLock<pyo3_log::ResetHandle> = OnceLock::new();

pub fn install(py: Python<'_>) -> PyResult<()> {
    if RESET.get().is_some() {
        return Ok(());
    }
    let logger = pyo3_log::Logger::new(py, pyo3_log::Caching::LoggersAndLevels)?
        // Our dependencies' records (connection details, certificate errors
        // that druva reports itself) stay out of the user's logs: DESIGN
        // promises records on "druva" only.
        .filter(log::LevelFilter::Off)
        .filter_target(
            druva_core::logging::TARGET.to_owned(),
            log::LevelFilter::Debug,
        );
    // When another extension installed a `log` backend first, druva's records
    // go there and there is no cache of ours to reset.
    if let Ok(handle) = logger.install() {
        let _ = RESET.set(handle);
    }
    Ok(())
}

/// Forgets the cached logging levels, so a level changed at run time takes
/// effect on the next record, and sets the core's DEBUG gate from the `druva`
/// logger's level.
#[pyfunction]
pub fn _reset_log_cache(py: Python<'_>) -> PyResult<()> {
    if let Some(handle) = RESET.get() {
        handle.reset();
    }
    let logging = py.import("logging")?;
    let debug = logging.getattr("DEBUG")?;
    let enabled = logging
        .call_method1("getLogger", (druva_core::logging::TARGET,))?
        .call_method1("isEnabledFor", (debug,))?
        .is_truthy()?;
    druva_core::logging::set_debug_enabled(enabled);
    Ok(())
}
