//! The coroutines of `AsyncSession`, `get_token_async` and async paging.
//!
//! An [`Awaitable`] is created when the method is called (so bad arguments
//! raise at the call, before any I/O) and starts its work only when awaited,
//! as a coroutine does: `asyncio.run(s.get(url))` and
//! `asyncio.create_task(s.get(url))` work, and nothing needs a running loop
//! until then. It is registered as a `collections.abc.Coroutine` in
//! `druva/__init__.py`.
//!
//! Each step of the work either finishes with a value or hands back an
//! asyncio future to wait for; the awaitable drives that future's iterator
//! and, when it completes, takes the next step. Paging uses that, through
//! [`Stepper`], to fetch pages until one has an item or the list ends.

use std::sync::Mutex;

use pyo3::exceptions::{PyRuntimeError, PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyTuple;

use crate::errors::to_py_err;
use crate::loop_queue::{Canceller, Convert, LoopQueue};
use druva_core::errors::Result;

/// Starts a request on the running loop: returns the asyncio future that
/// completes with its value.
pub type Start = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// What an awaitable does when it is first awaited.
pub enum Work {
    /// Starts a request.
    Start(Start),
    /// Already known (a cache hit): the await returns it at once.
    Ready(Py<PyAny>),
    /// Work done in steps (the next item of an async paginator).
    Steps(Box<dyn Stepper>),
}

/// Work done in steps: each ends with a value or waits for an asyncio
/// future, whose result the next step takes.
pub trait Stepper: Send + Sync {
    /// The next step; `fetched` is the result of the last step's future.
    fn step(&self, py: Python<'_>, fetched: Option<Py<PyAny>>) -> PyResult<Step>;
}

/// What a step holds while its future is awaited (a paginator's mark of a
/// fetch under way). It is dropped on the loop's thread as soon as the wait
/// ends or is given up (a cancelled await), never later on the runtime.
pub type Hold = Box<dyn std::any::Any + Send + Sync>;

/// What one step of the work comes to.
pub enum Step {
    Done(Py<PyAny>),
    /// Wait for this asyncio future, holding this meanwhile, then take the
    /// next step with its result.
    Wait(Py<PyAny>, Option<Hold>),
}

enum State {
    New(Work),
    /// Waiting on a future: its `__await__` iterator, the stepper to step
    /// again for work in steps, and what the step holds meanwhile.
    Waiting {
        iterator: Py<PyAny>,
        then: Option<Box<dyn Stepper>>,
        hold: Option<Hold>,
    },
    Finished,
}

/// A coroutine made in Rust: `await` it, or hand it to `asyncio.create_task`.
#[pyclass(frozen, module = "druva._druva", name = "_Awaitable")]
pub struct Awaitable {
    state: Mutex<State>,
}

impl Awaitable {
    pub fn new(work: Work) -> Self {
        Awaitable {
            state: Mutex::new(State::New(work)),
        }
    }

    pub fn ready(value: Py<PyAny>) -> Self {
        Awaitable::new(Work::Ready(value))
    }

    fn take(&self) -> State {
        std::mem::replace(
            &mut *self
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            State::Finished,
        )
    }

    fn put(&self, state: State) {
        *self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = state;
    }

    /// Resumes the coroutine: `send(value)`, or `throw(error)` when `error` is given.
    fn resume(
        &self,
        py: Python<'_>,
        value: Py<PyAny>,
        error: Option<PyErr>,
    ) -> PyResult<Py<PyAny>> {
        let (mut iterator, mut then, mut hold) = match self.take() {
            State::New(work) => {
                if let Some(error) = error {
                    return Err(error);
                }
                match first_step(py, work)? {
                    (Step::Done(value), _) => return Err(PyStopIteration::new_err((value,))),
                    (Step::Wait(future, hold), then) => (await_iterator(py, &future)?, then, hold),
                }
            }
            State::Waiting {
                iterator,
                then,
                hold,
            } => (iterator, then, hold),
            State::Finished => {
                return Err(PyRuntimeError::new_err(
                    "cannot reuse an already awaited druva coroutine",
                ))
            }
        };
        let mut outcome = match error {
            Some(error) => iterator
                .bind(py)
                .call_method1(pyo3::intern!(py, "throw"), (error.into_value(py),)),
            None => iterator
                .bind(py)
                .call_method1(pyo3::intern!(py, "send"), (value,)),
        };
        loop {
            match outcome {
                Ok(yielded) => {
                    self.put(State::Waiting {
                        iterator,
                        then,
                        hold,
                    });
                    return Ok(yielded.unbind());
                }
                Err(error) if error.is_instance_of::<PyStopIteration>(py) => {
                    let result = stop_value(py, &error)?;
                    // The wait is over: what it held goes before the next step.
                    drop(hold.take());
                    let Some(stepper) = then else {
                        return Err(PyStopIteration::new_err((result,)));
                    };
                    match stepper.step(py, Some(result))? {
                        Step::Done(item) => return Err(PyStopIteration::new_err((item,))),
                        Step::Wait(future, next_hold) => {
                            iterator = await_iterator(py, &future)?;
                            outcome = iterator
                                .bind(py)
                                .call_method1(pyo3::intern!(py, "send"), (py.None(),));
                            then = Some(stepper);
                            hold = next_hold;
                        }
                    }
                }
                // A failed or cancelled wait: what it held is dropped here.
                Err(error) => return Err(error),
            }
        }
    }
}

/// The first step of `work`, and the stepper to take the next ones.
fn first_step(py: Python<'_>, work: Work) -> PyResult<(Step, Option<Box<dyn Stepper>>)> {
    match work {
        Work::Ready(value) => Ok((Step::Done(value), None)),
        Work::Start(start) => Ok((Step::Wait(start(py)?, None), None)),
        Work::Steps(stepper) => Ok((stepper.step(py, None)?, Some(stepper))),
    }
}

fn await_iterator(py: Python<'_>, future: &Py<PyAny>) -> PyResult<Py<PyAny>> {
    Ok(future
        .bind(py)
        .call_method0(pyo3::intern!(py, "__await__"))?
        .unbind())
}

fn stop_value(py: Python<'_>, stop: &PyErr) -> PyResult<Py<PyAny>> {
    Ok(stop.value(py).getattr(pyo3::intern!(py, "value"))?.unbind())
}

#[pymethods]
impl Awaitable {
    fn __await__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.resume(py, py.None(), None)
    }

    fn send(&self, py: Python<'_>, value: Py<PyAny>) -> PyResult<Py<PyAny>> {
        self.resume(py, value, None)
    }

    #[pyo3(signature = (error, *_rest))]
    fn throw(
        &self,
        py: Python<'_>,
        error: &Bound<'_, PyAny>,
        _rest: &Bound<'_, PyTuple>,
    ) -> PyResult<Py<PyAny>> {
        let error = if error.is_instance_of::<pyo3::types::PyType>() {
            PyErr::from_value(error.call0()?)
        } else {
            PyErr::from_value(error.clone())
        };
        self.resume(py, py.None(), Some(error))
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if let State::Waiting { iterator, .. } = self.take() {
            iterator.bind(py).call_method0(pyo3::intern!(py, "close"))?;
        }
        Ok(())
    }
}

static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static LOOP_QUEUE_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// Starts `future` on the druva runtime for the running event loop; returns
/// the asyncio future that completes with `convert`'s value. The conversion
/// runs on the loop's thread with the GIL (never on a runtime thread), and
/// cancelling the asyncio future cancels the Rust task.
pub fn spawn<T, F, C>(py: Python<'_>, future: F, convert: C) -> PyResult<Py<PyAny>>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T>> + Send + 'static,
    C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let event_loop = GET_RUNNING_LOOP
        .import(py, "asyncio", "get_running_loop")?
        .call0()?;
    // Looked up on the module each time, so that tests can swap it.
    let loop_queue = LOOP_QUEUE_MODULE
        .get_or_try_init(py, || py.import("druva._loop_queue").map(Bound::unbind))?
        .bind(py)
        .call_method1(pyo3::intern!(py, "loop_queue_for"), (&event_loop,))?;
    if loop_queue.is_none() {
        return crate::runtime::spawn_on_loop(py, future, convert);
    }
    let loop_queue = loop_queue.cast_into::<LoopQueue>()?;
    let asyncio_future = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
    let runtime = druva_core::runtime::handle().map_err(to_py_err)?;
    // The task holds no Python object: the future stays with the queue's
    // owner, and the task reports back by id.
    let (id, queue) = loop_queue.get().track(asyncio_future.clone().unbind());
    let task = runtime.spawn(async move {
        let result = future.await;
        let convert: Convert = Box::new(move |py| convert(py, result.map_err(to_py_err)?));
        queue.finish(id, convert);
    });
    asyncio_future.call_method1(
        pyo3::intern!(py, "add_done_callback"),
        (Canceller {
            task: task.abort_handle(),
            loop_queue: loop_queue.unbind(),
            id,
        },),
    )?;
    Ok(asyncio_future.unbind())
}

/// A Rust value on its way from the runtime to the loop's thread, as the
/// result of an asyncio future (a fetched page): the next step takes it.
#[pyclass(frozen, module = "druva._druva", name = "_InTransit")]
pub struct InTransit {
    value: Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

impl InTransit {
    /// `value` as a future's result (with the GIL).
    pub fn send<T: Send + 'static>(py: Python<'_>, value: T) -> PyResult<Py<PyAny>> {
        let value = Mutex::new(Some(Box::new(value) as Box<dyn std::any::Any + Send>));
        Ok(Py::new(py, InTransit { value })?.into_any())
    }

    /// The value a future's result carries; it can be taken once.
    pub fn receive<T: 'static>(result: &Bound<'_, PyAny>) -> PyResult<T> {
        let value = result
            .cast::<InTransit>()?
            .get()
            .value
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match value {
            Some(value) => value
                .downcast::<T>()
                .map(|value| *value)
                .map_err(|_| PyRuntimeError::new_err("this result is of another type")),
            None => Err(PyRuntimeError::new_err("this result was taken already")),
        }
    }
}

/// `StopAsyncIteration`, for an async paginator at its end.
pub fn end_of_iteration() -> PyErr {
    PyStopAsyncIteration::new_err(())
}
