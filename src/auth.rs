//! `druva._druva._TokenAuth`: what the adapters of `druva.auth` ask of the
//! core for one credential. Its token is `get_token`'s, from the same
//! process-wide cache; whether a URL may carry it is the core's origin rule
//! ([`Endpoints::admits_token`]), with the base URL resolved from the same
//! options as a session's.

// pyo3 takes one Rust parameter per Python argument.
#![allow(clippy::too_many_arguments)]

use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use secrecy::ExposeSecret;

use druva_core::cache::Slot;
use druva_core::endpoint::Endpoints;
use druva_core::token::mask;

use crate::args;
use crate::errors::OrRaise;
use crate::token::{self, TokenArguments};

/// A credential, its `get_token` options and the origin its token belongs
/// to. The arguments are kept as the caller passed them, so each `token()`
/// is a `get_token` call that the argument memo answers from the cache.
///
/// Holds the secret (never shown: not in its repr, not picklable).
#[pyclass(frozen, module = "druva._druva", name = "_TokenAuth")]
pub struct TokenAuth {
    client_id: Py<PyAny>,
    secret: Py<PyAny>,
    region: String,
    base_url: Option<Py<PyAny>>,
    token_url: Option<Py<PyAny>>,
    scope: Option<Py<PyAny>>,
    timeout: f64,
    ca_bundle: Option<Py<PyAny>>,
    /// The credential's cache entry, held as a session holds its own: the
    /// cache does not evict an entry in use.
    slot: Arc<Slot>,
    endpoints: Endpoints,
}

impl TokenAuth {
    /// Checks every option as `get_token` does (nothing is sent) and
    /// resolves the base URL as a session does.
    fn checked(arguments: &TokenArguments<'_, '_>) -> PyResult<Self> {
        let (slot, _) = arguments.resolve()?;
        let base_url = token::optional_text(arguments.base_url, "base_url")?;
        let token_url = token::optional_text(arguments.token_url, "token_url")?;
        let endpoints =
            Endpoints::resolve(arguments.region, base_url.as_deref(), token_url.as_deref())
                .or_raise()?;
        let kept = |value: Option<&Bound<'_, PyAny>>| {
            value
                .filter(|value| !value.is_none())
                .map(|value| value.clone().unbind())
        };
        Ok(TokenAuth {
            client_id: arguments.client_id.clone().unbind(),
            secret: arguments.secret.clone().unbind(),
            region: arguments.region.to_owned(),
            base_url: kept(arguments.base_url),
            token_url: kept(arguments.token_url),
            scope: kept(arguments.scope),
            timeout: arguments.timeout,
            ca_bundle: kept(arguments.ca_bundle),
            slot,
            endpoints,
        })
    }

    /// Calls `get_token` or `get_token_async` with the kept arguments.
    fn call<'py>(&self, py: Python<'py>, function: TokenFunction<'py>) -> PyResult<Py<PyAny>> {
        function(
            py,
            self.client_id.bind(py),
            self.secret.bind(py),
            &self.region,
            bound(self.base_url.as_ref(), py),
            bound(self.token_url.as_ref(), py),
            bound(self.scope.as_ref(), py),
            self.timeout,
            false,
            bound(self.ca_bundle.as_ref(), py),
        )
    }

    /// `client_id=abcd***, base_url=...`, as a session describes itself.
    fn describe(&self, py: Python<'_>) -> String {
        let client_id = self
            .client_id
            .bind(py)
            .cast::<PyString>()
            .ok()
            .and_then(|text| text.to_cow().ok().map(|text| mask(&text)))
            .unwrap_or_default();
        format!(
            "client_id={client_id}, base_url={}",
            self.endpoints.base_url.as_str().trim_end_matches('/')
        )
    }

    /// Drops `access_token` from the cache if it is still the cached token;
    /// a token another caller already replaced stays.
    fn drop_if_cached(&self, access_token: &str) {
        // Any token still valid, however close to its expiry.
        if let Some(cached) = self.slot.fresh_token(Duration::ZERO) {
            if cached.access_token.expose_secret() == access_token {
                self.slot.invalidate(&cached);
            }
        }
    }
}

/// The signature of `get_token` and `get_token_async` as Rust functions.
type TokenFunction<'py> = fn(
    Python<'py>,
    &Bound<'py, PyAny>,
    &Bound<'py, PyAny>,
    &str,
    Option<&Bound<'py, PyAny>>,
    Option<&Bound<'py, PyAny>>,
    Option<&Bound<'py, PyAny>>,
    f64,
    bool,
    Option<&Bound<'py, PyAny>>,
) -> PyResult<Py<PyAny>>;

fn bound<'a, 'py>(value: Option<&'a Py<PyAny>>, py: Python<'py>) -> Option<&'a Bound<'py, PyAny>> {
    value.map(|value| value.bind(py))
}

/// The constructor has `get_token`'s signature less `force_refresh`, with
/// the core's literal defaults (see `druva_core::with_defaults!`).
macro_rules! token_auth_methods {
    (
        region = $region:tt,
        timeout = $timeout:tt,
        $($_session_only:ident = $_value:tt,)*
    ) => {
        #[pymethods]
        impl TokenAuth {
            #[new]
            #[pyo3(signature = (client_id, secret, *, region=$region, base_url=None, token_url=None, scope=None, timeout=$timeout, ca_bundle=None))]
            fn new(
                client_id: &Bound<'_, PyAny>,
                secret: &Bound<'_, PyAny>,
                region: &str,
                base_url: Option<&Bound<'_, PyAny>>,
                token_url: Option<&Bound<'_, PyAny>>,
                scope: Option<&Bound<'_, PyAny>>,
                #[pyo3(from_py_with = args::seconds)] timeout: f64,
                ca_bundle: Option<&Bound<'_, PyAny>>,
            ) -> PyResult<Self> {
                TokenAuth::checked(&TokenArguments {
                    client_id, secret, region, base_url, token_url, scope, timeout,
                    force_refresh: false, ca_bundle,
                })
            }

            /// The token, as ``druva.get_token`` returns it: cached, renewed
            /// ahead of its expiry.
            fn token(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                self.call(py, token::get_token)
            }

            /// The token, as ``druva.get_token_async`` returns it.
            fn token_async(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                self.call(py, token::get_token_async)
            }

            /// Whether the token may be sent to ``url``: an absolute URL of
            /// the base URL's origin (scheme, host and port).
            fn admits(&self, url: &str) -> bool {
                self.endpoints.admits_token(url)
            }

            /// Whether a response refused the token: a 401 or 403 from the
            /// token's own origin to a request that carried it (``authorization``,
            /// the request's header). If so, that token leaves the cache
            /// (unless another caller already replaced it), so the next
            /// ``token()`` is a new one, fetched once however many callers ask.
            #[pyo3(signature = (status_code, url, authorization))]
            fn refused(
                &self,
                status_code: u16,
                url: &str,
                authorization: Option<&Bound<'_, PyAny>>,
            ) -> PyResult<bool> {
                if !druva_core::response::refuses_bearer(status_code) || !self.admits(url) {
                    return Ok(false);
                }
                let Some(header) = authorization.and_then(|value| value.cast::<PyString>().ok())
                else {
                    return Ok(false);
                };
                let header = header.to_cow()?;
                let Some(access_token) = header.strip_prefix("Bearer ") else {
                    return Ok(false);
                };
                self.drop_if_cached(access_token);
                Ok(true)
            }

            /// ``client_id=abcd***, base_url=...``: what the adapters' reprs show.
            fn description(&self, py: Python<'_>) -> String {
                self.describe(py)
            }

            fn __repr__(&self, py: Python<'_>) -> String {
                format!("<druva._TokenAuth {}>", self.describe(py))
            }

            fn __reduce__(&self) -> PyResult<()> {
                Err(PyTypeError::new_err(
                    "druva.auth's adapters cannot be pickled: they hold a credential; \
                     create the adapter anew in the other process",
                ))
            }
        }
    };
}

druva_core::with_defaults! { token_auth_methods }
