//! An authenticated session: one connection pool, the shared token cache, the
//! URL policy, renewal on 401/403, retries and paging.

use std::fmt::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, Method};
use secrecy::ExposeSecret;
use url::Url;

use crate::cache::Refusal;
use crate::client_auth::{ClientAuth, Credentials};
use crate::config;
use crate::deadline::Deadline;
use crate::endpoint::{same_origin, Endpoints};
use crate::errors::{Error, Result};
use crate::grant::{token_cache, CustomerGrant, Grant, TokenRequest, TokenSlot};
use crate::http::{self, ClientOptions, HttpClient};
use crate::limit::Limiter;
use crate::logging;
use crate::redact::Redactor;
use crate::response::{self, Response};
use crate::retry::{Attempt, Budget, RetryPolicy, RetryScope, Retrying, RATE_LIMITED};
use crate::runtime::PerProcess;
use crate::store::{StoreHandle, StoredTokens};
use crate::token::{SendOptions, Token};

/// Everything a session is built from, checked before any I/O.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    pub endpoints: Endpoints,
    pub credentials: Arc<Credentials>,
    pub scope: Option<String>,
    pub timeout: Duration,
    pub max_retries: u32,
    pub leeway: Duration,
    pub client_options: ClientOptions,
    pub max_response_bytes: u64,
    pub rate_limit_wait: Duration,
    /// The most requests in flight at once (`None`: no cap).
    pub max_concurrency: Option<usize>,
    /// The credential is a Druva MSP one (its token URL is the MSP one).
    pub msp: bool,
    /// The MSP customer (tenant) a customer session acts for.
    pub customer_id: Option<String>,
    /// A store shared with other processes (`token_cache=`).
    pub token_cache: Option<StoreHandle>,
    /// How the credential is presented to the token endpoint.
    pub client_auth: ClientAuth,
    /// Extra form fields of every token request (`token_params=`).
    pub token_params: Arc<[(String, String)]>,
}

/// A session's options as the caller gave them; `None` is the default (see
/// [`config`]), applied by [`SessionConfig::new`].
#[derive(Clone, Debug, Default)]
pub struct SessionOptions {
    pub region: Option<String>,
    pub base_url: Option<String>,
    pub token_url: Option<String>,
    pub scope: Option<String>,
    pub timeout: Option<Duration>,
    pub max_retries: Option<u32>,
    pub leeway: Option<Duration>,
    pub ca_bundle: Option<PathBuf>,
    /// A proxy URL overriding the environment; `""` disables proxies.
    pub proxy: Option<String>,
    pub max_response_bytes: Option<u64>,
    pub rate_limit_wait: Option<Duration>,
    pub max_concurrency: Option<usize>,
    pub msp: bool,
    /// A store shared with other processes (`token_cache=`).
    pub token_cache: Option<StoreHandle>,
    /// `"basic"` (the default) or `"post"`: see [`ClientAuth::argument`].
    pub client_auth: Option<String>,
    /// Each extra token form field's name and values.
    pub token_params: Vec<(String, Vec<String>)>,
}

impl SessionConfig {
    /// Checks the credentials, resolves the endpoints and applies every
    /// default; nothing is built or sent ([`Session::new`] builds the client).
    ///
    /// ```
    /// use druva_core::session::{SessionConfig, SessionOptions};
    /// let config = SessionConfig::new("my-client-id", "my-secret", SessionOptions::default())?;
    /// assert_eq!(config.endpoints.base_url.as_str(), "https://apis.druva.com/");
    /// assert_eq!(config.max_retries, druva_core::config::MAX_RETRIES);
    /// # Ok::<(), druva_core::errors::Error>(())
    /// ```
    pub fn new(client_id: &str, secret: &str, options: SessionOptions) -> Result<Self> {
        let SessionOptions {
            region,
            base_url,
            token_url,
            scope,
            timeout,
            max_retries,
            leeway,
            ca_bundle,
            proxy,
            max_response_bytes,
            rate_limit_wait,
            max_concurrency,
            msp,
            token_cache,
            client_auth,
            token_params,
        } = options;
        let credentials = Credentials::new(client_id, secret)?;
        let mut endpoints =
            Endpoints::resolve(region.as_deref(), base_url.as_deref(), token_url.as_deref())?;
        if msp {
            endpoints = endpoints.for_msp(token_url.is_some());
        }
        let client_auth = ClientAuth::argument(client_auth.as_deref())?;
        Ok(SessionConfig {
            scope: endpoints.scope(scope)?,
            endpoints,
            credentials: Arc::new(credentials),
            timeout: timeout.unwrap_or(config::TIMEOUT),
            max_retries: max_retries.unwrap_or(config::MAX_RETRIES),
            leeway: leeway.unwrap_or(config::LEEWAY),
            client_options: ClientOptions { ca_bundle, proxy },
            max_response_bytes: max_response_bytes.unwrap_or(config::MAX_RESPONSE_BYTES),
            rate_limit_wait: rate_limit_wait.unwrap_or(config::RATE_LIMIT_WAIT),
            max_concurrency,
            msp,
            customer_id: None,
            token_cache,
            client_auth,
            token_params: config::token_params_argument(token_params)?.into(),
        })
    }
}

/// What a request carries after the headers.
#[derive(Clone, Debug, Default)]
pub enum Body {
    #[default]
    Empty,
    /// Serialized JSON, sent as `application/json`.
    Json(Vec<u8>),
    /// Form fields, sent as `application/x-www-form-urlencoded`.
    Form(Vec<(String, String)>),
    /// Raw bytes, sent as given.
    Bytes(Vec<u8>),
}

/// A call as the caller describes it, before it is checked.
#[derive(Debug, Default)]
pub struct Call<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// `None`: the session's timeout.
    pub timeout: Option<Duration>,
    /// `None`: retry 429s for every method, 502–504 and connection
    /// failures for idempotent methods only.
    pub retry: Option<bool>,
}

/// One API call, validated and ready to send.
#[derive(Clone, Debug)]
pub struct ApiRequest {
    pub method: Method,
    pub url: Url,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Body,
    pub timeout: Duration,
    /// What is retried: see [`RetryScope::for_call`].
    pub retry: RetryScope,
}

impl ApiRequest {
    /// The request as reqwest sends it, with `token` as its bearer.
    fn builder(&self, client: &Client, token: &Token) -> Result<reqwest::RequestBuilder> {
        let request = self;
        let mut builder = client
            .request(request.method.clone(), request.url.clone())
            .headers(request.headers.clone())
            .header(AUTHORIZATION, token.bearer_header()?);
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        builder = match &request.body {
            Body::Empty => builder,
            Body::Json(bytes) => {
                let builder = if request.headers.contains_key(CONTENT_TYPE) {
                    builder
                } else {
                    builder.header(CONTENT_TYPE, "application/json")
                };
                builder.body(bytes.clone())
            }
            Body::Form(fields) => builder.form(fields),
            Body::Bytes(bytes) => builder.body(bytes.clone()),
        };
        Ok(builder)
    }
}

/// An authenticated session with the Druva API. Cheap to share between threads.
pub struct Session {
    config: SessionConfig,
    slot: Arc<TokenSlot>,
    retry: RetryPolicy,
    /// The connection pool, shared by an MSP session and its customer sessions.
    client: Arc<PerProcess<HttpClient>>,
    closed: AtomicBool,
    /// The MSP session of a customer session: closing it closes this one.
    parent: Option<Arc<Session>>,
    /// The cap on requests in flight (`max_concurrency`, none by default),
    /// adaptive after 429s either way. Per process: a forked child must not inherit the parent's requests in
    /// flight, nor a lock a runtime thread held at the fork.
    limiter: PerProcess<Arc<Limiter>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.describe())
    }
}

impl Session {
    /// A session for `config`; builds its HTTP client now so that a bad
    /// `ca_bundle` or proxy is reported before any I/O.
    pub fn new(config: SessionConfig) -> Result<Self> {
        let request = TokenRequest {
            token_url: config.endpoints.token_url.clone(),
            credentials: Arc::clone(&config.credentials),
            client_auth: config.client_auth,
            scope: config.scope.clone(),
            grant: Grant::ClientCredentials,
            store: config
                .token_cache
                .clone()
                .and_then(|store| StoredTokens::new(store, &config.credentials))
                .map(Arc::new),
            token_params: Arc::clone(&config.token_params),
        };
        let slot = token_cache().slot(&request);
        let session = Session {
            retry: RetryPolicy::new(config.max_retries, config.rate_limit_wait),
            slot,
            client: Arc::new(PerProcess::new()),
            closed: AtomicBool::new(false),
            parent: None,
            limiter: PerProcess::new(),
            config,
        };
        session.client()?;
        Ok(session)
    }

    /// A session for one customer (tenant) of this MSP session: the same
    /// options and connection pool, its token exchanged from the MSP token
    /// and cached process-wide per (MSP credential, customer). Nothing is
    /// sent until its first call.
    pub fn customer(self: &Arc<Self>, customer_id: &str) -> Result<Arc<Session>> {
        self.ensure_open()?;
        if let Some(customer) = &self.config.customer_id {
            return Err(Error::value(format!(
                "this session is already for customer {customer:?}; call customer() on the \
                 MSP session it came from"
            )));
        }
        if !self.config.msp {
            return Err(Error::value(
                "customer() needs an MSP credential: create the session with msp=True \
                 (its token then comes from /msp/auth/v1/token)",
            ));
        }
        let request = TokenRequest {
            token_url: self.config.endpoints.customer_token_url(customer_id)?,
            credentials: Arc::clone(&self.config.credentials),
            client_auth: ClientAuth::default(),
            scope: None,
            grant: Grant::Customer(Arc::new(CustomerGrant {
                customer_id: customer_id.to_owned(),
                msp: Arc::clone(&self.slot),
                leeway: self.config.leeway,
            })),
            // Stored per customer: the customer is part of the entry's name.
            store: self.slot.source().store.clone(),
            token_params: Arc::new([]),
        };
        let mut config = self.config.clone();
        config.customer_id = Some(customer_id.to_owned());
        config.scope = None;
        Ok(Arc::new(Session {
            slot: token_cache().slot(&request),
            retry: self.retry,
            client: Arc::clone(&self.client),
            closed: AtomicBool::new(false),
            parent: Some(Arc::clone(self)),
            // Druva throttles per customer: each has its own limit.
            limiter: PerProcess::new(),
            config,
        }))
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// A one-line description without secrets, for reprs and logs.
    pub fn describe(&self) -> String {
        let mut described = format!(
            "client_id={}, base_url={}",
            self.config.credentials.masked_client_id(),
            self.config
                .endpoints
                .base_url
                .as_str()
                .trim_end_matches('/'),
        );
        if let Some(customer) = &self.config.customer_id {
            let _ = write!(described, ", customer={customer:?}");
        } else if self.config.msp {
            described.push_str(", msp");
        }
        if self.is_closed() {
            described.push_str(", closed");
        }
        described
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
            || self
                .parent
                .as_ref()
                .is_some_and(|parent| parent.is_closed())
    }

    /// Closes the connection pool; later calls fail with a clear error.
    /// Calls already under way finish. A customer session leaves the pool
    /// it shares to its MSP session.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if self.parent.is_none() {
            self.client.clear();
        }
    }

    fn ensure_open(&self) -> Result<()> {
        if self.is_closed() {
            return Err(Error::Closed {
                message: "this session is closed; create a new Session to make more calls"
                    .to_owned(),
            });
        }
        Ok(())
    }

    /// The session's limiter in this process.
    fn limiter(&self) -> Result<Arc<Limiter>> {
        let cap = self.config.max_concurrency;
        self.limiter
            .get_or_try_init(|| Ok(Arc::new(Limiter::for_cap(cap))))
    }

    fn client(&self) -> Result<HttpClient> {
        self.client
            .get_or_try_init(|| self.config.client_options.build())
    }

    fn token_options(&self) -> Result<SendOptions> {
        Ok(SendOptions {
            client: self.client()?,
            timeout: self.config.timeout,
            retry: self.retry,
        })
    }

    /// The cached token if it is fresh: no runtime, no I/O. A closed
    /// session has none, so asking it for a token raises like any call.
    pub fn cached_token(&self) -> Option<Arc<Token>> {
        if self.is_closed() {
            return None;
        }
        self.slot.fresh_token(self.config.leeway)
    }

    /// A valid token: cached, or fetched (once, however many callers ask).
    pub async fn token(self: Arc<Self>) -> Result<Arc<Token>> {
        self.ensure_open()?;
        let options = self.token_options()?;
        Arc::clone(&self.slot)
            .get(options, self.config.leeway, false)
            .await
    }

    /// Checks a call's arguments and resolves its URL; nothing is sent.
    pub fn prepare(&self, call: Call<'_>) -> Result<ApiRequest> {
        let Call {
            method,
            url,
            query,
            headers,
            body,
            timeout,
            retry,
        } = call;
        self.ensure_open()?;
        let method_name = method.to_ascii_uppercase();
        let method = Method::from_bytes(method_name.as_bytes())
            .map_err(|_| Error::value(format!("{method:?} is not an HTTP method")))?;
        let url = self.config.endpoints.join(url)?;
        let mut header_map = HeaderMap::with_capacity(headers.len() + 2);
        for (name, value) in headers {
            let header_name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::value(format!("{name:?} is not a valid header name")))?;
            if header_name == AUTHORIZATION {
                return Err(Error::value(
                    "headers must not set Authorization: the session sends its own bearer token",
                ));
            }
            let header_value = HeaderValue::from_str(&value).map_err(|_| {
                Error::value(format!("the value of header {name:?} is not valid in HTTP"))
            })?;
            header_map.append(header_name, header_value);
        }
        if !header_map.contains_key(ACCEPT) {
            header_map.insert(ACCEPT, HeaderValue::from_static("application/json"));
        }
        Ok(ApiRequest {
            retry: RetryScope::for_call(method.as_str(), retry),
            method,
            url,
            query,
            headers: header_map,
            body,
            timeout: timeout.unwrap_or(self.config.timeout),
        })
    }

    /// Sends a call: renews the token once on 401/403 and retries what the
    /// retry policy allows. Any status is returned as a response.
    pub async fn send(self: Arc<Self>, request: ApiRequest) -> Result<Response> {
        self.send_within(request, None).await.0
    }

    /// [`Session::send`] within what an earlier run of the same call left of
    /// its budgets (`None`: a new call); returns the outcome and what this
    /// run left, for a later one to continue.
    pub async fn send_within(
        self: Arc<Self>,
        request: ApiRequest,
        budget: Option<Budget>,
    ) -> (Result<Response>, Budget) {
        let what = format!("{} {}", request.method, request.url.path());
        let mut retrying = Retrying::new(&self.retry, &what)
            .scope(request.retry)
            .deadline(Deadline::after(request.timeout));
        if let Some(budget) = budget {
            retrying = retrying.continuing(budget);
        }
        let unsent = retrying.budget();
        // One client for the token and the call: the session's pool.
        let prepared = self
            .ensure_open()
            .and_then(|()| Ok((self.token_options()?, self.limiter()?)));
        let (options, limiter) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => return (Err(error), unsent),
        };
        let renewed = AtomicBool::new(false);
        let session = &*self;
        let (outcome, budget) = retrying
            .paced_by(&*limiter)
            .run_spending(|attempt| {
                session.attempt(&options, &limiter, &request, &what, attempt, &renewed)
            })
            .await;
        (outcome.and_then(|sent| sent), budget)
    }

    /// One attempt of a call. The first time in a call that our own origin
    /// refuses the token, the token is dropped and the request resent once
    /// with a new one: a renewal, not a retry. An outer `Err` (no token could
    /// be had) ends the call unretried.
    async fn attempt(
        &self,
        options: &SendOptions,
        limiter: &Limiter,
        request: &ApiRequest,
        what: &str,
        attempt: Attempt,
        renewed: &AtomicBool,
    ) -> Result<Result<Response>> {
        // This attempt, its renewal included, ends by the call's deadline.
        let deadline = attempt
            .deadline
            .unwrap_or_else(|| Deadline::after(request.timeout));
        let (token, outcome) = self
            .send_with_token(options, limiter, request, what, attempt.retry, deadline)
            .await?;
        let refused = matches!(&outcome, Ok(response) if self.refused_token(response));
        if !refused || renewed.swap(true, Ordering::Relaxed) {
            return Ok(redact_error_status(outcome, &[&token]));
        }
        if self.slot.refused(&token) == Refusal::Access {
            // The token was fetched because of a refusal and is refused
            // too: another one would be, so none is fetched.
            let mut outcome = outcome;
            if let Ok(response) = &mut outcome {
                response.fresh_token_refused = true;
            }
            return Ok(redact_error_status(outcome, &[&token]));
        }
        let (renewed_token, mut outcome) = self
            .send_with_token(options, limiter, request, what, attempt.retry, deadline)
            .await?;
        if let Ok(response) = &mut outcome {
            // Refused again with a token fetched for this very call: the
            // cause is access, not the token.
            response.fresh_token_refused = self.refused_token(response);
            if response.fresh_token_refused {
                self.slot.refused_after_renewal(&renewed_token);
            } else {
                self.slot.accepted(&renewed_token);
            }
        }
        Ok(redact_error_status(outcome, &[&token, &renewed_token]))
    }

    /// Sends the request once with the current token, and says which token.
    /// Waiting for the token, for a place in flight and the request all end
    /// by the call's `deadline`.
    async fn send_with_token(
        &self,
        options: &SendOptions,
        limiter: &Limiter,
        request: &ApiRequest,
        what: &str,
        retry: u32,
        deadline: Deadline,
    ) -> Result<(Arc<Token>, Result<Response>)> {
        let token_options = SendOptions {
            timeout: deadline.remaining(),
            ..options.clone()
        };
        let token = Arc::clone(&self.slot)
            .get(token_options, self.config.leeway, false)
            .await?;
        let Ok(permit) = tokio::time::timeout_at(deadline.instant(), limiter.acquire()).await
        else {
            let outcome = Err(Error::Timeout {
                message: format!(
                    "{what} timed out after {:.3} s waiting for one of the session's {} \
                     places in flight (max_concurrency; fewer after 429s, and while a new \
                     session's first calls are answered); raise `timeout=` or max_concurrency",
                    deadline.timeout().as_secs_f64(),
                    limiter.allowed()
                ),
            });
            return Ok((token, outcome));
        };
        let outcome = if deadline.has_passed() {
            Err(Error::Timeout {
                message: format!(
                    "{what} timed out: its timeout of {:.3} s went on waiting for a token; \
                     raise `timeout=` if the token endpoint is slow",
                    deadline.timeout().as_secs_f64()
                ),
            })
        } else {
            http::send(
                &options.client,
                request.builder(&options.client, &token)?,
                request.method.as_str(),
                what,
                deadline,
                self.config.max_response_bytes,
            )
            .await
        };
        let sent = permit.sent();
        drop(permit);
        if let Ok(response) = &outcome {
            // A 4xx other than 429 was taken and answered: room, as a 2xx is
            // (a map over ids that mostly 404 still grows its places).
            if response.status_code == RATE_LIMITED {
                limiter.throttled(sent, response.elapsed);
            } else if response.status_code < 500 {
                limiter.succeeded(response.elapsed);
            }
        }
        log_attempt(what, &outcome, retry);
        Ok((token, outcome))
    }

    /// Only our own origin's refusal of a request that carried our token
    /// says anything about the token: a redirect may have ended somewhere
    /// else, or come back from elsewhere without the token.
    fn refused_token(&self, response: &Response) -> bool {
        response::refuses_bearer(response.status_code)
            && !response.left_origin
            && same_origin(&response.url, &self.config.endpoints.base_url)
    }

    /// Sends many calls at once, at most `concurrency` in flight, each with
    /// the session's whole policy (token, renewal, retries), and returns
    /// their outcomes in the order of `requests`. With `stop_at_failure`, the
    /// first call that fails (an error, not an error status) ends the map:
    /// the calls still in flight are cancelled and its error is returned.
    /// `done` counts finished calls, for a progress bar.
    pub async fn map(
        self: Arc<Self>,
        requests: Vec<ApiRequest>,
        concurrency: usize,
        stop_at_failure: bool,
        done: Arc<AtomicUsize>,
    ) -> Result<Vec<Result<Response>>> {
        use futures::stream::{self, StreamExt};
        self.ensure_open()?;
        let count = requests.len();
        let mut outcomes: Vec<Option<Result<Response>>> =
            std::iter::repeat_with(|| None).take(count).collect();
        let calls = stream::iter(requests.into_iter().enumerate()).map(|(index, request)| {
            let session = Arc::clone(&self);
            async move { (index, session.send(request).await) }
        });
        let mut finished = calls.buffer_unordered(concurrency.max(1));
        while let Some((index, outcome)) = finished.next().await {
            done.fetch_add(1, Ordering::Relaxed);
            if stop_at_failure {
                if let Err(error) = outcome {
                    return Err(error);
                }
            }
            if let Some(slot) = outcomes.get_mut(index) {
                *slot = Some(outcome);
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|outcome| {
                outcome.unwrap_or_else(|| Err(Error::protocol("a call of map() was lost")))
            })
            .collect())
    }
}

/// The DEBUG record of one attempt: method, path, status, time and retry.
fn log_attempt(what: &str, outcome: &Result<Response>, retry: u32) {
    if !logging::debug_enabled() {
        return;
    }
    let retry = if retry > 0 {
        format!(" (retry {retry})")
    } else {
        String::new()
    };
    match outcome {
        Ok(response) => logging::debug!(
            "{what} -> {} in {:.1} ms{retry}",
            response.status_code,
            response.elapsed.as_secs_f64() * 1000.0
        ),
        Err(error) => logging::debug!("{what} failed{retry}: {error}"),
    }
}

/// An error status answered to a call, cleared of the bearer tokens the call
/// sent: an API may name the token it refuses, and the response becomes the
/// exception of `raise_for_status()` or of a page.
fn redact_error_status(outcome: Result<Response>, sent: &[&Arc<Token>]) -> Result<Response> {
    match outcome {
        Ok(mut response) if response.is_error() => {
            let redactor = sent.iter().fold(Redactor::new(), |redactor, token| {
                redactor.value(token.access_token.expose_secret())
            });
            response.redact(&redactor);
            Ok(response)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn a_session_config_applies_every_default() {
        let config = SessionConfig::new("abcdefgh", "secret", SessionOptions::default()).unwrap();
        assert_eq!(
            config.endpoints,
            Endpoints::resolve(config::REGION, None, None).unwrap()
        );
        assert_eq!(config.scope, None);
        assert_eq!(config.timeout, config::TIMEOUT);
        assert_eq!(config.max_retries, config::MAX_RETRIES);
        assert_eq!(config.leeway, config::LEEWAY);
        assert_eq!(config.client_options, ClientOptions::default());
        assert_eq!(config.max_response_bytes, config::MAX_RESPONSE_BYTES);
    }

    #[test]
    fn a_session_config_keeps_what_the_caller_gave() {
        let options = SessionOptions {
            base_url: Some("http://127.0.0.1:9/api".into()),
            scope: Some("read write".into()),
            timeout: Some(Duration::from_secs(5)),
            max_retries: Some(0),
            leeway: Some(Duration::ZERO),
            proxy: Some(String::new()),
            max_response_bytes: Some(4096),
            client_auth: Some("post".into()),
            token_params: vec![("audience".into(), vec!["a".into()])],
            ..SessionOptions::default()
        };
        let config = SessionConfig::new("abcdefgh", "secret", options).unwrap();
        assert_eq!(config.client_auth, ClientAuth::Post);
        assert_eq!(
            &*config.token_params,
            &[("audience".to_owned(), "a".to_owned())]
        );
        assert_eq!(
            config.endpoints.token_url.as_str(),
            "http://127.0.0.1:9/api/token"
        );
        assert_eq!(config.scope.as_deref(), Some("read write"));
        assert_eq!(config.timeout, Duration::from_secs(5));
        assert_eq!(config.max_retries, 0);
        assert_eq!(config.leeway, Duration::ZERO);
        assert_eq!(config.client_options.proxy.as_deref(), Some(""));
        assert_eq!(config.max_response_bytes, 4096);
    }

    #[test]
    fn a_session_config_refuses_a_blank_scope_and_bad_credentials() {
        let blank = SessionOptions {
            scope: Some("   ".into()),
            ..SessionOptions::default()
        };
        let error = SessionConfig::new("abcdefgh", "secret", blank).unwrap_err();
        assert!(error.to_string().contains("scope is empty"));
        let reserved = SessionOptions {
            token_params: vec![("grant_type".into(), vec!["password".into()])],
            ..SessionOptions::default()
        };
        let error = SessionConfig::new("abcdefgh", "secret", reserved).unwrap_err();
        assert!(error.to_string().contains("grant_type"), "{error}");
        assert!(SessionConfig::new("id:x", "secret", SessionOptions::default()).is_err());
        let foreign = SessionOptions {
            base_url: Some("http://example.com".into()),
            ..SessionOptions::default()
        };
        assert!(SessionConfig::new("abcdefgh", "secret", foreign).is_err());
    }

    /// The binding runs calls on druva's multi-threaded runtime.
    #[test]
    fn calls_and_token_requests_can_move_between_threads() {
        use crate::cache::{TokenSource, Wanted};
        fn check(
            session: Arc<Session>,
            request: ApiRequest,
            token: &TokenRequest,
            options: &SendOptions,
        ) {
            assert_send(&Arc::clone(&session).send(request.clone()));
            assert_send(&session.send_within(request, None));
            assert_send(&token.fetch(options, &Wanted::default()));
        }
        let _ = check;
    }
}
