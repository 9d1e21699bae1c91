//! `druva.testing.FakeDruva`: the fake Druva server of the core, for Python.

use crate::errors::{to_py_err, OrRaise};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt, PyList, PyString};

use crate::args;
use druva_core::config;
use druva_fake::{whole_argument, FakeConfig, FakeServer, Fault, FaultKind, Knob, RequestKind};

/// The server behind ``druva.testing.FakeDruva``, which is this class with
/// its constructor's signature (``python/druva/testing.py``): everything but
/// the argument list is here.
#[pyclass(frozen, subclass, module = "druva._druva", name = "_FakeServer")]
pub struct PyFakeDruva {
    server: FakeServer,
}

fn retry_after(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    let Some(value) = value.filter(|value| !value.is_none()) else {
        return Ok(None);
    };
    if value.is_instance_of::<PyString>() {
        return Ok(Some(args::text(value, "retry_after")?.into_owned()));
    }
    if value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>() {
        return Ok(Some(value.str()?.to_cow()?.into_owned()));
    }
    Err(PyTypeError::new_err(format!(
        "retry_after must be seconds (int or float) or a str sent as is, not {}",
        args::type_name(value)
    )))
}

/// The constructor's arguments, as `FakeDruva.__new__` passes them: a dict
/// of every parameter, read here by name and checked.
struct FakeArguments {
    client_id: Option<String>,
    secret: Option<String>,
    token_lifetime: f64,
    users: i128,
    page_size: i128,
    tls: bool,
    port: i128,
    seed: i128,
    last_page: String,
    latency: f64,
    max_in_flight: Option<i128>,
    msp: bool,
    customers: i128,
    rate_limit: Option<i128>,
    tracker_ttl: Option<f64>,
}

impl FakeArguments {
    fn read(arguments: &Bound<'_, PyDict>) -> PyResult<Self> {
        // Each field is the item of its name, read by the converter of that
        // name (`args::named`), which names it in a wrong type's message.
        macro_rules! read {
            ($($field:ident),*) => {
                Ok(Self {$(
                    $field: args::named::$field(&arguments.get_item(stringify!($field))?.ok_or_else(|| {
                        PyTypeError::new_err(concat!("FakeDruva's arguments have no ", stringify!($field)))
                    })?)?,
                )*})
            };
        }
        read!(
            client_id,
            secret,
            token_lifetime,
            users,
            page_size,
            tls,
            port,
            seed,
            last_page,
            latency,
            max_in_flight,
            msp,
            customers,
            rate_limit,
            tracker_ttl
        )
    }

    /// The configuration they ask for; a `ValueError` for one out of its range.
    fn config(self) -> PyResult<FakeConfig> {
        let max_in_flight = self
            .max_in_flight
            .map(|value| Knob::MAX_IN_FLIGHT.whole(value))
            .transpose()
            .or_raise()?;
        let rate_limit = self
            .rate_limit
            .map(|value| Knob::RATE_LIMIT.whole(value))
            .transpose()
            .or_raise()?;
        let tracker_ttl = self
            .tracker_ttl
            .map(|seconds| config::seconds_argument("tracker_ttl", seconds, false))
            .transpose()
            .or_raise()?;
        let port = whole_argument("port", self.port, 0, u64::from(u16::MAX)).or_raise()?;
        Ok(FakeConfig {
            client_id: self.client_id,
            secret: self.secret,
            token_lifetime: config::seconds_argument("token_lifetime", self.token_lifetime, false)
                .or_raise()?,
            users: Knob::USERS.whole(self.users).or_raise()?,
            page_size: Knob::PAGE_SIZE.whole(self.page_size).or_raise()?,
            tls: self.tls,
            port: u16::try_from(port)
                .map_err(|_| PyValueError::new_err("port must be between 0 and 65535"))?,
            seed: whole_argument("seed", self.seed, 0, u64::MAX).or_raise()?,
            last_page: self.last_page.parse().or_raise()?,
            latency: config::seconds_argument("latency", self.latency, true).or_raise()?,
            max_in_flight,
            msp: self.msp,
            customers: Knob::CUSTOMERS.whole(self.customers).or_raise()?,
            rate_limit,
            tracker_ttl,
            ..FakeConfig::default()
        })
    }
}

impl PyFakeDruva {
    fn start(py: Python<'_>, arguments: FakeArguments) -> PyResult<Self> {
        let config = arguments.config()?;
        let server = py.detach(|| FakeServer::start(config)).or_raise()?;
        Ok(PyFakeDruva { server })
    }

    fn inject(&self, kind: FaultKind, count: u32, path: Option<String>) -> PyResult<()> {
        if count == 0 {
            return Err(PyValueError::new_err("count must be at least 1"));
        }
        self.server
            .fail_next(Fault { kind, count, path })
            .map_err(to_py_err)
    }
}

/// `fake_defaults()`, from the knobs' defaults as the fake crate writes them.
macro_rules! fake_defaults_function {
    ($($knob:ident = $value:tt,)*) => {
        /// `FakeDruva`'s defaults by parameter name, as `druva_fake` writes
        /// them once (see `druva_fake::with_fake_defaults!`): the values of
        /// its Python signature.
        #[pyfunction]
        pub fn _fake_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
            let defaults = PyDict::new(py);
            $(defaults.set_item(stringify!($knob), $value)?;)*
            Ok(defaults)
        }
    };
}

druva_fake::with_fake_defaults!(fake_defaults_function);

#[pymethods]
impl PyFakeDruva {
    /// Starts the server from the constructor's arguments (see [`FakeArguments`]).
    #[new]
    fn new(arguments: &Bound<'_, PyDict>) -> PyResult<Self> {
        PyFakeDruva::start(arguments.py(), FakeArguments::read(arguments)?)
    }
    /// The base URL to give a session: ``"http://127.0.0.1:PORT"`` (``https://`` with ``tls=True``).
    ///
    /// >>> fake.base_url
    /// 'http://127.0.0.1:...'
    #[getter]
    fn base_url(&self) -> &str {
        self.server.base_url()
    }

    /// The URL of its token endpoint: ``base_url + "/token"`` (``"/msp/auth/v1/token"`` with ``msp=True``).
    ///
    /// >>> fake.token_url == fake.base_url + "/token"
    /// True
    #[getter]
    fn token_url(&self) -> String {
        self.server.token_url()
    }

    /// The MSP's customer IDs, in the order ``/msp/v3/customers`` lists them; ``[]`` without ``msp=True``.
    ///
    /// >>> with FakeDruva(msp=True, customers=2) as msp:
    /// ...     len(msp.customer_ids)
    /// 2
    #[getter]
    fn customer_ids(&self) -> Vec<String> {
        self.server.customer_ids()
    }

    /// The port it listens on.
    ///
    /// >>> fake.base_url.endswith(f":{fake.port}")
    /// True
    #[getter]
    fn port(&self) -> u16 {
        self.server.port()
    }

    /// The Client ID it accepts (the one given, or a generated one).
    ///
    /// >>> FakeDruva(client_id="my-client", secret="my-secret").client_id
    /// 'my-client'
    #[getter]
    fn client_id(&self) -> &str {
        self.server.client_id()
    }

    /// The Secret Key it accepts (the one given, or a generated one).
    ///
    /// >>> token = druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url)
    #[getter]
    fn secret(&self) -> &str {
        self.server.secret()
    }

    /// The PEM file of the CA that signed its certificate (``tls=True``), for ``ca_bundle=``; ``None`` for plain HTTP.
    ///
    /// >>> with FakeDruva(tls=True) as secure:
    /// ...     token = druva.get_token(secure.client_id, secure.secret,
    /// ...                             base_url=secure.base_url, ca_bundle=secure.ca_bundle)
    /// ...     secure.base_url.startswith("https://"), token["token_type"]
    /// (True, 'bearer')
    #[getter]
    fn ca_bundle(&self) -> Option<String> {
        self.server
            .ca_pem_path()
            .map(|path| path.to_string_lossy().into_owned())
    }

    /// How many token requests it received, refused and failed ones included.
    ///
    /// >>> for _ in range(3):
    /// ...     _ = druva.get_token(client_id, secret)
    /// >>> fake.token_requests  # one: the others came from the cache
    /// 1
    #[getter]
    fn token_requests(&self) -> u64 {
        self.server.token_requests()
    }

    /// How many API requests it received (token requests aside), failed ones included.
    ///
    /// >>> fake.fail_next(503, path="/insync")
    /// >>> s.get("/insync/usermanagement/v1/users").status_code
    /// 200
    /// >>> fake.api_requests  # the 503, then its retry
    /// 2
    #[getter]
    fn api_requests(&self) -> u64 {
        self.server.api_requests()
    }

    /// Every request it received, oldest first, as dicts.
    ///
    /// Each has ``kind`` (``"token"`` or ``"api"``; the MSP customer token
    /// exchange is a token request), ``method``, ``path``, ``query``,
    /// ``auth_scheme`` (``"Basic"``, ``"Bearer"`` or ``None``; never the
    /// credential), ``bearer_valid`` and ``body`` (an API request's body as
    /// text, ``None`` when empty; never a token request's).
    ///
    /// >>> _ = s.get("/insync/usermanagement/v1/users", params={"pageSize": 5})
    /// >>> [(r["kind"], r["method"], r["path"], r["auth_scheme"]) for r in fake.requests]
    /// [('token', 'POST', '/token', 'Basic'), ('api', 'GET', '/insync/usermanagement/v1/users', 'Bearer')]
    /// >>> fake.requests[-1]["query"]
    /// 'pageSize=5'
    #[getter]
    fn requests<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for request in self.server.requests() {
            let entry = PyDict::new(py);
            let kind = match request.kind {
                RequestKind::Token => "token",
                RequestKind::Api => "api",
            };
            entry.set_item("kind", kind)?;
            entry.set_item("method", request.method)?;
            entry.set_item("path", request.path)?;
            entry.set_item("query", request.query)?;
            entry.set_item("auth_scheme", request.auth_scheme)?;
            entry.set_item("bearer_valid", request.bearer_valid)?;
            entry.set_item("body", request.body)?;
            list.append(entry)?;
        }
        Ok(list)
    }

    /// Sets the counters back to zero and forgets the recorded requests.
    ///
    /// >>> _ = s.get("/insync/usermanagement/v1/users")
    /// >>> fake.reset_counters()
    /// >>> fake.token_requests, fake.api_requests, fake.requests
    /// (0, 0, [])
    fn reset_counters(&self) {
        self.server.reset_counters();
    }

    /// Answers the next ``count`` matching requests with ``status``.
    ///
    /// The body is Druva's for that status. ``retry_after`` (seconds, or a
    /// ``str`` sent as is, e.g. an HTTP date) adds a ``Retry-After`` header.
    /// ``path`` is a path prefix; ``None`` matches every request, the token
    /// endpoint included. ``retryable`` (``True`` or ``False``) puts Druva's
    /// retry hint in the body's ``retryable`` field; ``None`` leaves it out.
    ///
    /// >>> fake.fail_next(503, count=2, path="/insync")
    /// >>> s.get("/insync/usermanagement/v1/users").status_code  # retried twice
    /// 200
    /// >>> fake.fail_next(429, retry_after=1, path="/insync")
    /// >>> s.get("/insync/usermanagement/v1/users", timeout=10).status_code  # after 1 s
    /// 200
    #[pyo3(signature = (status, count=1, retry_after=None, path=None, retryable=None))]
    fn fail_next(
        &self,
        status: u16,
        count: u32,
        retry_after: Option<&Bound<'_, PyAny>>,
        path: Option<String>,
        #[pyo3(from_py_with = args::named::retryable)] retryable: Option<bool>,
    ) -> PyResult<()> {
        let kind = FaultKind::Status {
            status,
            retry_after: self::retry_after(retry_after)?,
            retryable,
        };
        self.inject(kind, count, path)
    }

    /// Answers the next ``count`` matching requests only after ``seconds``.
    ///
    /// >>> fake.delay_next(1.0, path="/insync")
    /// >>> try:
    /// ...     s.get("/insync/usermanagement/v1/users", timeout=0.2)
    /// ... except druva.TimeoutError:
    /// ...     print("timed out")
    /// timed out
    #[pyo3(signature = (seconds, count=1, path=None))]
    fn delay_next(
        &self,
        #[pyo3(from_py_with = args::named::seconds)] seconds: f64,
        count: u32,
        path: Option<String>,
    ) -> PyResult<()> {
        let delay = config::seconds_argument("seconds", seconds, true).or_raise()?;
        self.inject(FaultKind::Delay(delay), count, path)
    }

    /// Closes the connection of the next ``count`` matching requests abruptly.
    ///
    /// Before any byte of the response, or with ``after_headers=True`` after
    /// its headers.
    ///
    /// >>> fake.drop_next(count=2, path="/insync")
    /// >>> s.get("/insync/usermanagement/v1/users").status_code  # a GET is retried
    /// 200
    #[pyo3(signature = (count=1, path=None, after_headers=false))]
    fn drop_next(&self, count: u32, path: Option<String>, after_headers: bool) -> PyResult<()> {
        self.inject(FaultKind::Drop { after_headers }, count, path)
    }

    /// Answers the next ``count`` matching requests with a 200 whose body is not JSON.
    ///
    /// >>> fake.malform_next(path="/insync")
    /// >>> try:
    /// ...     s.get("/insync/usermanagement/v1/users").json()
    /// ... except druva.JSONDecodeError as error:
    /// ...     print("not JSON:", error.msg)
    /// not JSON: ...
    #[pyo3(signature = (count=1, path=None))]
    fn malform_next(&self, count: u32, path: Option<String>) -> PyResult<()> {
        self.inject(FaultKind::MalformedJson, count, path)
    }

    /// Answers the next ``count`` matching requests with a body cut short of its ``Content-Length``.
    ///
    /// >>> fake.truncate_next(path="/insync")
    /// >>> s.get("/insync/usermanagement/v1/users").status_code  # a GET is retried
    /// 200
    #[pyo3(signature = (count=1, path=None))]
    fn truncate_next(&self, count: u32, path: Option<String>) -> PyResult<()> {
        self.inject(FaultKind::Truncated, count, path)
    }

    /// Redirects the next ``count`` matching requests to ``location`` (``status``: 301, 302, 307...).
    ///
    /// >>> fake.redirect_next("/insync/usermanagement/v1/users?pageSize=1", path="/insync/old")
    /// >>> len(s.get("/insync/old").json()["users"])
    /// 1
    #[pyo3(signature = (location, count=1, path=None, status=302))]
    fn redirect_next(
        &self,
        location: String,
        count: u32,
        path: Option<String>,
        status: u16,
    ) -> PyResult<()> {
        self.inject(FaultKind::Redirect { location, status }, count, path)
    }

    /// Answers the next ``count`` matching requests with a 200 JSON body of ``size`` bytes.
    ///
    /// >>> fake.huge_next(2_000_000, path="/insync")
    /// >>> with druva.Session(client_id, secret, max_response_bytes=1_000_000) as small:
    /// ...     try:
    /// ...         small.get("/insync/usermanagement/v1/users")
    /// ...     except druva.ProtocolError:
    /// ...         print("too large")
    /// too large
    #[pyo3(signature = (size, count=1, path=None))]
    fn huge_next(&self, size: u64, count: u32, path: Option<String>) -> PyResult<()> {
        self.inject(FaultKind::HugeBody { bytes: size }, count, path)
    }

    /// Forgets every fault queued and not yet used.
    ///
    /// >>> fake.fail_next(500, count=5)
    /// >>> fake.clear_faults()
    /// >>> s.get("/insync/usermanagement/v1/users").status_code
    /// 200
    fn clear_faults(&self) {
        self.server.clear_faults();
    }

    /// Appends ``count`` new events (1 to 100000) to every event stream: inSync v2, Platform v2 and v3, Cyber Resilience.
    ///
    /// Each is on a real device of a real user, in every tenant with devices:
    /// a stream polled from its saved cursor then yields exactly these.
    ///
    /// >>> events = s.paginate("/insync/eventmanagement/v2/events")
    /// >>> _ = list(events)
    /// >>> fake.add_events(2)
    /// >>> len(list(s.paginate("/insync/eventmanagement/v2/events", params={"tracker": events.cursor})))
    /// 2
    fn add_events(&self, #[pyo3(from_py_with = args::named::count)] count: i128) -> PyResult<()> {
        let count = Knob::ADDED_EVENTS.whole(count).or_raise()?;
        self.server.add_events(count).or_raise()
    }

    /// Sets what a caught-up events v3 stream answers: an empty page with the token it was sent, or a new one.
    ///
    /// ``"same"`` (the default) or ``"new"``; the client ends the list on
    /// either.
    ///
    /// >>> fake.set_caught_up("new")
    /// >>> events = s.paginate("/platform/eventmanagement/v3/events", params={"pageSize": 100})
    /// >>> len(list(events))
    /// 75
    fn set_caught_up(&self, name: &str) -> PyResult<()> {
        self.server.set_caught_up(name.parse().or_raise()?);
        Ok(())
    }

    /// Refuses every token issued so far from now on (403), as when they expire: MSP and customer tokens alike.
    ///
    /// >>> _ = s.get("/insync/usermanagement/v1/users")
    /// >>> fake.expire_tokens()
    /// >>> s.get("/insync/usermanagement/v1/users").status_code  # renewed once, resent
    /// 200
    /// >>> fake.token_requests
    /// 2
    fn expire_tokens(&self) {
        self.server.expire_tokens();
    }

    /// Sets the lifetime of the tokens issued from now on, in seconds.
    ///
    /// >>> fake.set_token_lifetime(900)
    /// >>> druva.get_token(client_id, secret, force_refresh=True)["expires_in"] <= 900
    /// True
    fn set_token_lifetime(
        &self,
        #[pyo3(from_py_with = args::named::seconds)] seconds: f64,
    ) -> PyResult<()> {
        let lifetime = config::seconds_argument("token_lifetime", seconds, false).or_raise()?;
        self.server.set_token_lifetime(lifetime);
        Ok(())
    }

    /// Sets how the last page of a list ends: ``"missing"``, ``"empty"`` or ``"null"`` ``nextPageToken``.
    ///
    /// >>> fake.set_last_page("null")
    /// >>> len(list(s.paginate("/insync/usermanagement/v1/users")))
    /// 25
    fn set_last_page(&self, name: &str) -> PyResult<()> {
        self.server.set_last_page(name.parse().or_raise()?);
        Ok(())
    }

    /// Stops the server; stopping it again does nothing.
    ///
    /// >>> server = FakeDruva()
    /// >>> server.stop()
    fn stop(&self, py: Python<'_>) {
        py.detach(|| self.server.stop());
    }

    /// Enters a ``with`` block: ``with FakeDruva() as fake:`` gives the running server.
    ///
    /// >>> with FakeDruva(users=3) as small:
    /// ...     small.base_url.startswith("http://127.0.0.1:")
    /// True
    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Stops the server at the end of its ``with`` block.
    ///
    /// >>> with FakeDruva() as server:
    /// ...     pass
    /// >>> try:
    /// ...     druva.get_token(server.client_id, server.secret, base_url=server.base_url, timeout=1)
    /// ... except druva.TransportError:
    /// ...     print("stopped")
    /// stopped
    #[pyo3(signature = (*_exc_info))]
    fn __exit__(&self, py: Python<'_>, _exc_info: &Bound<'_, pyo3::types::PyTuple>) {
        self.stop(py);
    }

    fn __repr__(&self) -> String {
        format!(
            "<FakeDruva {} client_id={}>",
            self.server.base_url(),
            druva_core::token::mask(self.server.client_id())
        )
    }
}
