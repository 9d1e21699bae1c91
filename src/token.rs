//! `druva.get_token` / `druva._druva._get_token_async`, and `Token` objects.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::errors::OrRaise;
use futures::future::{BoxFuture, FutureExt};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};
use secrecy::ExposeSecret;

use crate::args;
use crate::memo::{given, ArgumentMemo, ArgumentObjects};
use crate::runtime::{into_awaitable, wait};
use druva_core::cache::{self, Slot};
use druva_core::endpoint::Endpoints;
use druva_core::http::ClientOptions;
use druva_core::retry::RetryPolicy;
use druva_core::token::{Credentials, SendOptions, Token, TokenRequest};

/// Tokens are renewed this long before they expire (capped at half their lifetime).
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

static TOKEN_CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Builds a `druva.Token` (a dict subclass defined in `druva/_token.py`).
///
/// Only `expires_in` changes between two calls for the same token, so the
/// other keys are built once per token into a template dict that later calls
/// copy (one C-level dict merge) before setting `expires_in`.
pub fn token_to_py<'py>(py: Python<'py>, token: &Arc<Token>) -> PyResult<Bound<'py, PyAny>> {
    let template = TEMPLATES.template(py, token)?;
    let instance = TOKEN_CLASS
        .import(py, "druva._token", "Token")?
        .call1((template,))?;
    instance.set_item(intern!(py, "expires_in"), token.expires_in(Instant::now()))?;
    Ok(instance)
}

static TEMPLATES: TokenTemplates = TokenTemplates {
    recent: Mutex::new(Vec::new()),
};

/// How many tokens keep a template; the oldest is forgotten first.
const TEMPLATE_CAPACITY: usize = 16;

/// The dicts that `token_to_py` copies, for the most recently returned tokens.
struct TokenTemplates {
    recent: Mutex<Vec<(Arc<Token>, Py<PyDict>)>>,
}

impl TokenTemplates {
    fn template<'py>(&self, py: Python<'py>, token: &Arc<Token>) -> PyResult<Bound<'py, PyDict>> {
        {
            let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, template)) = recent.iter().find(|(known, _)| Arc::ptr_eq(known, token))
            {
                return Ok(template.bind(py).clone());
            }
        }
        let template = PyDict::new(py);
        template.set_item(
            intern!(py, "access_token"),
            token.access_token.expose_secret(),
        )?;
        template.set_item(intern!(py, "token_type"), &token.token_type)?;
        template.set_item(intern!(py, "expires_in"), 0)?;
        template.set_item(intern!(py, "expires_at"), token.expires_at())?;
        if let Some(scope) = &token.scope {
            template.set_item(intern!(py, "scope"), scope)?;
        }
        let forgotten = {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            recent.push((Arc::clone(token), template.clone().unbind()));
            (recent.len() > TEMPLATE_CAPACITY).then(|| recent.remove(0))
        };
        drop(forgotten);
        Ok(template)
    }
}

/// A token on its way to Python from a future: converted where the GIL is
/// held anyway, never on a runtime thread.
pub struct PyToken(pub Arc<Token>);

impl<'py> IntoPyObject<'py> for PyToken {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        token_to_py(py, &self.0)
    }
}

/// A token call: served from the cache, or a fetch to run.
enum TokenLookup {
    Cached(Arc<Token>),
    Fetch(BoxFuture<'static, druva_core::errors::Result<Arc<Token>>>),
}

/// The checked arguments of a token request.
pub struct TokenArgs {
    pub endpoints: Endpoints,
    pub credentials: Credentials,
    pub scope: Option<String>,
    pub timeout: Duration,
    pub ca_bundle: Option<std::path::PathBuf>,
}

impl TokenArgs {
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        client_id: &Bound<'_, PyAny>,
        secret: &Bound<'_, PyAny>,
        region: Option<&Bound<'_, PyAny>>,
        base_url: Option<&Bound<'_, PyAny>>,
        token_url: Option<&Bound<'_, PyAny>>,
        scope: Option<&Bound<'_, PyAny>>,
        timeout: Option<&Bound<'_, PyAny>>,
        ca_bundle: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let client_id = args::text(client_id, "client_id")?;
        let secret = args::text(secret, "secret")?;
        let region = args::optional_text(region, "region")?;
        let base_url = args::optional_text(base_url, "base_url")?;
        let token_url = args::optional_text(token_url, "token_url")?;
        let endpoints = Endpoints::resolve(
            region.as_deref().unwrap_or("cloud"),
            base_url.as_deref(),
            token_url.as_deref(),
        )
        .or_raise()?;
        Ok(TokenArgs {
            credentials: Credentials::new(&client_id, &secret).or_raise()?,
            endpoints,
            scope: args::scope(scope)?,
            timeout: args::optional_seconds(timeout, "timeout")?.unwrap_or(DEFAULT_TIMEOUT),
            ca_bundle: args::optional_path(ca_bundle, "ca_bundle")?,
        })
    }

    fn slot_and_options(self) -> PyResult<(Arc<Slot>, SendOptions)> {
        let client = ClientOptions {
            ca_bundle: self.ca_bundle,
            proxy: None,
        }
        .shared_client()
        .or_raise()?;
        let request = TokenRequest {
            token_url: self.endpoints.token_url,
            credentials: Arc::new(self.credentials),
            scope: self.scope,
        };
        let options = SendOptions {
            client,
            timeout: self.timeout,
            retry: RetryPolicy::default(),
        };
        Ok((cache::global().slot(&request), options))
    }
}

static MEMO: ArgumentMemo = ArgumentMemo::new();

/// The arguments of `get_token` as Python passed them.
struct TokenCall<'a, 'py> {
    objects: ArgumentObjects<'a, 'py>,
    force_refresh: Option<&'a Bound<'py, PyAny>>,
}

impl TokenCall<'_, '_> {
    /// The cached token, or the future that fetches one (joining any fetch
    /// already under way for the same credentials). A repeat of remembered
    /// argument objects goes straight to the cache.
    fn lookup(&self) -> PyResult<TokenLookup> {
        let force_refresh = self
            .force_refresh
            .filter(|value| !value.is_none())
            .map(|value| args::flag(value, "force_refresh"))
            .transpose()?
            .unwrap_or(false);
        if !force_refresh {
            let remembered = MEMO.find(&self.objects);
            if let Some(token) = remembered.and_then(|slot| slot.fresh_token(DEFAULT_LEEWAY)) {
                return Ok(TokenLookup::Cached(token));
            }
        }
        let [client_id, secret, region, base_url, token_url, scope, timeout, ca_bundle] =
            self.objects;
        let (Some(client_id), Some(secret)) = (client_id, secret) else {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "client_id and secret must be str, not None",
            ));
        };
        let parsed = TokenArgs::parse(
            client_id, secret, region, base_url, token_url, scope, timeout, ca_bundle,
        )?;
        let (slot, options) = parsed.slot_and_options()?;
        MEMO.remember(&self.objects, &slot);
        if !force_refresh {
            if let Some(token) = slot.fresh_token(DEFAULT_LEEWAY) {
                return Ok(TokenLookup::Cached(token));
            }
        }
        Ok(TokenLookup::Fetch(
            slot.get(options, DEFAULT_LEEWAY, force_refresh).boxed(),
        ))
    }
}

/// Gets an OAuth 2.0 access token for a Druva API credential.
///
/// Same result as Druva's documented ``OAuth2Session.fetch_token()`` sample,
/// but cached for the whole process: later calls return the cached token until
/// it is within 60 s of expiry, and concurrent callers share one request.
///
/// >>> token = druva.get_token(client_id, secret)  # doctest: +SKIP
/// >>> headers = {"Authorization": f"Bearer {token['access_token']}"}  # doctest: +SKIP
#[pyfunction]
#[pyo3(signature = (client_id, secret, *, region=None, base_url=None, token_url=None, scope=None, timeout=None, force_refresh=None, ca_bundle=None))]
#[pyo3(
    text_signature = "(client_id, secret, *, region='cloud', base_url=None, token_url=None, scope=None, timeout=30.0, force_refresh=False, ca_bundle=None)"
)]
#[allow(clippy::too_many_arguments)]
pub fn get_token<'py>(
    py: Python<'py>,
    client_id: &Bound<'py, PyAny>,
    secret: &Bound<'py, PyAny>,
    region: Option<&Bound<'py, PyAny>>,
    base_url: Option<&Bound<'py, PyAny>>,
    token_url: Option<&Bound<'py, PyAny>>,
    scope: Option<&Bound<'py, PyAny>>,
    timeout: Option<&Bound<'py, PyAny>>,
    force_refresh: Option<&Bound<'py, PyAny>>,
    ca_bundle: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let call = TokenCall {
        objects: given([
            Some(client_id),
            Some(secret),
            region,
            base_url,
            token_url,
            scope,
            timeout,
            ca_bundle,
        ]),
        force_refresh,
    };
    let token = match call.lookup()? {
        TokenLookup::Cached(token) => token,
        TokenLookup::Fetch(fetch) => wait(py, fetch)?,
    };
    token_to_py(py, &token)
}

/// The async twin of ``get_token``: returns the cached ``Token`` itself on a
/// hit (no event loop, no runtime), else an awaitable that fetches it. The
/// public ``druva.get_token_async`` coroutine wraps this.
#[pyfunction]
#[pyo3(signature = (client_id, secret, *, region=None, base_url=None, token_url=None, scope=None, timeout=None, force_refresh=None, ca_bundle=None))]
#[allow(clippy::too_many_arguments)]
pub fn _get_token_async<'py>(
    py: Python<'py>,
    client_id: &Bound<'py, PyAny>,
    secret: &Bound<'py, PyAny>,
    region: Option<&Bound<'py, PyAny>>,
    base_url: Option<&Bound<'py, PyAny>>,
    token_url: Option<&Bound<'py, PyAny>>,
    scope: Option<&Bound<'py, PyAny>>,
    timeout: Option<&Bound<'py, PyAny>>,
    force_refresh: Option<&Bound<'py, PyAny>>,
    ca_bundle: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let call = TokenCall {
        objects: given([
            Some(client_id),
            Some(secret),
            region,
            base_url,
            token_url,
            scope,
            timeout,
            ca_bundle,
        ]),
        force_refresh,
    };
    let fetch = match call.lookup()? {
        TokenLookup::Cached(token) => return token_to_py(py, &token),
        TokenLookup::Fetch(fetch) => fetch,
    };
    into_awaitable(py, async move { Ok(PyToken(fetch.await.or_raise()?)) })
}
