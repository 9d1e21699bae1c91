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
//! after-fork race (gh-112275). It is kept, and emitted by a Python thread:
//! the log flusher (a daemon thread, started by the first call that goes
//! through the runtime, which a kept record wakes at once), or earlier by
//! any Python thread that comes through druva (a blocking call, the event
//! loop completing async requests, a logging level change, the exit). So a
//! failed background renewal's WARNING appears within moments even while the
//! program only reads cached tokens.
//!
//! The queue of kept records is per process (a [`PerProcess`]): a runtime
//! thread may hold its lock at a fork, and the child then starts from a new
//! queue instead of waiting for that lock forever.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use druva_core::runtime::{self, PerProcess};

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
    has_kept: AtomicBool,
    dropped: AtomicU64,
}

/// The records kept in this process, and the flusher's wake-up call.
#[derive(Default)]
struct Queue {
    kept: Mutex<Vec<Kept>>,
    arrived: Condvar,
}

static QUEUE: PerProcess<Arc<Queue>> = PerProcess::new();

/// The generation of the process whose log flusher was started (none yet: `u64::MAX`).
static FLUSHER_STARTED_IN: AtomicU64 = AtomicU64::new(u64::MAX);

/// Set at interpreter exit: no flusher starts again, the running one parks.
static STOPPED: AtomicBool = AtomicBool::new(false);

/// How long the flusher waits for a record before it looks whether it was stopped.
const FLUSHER_WAIT: Duration = Duration::from_secs(60);

/// How long the flusher leaves a new record to a Python thread that is going
/// through druva anyway (a blocking call emits records every 50 ms, the event
/// loop as requests complete): that thread is the caller the record is about,
/// which is the thread a logging user expects to see. The flusher emits what
/// no caller took, still within a second.
const FLUSHER_GRACE: Duration = Duration::from_millis(750);

impl Queue {
    /// This process's queue.
    fn of_this_process() -> Arc<Queue> {
        QUEUE
            .get_or_try_init(|| Ok(Arc::default()))
            .unwrap_or_default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Kept>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits (without the GIL) until a record is kept or the flusher is
    /// stopped; once stopped it never returns, so that the daemon thread
    /// never takes the GIL of an interpreter that is finalizing.
    fn wait_for_records(&self) {
        loop {
            let kept = self.lock();
            let (kept, _) = self
                .arrived
                .wait_timeout_while(kept, FLUSHER_WAIT, |kept| {
                    kept.is_empty() && !STOPPED.load(Ordering::Acquire)
                })
                .unwrap_or_else(PoisonError::into_inner);
            let has_records = !kept.is_empty();
            drop(kept);
            if has_records {
                std::thread::sleep(FLUSHER_GRACE);
            }
            if STOPPED.load(Ordering::Acquire) {
                loop {
                    std::thread::park();
                }
            }
            if has_records {
                return;
            }
        }
    }
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
        let queue = Queue::of_this_process();
        let mut kept = queue.lock();
        if kept.len() >= MAX_KEPT {
            kept.remove(0);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        let was_empty = kept.is_empty();
        kept.push(Kept {
            level: record.level(),
            target: record.target().to_owned(),
            message: record.args().to_string(),
            module_path: record.module_path().map(str::to_owned),
            file: record.file().map(str::to_owned),
            line: record.line(),
        });
        drop(kept);
        self.has_kept.store(true, Ordering::Release);
        if was_empty {
            queue.arrived.notify_all();
        }
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
        let kept = std::mem::take(&mut *Queue::of_this_process().lock());
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
    // Holds the handlers of druva's records around every fork.
    py.import("druva._logging")?;
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

/// Emits the records kept from runtime threads; call on a Python thread
/// that comes through the runtime. Starts this process's log flusher if it
/// has none yet.
pub fn emit_kept(py: Python<'_>) {
    start_flusher(py);
    emit_kept_records();
}

fn emit_kept_records() {
    if let Some(logger) = LOGGER.get() {
        logger.emit_kept();
    }
}

/// Stops the log flusher and emits what is left: at interpreter exit.
pub fn stop_and_emit_kept() {
    STOPPED.store(true, Ordering::Release);
    Queue::of_this_process().arrived.notify_all();
    emit_kept_records();
}

/// Starts the log flusher of this process (once per process: a forked
/// child starts its own), unless druva's records go to another backend.
fn start_flusher(py: Python<'_>) {
    let generation = runtime::generation();
    if LOGGER.get().is_none()
        || STOPPED.load(Ordering::Acquire)
        || FLUSHER_STARTED_IN.load(Ordering::Acquire) == generation
        || FLUSHER_STARTED_IN.swap(generation, Ordering::AcqRel) == generation
    {
        return;
    }
    let started = (|| -> PyResult<()> {
        let flush = wrap_pyfunction!(flush_log_records, py)?;
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("target", flush)?;
        kwargs.set_item("name", "druva-log-flusher")?;
        kwargs.set_item("daemon", true)?;
        py.import("threading")?
            .call_method("Thread", (), Some(&kwargs))?
            .call_method0("start")?;
        Ok(())
    })();
    if started.is_err() {
        // Records are still emitted by the next call through druva.
        FLUSHER_STARTED_IN.store(u64::MAX, Ordering::Release);
    }
}

/// The log flusher's body: emits kept records as they arrive, until the
/// interpreter exits (or, in a forked child, never: the thread is not there).
#[pyfunction]
fn flush_log_records(py: Python<'_>) {
    loop {
        let queue = Queue::of_this_process();
        py.detach(|| queue.wait_for_records());
        emit_kept_records();
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
    emit_kept_records();
    Ok(())
}
