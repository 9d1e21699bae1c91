//! Rust `log` records to Python's `logging.getLogger("druva")`, via pyo3-log.
//!
//! pyo3-log caches each logger's level the first time it logs, so DEBUG turned
//! on later (as in a notebook) would go unseen. The Python package calls
//! `_reset_log_cache` before each call when the `druva` logger's effective level
//! changed, which keeps the cache and still honours the change.
//!
//! A record made on a druva runtime thread (a retry, a background renewal) is
//! not handed to Python there: that would create and destroy a Python thread
//! state on the runtime thread for each record, which widens CPython's own
//! after-fork race (gh-112275). It is kept, and emitted by the next Python
//! thread that comes through druva: when a blocking call returns, when the
//! event loop completes async requests, when logging levels change, at exit.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use log::{Log, Metadata, Record};
use pyo3::prelude::*;

static RESET: OnceLock<pyo3_log::ResetHandle> = OnceLock::new();
static LOGGER: OnceLock<&'static Deferring> = OnceLock::new();

/// Records kept from runtime threads at the most; older ones are dropped
/// (and counted) rather than let memory grow while no Python thread calls.
const MAX_KEPT: usize = 10_000;

/// A record made on a runtime thread, owned until a Python thread emits it.
struct Kept {
    level: log::Level,
    target: String,
    message: String,
    module_path: Option<String>,
    file: Option<String>,
    line: Option<u32>,
}

/// pyo3-log's logger, with records from runtime threads kept for later.
struct Deferring {
    inner: pyo3_log::Logger,
    kept: Mutex<Vec<Kept>>,
    has_kept: AtomicBool,
    dropped: AtomicU64,
}

impl Log for Deferring {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !druva_core::runtime::on_runtime_thread() {
            self.inner.log(record);
            return;
        }
        if !self.inner.enabled(record.metadata()) {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() >= MAX_KEPT {
            kept.remove(0);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        kept.push(Kept {
            level: record.level(),
            target: record.target().to_owned(),
            message: record.args().to_string(),
            module_path: record.module_path().map(str::to_owned),
            file: record.file().map(str::to_owned),
            line: record.line(),
        });
        self.has_kept.store(true, Ordering::Release);
    }

    fn flush(&self) {}
}

impl Deferring {
    /// Emits the kept records, in order, from this (Python) thread.
    fn emit_kept(&self) {
        // A load first: the usual case (nothing kept) writes nothing.
        if !self.has_kept.load(Ordering::Acquire) || !self.has_kept.swap(false, Ordering::AcqRel) {
            return;
        }
        let kept = std::mem::take(&mut *self.kept.lock().unwrap_or_else(PoisonError::into_inner));
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let message = format!("{dropped} log records from druva's runtime were dropped");
            self.emit(
                log::Level::Warn,
                druva_core::logging::TARGET,
                &message,
                None,
            );
        }
        for record in &kept {
            self.emit(record.level, &record.target, &record.message, Some(record));
        }
    }

    fn emit(&self, level: log::Level, target: &str, message: &str, at: Option<&Kept>) {
        self.inner.log(
            &Record::builder()
                .level(level)
                .target(target)
                .args(format_args!("{message}"))
                .module_path(at.and_then(|at| at.module_path.as_deref()))
                .file(at.and_then(|at| at.file.as_deref()))
                .line(at.and_then(|at| at.line))
                .build(),
        );
    }
}

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
    let handle = logger.reset_handle();
    let deferring: &'static Deferring = Box::leak(Box::new(Deferring {
        inner: logger,
        kept: Mutex::new(Vec::new()),
        has_kept: AtomicBool::new(false),
        dropped: AtomicU64::new(0),
    }));
    // When another extension installed a `log` backend first, druva's records
    // go there and there is no cache of ours to reset.
    if log::set_logger(deferring).is_ok() {
        log::set_max_level(log::LevelFilter::Debug);
        let _ = RESET.set(handle);
        let _ = LOGGER.set(deferring);
    }
    Ok(())
}

/// Emits the records kept from runtime threads; call on a Python thread.
pub fn emit_kept() {
    if let Some(logger) = LOGGER.get() {
        logger.emit_kept();
    }
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
    emit_kept();
    Ok(())
}
