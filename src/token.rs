//! `druva.get_token` / `druva.get_token_async`, and `Token` objects.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::{BoxFuture, FutureExt};
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use secrecy::ExposeSecret;

use crate::args::{self, Path, Scope, TokenParams};
use crate::awaitable::{self, Awaitable, Work};
use crate::errors::OrRaise;
use crate::memo::{given, ArgumentMemo, MemoKey, Resolved};
use crate::runtime::wait;
use crate::store;
use druva_core::config;
use druva_core::grant::{TokenCall, TokenOptions, TokenSlot};
use druva_core::token::{SendOptions, Token};

static TOKEN_CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Builds a `druva.Token` (a dict subclass defined in `druva/_token.py`).
pub fn token_to_py<'py>(py: Python<'py>, token: &Arc<Token>) -> PyResult<Bound<'py, PyAny>> {
    token_to_py_at(py, token, Instant::now())
}

/// Builds a `druva.Token` whose `expires_in` is counted from `now`.
///
/// Only `expires_in` changes between two calls for the same token, and only
/// once a second, so each token keeps a template dict holding every key with
/// `expires_in` as last returned; a call copies it into a new `Token` (one
/// C-level dict merge), setting `expires_in` in the template first when it
/// has changed.
fn token_to_py_at<'py>(
    py: Python<'py>,
    token: &Arc<Token>,
    now: Instant,
) -> PyResult<Bound<'py, PyAny>> {
    let template = TEMPLATES.template(py, token, token.expires_in(now))?;
    let class = TOKEN_CLASS.import(py, "druva._token", "Token")?;
    let returned = new_token(class, &template)?;
    if let Some(scope) = &token.scope {
        // The copy is shallow: a list of its own, so that a change to one
        // caller's scope list reaches no one else.
        returned.set_item(intern!(py, "scope"), scope)?;
    }
    Ok(returned)
}

/// A new instance of `class` (`druva.Token`) holding `template`'s items: what
/// `Token(template)` makes, without `type_call`'s and `dict.__init__`'s
/// argument handling. `Token` defines neither `__new__` nor `__init__`, so
/// its `tp_new` is `dict`'s, which makes an empty instance of `class` (a
/// real `Token`, tracked by the GC), and `dict.__init__` would only merge.
fn new_token<'py>(
    class: &Bound<'py, PyType>,
    template: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = class.py();
    let type_object = class.as_type_ptr();
    // SAFETY: `type_object` is a live type (held by `class`); its `tp_new`
    // is called as `type_call` calls it, with a tuple of no arguments and
    // no keywords, and returns a new reference or NULL with an exception
    // set. `PyDict_Merge` is given a dict (subclass) and a dict, with the GIL.
    unsafe {
        let Some(tp_new) = (*type_object).tp_new else {
            return Err(PyTypeError::new_err("druva.Token cannot be instantiated"));
        };
        let empty = PyTuple::empty(py);
        let instance = Bound::from_owned_ptr_or_err(
            py,
            tp_new(type_object, empty.as_ptr(), std::ptr::null_mut()),
        )?;
        if pyo3::ffi::PyDict_Merge(instance.as_ptr(), template.as_ptr(), 1) != 0 {
            return Err(PyErr::fetch(py));
        }
        Ok(instance)
    }
}

static TEMPLATES: TokenTemplates = TokenTemplates {
    recent: Mutex::new(Vec::new()),
};

/// How many tokens keep a template; the oldest is forgotten first.
const TEMPLATE_CAPACITY: usize = 16;

/// A token's template dict, and the `expires_in` it holds. The dict is
/// never handed out (callers get copies), so it may be changed.
struct Template {
    token: Arc<Token>,
    dict: Py<PyDict>,
    expires_in: u64,
}

/// The dicts that `token_to_py` copies, for the most recently returned tokens.
/// Its lock is taken only with the GIL held, never across a call into
/// Python, so no thread holds it at a fork (`os.fork` holds the GIL).
struct TokenTemplates {
    recent: Mutex<Vec<Template>>,
}

impl TokenTemplates {
    /// The template of `token`, holding `expires_in`.
    fn template<'py>(
        &self,
        py: Python<'py>,
        token: &Arc<Token>,
        expires_in: u64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let known = {
            let recent = self.lock();
            recent
                .iter()
                .find(|known| Arc::ptr_eq(&known.token, token))
                .map(|known| (known.dict.bind(py).clone(), known.expires_in))
        };
        match known {
            Some((dict, held)) if held == expires_in => Ok(dict),
            Some((dict, _)) => {
                dict.set_item(intern!(py, "expires_in"), expires_in)?;
                let mut recent = self.lock();
                if let Some(known) = recent.iter_mut().find(|known| known.dict.is(&dict)) {
                    known.expires_in = expires_in;
                }
                Ok(dict)
            }
            None => self.add(py, token, expires_in),
        }
    }

    fn add<'py>(
        &self,
        py: Python<'py>,
        token: &Arc<Token>,
        expires_in: u64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item(
            intern!(py, "access_token"),
            token.access_token.expose_secret(),
        )?;
        dict.set_item(intern!(py, "token_type"), &token.token_type)?;
        dict.set_item(intern!(py, "expires_in"), expires_in)?;
        dict.set_item(intern!(py, "expires_at"), token.expires_at())?;
        if let Some(scope) = &token.scope {
            // A list, as requests_oauthlib returns it.
            dict.set_item(intern!(py, "scope"), scope)?;
        }
        let forgotten = {
            let mut recent = self.lock();
            recent.push(Template {
                token: Arc::clone(token),
                dict: dict.clone().unbind(),
                expires_in,
            });
            (recent.len() > TEMPLATE_CAPACITY).then(|| recent.remove(0))
        };
        drop(forgotten);
        Ok(dict)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Template>> {
        self.recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A token call: served from the cache (with the clock reading that found
/// it fresh), or a fetch to run.
pub enum TokenLookup {
    Cached(Arc<Token>, Instant),
    Fetch(BoxFuture<'static, druva_core::errors::Result<Arc<Token>>>),
}

impl TokenLookup {
    /// The token of `slot`: cached, or the fetch that brings one (joining
    /// any fetch already under way for it).
    pub fn of(slot: &Arc<TokenSlot>, send: &SendOptions, force_refresh: bool) -> Self {
        if !force_refresh {
            if let Some((token, now)) = slot.fresh_token_now(config::LEEWAY) {
                return TokenLookup::Cached(token, now);
            }
        }
        TokenLookup::Fetch(
            Arc::clone(slot)
                .get(send.clone(), config::LEEWAY, force_refresh)
                .boxed(),
        )
    }
}

/// The options that choose a token, as Python passed them to `get_token`,
/// `get_token_async` or `druva.auth`'s adapters (`_TokenAuth`): the one
/// list of them in the binding. The objects are kept as given so that a
/// repeated call can be matched against the memo without converting them
/// again.
pub struct TokenArguments<'a, 'py> {
    pub client_id: &'a Bound<'py, PyAny>,
    pub secret: &'a Bound<'py, PyAny>,
    pub region: &'a str,
    pub base_url: Option<&'a Bound<'py, PyAny>>,
    pub token_url: Option<&'a Bound<'py, PyAny>>,
    pub scope: Option<&'a Bound<'py, PyAny>>,
    pub timeout: f64,
    pub ca_bundle: Option<&'a Bound<'py, PyAny>>,
    pub token_cache: Option<&'a Bound<'py, PyAny>>,
    pub client_auth: &'a str,
    pub token_params: Option<&'a Bound<'py, PyAny>>,
    pub proxy: Option<&'a Bound<'py, PyAny>>,
}

/// How many of the arguments are objects the memo matches.
const OBJECT_ARGUMENTS: usize = 9;

static MEMO: ArgumentMemo<OBJECT_ARGUMENTS> = ArgumentMemo::new();

impl TokenArguments<'_, '_> {
    fn key(&self) -> MemoKey<'_, '_, OBJECT_ARGUMENTS> {
        MemoKey {
            objects: given([
                Some(self.client_id),
                Some(self.secret),
                self.base_url,
                self.token_url,
                self.scope,
                self.ca_bundle,
                self.token_cache,
                self.token_params,
                self.proxy,
            ]),
            region: self.region,
            client_auth: self.client_auth,
            timeout: self.timeout,
        }
    }

    /// The cached token, or the future that fetches one (joining any fetch
    /// already under way for the same credentials). Arguments the memo has
    /// seen go straight to the cache, and to its token request.
    fn lookup(&self, force_refresh: bool) -> PyResult<TokenLookup> {
        let key = self.key();
        if let Some(resolved) = MEMO.find(&key) {
            if !force_refresh {
                if let Some((token, now)) = resolved.slot.fresh_token_now(config::LEEWAY) {
                    return Ok(TokenLookup::Cached(token, now));
                }
            }
            // A forked child builds its client here, reading any ca_bundle:
            // not with the GIL held.
            let send = self
                .client_id
                .py()
                .detach(|| resolved.send_options())
                .or_raise()?;
            return Ok(TokenLookup::of(&resolved.slot, &send, force_refresh));
        }
        let call = self.resolve()?;
        let slot = call.slot();
        let lookup = TokenLookup::of(&slot, &call.send, force_refresh);
        MEMO.remember(&key, Resolved::of(&call, slot));
        Ok(lookup)
    }

    /// Checks every argument (nothing is sent) and applies the core's
    /// defaults: the call, its endpoints and how its token is sent.
    pub fn resolve(&self) -> PyResult<TokenCall> {
        let client_id = args::text(self.client_id, "client_id")?;
        let secret = args::text(self.secret, "secret")?;
        let scope = match self.scope.filter(|scope| !scope.is_none()) {
            Some(scope) => Some(scope.extract::<Scope>().map_err(|error| {
                PyTypeError::new_err(format!("scope {}", error.value(scope.py())))
            })?),
            None => None,
        };
        let ca_bundle = match self.ca_bundle.filter(|path| !path.is_none()) {
            Some(path) => Some(path.extract::<Path>().map_err(|error| {
                PyTypeError::new_err(format!("ca_bundle {}", error.value(path.py())))
            })?),
            None => None,
        };
        let token_params = match self.token_params.filter(|params| !params.is_none()) {
            Some(params) => params.extract::<TokenParams>().map_err(|error| {
                PyTypeError::new_err(format!("token_params {}", error.value(params.py())))
            })?,
            None => TokenParams(Vec::new()),
        };
        let options = TokenOptions {
            region: Some(self.region.to_owned()),
            base_url: optional_text(self.base_url, "base_url")?.map(Cow::into_owned),
            token_url: optional_text(self.token_url, "token_url")?.map(Cow::into_owned),
            scope: scope.map(|scope| scope.0),
            timeout: Some(config::seconds_argument("timeout", self.timeout, false).or_raise()?),
            ca_bundle: ca_bundle.map(|path| path.0),
            token_cache: store::token_cache_argument(self.token_cache)?,
            client_auth: Some(self.client_auth.to_owned()),
            token_params: token_params.0,
            proxy: optional_text(self.proxy, "proxy")?.map(Cow::into_owned),
        };
        // A ca_bundle is read here, which may block: not with the GIL held.
        self.client_id
            .py()
            .detach(|| TokenCall::new(&client_id, &secret, options))
            .or_raise()
    }
}

fn optional_text<'a>(
    value: Option<&'a Bound<'_, PyAny>>,
    name: &str,
) -> PyResult<Option<Cow<'a, str>>> {
    value
        .filter(|value| !value.is_none())
        .map(|value| args::text(value, name))
        .transpose()
}

/// `get_token`: the token now.
pub fn blocking(py: Python<'_>, lookup: TokenLookup) -> PyResult<Py<PyAny>> {
    let returned = match lookup {
        TokenLookup::Cached(token, now) => token_to_py_at(py, &token, now)?,
        TokenLookup::Fetch(fetch) => token_to_py(py, &wait(py, fetch)?)?,
    };
    Ok(returned.unbind())
}

/// `get_token_async`: a coroutine of the token, already finished on a cache hit.
pub fn coroutine(py: Python<'_>, lookup: TokenLookup) -> PyResult<Py<PyAny>> {
    let work = match lookup {
        TokenLookup::Cached(token, now) => Work::Ready(token_to_py_at(py, &token, now)?.unbind()),
        TokenLookup::Fetch(fetch) => Work::Start(Box::new(move |py| {
            awaitable::spawn(py, fetch, |py, token| Ok(token_to_py(py, &token)?.unbind()))
        })),
    };
    Ok(Py::new(py, Awaitable::new(work))?.into_any())
}

fn token_now(
    py: Python<'_>,
    arguments: &TokenArguments<'_, '_>,
    force_refresh: bool,
) -> PyResult<Py<PyAny>> {
    blocking(py, arguments.lookup(force_refresh)?)
}

fn token_later(
    py: Python<'_>,
    arguments: &TokenArguments<'_, '_>,
    force_refresh: bool,
) -> PyResult<Py<PyAny>> {
    coroutine(py, arguments.lookup(force_refresh)?)
}

/// `get_token`, `get_token_async` and `druva.auth`'s `_token_auth`: one
/// signature, with the core's literal defaults (see
/// `druva_core::with_defaults!`), and what each makes of its arguments.
macro_rules! token_functions {
    // Of the defaults, a token request has a region and a timeout.
    (
        region = $region:tt,
        timeout = $timeout:tt,
        $($_session_only:ident = $_value:tt,)*
        $(($name:ident, $returns:ident, $doc:literal)),* $(,)?
    ) => {$(
        #[doc = $doc]
        #[pyfunction]
        // pyo3 takes one Rust parameter per Python argument.
        #[allow(clippy::too_many_arguments)]
        #[pyo3(signature = (client_id, secret, *, region=$region, base_url=None, token_url=None, scope=None, timeout=$timeout, force_refresh=false, ca_bundle=None, token_cache=None, client_auth="basic", token_params=None, proxy=None))]
        pub fn $name(
            py: Python<'_>,
            client_id: &Bound<'_, PyAny>,
            secret: &Bound<'_, PyAny>,
            region: &str,
            base_url: Option<&Bound<'_, PyAny>>,
            token_url: Option<&Bound<'_, PyAny>>,
            scope: Option<&Bound<'_, PyAny>>,
            #[pyo3(from_py_with = args::named::timeout)] timeout: f64,
            #[pyo3(from_py_with = args::named::force_refresh)] force_refresh: bool,
            ca_bundle: Option<&Bound<'_, PyAny>>,
            token_cache: Option<&Bound<'_, PyAny>>,
            client_auth: &str,
            token_params: Option<&Bound<'_, PyAny>>,
            proxy: Option<&Bound<'_, PyAny>>,
        ) -> PyResult<Py<PyAny>> {
            let arguments = TokenArguments {
                client_id, secret, region, base_url, token_url, scope, timeout, ca_bundle,
                token_cache, client_auth, token_params, proxy,
            };
            $returns(py, &arguments, force_refresh)
        }
    )*};
}
pub(crate) use token_functions;

druva_core::with_defaults! {
    token_functions
    (get_token, token_now, r#"Gets an OAuth 2.0 access token for a Druva API credential (client-credentials grant).

The same dict as Druva's documented ``OAuth2Session.fetch_token()``
sample (a ``druva.Token``), but cached for the whole process per (token
URL, Client ID, secret, scope) and shared with every ``Session``,
``AsyncSession``, thread and task: a cache hit touches no network.
However many callers ask at once, one token request is in flight. A token
is renewed 60 s before it expires (at most half its lifetime): inside
that window the still-valid token is returned at once while one
background renewal runs. A token request is retried like an idempotent
call (429s and transient failures); a refusal never is.

Args:
    client_id: the Client ID of the Druva API credential.
    secret: its Secret Key; never shown in a repr, message or log record.
    region: the Druva cloud: ``"cloud"`` (``https://apis.druva.com/token``),
        ``"govcloud"`` (Endpoints & Data Governance GovCloud) or
        ``"govcloud-workloads"`` (Enterprise Workloads GovCloud). Default
        ``"cloud"``.
    base_url: another server, overriding ``region``: the token URL is
        ``base_url + "/token"``. Plain ``http://`` only to loopback hosts.
    token_url: the token URL itself, overriding both.
    scope: a scope to ask for (a ``str``, or a list of them joined with
        spaces); by default none is sent, except ``"read"`` for the two
        GovCloud regions (their token specs require it), also with
        ``base_url``. Part of the cache key.
    timeout: seconds this call may wait in all, attempts and retry waits
        included (not the waits on 429s). Default ``30.0``.
    force_refresh: fetch a new token even when the cached one is fresh,
        and wait for it.
    ca_bundle: a PEM file of more trusted roots; TLS is always verified.
    token_cache: share the token with other processes: a directory
        (``str`` or ``os.PathLike``, or a ``druva.DirectoryTokenStore``), a
        ``redis://`` / ``rediss://`` URL (or a ``druva.RedisTokenStore``), or
        any ``druva.TokenStore`` object. Processes sharing it make one token
        request per token lifetime; a store that fails costs one WARNING
        record, never the call. Default ``None``: this process only.
    client_auth: how the credential reaches the token endpoint:
        ``"basic"`` (``Authorization: Basic``, what Druva documents) or
        ``"post"`` (``client_id`` and ``client_secret`` in the form body,
        RFC 6749 ``client_secret_post``). Part of the cache key.
    token_params: extra form fields for every token request, the first and
        each renewal (``{"audience": "...", "resource": ["a", "b"]}``; a list
        is a repeated field). Part of the cache key.
    proxy: an ``http://`` or ``https://`` proxy URL for the token request
        instead of the ``HTTPS_PROXY`` family of variables; ``""``: none.
        Plain ``http://`` loopback never goes through a proxy.

Returns:
    A ``druva.Token``: a ``dict`` with ``access_token``, ``token_type``,
    ``expires_in`` (whole seconds left now), ``expires_at`` (Unix time)
    and, when the server sent one, ``scope`` (a list of strings, as
    requests_oauthlib returns it). A server that sends no ``expires_in``
    gets its token kept for an hour, or until the API refuses it.

Raises:
    druva.AuthenticationError: the token endpoint refused the request with
        an RFC 6749 error (``invalid_grant``, ``invalid_client``,
        ``invalid_scope``...), quoted with its ``error_description``.
    druva.HTTPStatusError: another error status, after the retries.
    druva.TransportError: the token endpoint could not be reached.
    druva.TimeoutError: no token within ``timeout``.
    druva.ProtocolError: an answer without ``access_token``, or not JSON.
    TypeError: an argument of the wrong type (nothing is sent).
    ValueError: an empty Client ID or secret, a ``:`` in the Client ID, an
        unknown region, ``http://`` to a host that is not loopback, a
        negative timeout, an unknown ``client_auth``, or ``grant_type``,
        ``scope``, ``client_id`` or ``client_secret`` in ``token_params``
        (nothing is sent).

>>> token = druva.get_token(client_id, secret)
>>> headers = {"Authorization": f"Bearer {token['access_token']}"}
>>> token
Token(access_token='***', token_type='bearer', expires_in=..., expires_at=...)
>>> druva.get_token(client_id, secret)["access_token"] == token["access_token"]  # cached
True
>>> other = druva.get_token(  # doctest: +SKIP
...     "my-client", "my-secret", token_url="https://auth.example.com/oauth2/token",
...     client_auth="post", token_params={"audience": "https://api.example.com"},
... )"#),
    (get_token_async, token_later, r#"Gets an OAuth 2.0 access token, as a coroutine: ``await druva.get_token_async(...)``.

The coroutine twin of ``druva.get_token``: the same arguments, the same
process-wide cache and single flight, the same result and errors. A cache
hit returns at once without waiting on the event loop or the runtime;
concurrent callers on a cold cache share one token request, and
cancelling the awaiting task leaves that request to the others.

>>> token = await druva.get_token_async(client_id, secret)
>>> token["token_type"]
'bearer'"#),
}
