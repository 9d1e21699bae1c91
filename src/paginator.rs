//! `druva.Paginator`: the Python iterators over the core's [`ListWalk`].
//!
//! Sync iteration (`for`) and async iteration (`async for`) drive the same
//! walk through the same two steps: fetch the next page (which does not move
//! the walk), then [`PyPaginator::take_page`] decodes its items and only then
//! advances. A page that fails to arrive or to decode is fetched again on the
//! next iteration. The progress bar, when asked for, is updated in that one
//! place too.
//!
//! Once a page is taken, the next one (whose cursor it returned) is fetched
//! ahead on the runtime while the caller consumes this one: at most one page
//! more is held. A page fetched ahead that failed is fetched again when the
//! caller reaches it; nothing of it was yielded, and the walk never moved.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::awaitable::{self, Awaitable, Step, Work};
use crate::errors::{to_py_err, OrRaise};
use crate::json;
use crate::runtime::wait;
use druva_core::errors::{Error, Result};
use druva_core::paginate::ListWalk;
use druva_core::response::Response;
use druva_core::runtime::Task;
use druva_core::session::{ApiRequest, Body, Call, Session};

/// Where a paginator stands.
struct State {
    walk: ListWalk,
    /// The page being handed out, and the index of its next item.
    page: Option<(Py<PyList>, usize)>,
    /// The next page, being fetched while the caller consumes this one.
    ahead: Option<Ahead>,
}

/// A page fetched ahead, and its request, to fetch it again if that failed.
struct Ahead {
    task: Task<Result<Response>>,
    request: ApiRequest,
}

/// The fetch of one page, to run on the runtime.
type PageFetch = Pin<Box<dyn Future<Output = Result<Response>> + Send>>;

/// Iterates over every item of a Druva list, fetching its pages one after another.
///
/// ``Session.paginate()`` and ``AsyncSession.paginate()`` return one (the
/// paging styles, and where a list ends, are told there). From a
/// ``Session``, iterate it with ``for`` (or ``list()``, ``next()``); from an
/// ``AsyncSession``, with ``async for``. At most two pages are held: the one
/// being yielded and the next, fetched ahead while the caller consumes.
///
/// A page that fails (an error status, a body that is not JSON, a broken
/// connection) raises before any of its items is yielded, ``cursor`` still
/// points at it, and iterating again fetches it again: no item is lost or
/// yielded twice. Iterate a paginator from one thread or task at a time
/// (another one at the same moment raises ``RuntimeError``).
///
/// Attributes:
///     cursor: where the list stands: the cursor of the next page (save it
///         to resume with ``paginate(url, cursor=saved)``).
///     pages: how many pages it has taken so far.
///
/// Raises:
///     druva.HTTPStatusError: a page's error status (``druva.RateLimitError``
///         for a 429 after the retries).
///     druva.JSONDecodeError: a page that is not JSON.
///     druva.ProtocolError: a page whose items field is not a list.
///     druva.TransportError: a page that could not be fetched.
///     TypeError: ``for`` over an ``AsyncSession``'s paginator, or
///         ``async for`` over a ``Session``'s.
///
/// >>> users = s.paginate("/insync/usermanagement/v1/users")
/// >>> first = next(users)
/// >>> first["userID"], users.pages
/// (1, 1)
/// >>> len([first, *users]), users.pages, users.cursor
/// (25, 3, None)
///
/// >>> async with druva.AsyncSession(client_id, secret) as a:
/// ...     devices = [device async for device in a.paginate("/insync/endpoints/v1/devices")]
/// >>> len(devices)
/// 38
#[pyclass(frozen, module = "druva", name = "Paginator")]
pub struct PyPaginator {
    session: Arc<Session>,
    url: String,
    is_async: bool,
    walk: Mutex<State>,
    /// Whether a page is being fetched: one iteration at a time.
    fetching: Arc<AtomicBool>,
    /// A tqdm progress bar, for ``progress=True``.
    bar: Option<Py<PyAny>>,
}

impl PyPaginator {
    pub fn new(
        session: Arc<Session>,
        url: String,
        walk: ListWalk,
        is_async: bool,
        bar: Option<Py<PyAny>>,
    ) -> Self {
        PyPaginator {
            session,
            url,
            is_async,
            walk: Mutex::new(State {
                walk,
                page: None,
                ahead: None,
            }),
            fetching: Arc::default(),
            bar,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.walk
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next item of the page in hand, if any; drops a page used up.
    fn buffered(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        let mut walk = self.lock();
        let (page, index) = walk.page.as_mut()?;
        let page = page.bind(py);
        if *index < page.len() {
            if let Ok(item) = page.get_item(*index) {
                *index += 1;
                return Some(item.unbind());
            }
        }
        walk.page = None;
        None
    }

    /// The fetch of the page to take next (the one fetched ahead, if any),
    /// and the guard that marks the paginator as fetching until it is
    /// dropped; `None` after the last page.
    fn begin_fetch(&self) -> PyResult<Option<(PageFetch, Fetching)>> {
        let mut walk = self.lock();
        if self.fetching.swap(true, Ordering::AcqRel) {
            return Err(PyRuntimeError::new_err(
                "this paginator is already fetching a page; iterate it from one thread or task at a time",
            ));
        }
        let fetching = Fetching(Arc::clone(&self.fetching));
        let session = Arc::clone(&self.session);
        if session.is_closed() {
            // A page fetched ahead is not handed out after close(): the
            // paginator stops as every call of a closed session does.
            walk.ahead = None;
        }
        if let Some(Ahead { task, request }) = walk.ahead.take() {
            let Some(joined) = task.join() else {
                // Started before a fork: it never runs in this process.
                return Ok(Some((Box::pin(session.send(request)), fetching)));
            };
            let fetch = async move {
                match joined.await {
                    Ok(Ok(response)) if response.is_success() => Ok(response),
                    // Failed while the caller was busy: fetched again now, so
                    // the caller sees this attempt's outcome.
                    _ => session.send(request).await,
                }
            };
            return Ok(Some((Box::pin(fetch), fetching)));
        }
        let Some(request) = self.next_request(&walk)? else {
            return Ok(None);
        };
        Ok(Some((Box::pin(session.send(request)), fetching)))
    }

    /// The request of the walk's next page; `None` after the last page.
    fn next_request(&self, walk: &State) -> PyResult<Option<ApiRequest>> {
        let Some(page) = walk.walk.next_request() else {
            return Ok(None);
        };
        let request = self
            .session
            .prepare(Call {
                method: page.method.as_str(),
                url: &self.url,
                query: page.query,
                body: page.body.map_or(Body::Empty, Body::Json),
                // Paging requests are reads: a POST page is retried like a GET.
                retry: Some(true),
                ..Call::default()
            })
            .or_raise()?;
        Ok(Some(request))
    }

    /// Starts fetching the walk's next page, if there is one. A request that
    /// cannot be made now is left to the caller's next fetch, which reports it.
    fn fetch_ahead(&self, walk: &mut State) {
        let Ok(Some(request)) = self.next_request(walk) else {
            return;
        };
        let session = Arc::clone(&self.session);
        if let Ok(task) = Task::spawn(session.send(request.clone())) {
            walk.ahead = Some(Ahead { task, request });
        }
    }

    /// Takes a fetched page: reads its paging fields, decodes its items, and
    /// only then advances the walk. On any error the walk stays on this page.
    fn take_page(&self, py: Python<'_>, response: Response) -> PyResult<()> {
        let page = self.lock().walk.read(response).or_raise()?;
        let decoded = json::decode_or_raise(py, page.body())?;
        let field = page.items_field();
        let value = decoded.get_item(field)?;
        // A null list (a "hollow" customer) is an empty page.
        let list = if value.is_none() {
            PyList::empty(py)
        } else {
            value.cast_into::<PyList>().map_err(|_| {
                to_py_err(Error::protocol(format!(
                    "the page's {field:?} field is not a list"
                )))
            })?
        };
        let count = list.len();
        let pages = {
            let mut walk = self.lock();
            walk.walk.advance(page);
            walk.page = Some((list.unbind(), 0));
            self.fetch_ahead(&mut walk);
            walk.walk.pages()
        };
        if let Some(bar) = &self.bar {
            let bar = bar.bind(py);
            bar.call_method1(pyo3::intern!(py, "update"), (count,))?;
            bar.call_method1(
                pyo3::intern!(py, "set_postfix_str"),
                (format!("{pages} pages"), false),
            )?;
        }
        Ok(())
    }

    fn finish(&self, py: Python<'_>) -> PyResult<()> {
        if let Some(bar) = &self.bar {
            bar.bind(py).call_method0(pyo3::intern!(py, "close"))?;
        }
        Ok(())
    }

    /// One step of `async for`: the next item, or a fetch to wait for. With
    /// `fetched`, first takes the page that fetch brought.
    pub fn async_step(
        py: Python<'_>,
        paginator: &Py<PyPaginator>,
        fetched: Option<Py<PyAny>>,
    ) -> PyResult<Step> {
        let this = paginator.get();
        if let Some(fetched) = fetched {
            let fetched = fetched.bind(py).cast::<PageInTransit>()?;
            this.take_page(py, fetched.get().take()?)?;
        }
        if let Some(item) = this.buffered(py) {
            return Ok(Step::Done(item));
        }
        let Some((fetch, fetching)) = this.begin_fetch()? else {
            this.finish(py)?;
            return Err(awaitable::end_of_iteration());
        };
        // The guard ends the fetch when the page reaches the loop, or when
        // the await is cancelled and the conversion is dropped unrun.
        let future = awaitable::spawn(py, fetch, move |py, response| {
            drop(fetching);
            Ok(Py::new(py, PageInTransit::new(response))?.into_any())
        })?;
        Ok(Step::Wait(future))
    }
}

#[pymethods]
impl PyPaginator {
    fn __iter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        if slf.get().is_async {
            return Err(PyTypeError::new_err(
                "this paginator is from an AsyncSession: iterate it with `async for`",
            ));
        }
        Ok(slf)
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        loop {
            if let Some(item) = self.buffered(py) {
                return Ok(Some(item));
            }
            let Some((fetch, fetching)) = self.begin_fetch()? else {
                self.finish(py)?;
                return Ok(None);
            };
            let response = wait(py, fetch);
            drop(fetching);
            self.take_page(py, response?)?;
            // Pages can arrive faster than `wait` looks for signals: look
            // after each one, so Ctrl-C stops an endless list. The page just
            // taken stays buffered for the next `next()`.
            py.check_signals()?;
        }
    }

    fn __aiter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        if !slf.get().is_async {
            return Err(PyTypeError::new_err(
                "this paginator is from a Session: iterate it with `for`",
            ));
        }
        Ok(slf)
    }

    fn __anext__(slf: Bound<'_, Self>) -> Awaitable {
        Awaitable::new(Work::NextItem(slf.unbind()))
    }

    /// How many pages the paginator has taken so far (``0`` before the first).
    ///
    /// >>> users = s.paginate("/insync/usermanagement/v1/users")
    /// >>> users.pages
    /// 0
    /// >>> _ = list(users)
    /// >>> users.pages
    /// 3
    #[getter]
    fn pages(&self) -> u64 {
        self.lock().walk.pages()
    }

    /// Where the list stands: the cursor of the next page the paginator will yield from.
    ///
    /// Before the first page, the ``cursor=`` it was given (or ``None``); then
    /// the cursor each page returned, whether or not the next page is already
    /// being fetched ahead. After the last page: the last cursor the server
    /// returned when the list ended on an empty page, a repeated cursor or
    /// ``nextPageExists: false`` (for an event stream, where to poll from next
    /// time); ``None`` when it ended because the server returned no cursor
    /// (missing, ``""``, ``null``). After a failed page, still that page's.
    /// Save it to resume: ``s.paginate(url, cursor=saved)`` (a tracker stream:
    /// ``params={"tracker": saved}``).
    ///
    /// >>> events = s.paginate("/insync/eventmanagement/v2/events")
    /// >>> _ = list(events)
    /// >>> saved = events.cursor
    /// >>> fake.add_events(3)  # FakeDruva: three new events arrive
    /// >>> new = list(s.paginate("/insync/eventmanagement/v2/events", params={"tracker": saved}))
    /// >>> len(new)
    /// 3
    #[getter]
    fn cursor(&self) -> Option<String> {
        self.lock().walk.cursor().map(str::to_owned)
    }

    /// How the list pages, as its last page showed; ``None`` before the first page.
    ///
    /// ``"tracker"`` (events v2): resume a saved cursor as
    /// ``params={"tracker": saved}``. ``"page-token"``: resume it with
    /// ``cursor=saved``.
    ///
    /// >>> events = s.paginate("/insync/eventmanagement/v2/events")
    /// >>> events.style is None
    /// True
    /// >>> _ = next(events)
    /// >>> events.style
    /// 'tracker'
    #[getter]
    fn style(&self) -> Option<&'static str> {
        self.lock().walk.style()
    }

    fn __repr__(&self) -> String {
        let walk = self.lock();
        format!(
            "<druva.Paginator {} pages={}{}>",
            self.url,
            walk.walk.pages(),
            if walk.walk.is_finished() {
                ", finished"
            } else {
                ""
            }
        )
    }
}

/// Marks a paginator as fetching a page while it lives. Holds no Python
/// object, so it may be dropped on a runtime thread.
struct Fetching(Arc<AtomicBool>);

impl Drop for Fetching {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// A fetched page on its way from the runtime to the loop's thread.
#[pyclass(frozen, module = "druva._druva", name = "_PageInTransit")]
pub struct PageInTransit {
    page: Mutex<Option<Response>>,
}

impl PageInTransit {
    fn new(page: Response) -> Self {
        PageInTransit {
            page: Mutex::new(Some(page)),
        }
    }

    fn take(&self) -> PyResult<Response> {
        self.page
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this page was taken already"))
    }
}
