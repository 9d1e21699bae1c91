//! The loop queue: asyncio futures completed in batches, the event loop
//! woken once for many finished requests.
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
//! queue: `druva/_loop_queue.py` then uses the generic bridge.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::prelude::*;
use tokio::task::AbortHandle;

mod wake;

/// Turns a finished request's Rust result into the future's Python value,
/// with the GIL held.
pub type Convert = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// What a runtime task may hold of a loop queue: Rust only. The
/// asyncio futures stay in `futures`, which only GIL holders touch, so no
/// Python object is ever created or dropped on a runtime thread (pyo3 would
/// queue the drop under a global lock, and a fork landing while a runtime
/// thread holds it leaves the child hung for good).
pub struct Queue {
    wake: wake::Wake,
    finished: Mutex<Vec<(u64, Convert)>>,
    next_id: AtomicU64,
}

impl Queue {
    /// Queues a finished request; wakes the loop if it was not already due.
    pub fn finish(&self, id: u64, convert: Convert) {
        let was_empty = {
            let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
            let was_empty = finished.is_empty();
            finished.push((id, convert));
            was_empty
        };
        if was_empty {
            self.wake.signal();
        }
    }
}

/// The loop queue of one event loop; made by `druva/_loop_queue.py`,
/// which registers `drain` for `fd` with `loop.add_reader`.
#[pyclass(frozen, module = "druva._druva", name = "_LoopQueue")]
pub struct LoopQueue {
    queue: Arc<Queue>,
    /// The asyncio future of each request in flight, by id.
    futures: Mutex<HashMap<u64, Py<PyAny>>>,
}

#[pymethods]
impl LoopQueue {
    /// `portable=True` uses the self-pipe even where an eventfd exists.
    #[new]
    #[pyo3(signature = (portable=false))]
    fn new(portable: bool) -> PyResult<Self> {
        Ok(LoopQueue {
            queue: Arc::new(Queue {
                wake: wake::Wake::new(portable)?,
                finished: Mutex::new(Vec::new()),
                next_id: AtomicU64::new(0),
            }),
            futures: Mutex::new(HashMap::new()),
        })
    }

    /// The descriptor the event loop watches.
    #[getter]
    fn fd(&self) -> i32 {
        self.queue.wake.fd()
    }

    /// How the loop is woken: ``"eventfd"`` or ``"pipe"``.
    #[getter]
    fn mechanism(&self) -> &'static str {
        self.queue.wake.mechanism()
    }

    /// Requests whose future has not been completed or cancelled yet.
    #[getter]
    fn in_flight(&self) -> usize {
        self.futures().len()
    }

    /// Completes every queued future; called by the event loop.
    fn drain(&self, py: Python<'_>) -> PyResult<()> {
        // Read the wake-up first, then take the queue: a result queued after
        // the take finds the queue empty and wakes the loop again.
        self.queue.wake.clear();
        let finished = std::mem::take(
            &mut *self
                .queue
                .finished
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for (id, convert) in finished {
            // Gone: cancelled while the result was queued.
            let Some(future) = self.futures().remove(&id) else {
                continue;
            };
            let future = future.bind(py);
            if future
                .call_method0(pyo3::intern!(py, "done"))?
                .is_truthy()?
            {
                continue;
            }
            match convert(py) {
                Ok(value) => future.call_method1(pyo3::intern!(py, "set_result"), (value,))?,
                Err(error) => future
                    .call_method1(pyo3::intern!(py, "set_exception"), (error.into_value(py),))?,
            };
        }
        crate::logging::emit_kept(py);
        Ok(())
    }
}

impl LoopQueue {
    fn futures(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Py<PyAny>>> {
        self.futures.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `future` (with the GIL) until its request finishes; returns
    /// the id the request reports back with, and the queue it reports to.
    pub fn track(&self, future: Py<PyAny>) -> (u64, Arc<Queue>) {
        let id = self.queue.next_id.fetch_add(1, Ordering::Relaxed);
        self.futures().insert(id, future);
        (id, Arc::clone(&self.queue))
    }

    /// Forgets a cancelled request's future (with the GIL).
    pub fn forget(&self, id: u64) {
        let future = self.futures().remove(&id);
        drop(future);
    }
}

/// Cancels the Rust task when its asyncio future is cancelled, and forgets
/// the future; a done callback (a no-op for a future that completed).
#[pyclass(frozen, module = "druva._druva", name = "_Canceller")]
pub struct Canceller {
    pub task: AbortHandle,
    pub loop_queue: Py<LoopQueue>,
    pub id: u64,
}

#[pymethods]
impl Canceller {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.task.abort();
            self.loop_queue.get().forget(self.id);
        }
        Ok(())
    }
}
