//! Completing asyncio futures in batches.
//!
//! The generic bridge completes each future by taking the GIL on a runtime
//! thread and calling `loop.call_soon_threadsafe`, a GIL round trip and a
//! loop wake-up per request. Here a finished request only queues its result
//! and, if the queue was empty, wakes the event loop through a descriptor it
//! watches (`loop.add_reader`); the loop then completes every queued future at
//! once, with the GIL it already holds. A hundred requests in flight cost a
//! few wake-ups instead of a hundred.
//!
//! The descriptor is an eventfd on Linux and a self-pipe on other unix (or on
//! Linux when asked for, to test that path). Elsewhere (Windows) there is no
//! queue: `druva/_completions.py` then uses the generic bridge.

use std::sync::Mutex;

use pyo3::prelude::*;
use tokio::task::AbortHandle;

mod wake;

/// Turns a finished request's Rust result into the future's Python value,
/// with the GIL held.
pub type Convert = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

struct Finished {
    future: Py<PyAny>,
    convert: Convert,
}

/// The completion queue of one event loop; made by `druva/_completions.py`,
/// which registers `drain` for `fd` with `loop.add_reader`.
#[pyclass(frozen, module = "druva._druva", name = "_Completions")]
pub struct Completions {
    wake: wake::Wake,
    queue: Mutex<Vec<Finished>>,
}

#[pymethods]
impl Completions {
    /// `portable=True` uses the self-pipe even where an eventfd exists.
    #[new]
    #[pyo3(signature = (portable=false))]
    fn new(portable: bool) -> PyResult<Self> {
        Ok(Completions {
            wake: wake::Wake::new(portable)?,
            queue: Mutex::new(Vec::new()),
        })
    }

    /// The descriptor the event loop watches.
    #[getter]
    fn fd(&self) -> i32 {
        self.wake.fd()
    }

    /// How the loop is woken: ``"eventfd"`` or ``"pipe"``.
    #[getter]
    fn mechanism(&self) -> &'static str {
        self.wake.mechanism()
    }

    /// Completes every queued future; called by the event loop.
    fn drain(&self, py: Python<'_>) -> PyResult<()> {
        // Read the wake-up first, then take the queue: a result queued after
        // the take finds the queue empty and wakes the loop again.
        self.wake.clear();
        let finished = std::mem::take(
            &mut *self
                .queue
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for Finished { future, convert } in finished {
            let future = future.bind(py);
            if future
                .call_method0(pyo3::intern!(py, "done"))?
                .is_truthy()?
            {
                continue; // cancelled while the result was queued
            }
            match convert(py) {
                Ok(value) => future.call_method1(pyo3::intern!(py, "set_result"), (value,))?,
                Err(error) => future
                    .call_method1(pyo3::intern!(py, "set_exception"), (error.into_value(py),))?,
            };
        }
        Ok(())
    }
}

impl Completions {
    /// Queues a finished future; wakes the loop if it was not already due.
    pub fn finish(&self, future: Py<PyAny>, convert: Convert) {
        let was_empty = {
            let mut queue = self
                .queue
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let was_empty = queue.is_empty();
            queue.push(Finished { future, convert });
            was_empty
        };
        if was_empty {
            self.wake.signal();
        }
    }
}

/// Cancels the Rust task when its asyncio future is cancelled; a done
/// callback (a no-op for a future that completed).
#[pyclass(frozen, module = "druva._druva", name = "_Canceller")]
pub struct Canceller {
    pub task: AbortHandle,
}

#[pymethods]
impl Canceller {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.task.abort();
        }
        Ok(())
    }
}
