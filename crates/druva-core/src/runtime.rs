//! The one druva-owned tokio runtime that serves every sync and async call.
//!
//! A forked child inherits the parent's memory but none of its threads, so the
//! parent's runtime (and every connection pool bound to it) is dead weight
//! there. A `pthread_atfork` child handler bumps a process generation; the
//! runtime, and anything else bound to one process (HTTP clients, in-flight
//! token requests), remembers the generation it was made in and is rebuilt when
//! it no longer matches. The dead parent runtime is leaked on purpose: dropping
//! it would wait for worker threads that do not exist in the child.
//!
//! # Every process-global, and why a fork cannot hang on it
//!
//! A lock that a thread of the parent holds at the fork stays locked in the
//! child forever. So each global below is either lock-free, rebuilt in the
//! child without touching the parent's value ([`PerProcess`], itself
//! lock-free), or only ever locked by a thread holding the GIL (which
//! `os.fork` holds). `tests/test_fork_globals.py` fails when a `static`,
//! `thread_local!` or `task_local!` of the core or the binding is missing
//! here. One line a global: its name (file): its rule.
//!
//! - `GENERATION` (runtime.rs): an atomic; the child handler bumps it.
//! - `FORK_HANDLER_REGISTERED` (runtime.rs): an atomic flag, not a `Once`.
//! - `RUNTIME` (runtime.rs): a `PerProcess`: rebuilt in the child, the parent's leaked.
//! - `ON_RUNTIME_THREAD` (runtime.rs): per thread; the child's one thread is the forking one.
//! - `DEBUG_ENABLED` (logging.rs): an atomic.
//! - `CRYPTO_PROVIDER_INSTALLED` (http.rs): an atomic flag, not a `Once`.
//! - `CLIENTS` (http.rs): a `PerProcess` map of shared clients: rebuilt in the child.
//! - `LEFT_ORIGIN` (http.rs): a task-local; no task survives a fork.
//! - `CACHE` (grant.rs): the token cache, made once without a lock (`ArcSwapOption`); its
//!   map and every slot's token, flight and refusal mark are swapped pointers, never
//!   locked, and a flight of the parent's generation is ignored in the child (cache.rs).
//! - `FLIGHT_IDS` (cache.rs): an atomic.
//! - `NEXT_TICKET` (pager.rs): an atomic; a pager's fetch mark carries its process
//!   generation, so a fetch under way in the parent counts as never started in the child.
//! - a session's client and limiter (session.rs): `PerProcess` fields: rebuilt in the child.
//! - `EXITING` (binding, src/runtime.rs): an atomic.
//! - `TASK_LOCALS` (binding, src/runtime.rs): a task-local; no task survives a fork.
//! - `RESET`, `LOGGER` (binding, src/logging.rs): set once at import, with the GIL, before
//!   any druva thread exists; the logger holds atomics and pyo3-log's lock-free caches.
//! - `QUEUE` (binding, src/logging.rs): the log records kept for Python: a `PerProcess`,
//!   rebuilt in the child (a runtime thread may hold the parent's lock).
//! - `FLUSHER_STARTED_IN`, `STOPPED` (binding, src/logging.rs): atomics; the generation
//!   makes the child start its own log flusher.
//! - `GET_RUNNING_LOOP`, `LOOP_QUEUE_MODULE` (binding, src/awaitable.rs), `TOKEN_CLASS`
//!   (binding, src/token.rs): `PyOnceLock`s set with the GIL held; `os.fork` holds the
//!   GIL and the interpreter's import lock, so none is mid-initialisation at a fork.
//! - `NAMES_TRAILING_COMMAS` (binding, src/json/error.rs): a `OnceLock<bool>` set while
//!   the module is imported, with the GIL held, before any druva thread exists.
//! - `TEMPLATES`, `MEMO` (binding, src/token.rs): locked only with the GIL held and never
//!   across Python code, so free whenever `os.fork` runs.
//! - `STORE_THREAD` (binding, src/store.rs): the thread that calls Python token stores, a
//!   `PerProcess`: the child starts its own; the parent's channel is leaked there.
//! - `STORE_THREAD_STATE` (binding, src/store.rs): an atomic tagged with the process
//!   generation, so a state the parent left at the fork counts as idle in the child.
//! - each event loop's wake-up queue (binding, `src/loop_queue.rs`): per loop;
//!   `druva/_loop_queue.py` forgets them all in the child (`os.register_at_fork`).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use arc_swap::{ArcSwapOption, Guard};
use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinHandle;

use crate::errors::{Error, Result};

static GENERATION: AtomicU64 = AtomicU64::new(0);
static FORK_HANDLER_REGISTERED: AtomicBool = AtomicBool::new(false);
static RUNTIME: PerProcess<Arc<Runtime>> = PerProcess::new();

#[cfg(unix)]
extern "C" fn after_fork_in_child() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// Registers the child handler once. A flag, not a `Once`: a `Once` left
/// running by a thread of the parent at the fork would block the child.
fn register_fork_handler() {
    if FORK_HANDLER_REGISTERED.load(Ordering::Acquire)
        || FORK_HANDLER_REGISTERED.swap(true, Ordering::AcqRel)
    {
        return;
    }
    #[cfg(unix)]
    // SAFETY: the handler only increments an atomic, which is async-signal-safe,
    // as a handler running in a freshly forked child must be.
    unsafe {
        libc::pthread_atfork(None, None, Some(after_fork_in_child));
    }
}

thread_local! {
    static ON_RUNTIME_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the calling thread is one of the druva runtime's (a worker or a
/// blocking-pool thread): code there must not touch Python.
pub fn on_runtime_thread() -> bool {
    ON_RUNTIME_THREAD.with(std::cell::Cell::get)
}

/// The current process generation: it changes in a forked child.
pub fn generation() -> u64 {
    register_fork_handler();
    GENERATION.load(Ordering::Acquire)
}

/// A value bound to the process that made it, rebuilt after a fork.
///
/// It holds no lock: the value sits behind an [`ArcSwapOption`], which
/// readers load and writers replace lock-free, so a thread of the parent that
/// was inside `get_or_try_init` (building a client, say) at the fork leaves
/// nothing held that the child would wait for. Every `PerProcess` is
/// therefore fork-safe by construction, whatever its value holds: a lock
/// inside the value belongs to the parent's value, which the child never
/// reads.
pub struct PerProcess<T> {
    slot: ArcSwapOption<Made<T>>,
}

/// A value and the generation of the process that made it. Dropped in
/// another process (a forked child), the value is leaked, not dropped: it
/// may be a runtime whose drop waits for threads that do not exist there.
struct Made<T> {
    generation: u64,
    value: Option<T>,
}

impl<T> Drop for Made<T> {
    fn drop(&mut self) {
        if self.generation != GENERATION.load(Ordering::Acquire) {
            std::mem::forget(self.value.take());
        }
    }
}

impl<T: Clone> PerProcess<T> {
    pub const fn new() -> Self {
        PerProcess {
            slot: ArcSwapOption::const_empty(),
        }
    }

    /// The value made in this process, or a new one from `make`. A value left
    /// over from before a fork is leaked, never dropped (see [`Made`]). Two
    /// threads that find no value may both make one; the one stored first
    /// wins and the other is leaked too (dropping a runtime on one of its own
    /// threads would panic).
    pub fn get_or_try_init(&self, make: impl FnOnce() -> Result<T>) -> Result<T> {
        let generation = generation();
        let mut current = self.slot.load_full();
        if let Some(value) = value_made_in(current.as_deref(), generation) {
            return Ok(value);
        }
        let ours = Arc::new(Made {
            generation,
            value: Some(make()?),
        });
        loop {
            let previous = Guard::into_inner(
                self.slot
                    .compare_and_swap(&current, Some(Arc::clone(&ours))),
            );
            if same(previous.as_ref(), current.as_ref()) {
                return ours.value.clone().ok_or_else(unreachable_empty);
            }
            if let Some(value) = value_made_in(previous.as_deref(), generation) {
                std::mem::forget(ours);
                return Ok(value);
            }
            current = previous;
        }
    }

    /// Takes the value out if this process made it; one made before a fork
    /// is leaked. The next use makes a fresh one.
    pub fn take(&self) -> Option<T> {
        let made = self.slot.swap(None)?;
        if made.generation != generation() {
            return None;
        }
        match Arc::try_unwrap(made) {
            Ok(mut made) => made.value.take(),
            Err(shared) => shared.value.clone(),
        }
    }

    /// Forgets the value, so the next use makes a fresh one.
    pub fn clear(&self) {
        drop(self.take());
    }
}

/// The value of `made` if the process of `generation` made it.
fn value_made_in<T: Clone>(made: Option<&Made<T>>, generation: u64) -> Option<T> {
    made.filter(|made| made.generation == generation)
        .and_then(|made| made.value.clone())
}

fn same<T>(first: Option<&Arc<T>>, second: Option<&Arc<T>>) -> bool {
    match (first, second) {
        (Some(first), Some(second)) => Arc::ptr_eq(first, second),
        (None, None) => true,
        _ => false,
    }
}

/// A stored [`Made`] holds its value until it is dropped.
fn unreachable_empty() -> Error {
    Error::Transport {
        message: "a per-process value was emptied while in use".to_owned(),
    }
}

impl<T: Clone> Default for PerProcess<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The druva runtime of this process, built on first use.
pub fn runtime() -> Result<Arc<Runtime>> {
    RUNTIME.get_or_try_init(|| {
        // One worker: a blocking call then costs one hand-off each way
        // instead of workers, the I/O driver and the caller waking one another
        // (7.4 context switches a request with two workers, measured with
        // perf; 20% more wall time). One core of Rust drives far more I/O
        // than the GIL-bound Python side can consume.
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("druva-runtime")
            .on_thread_start(|| ON_RUNTIME_THREAD.with(|flag| flag.set(true)))
            .enable_all()
            .build()
            .map(Arc::new)
            .map_err(|error| Error::Transport {
                message: format!("could not start the druva runtime: {error}"),
            })
    })
}

/// Stops the runtime of this process, waiting briefly for its tasks to end;
/// the next call builds a new one. Used at interpreter exit.
pub fn shutdown() {
    if let Some(runtime) = RUNTIME.take() {
        match Arc::try_unwrap(runtime) {
            Ok(runtime) => runtime.shutdown_timeout(Duration::from_secs(2)),
            Err(shared) => std::mem::forget(shared),
        }
    }
}

/// A handle to the druva runtime of this process.
pub fn handle() -> Result<Handle> {
    Ok(runtime()?.handle().clone())
}

/// A future running on the druva runtime whose result a blocking caller waits
/// for in slices, so that it can look for signals between them. Dropping it
/// cancels the future.
pub struct Pending<T> {
    receiver: mpsc::Receiver<T>,
    task: JoinHandle<()>,
}

impl<T: Send + 'static> Pending<T> {
    /// Starts `future` on the druva runtime.
    pub fn spawn<F>(future: F) -> Result<Self>
    where
        F: Future<Output = T> + Send + 'static,
    {
        let (sender, receiver) = mpsc::sync_channel(1);
        let task = handle()?.spawn(async move {
            // The receiver is gone only if the caller gave up; nothing to report.
            let _ = sender.send(future.await);
        });
        Ok(Pending { receiver, task })
    }

    /// Waits up to `slice` for the result; `None` if it is not there yet.
    pub fn wait(&self, slice: Duration) -> Option<Result<T>> {
        match self.receiver.recv_timeout(slice) {
            Ok(value) => Some(Ok(value)),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => Some(Err(Error::Transport {
                message: "the druva runtime stopped before the request finished".to_owned(),
            })),
        }
    }
}

impl<T> Drop for Pending<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A future started on the druva runtime ahead of its use (a page fetched
/// while the caller consumes the one before). Dropping it cancels the
/// future. In a forked child its task does not exist: [`Task::join`] answers
/// `None` there, and the handle is leaked, never touched (see the module doc).
pub struct Task<T> {
    made_in: u64,
    task: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> Task<T> {
    /// Starts `future` on the druva runtime.
    pub fn spawn<F>(future: F) -> Result<Self>
    where
        F: Future<Output = T> + Send + 'static,
    {
        Ok(Task {
            made_in: generation(),
            task: Some(handle()?.spawn(future)),
        })
    }

    /// A future of the task's output (`Err` if the runtime stopped it), or
    /// `None` if the task was started before a fork and so never runs here.
    /// Dropping the returned future cancels the task.
    pub fn join(mut self) -> Option<impl Future<Output = Result<T>> + Send + 'static> {
        if self.made_in != generation() {
            return None;
        }
        let task = AbortOnDrop(self.task.take()?);
        Some(async move {
            let mut task = task;
            (&mut task.0).await.map_err(|error| Error::Transport {
                message: format!("a request run ahead did not finish: {error}"),
            })
        })
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            if self.made_in == generation() {
                task.abort();
            } else {
                std::mem::forget(task);
            }
        }
    }
}

/// Aborts a task when the future awaiting it is dropped (a cancelled wait).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `future` to completion from a plain thread (tests, the command line).
/// Callers that hold the Python GIL use [`Pending`] instead, to stay interruptible.
pub fn block_on<F, T>(future: F) -> Result<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let pending = Pending::spawn(future)?;
    loop {
        if let Some(result) = pending.wait(Duration::from_secs(3600)) {
            return result;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_is_shared_within_a_process() {
        let first = runtime().unwrap();
        let second = runtime().unwrap();
        assert!(Arc::ptr_eq(&first, &second));
    }

    /// Counts its drops.
    #[derive(Clone)]
    struct Dropped(Arc<std::sync::atomic::AtomicUsize>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_value_made_in_another_process_is_leaked_not_dropped() {
        let drops = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        drop(Made {
            generation: generation().wrapping_sub(1),
            value: Some(Dropped(Arc::clone(&drops))),
        });
        assert_eq!(
            drops.load(Ordering::SeqCst),
            0,
            "a parent's value is leaked"
        );
        drop(Made {
            generation: generation(),
            value: Some(Dropped(Arc::clone(&drops))),
        });
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "this process's value is dropped"
        );
    }

    #[test]
    fn threads_racing_to_make_a_per_process_value_all_get_the_stored_one() {
        let value_of_process: PerProcess<Arc<u32>> = PerProcess::new();
        let made = std::sync::atomic::AtomicU32::new(0);
        let values: Vec<Arc<u32>> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        value_of_process
                            .get_or_try_init(|| Ok(Arc::new(made.fetch_add(1, Ordering::SeqCst))))
                            .unwrap()
                    })
                })
                .collect();
            racers
                .into_iter()
                .map(|racer| racer.join().unwrap())
                .collect()
        });
        let stored = value_of_process
            .get_or_try_init(|| Ok(Arc::new(99)))
            .unwrap();
        assert!(values.iter().all(|value| Arc::ptr_eq(value, &stored)));
        assert_eq!(value_of_process.take().as_deref(), Some(&*stored));
        let remade = value_of_process.get_or_try_init(|| Ok(Arc::new(7)));
        assert_eq!(*remade.unwrap(), 7);
    }

    #[test]
    fn block_on_returns_the_future_output() {
        assert_eq!(block_on(async { 41 + 1 }).unwrap(), 42);
    }

    #[test]
    fn a_task_runs_ahead_and_is_joined_later() {
        let task = Task::spawn(async { 6 * 7 }).unwrap();
        let joined = task.join().expect("made in this process");
        assert_eq!(block_on(joined).unwrap().unwrap(), 42);
    }

    /// Spawns a future that sleeps a minute through `spawn_and_drop`, which
    /// drops what it spawned, and checks that the future was dropped before
    /// it ended (it sends a value only if it ends).
    fn assert_cancelled_by(
        what: &str,
        spawn_and_drop: impl FnOnce(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>),
    ) {
        let (sender, receiver) = tokio::sync::oneshot::channel::<()>();
        spawn_and_drop(Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            let _ = sender.send(());
        }));
        let dropped = block_on(async move { receiver.await.is_err() }).unwrap();
        assert!(
            dropped,
            "dropping {what} should have dropped the sleeping future"
        );
    }

    #[test]
    fn dropping_a_task_its_join_or_a_pending_call_cancels_the_future() {
        assert_cancelled_by("a task", |sleeping| drop(Task::spawn(sleeping).unwrap()));
        assert_cancelled_by("the join of a task", |sleeping| {
            drop(Task::spawn(sleeping).unwrap().join());
        });
        assert_cancelled_by("a pending call", |sleeping| {
            let pending = Pending::spawn(sleeping).unwrap();
            assert!(pending.wait(Duration::from_millis(10)).is_none());
            drop(pending);
        });
    }
}
