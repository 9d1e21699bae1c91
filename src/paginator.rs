//! `druva.Paginator`: Python's iterators over the core's [`Pager`], which
//! decides everything about fetching a list. `for` and `async for` take its
//! pages alike: decode the items, advance the pager, move the progress bar.

use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::awaitable::{self, Awaitable, Hold, InTransit, Step, Stepper, Work};
use crate::errors::{to_py_err, OrRaise};
use crate::json;
use crate::runtime::wait;
use druva_core::errors::Error;
use druva_core::pager::{Begin, Fetched, Fetching, PageFetch, Pager, ALREADY_FETCHING};
use druva_core::paginate::PageStyle;

/// Iterates over every item of a Druva list, fetching its pages one after another.
///
/// ``Session.paginate()`` and ``AsyncSession.paginate()`` return one (the
/// paging styles, and where a list ends, are told there). From a
/// ``Session``, iterate it with ``for`` (or ``list()``, ``next()``); from an
/// ``AsyncSession``, with ``async for``. At most two pages are held: the one
/// being yielded and the next, fetched ahead while the caller consumes.
///
/// A page that fails (``druva.HTTPStatusError``, ``JSONDecodeError``,
/// ``TransportError``...) raises before any of its items is yielded,
/// ``cursor`` still points at it, and iterating again fetches it again: no
/// item is lost or yielded twice. A page gets one call's budget
/// (``timeout``, ``max_retries``, ``rate_limit_wait``), fetched ahead or not.
/// Iterate from one thread or task at a time (else ``RuntimeError``), with
/// ``for`` from a ``Session``, ``async for`` from an ``AsyncSession`` (else
/// ``TypeError``). ``cursor``, ``style`` and ``pages`` say where it stands.
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
    pager: Mutex<Pager>,
    /// The page being handed out, and the index of its next item.
    page: Mutex<Option<(Py<PyList>, usize)>>,
    is_async: bool,
    /// A tqdm progress bar, for ``progress=True``.
    bar: Option<Py<PyAny>>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PyPaginator {
    pub fn new(pager: Pager, is_async: bool, bar: Option<Py<PyAny>>) -> Self {
        PyPaginator {
            pager: Mutex::new(pager),
            page: Mutex::new(None),
            is_async,
            bar,
        }
    }

    /// Refuses `for` over an `AsyncSession`'s paginator, and the reverse.
    fn iterated(&self, is_async: bool) -> PyResult<()> {
        let (made_by, iterate) = match (self.is_async, is_async) {
            (true, false) => ("an AsyncSession", "async for"),
            (false, true) => ("a Session", "for"),
            _ => return Ok(()),
        };
        let message = format!("this paginator is from {made_by}: iterate it with `{iterate}`");
        Err(PyTypeError::new_err(message))
    }

    /// The next item of the page in hand, if any; drops a page used up.
    fn buffered(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        let mut held = locked(&self.page);
        let (page, index) = held.as_mut()?;
        if let Ok(item) = page.bind(py).get_item(*index) {
            *index += 1;
            return Some(item.unbind());
        }
        *held = None;
        None
    }

    /// The fetch of the next page and its mark; `None` after the last page.
    fn begin_fetch(&self, py: Python<'_>) -> PyResult<Option<(PageFetch, Fetching)>> {
        match locked(&self.pager).begin_fetch().or_raise()? {
            Begin::Fetch(fetch, fetching) => Ok(Some((fetch, fetching))),
            Begin::Busy => Err(PyRuntimeError::new_err(ALREADY_FETCHING)),
            Begin::Ended => {
                if let Some(bar) = &self.bar {
                    bar.call_method0(py, pyo3::intern!(py, "close"))?;
                }
                Ok(None)
            }
        }
    }

    /// Takes a fetched page: decodes its items, and only then advances the
    /// pager. On any error the pager stays on this page.
    fn take_page(&self, py: Python<'_>, fetched: Fetched) -> PyResult<()> {
        let page = fetched.page();
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
            let mut pager = locked(&self.pager);
            pager.advance(fetched);
            pager.pages()
        };
        *locked(&self.page) = Some((list.unbind(), 0));
        if let Some(bar) = &self.bar {
            let postfix = (format!("{pages} pages"), false);
            bar.call_method1(py, pyo3::intern!(py, "update"), (count,))?;
            bar.call_method1(py, pyo3::intern!(py, "set_postfix_str"), postfix)?;
        }
        Ok(())
    }
}

/// `async for`: each step hands out the next item, or waits for a page.
impl Stepper for Py<PyPaginator> {
    fn step(&self, py: Python<'_>, fetched: Option<Py<PyAny>>) -> PyResult<Step> {
        let this = self.get();
        if let Some(fetched) = fetched {
            this.take_page(py, InTransit::receive(fetched.bind(py))?)?;
        }
        if let Some(item) = this.buffered(py) {
            return Ok(Step::Done(item));
        }
        let Some((fetch, fetching)) = this.begin_fetch(py)? else {
            return Err(awaitable::end_of_iteration());
        };
        let future = awaitable::spawn(py, fetch, InTransit::send::<Fetched>)?;
        let hold: Hold = Box::new(fetching);
        Ok(Step::Wait(future, Some(hold)))
    }
}

#[pymethods]
impl PyPaginator {
    fn __iter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().iterated(false)?;
        Ok(slf)
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        loop {
            if let Some(item) = self.buffered(py) {
                return Ok(Some(item));
            }
            let Some((fetch, fetching)) = self.begin_fetch(py)? else {
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
        slf.get().iterated(true)?;
        Ok(slf)
    }

    fn __anext__(slf: Bound<'_, Self>) -> Awaitable {
        Awaitable::new(Work::Steps(Box::new(slf.unbind())))
    }

    /// How many pages the paginator has taken so far (``0`` before the first).
    ///
    /// >>> users = s.paginate("/insync/usermanagement/v1/users")
    /// >>> _ = list(users)
    /// >>> users.pages
    /// 3
    #[getter]
    fn pages(&self) -> u64 {
        locked(&self.pager).pages()
    }

    /// Where the list stands: the cursor of the next page the paginator will yield from.
    ///
    /// Before the first page, the ``cursor=`` given (or ``None``); then the one
    /// each page returned, fetched ahead or not; after a failed page, still
    /// that page's. After the last page: for a list that ended on an empty
    /// page, a repeated cursor or ``nextPageExists: false`` (a stream), the
    /// last cursor, where to poll from next time; ``None`` when the server
    /// returned none. Save it with ``style`` to resume.
    ///
    /// >>> events = s.paginate("/insync/eventmanagement/v2/events")
    /// >>> _ = list(events)
    /// >>> saved, style = events.cursor, events.style
    /// >>> fake.add_events(3)  # FakeDruva: three new events arrive
    /// >>> len(list(s.paginate("/insync/eventmanagement/v2/events", cursor=saved, style=style)))
    /// 3
    #[getter]
    fn cursor(&self) -> Option<String> {
        locked(&self.pager).cursor().map(str::to_owned)
    }

    /// How the list pages: ``"page-token"``, ``"tracker"``, ``"tracker-token"`` or ``"declared"``.
    ///
    /// As its last page showed; ``None`` before the first page, unless given a
    /// saved ``style=`` or ``cursor_field=``. Save it with ``cursor`` to resume.
    ///
    /// >>> events = s.paginate("/insync/eventmanagement/v2/events")
    /// >>> events.style is None
    /// True
    /// >>> _ = next(events)
    /// >>> events.style
    /// 'tracker'
    #[getter]
    fn style(&self) -> Option<&'static str> {
        locked(&self.pager).style().map(PageStyle::name)
    }

    fn __repr__(&self) -> String {
        let list = locked(&self.pager);
        let finished = list.is_finished().then_some(", finished");
        let finished = finished.unwrap_or_default();
        let (url, pages) = (list.url(), list.pages());
        format!("<druva.Paginator {url} pages={pages}{finished}>")
    }
}
