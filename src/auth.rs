//! `druva._druva._TokenAuth`: what the adapters of `druva.auth` ask of the
//! core for one credential. Its options are `get_token`'s, parsed into the
//! same [`TokenArguments`] and resolved by the same core call, once, at
//! construction; its token comes from the same process-wide cache entry;
//! whether a URL may carry it is the core's origin rule
//! ([`Endpoints::admits_token`]).

use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use secrecy::ExposeSecret;

use druva_core::cache::Refusal;
use druva_core::endpoint::Endpoints;
use druva_core::grant::TokenSlot;
use druva_core::http::ClientOptions;
use druva_core::token::{SendOptions, Token};

use crate::args;
use crate::errors::OrRaise;
use crate::token::{self, token_functions, TokenArguments, TokenLookup};

/// A credential's cache entry, how its token is fetched, and the origin it
/// belongs to.
///
/// Holds the secret (in the cache entry: never shown, not picklable).
#[pyclass(frozen, module = "druva._druva", name = "_TokenAuth")]
pub struct TokenAuth {
    /// The credential's cache entry, held as a session holds its own: the
    /// cache does not evict an entry in use.
    slot: Arc<TokenSlot>,
    send: SendOptions,
    endpoints: Endpoints,
    client_options: ClientOptions,
}

impl TokenAuth {
    /// Checks every option as `get_token` does (nothing is sent).
    fn checked(arguments: &TokenArguments<'_, '_>) -> PyResult<Self> {
        let call = arguments.resolve()?;
        Ok(TokenAuth {
            slot: call.slot(),
            send: call.send,
            endpoints: call.endpoints,
            client_options: call.client_options,
        })
    }

    fn lookup(&self) -> TokenLookup {
        TokenLookup::of(&self.slot, &self.send, false)
    }

    /// `client_id=abcd***, base_url=...`, as a session describes itself.
    fn describe(&self) -> String {
        format!(
            "client_id={}, base_url={}",
            self.slot.source().credentials.masked_client_id(),
            self.endpoints.base_url.as_str().trim_end_matches('/')
        )
    }

    /// The cached token, still valid however close to its expiry, if it is
    /// `access_token`.
    fn cached(&self, access_token: &str) -> Option<Arc<Token>> {
        self.slot
            .fresh_token(Duration::ZERO)
            .filter(|cached| cached.access_token.expose_secret() == access_token)
    }

    /// Whether a request refused with `access_token` is worth resending
    /// with a new token: the core's rule (see [`TokenSlot::refused`]) when
    /// it is still the cached token, and yes when another caller already
    /// replaced it. A `resent` request refused too is never resent again:
    /// its token was fetched because of a refusal, so the refusals are
    /// about access for the next minute.
    fn renews(&self, access_token: &str, resent: bool) -> bool {
        let Some(cached) = self.cached(access_token) else {
            return !resent;
        };
        if resent {
            self.slot.refused_after_renewal(&cached);
            return false;
        }
        self.slot.refused(&cached) == Refusal::Renew
    }
}

/// `_token_auth`'s answer: a `_TokenAuth` for `druva.auth`'s adapters, from
/// `get_token`'s own arguments. An adapter renews its token itself, so
/// `force_refresh` has no meaning there.
fn token_auth(
    py: Python<'_>,
    arguments: &TokenArguments<'_, '_>,
    force_refresh: bool,
) -> PyResult<Py<PyAny>> {
    if force_refresh {
        return Err(PyTypeError::new_err(
            "an adapter takes no force_refresh: it renews the token itself, once, \
             when the API refuses it (401 or 403)",
        ));
    }
    Ok(Py::new(py, TokenAuth::checked(arguments)?)?.into_any())
}

druva_core::with_defaults! {
    token_functions
    (_token_auth, token_auth, "A ``_TokenAuth`` for ``druva.auth``'s adapters: ``get_token``'s
arguments, checked as ``get_token`` checks them; nothing is sent."),
}

#[pymethods]
impl TokenAuth {
    /// The token, as ``druva.get_token`` returns it: cached, renewed
    /// ahead of its expiry.
    fn token(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        token::blocking(py, self.lookup())
    }

    /// The token, as ``druva.get_token_async`` returns it.
    fn token_async(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        token::coroutine(py, self.lookup())
    }

    /// The same credential and cache entry, its token requests sent through
    /// ``proxy`` (``""``: none; ``None``: the environment's): what
    /// ``RequestsAuth`` uses to follow the proxies of the session it serves.
    fn through(&self, py: Python<'_>, proxy: Option<String>) -> PyResult<Self> {
        let client_options = ClientOptions {
            proxy,
            ..self.client_options.clone()
        };
        let client = py.detach(|| client_options.shared_client()).or_raise()?;
        Ok(TokenAuth {
            slot: Arc::clone(&self.slot),
            send: SendOptions {
                client,
                ..self.send.clone()
            },
            endpoints: self.endpoints.clone(),
            client_options,
        })
    }

    /// The token URL, whose proxy ``RequestsAuth`` looks up as requests would.
    #[getter]
    fn token_url(&self) -> &str {
        self.slot.source().token_url.as_str()
    }

    /// Whether the token may be sent to ``url``: an absolute URL of
    /// the base URL's origin (scheme, host and port).
    fn admits(&self, url: &str) -> bool {
        self.endpoints.admits_token(url)
    }

    /// Whether a response refused the token and the request is worth
    /// resending with a new one: a 401 or 403 from the token's own origin
    /// to a request that carried it (``authorization``, the request's
    /// header). If so, that token leaves the cache (unless another caller
    /// already replaced it), so the next ``token()`` is a new one, fetched
    /// once however many callers ask. Never for a ``resent`` request (its
    /// token was fetched because of a refusal): its refusal says the cause
    /// is access, and for the next minute refusals of that token are
    /// returned as they are, without renewal. Every answer to a resent
    /// request is told here: one that accepted the new token clears it of
    /// that suspicion, so a later refusal of it renews it.
    #[pyo3(signature = (status_code, url, authorization, *, resent=false))]
    fn refused(
        &self,
        status_code: u16,
        url: &str,
        authorization: Option<&Bound<'_, PyAny>>,
        resent: bool,
    ) -> PyResult<bool> {
        let refusal = druva_core::response::refuses_bearer(status_code);
        if !(refusal || resent) || !self.admits(url) {
            return Ok(false);
        }
        let Some(header) = authorization.and_then(|value| value.cast::<PyString>().ok()) else {
            return Ok(false);
        };
        let header = header.to_cow()?;
        let Some(access_token) = header.strip_prefix("Bearer ") else {
            return Ok(false);
        };
        if !refusal {
            // The resend's answer accepted the token fetched for it.
            if let Some(cached) = self.cached(access_token) {
                self.slot.accepted(&cached);
            }
            return Ok(false);
        }
        Ok(self.renews(access_token, resent))
    }

    /// ``client_id=abcd***, base_url=...``: what the adapters' reprs show.
    fn description(&self) -> String {
        self.describe()
    }

    fn __repr__(&self) -> String {
        format!("<druva._TokenAuth {}>", self.describe())
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "druva.auth's adapters cannot be pickled: they hold a credential; \
             create the adapter anew in the other process",
        ))
    }
}
