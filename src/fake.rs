//! `druva.testing.FakeDruva`: the fake Druva server of the core, for Python.

use crate::errors::{to_py_err, OrRaise};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt, PyList, PyString};

use crate::args;
use druva_core::config;
use druva_fake::{
    whole_argument, CaughtUp, FakeConfig, FakeServer, Fault, FaultKind, LastPage, RequestKind,
};

/// A real HTTP server on ``127.0.0.1`` that behaves like Druva: the token
/// endpoint, bearer checks, a seeded inSync data set with paging, Druva's
/// error envelopes, and fault injection with counters.
///
/// It starts when created and stops on ``stop()`` or at the end of a
/// ``with`` block. Credentials are generated unless given.
///
/// >>> with FakeDruva(users=10) as fake:  # doctest: +SKIP
/// ...     druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url)
#[pyclass(frozen, module = "druva.testing", name = "FakeDruva")]
pub struct PyFakeDruva {
    server: FakeServer,
}

fn last_page(name: &str) -> PyResult<LastPage> {
    match name {
        "missing" => Ok(LastPage::Missing),
        "empty" => Ok(LastPage::Empty),
        "null" => Ok(LastPage::Null),
        other => Err(PyValueError::new_err(format!(
            "last_page must be \"missing\", \"empty\" or \"null\", not {other:?}"
        ))),
    }
}

fn caught_up(name: &str) -> PyResult<CaughtUp> {
    match name {
        "same" => Ok(CaughtUp::SameToken),
        "new" => Ok(CaughtUp::NewToken),
        other => Err(PyValueError::new_err(format!(
            "caught_up must be \"same\" or \"new\", not {other:?}"
        ))),
    }
}

/// A whole-number argument within the fake's documented range.
fn whole_in(value: i128, name: &str, min: usize, max: usize) -> PyResult<usize> {
    let checked = whole_argument(name, value, min as u64, max as u64).or_raise()?;
    usize::try_from(checked).map_err(|_| PyValueError::new_err(format!("{name} is too large")))
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

impl PyFakeDruva {
    fn inject(&self, kind: FaultKind, count: u32, path: Option<String>) -> PyResult<()> {
        if count == 0 {
            return Err(PyValueError::new_err("count must be at least 1"));
        }
        self.server
            .fail_next(Fault { kind, count, path })
            .map_err(to_py_err)
    }
}

#[pymethods]
impl PyFakeDruva {
    #[new]
    #[pyo3(signature = (client_id=None, secret=None, token_lifetime=1800.0, users=250, page_size=100, tls=false, *, port=0, seed=0, last_page="empty", latency=0.0, max_in_flight=None, msp=false, customers=3))]
    // pyo3 takes one Rust parameter per Python argument.
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        client_id: Option<String>,
        secret: Option<String>,
        #[pyo3(from_py_with = args::seconds)] token_lifetime: f64,
        #[pyo3(from_py_with = args::whole)] users: i128,
        #[pyo3(from_py_with = args::whole)] page_size: i128,
        #[pyo3(from_py_with = args::flag)] tls: bool,
        #[pyo3(from_py_with = args::whole)] port: i128,
        #[pyo3(from_py_with = args::whole)] seed: i128,
        last_page: &str,
        #[pyo3(from_py_with = args::seconds)] latency: f64,
        max_in_flight: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = args::flag)] msp: bool,
        #[pyo3(from_py_with = args::whole)] customers: i128,
    ) -> PyResult<Self> {
        let max_in_flight = match max_in_flight.filter(|value| !value.is_none()) {
            None => None,
            Some(value) => Some(whole_in(
                args::whole(value)?,
                "max_in_flight",
                1,
                druva_fake::MAX_IN_FLIGHT,
            )?),
        };
        let config = FakeConfig {
            client_id,
            secret,
            token_lifetime: config::seconds_argument("token_lifetime", token_lifetime, false)
                .or_raise()?,
            users: whole_in(users, "users", 0, druva_fake::MAX_USERS)?,
            page_size: whole_in(page_size, "page_size", 1, druva_fake::MAX_PAGE_SIZE)?,
            tls,
            port: u16::try_from(whole_in(port, "port", 0, usize::from(u16::MAX))?)
                .map_err(|_| PyValueError::new_err("port must be between 0 and 65535"))?,
            seed: whole_argument("seed", seed, 0, u64::MAX).or_raise()?,
            last_page: self::last_page(last_page)?,
            latency: config::seconds_argument("latency", latency, true).or_raise()?,
            max_in_flight,
            msp,
            customers: whole_in(customers, "customers", 1, druva_fake::MAX_CUSTOMERS)?,
            caught_up: CaughtUp::SameToken,
        };
        let server = py.detach(|| FakeServer::start(config)).or_raise()?;
        Ok(PyFakeDruva { server })
    }

    /// ``"http://127.0.0.1:PORT"`` (``https://`` with ``tls=True``).
    #[getter]
    fn base_url(&self) -> &str {
        self.server.base_url()
    }

    /// ``base_url + "/token"``; ``base_url + "/msp/auth/v1/token"`` with
    /// ``msp=True``.
    #[getter]
    fn token_url(&self) -> String {
        self.server.token_url()
    }

    /// The MSP's customer IDs, in the order ``/msp/v2/customers`` lists
    /// them; ``[]`` without ``msp=True``.
    #[getter]
    fn customer_ids(&self) -> Vec<String> {
        self.server.customer_ids()
    }

    /// The port it listens on.
    #[getter]
    fn port(&self) -> u16 {
        self.server.port()
    }

    /// The Client ID it accepts.
    #[getter]
    fn client_id(&self) -> &str {
        self.server.client_id()
    }

    /// The Secret Key it accepts.
    #[getter]
    fn secret(&self) -> &str {
        self.server.secret()
    }

    /// The PEM file of the CA that signed its certificate (``tls=True``), for
    /// ``ca_bundle=``; ``None`` for plain HTTP.
    #[getter]
    fn ca_bundle(&self) -> Option<String> {
        self.server
            .ca_pem_path()
            .map(|path| path.to_string_lossy().into_owned())
    }

    /// Token requests received, failed ones included.
    #[getter]
    fn token_requests(&self) -> u64 {
        self.server.token_requests()
    }

    /// API requests received, failed ones included.
    #[getter]
    fn api_requests(&self) -> u64 {
        self.server.api_requests()
    }

    /// Every request received, oldest first, as dicts with ``kind``
    /// (``"token"``/``"api"``; the MSP customer token exchange is a token
    /// request), ``method``, ``path``, ``query``, ``auth_scheme``
    /// (``"Basic"``, ``"Bearer"`` or ``None``; never the credential),
    /// ``bearer_valid`` and ``body`` (an API request's body as text, ``None``
    /// when empty; never a token request's).
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
    fn reset_counters(&self) {
        self.server.reset_counters();
    }

    /// The next ``count`` matching requests get ``status`` (with Druva's body
    /// for it, and ``Retry-After`` when given). ``path`` is a path prefix;
    /// ``None`` matches every request, the token endpoint included.
    #[pyo3(signature = (status, count=1, retry_after=None, path=None))]
    fn fail_next(
        &self,
        status: u16,
        count: u32,
        retry_after: Option<&Bound<'_, PyAny>>,
        path: Option<String>,
    ) -> PyResult<()> {
        let kind = FaultKind::Status {
            status,
            retry_after: self::retry_after(retry_after)?,
        };
        self.inject(kind, count, path)
    }

    /// The next ``count`` matching requests are answered after ``seconds``.
    #[pyo3(signature = (seconds, count=1, path=None))]
    fn delay_next(
        &self,
        #[pyo3(from_py_with = args::seconds)] seconds: f64,
        count: u32,
        path: Option<String>,
    ) -> PyResult<()> {
        let delay = config::seconds_argument("seconds", seconds, true).or_raise()?;
        self.inject(FaultKind::Delay(delay), count, path)
    }

    /// The next ``count`` matching requests have their connection closed
    /// abruptly, before any response byte or (``after_headers=True``) after
    /// the headers.
    #[pyo3(signature = (count=1, path=None, after_headers=false))]
    fn drop_next(&self, count: u32, path: Option<String>, after_headers: bool) -> PyResult<()> {
        self.inject(FaultKind::Drop { after_headers }, count, path)
    }

    /// The next ``count`` matching requests get a 200 whose body is not JSON.
    #[pyo3(signature = (count=1, path=None))]
    fn malform_next(&self, count: u32, path: Option<String>) -> PyResult<()> {
        self.inject(FaultKind::MalformedJson, count, path)
    }

    /// The next ``count`` matching requests get a body cut short of its
    /// ``Content-Length``.
    #[pyo3(signature = (count=1, path=None))]
    fn truncate_next(&self, count: u32, path: Option<String>) -> PyResult<()> {
        self.inject(FaultKind::Truncated, count, path)
    }

    /// The next ``count`` matching requests are redirected to ``location``.
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

    /// The next ``count`` matching requests get a 200 JSON body of ``size`` bytes.
    #[pyo3(signature = (size, count=1, path=None))]
    fn huge_next(&self, size: u64, count: u32, path: Option<String>) -> PyResult<()> {
        self.inject(FaultKind::HugeBody { bytes: size }, count, path)
    }

    /// Forgets every queued fault.
    fn clear_faults(&self) {
        self.server.clear_faults();
    }

    /// Appends ``count`` new events (1 to 100000), each on a real device of a
    /// real user, to the event streams (v2 and v3) of every tenant with
    /// devices: a stream polled from its saved cursor then yields exactly
    /// these.
    fn add_events(&self, #[pyo3(from_py_with = args::whole)] count: i128) -> PyResult<()> {
        let count = whole_in(count, "count", 1, druva_fake::MAX_ADDED_EVENTS)?;
        self.server.add_events(count).or_raise()
    }

    /// What a caught-up events v3 stream answers: an empty page with the
    /// token it was sent (``"same"``, the default) or a new one (``"new"``).
    fn set_caught_up(&self, name: &str) -> PyResult<()> {
        self.server.set_caught_up(self::caught_up(name)?);
        Ok(())
    }

    /// Every token issued so far is refused from now on (403), as when they
    /// expire: MSP and customer tokens alike.
    fn expire_tokens(&self) {
        self.server.expire_tokens();
    }

    /// The lifetime of tokens issued from now on, in seconds.
    fn set_token_lifetime(
        &self,
        #[pyo3(from_py_with = args::seconds)] seconds: f64,
    ) -> PyResult<()> {
        let lifetime = config::seconds_argument("token_lifetime", seconds, false).or_raise()?;
        self.server.set_token_lifetime(lifetime);
        Ok(())
    }

    /// How the last page of a listing ends: ``"missing"``, ``"empty"`` or ``"null"``.
    fn set_last_page(&self, name: &str) -> PyResult<()> {
        self.server.set_last_page(self::last_page(name)?);
        Ok(())
    }

    /// Stops the server; idempotent.
    fn stop(&self, py: Python<'_>) {
        py.detach(|| self.server.stop());
    }

    /// ``with FakeDruva() as fake:`` gives the running server.
    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Stops the server at the end of the ``with`` block.
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
