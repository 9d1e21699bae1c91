//! `druva.Session` and `druva.AsyncSession`: their constructors, with the
//! core's defaults written in by `druva_core::with_defaults!` (the signatures
//! Python sees in `help()`, `inspect.signature` and stubtest), and the few
//! methods whose sync and async forms differ. Every call is `_BaseSession`'s.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple, PyType};

use super::arguments::SessionArguments;
use super::base::PyBaseSession;
use crate::args::{self, Path, Scope, TokenParams};
use crate::awaitable::Awaitable;
use crate::errors::Result;
use crate::store;

/// A session with the Druva API: authenticated calls that renew their token, retry and page.
///
/// It takes its credential's token from the one process-wide cache (shared
/// with ``druva.get_token`` and every session, one token request at a time
/// per credential), renews it in the background ``leeway`` seconds before it
/// expires while callers keep the valid one, and, when the API answers 401
/// or 403, renews it once and resends. It retries 429s and gateway errors
/// (see ``request()``), pages through lists (``paginate()``), runs many calls
/// at once (``map()``), and never sends the token to another origin. One
/// session is safe to share between threads. Close it with ``close()`` or a
/// ``with`` block; ``Session.from_env()`` reads the credential from the
/// environment.
///
/// Args:
///     client_id: the Client ID of the Druva API credential.
///     secret: its Secret Key; held in Rust and never shown in a repr, a
///         message or a log record.
///     region: the Druva cloud: ``"cloud"`` (``https://apis.druva.com``),
///         ``"govcloud"`` (Endpoints & Data Governance GovCloud) or
///         ``"govcloud-workloads"`` (Enterprise Workloads GovCloud). Default
///         ``"cloud"``.
///     base_url: another server, overriding ``region``; the token URL is then
///         ``base_url + "/token"``. Plain ``http://`` only to loopback hosts.
///     token_url: overrides only the token URL.
///     scope: a scope to ask for (a ``str``, or a list of them joined with
///         spaces); by default none is sent, except ``"read"`` for the two
///         GovCloud regions (their token specs require it), also with
///         ``base_url``.
///     timeout: seconds a call may take in all: every attempt, every retry
///         wait, the wait for a shared token request, but not the waits on
///         429s. At least a millisecond. Default ``30.0``.
///     max_retries: how many times a call is retried after a transient
///         failure: a 502, 503 or 504, or a connection failure (the whole
///         table of what is retried is in the project's ``docs/faults.md``).
///         Default ``3``.
///     leeway: renew a token this many seconds before it expires (at most
///         half its lifetime; ``0`` allowed). Default ``60.0``.
///     ca_bundle: a PEM file of more trusted roots; TLS is always verified,
///         and ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` are honoured.
///     proxy: an ``http://`` or ``https://`` proxy URL instead of the
///         ``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``
///         variables, for the API calls and the token requests alike; ``""``:
///         no proxy. Plain ``http://`` loopback calls never use a proxy (a
///         given proxy serves ``https://`` loopback too).
///     max_response_bytes: the largest body a response may have; a larger
///         one raises ``druva.ProtocolError``. Default ``104857600`` (100 MiB).
///     rate_limit_wait: seconds one call may wait in all on 429s, after which
///         it returns the last 429; ``0``: 429s are not retried. Default
///         ``120.0``.
///     max_concurrency: the most requests the session has in flight at once,
///         across all its callers (token requests aside). After a 429 it lets
///         half as many through, then one more for each call that succeeds.
///         ``None`` (default): no cap, but it still adapts after a 429.
///     msp: the credential is a Druva MSP one: its token comes from
///         ``/msp/auth/v1/token``, and ``customer()`` gives a session for
///         each customer.
///     token_cache: share tokens with other processes: a directory (``str``
///         or ``os.PathLike``, or a ``druva.DirectoryTokenStore``), a
///         ``redis://`` / ``rediss://`` URL (or a ``druva.RedisTokenStore``),
///         or any ``druva.TokenStore`` object; customer tokens are stored per
///         customer. ``None`` (default): this process only.
///     client_auth: how the credential reaches the token endpoint:
///         ``"basic"`` (``Authorization: Basic``, what Druva documents) or
///         ``"post"`` (``client_id`` and ``client_secret`` in the form body,
///         RFC 6749 ``client_secret_post``). Default ``"basic"``.
///     token_params: extra form fields for every token request, the first
///         and each renewal (``{"audience": "...", "resource": ["a", "b"]}``;
///         a list is a repeated field); part of the token's cache key.
///
/// Raises:
///     TypeError: an argument of the wrong type.
///     ValueError: an empty Client ID or secret, a ``:`` in the Client ID, an
///         unknown region, ``http://`` to a host that is not loopback, a
///         negative timeout, an unknown ``client_auth``, or ``grant_type``,
///         ``scope``, ``client_id`` or ``client_secret`` in ``token_params``;
///         nothing is sent.
///
/// >>> with druva.Session(client_id, secret) as s:
/// ...     users = list(s.paginate("/insync/usermanagement/v1/users"))
/// >>> len(users)
/// 25
#[pyclass(extends = PyBaseSession, frozen, module = "druva", name = "Session")]
pub struct PySession;

/// The asyncio twin of ``druva.Session``: the same calls, as coroutines.
///
/// It takes the same arguments as ``druva.Session`` and shares its token
/// cache, retries and renewal. Every call returns a coroutine (the token
/// too: ``await s.token()``); ``paginate()`` returns a ``druva.Paginator``
/// to iterate with ``async for``; ``customer()`` returns an ``AsyncSession``.
/// It works inside an already running loop (Jupyter's), ``asyncio.gather``
/// can run hundreds of its calls, and cancelling the awaiting task cancels
/// the request. Close it with ``await s.close()`` or ``async with``.
///
/// >>> async with druva.AsyncSession(client_id, secret) as s:
/// ...     responses = await asyncio.gather(
/// ...         *(s.get(f"/insync/usermanagement/v1/users/{n}") for n in range(1, 4))
/// ...     )
/// ...     devices = [device async for device in s.paginate("/insync/endpoints/v1/devices")]
/// >>> [r.json()["userID"] for r in responses], len(devices)
/// ([1, 2, 3], 38)
#[pyclass(extends = PyBaseSession, frozen, module = "druva", name = "AsyncSession")]
pub struct PyAsyncSession;

/// `cls(*from_env_arguments(kwargs))`: the one reader of the environment is
/// `druva._env`, shared with the command line.
fn from_env<'py>(
    cls: &Bound<'py, PyType>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    let overrides = match kwargs {
        Some(kwargs) => kwargs.clone(),
        None => PyDict::new(py),
    };
    let (client_id, secret, options): (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyDict>) =
        py.import(pyo3::intern!(py, "druva._env"))?
            .call_method1(pyo3::intern!(py, "session_arguments"), (overrides,))?
            .extract()?;
    cls.call((client_id, secret), Some(&options))
}

/// Both classes' constructors and their own methods; a macro so that the
/// constructors' defaults are the core's literal values (see
/// `druva_core::with_defaults!`), written once for the two classes.
macro_rules! session_classes {
    (
        region = $region:tt,
        timeout = $timeout:tt,
        max_retries = $max_retries:tt,
        leeway = $leeway:tt,
        max_response_bytes = $max_response_bytes:tt,
        rate_limit_wait = $rate_limit_wait:tt,
        $(($class:ident, is_async = $is_async:literal, { $($own_methods:tt)* })),* $(,)?
    ) => {$(
        #[pymethods]
        impl $class {
            // One Rust parameter per Python argument, as pyo3 takes them.
            #[allow(clippy::too_many_arguments)]
            #[new]
            #[pyo3(signature = (client_id, secret, *, region=$region, base_url=None, token_url=None, scope=None, timeout=$timeout, max_retries=$max_retries, leeway=$leeway, ca_bundle=None, proxy=None, max_response_bytes=$max_response_bytes, rate_limit_wait=$rate_limit_wait, max_concurrency=None, msp=false, token_cache=None, client_auth="basic", token_params=None))]
            fn new(
                client_id: &Bound<'_, PyAny>,
                secret: &Bound<'_, PyAny>,
                region: &str,
                base_url: Option<&str>,
                token_url: Option<&str>,
                scope: Option<Scope>,
                #[pyo3(from_py_with = args::named::timeout)] timeout: f64,
                #[pyo3(from_py_with = args::named::max_retries)] max_retries: i128,
                #[pyo3(from_py_with = args::named::leeway)] leeway: f64,
                ca_bundle: Option<Path>,
                proxy: Option<&str>,
                #[pyo3(from_py_with = args::named::max_response_bytes)] max_response_bytes: i128,
                #[pyo3(from_py_with = args::named::rate_limit_wait)] rate_limit_wait: f64,
                #[pyo3(from_py_with = args::named::max_concurrency)] max_concurrency: Option<i128>,
                #[pyo3(from_py_with = args::named::msp)] msp: bool,
                token_cache: Option<&Bound<'_, PyAny>>,
                client_auth: &str,
                token_params: Option<TokenParams>,
            ) -> Result<PyClassInitializer<Self>> {
                let arguments = SessionArguments {
                    client_id, secret, region, base_url, token_url, scope, timeout,
                    max_retries, leeway, ca_bundle, proxy, max_response_bytes,
                    rate_limit_wait, max_concurrency, msp,
                    token_cache: store::token_cache_argument(token_cache)?,
                    client_auth, token_params,
                };
                let base = PyBaseSession::new(arguments.into_session()?, $is_async);
                Ok(PyClassInitializer::from(base).add_subclass($class))
            }

            /// A session whose credential and cloud come from the environment.
            ///
            /// ``DRUVA_CLIENT_ID`` and ``DRUVA_SECRET_KEY`` are required, and
            /// ``DRUVA_REGION`` or ``DRUVA_BASE_URL`` choose the cloud; an empty
            /// variable counts as unset. Keyword arguments are the constructor's and
            /// win: with an explicit ``region`` or ``base_url``, neither variable is
            /// read.
            ///
            /// Raises:
            ///     ValueError: ``DRUVA_CLIENT_ID`` or ``DRUVA_SECRET_KEY`` is missing
            ///         or empty (the message names which).
            ///
            /// >>> with druva.Session.from_env(timeout=10) as s:
            /// ...     s.get("/insync/usermanagement/v1/users").status_code
            /// 200
            #[classmethod]
            #[pyo3(signature = (**kwargs))]
            fn from_env<'py>(
                cls: &Bound<'py, PyType>,
                kwargs: Option<&Bound<'py, PyDict>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                from_env(cls, kwargs)
            }

            /// A session for one customer (tenant) of this MSP session (``msp=True``).
            ///
            /// It has this session's base URL and options and shares its connection
            /// pool, but has its own ``max_concurrency`` limit (Druva throttles per
            /// customer). Its token is exchanged from the MSP token
            /// (``POST /msp/v2/customers/{id}/token``), cached for the process per (MSP
            /// credential, customer), fetched once however many threads ask, and renewed
            /// and re-fetched on 401/403 like any token. Closing it leaves this session
            /// open; closing this session closes it.
            ///
            /// Args:
            ///     customer_id: the customer's ``id``, as ``/msp/v2/customers`` lists it.
            ///
            /// Returns:
            ///     A session of the same kind: a ``Session``, or an ``AsyncSession``
            ///     from an ``AsyncSession``.
            ///
            /// Raises:
            ///     ValueError: this session is not an MSP one, or is already a customer's.
            ///     RuntimeError: this session is closed.
            ///
            /// >>> with druva.Session(client_id, secret, msp=True) as msp:
            /// ...     first = next(iter(msp.paginate("/msp/v2/customers")))
            /// ...     tenant = msp.customer(first["id"])
            /// ...     tenant.get("/insync/usermanagement/v1/users").status_code
            /// 200
            fn customer(slf: &Bound<'_, Self>, customer_id: &str) -> Result<Py<Self>> {
                let base = slf.as_super().get();
                let inner = base.inner.customer(customer_id)?;
                let initializer = PyClassInitializer::from(PyBaseSession::new(inner, base.is_async))
                    .add_subclass($class);
                Ok(Py::new(slf.py(), initializer)?)
            }

            $($own_methods)*
        }
    )*};
}

druva_core::with_defaults! {
    session_classes
    (PySession, is_async = false, {
        /// A valid ``druva.Token`` for the session's credential.
        ///
        /// The cached one when it is fresh; inside its renewal window, the still
        /// valid one while one background renewal runs; otherwise a new one, fetched
        /// once however many threads ask at the same moment. Raises what a token
        /// request raises (``druva.AuthenticationError``...).
        ///
        /// >>> token = s.token
        /// >>> token["token_type"], token["expires_in"] > 0
        /// ('bearer', True)
        #[getter]
        fn token(slf: &Bound<'_, Self>) -> Result<Py<PyAny>> {
            slf.as_super().get().token(slf.py())
        }

        /// Enters a ``with`` block: ``with druva.Session(...) as s:`` gives the session itself.
        ///
        /// >>> with druva.Session(client_id, secret) as session:
        /// ...     session.get("/insync/usermanagement/v1/users").ok
        /// True
        fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
            slf
        }

        /// Closes the session at the end of its ``with`` block; exceptions propagate.
        ///
        /// >>> with druva.Session(client_id, secret) as session:
        /// ...     pass
        /// >>> session.closed
        /// True
        #[pyo3(signature = (*_exc_info))]
        fn __exit__(slf: &Bound<'_, Self>, _exc_info: &Bound<'_, PyTuple>) {
            slf.as_super().get().inner.close();
        }
    }),
    (PyAsyncSession, is_async = true, {
        /// A valid ``druva.Token`` for the session's credential: ``await s.token()``.
        ///
        /// As ``Session.token``: the cached token, or a new one fetched once however
        /// many tasks ask. A cache hit returns without waiting on the event loop.
        ///
        /// >>> async with druva.AsyncSession(client_id, secret) as s:
        /// ...     token = await s.token()
        /// >>> token["token_type"]
        /// 'bearer'
        fn token(slf: &Bound<'_, Self>) -> Result<Py<PyAny>> {
            slf.as_super().get().token(slf.py())
        }

        /// Enters an ``async with`` block: ``async with druva.AsyncSession(...) as s:`` gives the session.
        ///
        /// >>> async with druva.AsyncSession(client_id, secret) as session:
        /// ...     (await session.get("/insync/usermanagement/v1/users")).ok
        /// True
        fn __aenter__(slf: Bound<'_, Self>) -> Awaitable {
            Awaitable::ready(slf.into_any().unbind())
        }

        /// Closes the session at the end of its ``async with`` block; exceptions propagate.
        ///
        /// >>> async with druva.AsyncSession(client_id, secret) as session:
        /// ...     pass
        /// >>> session.closed
        /// True
        #[pyo3(signature = (*_exc_info))]
        fn __aexit__(slf: &Bound<'_, Self>, _exc_info: &Bound<'_, PyTuple>) -> Awaitable {
            slf.as_super().get().inner.close();
            Awaitable::ready(slf.py().None())
        }
    }),
}
