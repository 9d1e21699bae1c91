//! The paging machine: a walk through a list ([`ListWalk`], the rules of
//! paging) and the fetching of its pages, for sync and async iteration alike.
//!
//! The pager owns everything about fetching a list: its requests (paging
//! requests are reads, so a POST page is retried like a GET), the next page
//! fetched ahead while the caller consumes one (one page ahead, no more:
//! started on the runtime the moment the page before it has arrived and
//! the caller waits for that one, so it overlaps that page's items being
//! built as well as consumed), fetching again a page that failed ahead,
//! dropping the page fetched ahead once the session is closed, and one
//! fetch at a time. A page is read for its paging fields on the runtime,
//! off the GIL; the binding only turns the pages it hands out into Python
//! items.
//!
//! A page gets one call's budget, however it is fetched: the fetch ahead
//! starts the page's call (its deadline, its retries, its waits on 429s),
//! and a page that failed ahead is fetched again, when the caller reaches
//! it, only within what that call has left ([`Budget`]). A page whose
//! fetch ahead spent its budget fails as that fetch did.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::errors::Result;
use crate::paginate::{FetchedPage, ListWalk, PageRequest, PageStyle};
use crate::response::Response;
use crate::retry::Budget;
use crate::runtime::{self, Task};
use crate::session::{ApiRequest, Body, Call, Session};

/// Why a second fetch was refused while one is under way.
pub const ALREADY_FETCHING: &str =
    "this paginator is already fetching a page; iterate it from one thread or task at a time";

/// The fetch of the page to take next, to run on the druva runtime.
pub type PageFetch = Pin<Box<dyn Future<Output = Result<Fetched>> + Send>>;

/// A page's response on its way.
type ResponseFetch = Pin<Box<dyn Future<Output = Result<Response>> + Send>>;

/// What [`Pager::begin_fetch`] comes to.
pub enum Begin {
    /// The page to take next, and the mark of the fetch under way: the
    /// caller holds it until the page is taken or the wait abandoned.
    Fetch(PageFetch, Fetching),
    /// The list has ended.
    Ended,
    /// Another caller is fetching (see [`ALREADY_FETCHING`]).
    Busy,
}

/// A fetched page, read for its paging fields on the runtime, and the page
/// after it, fetched ahead from the moment this one arrived.
pub struct Fetched {
    page: FetchedPage,
    next: Option<Ahead>,
}

impl Fetched {
    /// The page, for the caller to take its items.
    pub fn page(&self) -> &FetchedPage {
        &self.page
    }
}

/// A list being paged through.
pub struct Pager {
    list: List,
    walk: ListWalk,
    /// The next page, fetched while the caller consumes the one before.
    ahead: Option<Ahead>,
    fetching: Arc<FetchMark>,
}

/// Where a list's pages come from.
#[derive(Clone)]
struct List {
    session: Arc<Session>,
    url: Arc<str>,
}

/// A page fetched ahead, and its request, to fetch it again if that failed.
struct Ahead {
    task: Task<(Result<Response>, Budget)>,
    request: ApiRequest,
}

impl Pager {
    /// A pager over the list at `url` (checked now: a foreign origin fails
    /// here, before anything is sent). Nothing is sent until the first fetch.
    pub fn new(session: Arc<Session>, url: &str, walk: ListWalk) -> Result<Self> {
        session.config().endpoints.join(url)?;
        Ok(Pager {
            list: List {
                session,
                url: url.into(),
            },
            walk,
            ahead: None,
            fetching: Arc::default(),
        })
    }

    pub fn url(&self) -> &str {
        &self.list.url
    }

    /// Pages taken so far.
    pub fn pages(&self) -> u64 {
        self.walk.pages()
    }

    /// The cursor of the next page the pager will hand out (see [`ListWalk::cursor`]).
    pub fn cursor(&self) -> Option<&str> {
        self.walk.cursor()
    }

    /// How the list pages (see [`ListWalk::style`]).
    pub fn style(&self) -> Option<PageStyle> {
        self.walk.style()
    }

    pub fn is_finished(&self) -> bool {
        self.walk.is_finished()
    }

    /// Starts fetching the page to take next: the one fetched ahead, if any.
    pub fn begin_fetch(&mut self) -> Result<Begin> {
        let Some(fetching) = self.fetching.begin() else {
            return Ok(Begin::Busy);
        };
        if self.list.session.is_closed() {
            // Not handed out after close(): the pager stops as every call of
            // a closed session does.
            self.ahead = None;
        }
        let response: ResponseFetch = if let Some(ahead) = self.ahead.take() {
            self.list.reach(ahead)
        } else if let Some(page) = self.walk.next_request() {
            let request = self.list.prepare(page)?;
            Box::pin(Arc::clone(&self.list.session).send(request))
        } else {
            return Ok(Begin::Ended);
        };
        Ok(Begin::Fetch(self.read_and_fetch_ahead(response), fetching))
    }

    /// The page `response` brings, read for its paging fields, and the page
    /// after it started the moment this one arrives: the caller is waiting
    /// for this page, so it holds no other, and the next page's request
    /// overlaps this one's items being taken and consumed.
    fn read_and_fetch_ahead(&self, response: ResponseFetch) -> PageFetch {
        let (list, walk) = (self.list.clone(), self.walk.clone());
        Box::pin(async move {
            let page = walk.read(response.await?)?;
            let next = walk
                .request_after(&page)
                .and_then(|page| list.fetch_ahead(page));
            Ok(Fetched { page, next })
        })
    }

    /// Moves past a page whose items the caller has taken; the page after
    /// it, fetched ahead, is the one to take next. A fetched page that is
    /// dropped instead (its items failed) cancels the fetch ahead with it.
    pub fn advance(&mut self, fetched: Fetched) {
        self.walk.advance(fetched.page);
        self.ahead = fetched.next;
    }
}

impl List {
    /// The request of a page of this list.
    fn prepare(&self, page: PageRequest) -> Result<ApiRequest> {
        self.session.prepare(Call {
            method: page.method.as_str(),
            url: &self.url,
            query: page.query,
            body: page.body.map_or(Body::Empty, Body::Json),
            // Paging requests are reads: a POST page is retried like a GET.
            retry: Some(true),
            ..Call::default()
        })
    }

    /// Starts fetching `page` ahead. A request that cannot be made now is
    /// left to the caller's next fetch, which reports it.
    fn fetch_ahead(&self, page: PageRequest) -> Option<Ahead> {
        let request = self.prepare(page).ok()?;
        let session = Arc::clone(&self.session);
        let task = Task::spawn(session.send_within(request.clone(), None)).ok()?;
        Some(Ahead { task, request })
    }

    /// The fetch of a page fetched ahead, now that the caller reaches it.
    fn reach(&self, Ahead { task, request }: Ahead) -> ResponseFetch {
        let session = Arc::clone(&self.session);
        let Some(joined) = task.join() else {
            // Started before a fork: it never runs in this process, so the
            // page is fetched here as if it never was.
            return Box::pin(session.send(request));
        };
        Box::pin(async move {
            let Ok((outcome, budget)) = joined.await else {
                // Stopped by the runtime before it ended: fetched as if it never was.
                return session.send(request).await;
            };
            match outcome {
                Ok(response) if response.is_success() => Ok(response),
                // Failed while the caller was busy, on an answer that ends a
                // call: fetched again within what the call has left, so the
                // caller sees an attempt made while it waits.
                _ if !budget.is_spent() => session.send_within(request, Some(budget)).await.0,
                failed => failed,
            }
        })
    }
}

/// Which fetch of a pager is under way, and in which process: a fetch
/// started before a fork never ends in the child, which sees none under
/// way. Atomics only, so no lock is ever held across a fork.
#[derive(Default)]
struct FetchMark {
    /// The fetch under way (0: none).
    ticket: AtomicU64,
    /// The process generation it was started in.
    generation: AtomicU64,
}

/// Tickets are unique in the process, so a late release never ends a newer fetch.
static NEXT_TICKET: AtomicU64 = AtomicU64::new(1);

impl FetchMark {
    /// Marks a fetch as under way, unless one is (in this process).
    /// Called with the pager borrowed mutably: never twice at once.
    fn begin(self: &Arc<Self>) -> Option<Fetching> {
        let generation = runtime::generation();
        let current = self.ticket.load(Ordering::Acquire);
        if current != 0 && self.generation.load(Ordering::Acquire) == generation {
            return None;
        }
        let ticket = NEXT_TICKET.fetch_add(1, Ordering::Relaxed);
        self.generation.store(generation, Ordering::Release);
        self.ticket
            .compare_exchange(current, ticket, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        Some(Fetching {
            mark: Arc::clone(self),
            ticket,
        })
    }
}

/// Marks a pager as fetching while it lives. Holds no Python object, so it
/// may be dropped on any thread.
pub struct Fetching {
    mark: Arc<FetchMark>,
    ticket: u64,
}

impl Drop for Fetching {
    fn drop(&mut self) {
        // Ends this fetch only: a newer one (after a fork) stays marked.
        let _ =
            self.mark
                .ticket
                .compare_exchange(self.ticket, 0, Ordering::AcqRel, Ordering::Acquire);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::paginate::{Declared, Method};

    fn response(body: &str) -> Response {
        Response::answering(200, "https://apis.druva.com/list", body)
    }

    /// Walks `pages`, checking at each that the request made as soon as it
    /// arrives (to fetch the next page ahead) is the one the walk makes
    /// once the caller has taken it; returns those requests.
    fn walk_ahead(mut walk: ListWalk, pages: &[&str]) -> Vec<Option<PageRequest>> {
        let mut requests = Vec::new();
        for body in pages {
            let page = walk.read(response(body)).unwrap();
            let ahead = walk.request_after(&page);
            walk.advance(page);
            assert_eq!(ahead, walk.next_request());
            requests.push(ahead);
        }
        requests
    }

    fn walk(method: Method, body: Option<&[u8]>, declared: Option<Declared>) -> ListWalk {
        let params = vec![("pageSize".to_owned(), "2".to_owned())];
        ListWalk::new(method, params, body, None, None, None, declared).unwrap()
    }

    #[test]
    fn the_page_fetched_ahead_is_the_one_the_walk_asks_for_next_in_every_style() {
        let declared = || Declared::from_arguments(Some("next".into()), Some("c".into()), None);
        let cases: [(ListWalk, [&str; 3]); 6] = [
            (
                walk(Method::Get, None, None),
                [
                    r#"{"users": [1], "nextPageToken": "p2"}"#,
                    r#"{"users": [2], "nextPageToken": "p3"}"#,
                    r#"{"users": [3], "nextPageToken": null}"#,
                ],
            ),
            (
                walk(Method::Post, Some(br#"{"filters": {}}"#), None),
                [
                    r#"{"data": [1], "nextPageToken": "p2"}"#,
                    r#"{"data": [2], "nextPageToken": "p3"}"#,
                    r#"{"data": [3], "nextPageToken": ""}"#,
                ],
            ),
            (
                walk(Method::Get, None, None),
                [
                    r#"{"events": [1], "tracker": "t1", "nextPageExists": true}"#,
                    r#"{"events": [2], "tracker": "t2", "nextPageExists": true}"#,
                    r#"{"events": [3], "tracker": "t3", "nextPageExists": false}"#,
                ],
            ),
            (
                walk(Method::Get, None, None),
                [
                    r#"{"events": [1], "nextTrackerToken": "k1"}"#,
                    r#"{"events": [2], "nextTrackerToken": "k2"}"#,
                    r#"{"events": [3], "nextTrackerToken": "k2"}"#,
                ],
            ),
            (
                walk(Method::Get, None, declared().unwrap()),
                [
                    r#"{"items": [1], "next": "c1"}"#,
                    r#"{"items": [2], "next": "c2"}"#,
                    r#"{"items": [], "next": "c3"}"#,
                ],
            ),
            (
                walk(Method::Post, None, declared().unwrap()),
                [
                    r#"{"items": [1], "next": "c1"}"#,
                    r#"{"items": [2], "next": "c2"}"#,
                    r#"{"items": [3]}"#,
                ],
            ),
        ];
        for (walk, pages) in cases {
            let requests = walk_ahead(walk, &pages);
            // Two pages to fetch ahead, then the end: nothing more is asked for.
            assert!(requests[0].is_some() && requests[1].is_some());
            assert_eq!(requests[2], None);
        }
    }

    #[test]
    fn one_fetch_at_a_time_until_its_mark_is_dropped() {
        let mark = Arc::new(FetchMark::default());
        let first = mark.begin().unwrap();
        assert!(mark.begin().is_none());
        drop(first);
        let second = mark.begin().unwrap();
        assert!(mark.begin().is_none());
        drop(second);
        assert!(mark.begin().is_some());
    }

    #[test]
    fn a_fetch_marked_before_a_fork_is_not_under_way_in_the_child() {
        let mark = Arc::new(FetchMark::default());
        let before = mark.begin().unwrap();
        // What a forked child sees: the fetch was started in another process.
        mark.generation
            .store(runtime::generation().wrapping_add(1), Ordering::Release);
        let after = mark.begin().unwrap();
        // The parent's late release does not end the child's fetch.
        drop(before);
        assert!(mark.begin().is_none());
        drop(after);
        assert!(mark.begin().is_some());
    }
}
