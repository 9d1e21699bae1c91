//! Running core futures for Python: blocking callers wait with the GIL
//! released and stay interruptible; coroutines are bridged to asyncio on the
//! same druva runtime through pyo3-async-runtimes.

use std::cell::OnceCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::errors::to_py_err;
use pyo3::prelude::*;
use pyo3_async_runtimes::TaskLocals;

use druva_core::errors::Result;
use druva_core::runtime::{self, Pending};

/// How long a blocking caller waits with the GIL released before it looks for
/// a pending signal: Ctrl-C is noticed within this slice.
const SIGNAL_SLICE: Duration = Duration::from_millis(50);

/// Runs `future` on the druva runtime and waits for it with the GIL released.
/// A signal handler that raises (Ctrl-C's `KeyboardInterrupt`) cancels the
/// future and propagates.
pub fn wait<F, T>(py: Python<'_>, future: F) -> PyResult<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    wait_with(py, future, |_| Ok(()))
}

/// [`wait`], calling `between` with the GIL after each slice of waiting (to
/// update a progress bar, say); an error from it cancels the future.
pub fn wait_with<F, T>(
    py: Python<'_>,
    future: F,
    mut between: impl FnMut(Python<'_>) -> PyResult<()>,
) -> PyResult<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let mut pending = Pending::spawn(future).map_err(to_py_err)?;
    loop {
        let (returned, outcome) = py.detach(move || {
            let outcome = pending.wait(SIGNAL_SLICE);
            (pending, outcome)
        });
        pending = returned;
        // Records the runtime made meanwhile (retries, renewals) are
        // emitted here, on the caller's thread.
        crate::logging::emit_kept(py);
        match outcome {
            Some(Ok(result)) => return result.map_err(to_py_err),
            Some(Err(_)) if EXITING.load(Ordering::Acquire) => park_until_exit(py),
            Some(Err(error)) => return Err(to_py_err(error)),
            // Dropping `pending` on the way out cancels the request.
            None => {
                py.check_signals()?;
                between(py)?;
            }
        }
    }
}

/// Set when the interpreter exits and the runtime is stopped.
static EXITING: AtomicBool = AtomicBool::new(false);

/// A (daemon) thread whose call the exiting interpreter stopped: it waits
/// for the interpreter to end it, instead of printing a traceback about a
/// runtime that was shut down on purpose.
fn park_until_exit(py: Python<'_>) -> ! {
    loop {
        py.detach(|| std::thread::sleep(Duration::from_secs(1)));
    }
}

/// Turns a core future into an asyncio awaitable. Cancelling the awaiting
/// task drops the future, which cancels the request.
pub fn into_awaitable<'py, F, T>(py: Python<'py>, future: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    // Built here, so a failure to start the runtime is an exception, not a
    // panic inside the bridge's spawn.
    runtime::handle().map_err(to_py_err)?;
    pyo3_async_runtimes::generic::future_into_py::<DruvaRuntime, _, _>(py, future)
}

/// Where an event loop cannot watch a descriptor: starts `future` through
/// pyo3-async-runtimes, which completes the loop's future by itself.
pub fn spawn_on_loop<T, F, C>(py: Python<'_>, future: F, convert: C) -> PyResult<Py<PyAny>>
where
    T: Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
    C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let awaitable = into_awaitable(py, async move {
        Ok(Converted(future.await.map_err(to_py_err)?, convert))
    })?;
    Ok(awaitable.unbind())
}

/// A result and the conversion that turns it into Python, with the GIL.
struct Converted<T, C>(T, C);

impl<'py, T, C> IntoPyObject<'py> for Converted<T, C>
where
    C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>>,
{
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let Converted(value, convert) = self;
        Ok(convert(py, value)?.into_bound(py))
    }
}

/// The druva runtime as pyo3-async-runtimes sees it. Unlike the bridge's own
/// tokio runtime, ours is rebuilt in a forked child.
pub struct DruvaRuntime;

tokio::task_local! {
    static TASK_LOCALS: OnceCell<TaskLocals>;
}

/// The bridge's `spawn` has no error path. `into_awaitable` builds the runtime
/// (or raises) just before the bridge spawns, and tasks spawn from runtime
/// threads, so this finds a runtime except in a process that cannot start
/// threads at all; pyo3 then turns the panic into a Python `PanicException`.
#[allow(clippy::panic)]
fn handle() -> tokio::runtime::Handle {
    runtime::handle().unwrap_or_else(|error| {
        tokio::runtime::Handle::try_current()
            .unwrap_or_else(|_| panic!("the druva runtime is unavailable: {error}"))
    })
}

impl pyo3_async_runtimes::generic::Runtime for DruvaRuntime {
    type JoinError = tokio::task::JoinError;
    type JoinHandle = tokio::task::JoinHandle<()>;

    fn spawn<F>(future: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        handle().spawn(future)
    }

    fn spawn_blocking<F>(function: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        handle().spawn_blocking(function)
    }
}

impl pyo3_async_runtimes::generic::ContextExt for DruvaRuntime {
    fn scope<F, R>(locals: TaskLocals, future: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = OnceCell::new();
        let _ = cell.set(locals);
        Box::pin(TASK_LOCALS.scope(cell, future))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        TASK_LOCALS
            .try_with(|cell| cell.get().cloned())
            .unwrap_or_default()
    }
}

/// Stops the runtime at interpreter exit, before Python finalizes, so no
/// worker thread hands a result to a dying interpreter.
#[pyfunction]
pub fn _shutdown(py: Python<'_>) {
    EXITING.store(true, Ordering::Release);
    crate::store::stop_store_thread(py);
    py.detach(runtime::shutdown);
    crate::logging::stop_and_emit_kept();
}
