//! What a client asks the token endpoint for: the client-credentials grant,
//! or a Druva MSP customer's token exchanged under the MSP token. A
//! [`TokenRequest`] (grant, credential, client authentication, endpoint) is
//! the token cache's [`TokenSource`]; [`TokenCall`] is one `get_token` call
//! with its defaults applied.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;
use futures::future::{BoxFuture, FutureExt};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use secrecy::ExposeSecret;
use url::Url;

use crate::cache::{Slot, TokenCache, TokenSource, Wanted};
use crate::client_auth::{ClientAuth, Credentials, TokenForm};
use crate::config;
use crate::deadline::Deadline;
use crate::endpoint::{self, Endpoints};
use crate::errors::{Error, Result};
use crate::http::{self, ClientOptions};
use crate::logging;
use crate::response::Response;
use crate::retry::{Outcome, RetryPolicy, Retrying};
use crate::store::{StoreHandle, StoredTokens};
use crate::token::{parse_token_response, SendOptions, Token, MAX_TOKEN_RESPONSE_BYTES};

/// The cache entry of one [`TokenRequest`].
pub type TokenSlot = Slot<TokenRequest>;

/// The cache every part of druva shares: `get_token`, every session, every
/// thread and task. Made on first use without a lock (a fork can never find
/// it half made).
pub fn token_cache() -> Arc<TokenCache<TokenRequest>> {
    static CACHE: ArcSwapOption<TokenCache<TokenRequest>> = ArcSwapOption::const_empty();
    if let Some(cache) = CACHE.load_full() {
        return cache;
    }
    let made = Arc::new(TokenCache::default());
    let previous = CACHE.compare_and_swap(&None::<Arc<_>>, Some(Arc::clone(&made)));
    match &*previous {
        Some(first) => Arc::clone(first),
        None => made,
    }
}

/// Everything that identifies one token: where it comes from, for whom, for
/// what, and how the client authenticates.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub token_url: Url,
    pub credentials: Arc<Credentials>,
    pub client_auth: ClientAuth,
    pub scope: Option<String>,
    pub grant: Grant,
    /// The store this token is shared through with other processes.
    pub store: Option<Arc<StoredTokens>>,
    /// Extra form fields of every client-credentials token request, the
    /// first and each renewal (`token_params=`, checked by
    /// [`config::token_params_argument`]).
    pub token_params: Arc<[(String, String)]>,
}

/// How a token is granted.
#[derive(Clone, Debug, Default)]
pub enum Grant {
    /// The client-credentials grant: `credentials`, authenticated as the
    /// request's [`ClientAuth`] says, at `token_url`.
    #[default]
    ClientCredentials,
    /// A Druva MSP customer (tenant) token, exchanged at `token_url`
    /// (`/msp/v2/customers/{id}/token`) under the MSP credential's own token.
    Customer(Arc<CustomerGrant>),
}

/// What a customer token is exchanged from: the MSP credential's cache
/// entry, whose token is the exchange's bearer.
pub struct CustomerGrant {
    pub customer_id: String,
    pub msp: Arc<TokenSlot>,
    /// How fresh the MSP token must be when it is used for an exchange.
    pub leeway: Duration,
}

impl fmt::Debug for CustomerGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomerGrant(customer_id={:?})", self.customer_id)
    }
}

impl Grant {
    /// The customer whose token this grant exchanges, if any.
    pub fn customer_id(&self) -> Option<&str> {
        match self {
            Grant::ClientCredentials => None,
            Grant::Customer(customer) => Some(&customer.customer_id),
        }
    }
}

/// A [`TokenRequest`]'s cache key: all of it but the secret (which tells
/// apart the entries of one key).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TokenKey {
    token_url: String,
    client_id: String,
    scope: Option<String>,
    client_auth: ClientAuth,
    customer_id: Option<String>,
    token_params: Arc<[(String, String)]>,
}

impl TokenKey {
    /// What names this token in a shared store (under the secret's HMAC
    /// key, see [`crate::seal`]): the fields of the key, in one list, so
    /// that a new field is one line here. `client_auth` aside: how the
    /// credential is presented does not change its token.
    fn store_fields(&self) -> Vec<Option<&str>> {
        let mut fields = vec![
            Some(self.token_url.as_str()),
            Some(self.client_id.as_str()),
            self.scope.as_deref(),
            self.customer_id.as_deref(),
        ];
        for (name, value) in self.token_params.iter() {
            fields.extend([Some(name.as_str()), Some(value.as_str())]);
        }
        fields
    }
}

/// The form fields of the client-credentials grant: `grant_type`, `scope`
/// when one is asked for, then the caller's `token_params`.
fn grant_fields<'a>(
    scope: Option<&'a str>,
    token_params: &'a [(String, String)],
) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        fields.push(("scope", scope));
    }
    fields.extend(
        token_params
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    );
    fields
}

impl TokenSource for TokenRequest {
    type Key = TokenKey;

    fn key(&self) -> TokenKey {
        TokenKey {
            token_url: self.token_url.as_str().to_owned(),
            client_id: self.credentials.client_id().to_owned(),
            scope: self.scope.clone(),
            client_auth: self.client_auth,
            customer_id: self.grant.customer_id().map(str::to_owned),
            token_params: Arc::clone(&self.token_params),
        }
    }

    fn same_as(&self, other: &Self) -> bool {
        self.client_auth == other.client_auth
            && self.grant.customer_id() == other.grant.customer_id()
            && self.store.as_ref().map(|store| store.identity())
                == other.store.as_ref().map(|store| store.identity())
            && self.credentials.same_as(&other.credentials)
    }

    fn fetch<'a>(
        &'a self,
        options: &'a SendOptions,
        wanted: &'a Wanted,
    ) -> BoxFuture<'a, Result<Token>> {
        match &self.store {
            Some(store) => self.fetch_shared(store, options, wanted).boxed(),
            None => self.fetch_token(options).boxed(),
        }
    }

    fn describe(&self) -> String {
        match &self.grant {
            Grant::ClientCredentials => self.credentials.masked_client_id(),
            Grant::Customer(customer) => format!(
                "{} (customer {})",
                self.credentials.masked_client_id(),
                customer.customer_id
            ),
        }
    }

    fn host(&self) -> &str {
        self.token_url.host_str().unwrap_or("the token endpoint")
    }

    fn path(&self) -> &str {
        self.token_url.path()
    }
}

impl TokenRequest {
    /// A token through the shared store: a stored one fresh as `wanted`
    /// says; otherwise, under the store's lock for this key (waited for at
    /// most half the caller's patience, so that a holder that is slow or
    /// dead leaves the caller time for its own request), the store read
    /// again, and only then one token request, whose token is stored. A
    /// stored token that the API refused is deleted, while it is still the
    /// stored one. A store that fails is as good as none (see
    /// [`StoredTokens`]).
    async fn fetch_shared(
        &self,
        store: &StoredTokens,
        options: &SendOptions,
        wanted: &Wanted,
    ) -> Result<Token> {
        let round = store.round();
        let result = self.fetch_through(store, options, wanted).await;
        store.end_round(&round);
        result
    }

    async fn fetch_through(
        &self,
        store: &StoredTokens,
        options: &SendOptions,
        wanted: &Wanted,
    ) -> Result<Token> {
        let name = store.entry_name(&self.key().store_fields());
        let servable = |token: &Token| {
            !wanted.new_token
                && token.is_fresh(wanted.leeway, Instant::now())
                && !wanted
                    .refused
                    .as_ref()
                    .is_some_and(|refused| same_access_token(refused, token))
        };
        if let Some((token, _)) = store.load(&name).await.filter(|(t, _)| servable(t)) {
            logging::debug!("token for {} read from the token store", self.describe());
            return Ok(token);
        }
        let lock = store.lock(&name, wanted.patience / 2).await;
        if let Some((token, blob)) = store.load(&name).await {
            if servable(&token) {
                logging::debug!("token for {} read from the token store", self.describe());
                return Ok(token);
            }
            if wanted
                .refused
                .as_ref()
                .is_some_and(|refused| same_access_token(refused, &token))
            {
                store.delete(&name, blob).await;
            }
        }
        let token = self.fetch_token(options).await?;
        store.save(&name, &token).await;
        drop(lock);
        Ok(token)
    }

    /// Gets a token: the client-credentials grant, or for a customer the
    /// exchange under the MSP token. Connection failures, 429 and 502–504
    /// are retried; a refusal of the credentials is not. When the exchange
    /// refuses the MSP token (401/403: both expire together), the MSP token
    /// is renewed once and the exchange sent again.
    async fn fetch_token(&self, options: &SendOptions) -> Result<Token> {
        let Grant::Customer(customer) = &self.grant else {
            let fields = grant_fields(self.scope.as_deref(), &self.token_params);
            let form = self.client_auth.authenticate(&self.credentials, &fields)?;
            let attempt = self.send_retrying(options, &form).await;
            return attempt
                .parse()
                .map_err(|error| self.redacted(error, &[&form]));
        };
        let msp = &customer.msp;
        let exchange = |msp_token: &Token| {
            Ok::<_, Error>(TokenForm::with_authorization(
                msp_token.bearer_header()?,
                &grant_fields(None, &[]),
            ))
        };
        let msp_token = Arc::clone(msp)
            .get(options.clone(), customer.leeway, false)
            .await?;
        let form = exchange(&msp_token)?;
        let mut exchanged = self.send_retrying(options, &form).await;
        let mut renewed = None;
        if exchanged.refused_bearer() {
            msp.invalidate(&msp_token);
            let msp_token = Arc::clone(msp)
                .get(options.clone(), customer.leeway, false)
                .await?;
            let renewed_form = renewed.insert(exchange(&msp_token)?);
            exchanged = self.send_retrying(options, renewed_form).await;
        }
        exchanged.parse().map_err(|error| {
            let forms: Vec<&TokenForm> = std::iter::once(&form).chain(renewed.as_ref()).collect();
            self.redacted(error, &forms)
        })
    }

    /// `error` cleared of what this request sent: the secret and every
    /// form's credential. Built only for an error (a success answer is
    /// never quoted), since a redactor costs more than the rest of a
    /// token request's own work (bench/PROFILES.md, issue 18).
    fn redacted(&self, error: Error, forms: &[&TokenForm]) -> Error {
        let redactor = forms
            .iter()
            .fold(self.credentials.redactor(), |redactor, form| {
                form.redactor(redactor)
            });
        error.redacted(&redactor)
    }

    async fn send_retrying(&self, options: &SendOptions, form: &TokenForm) -> TokenAttempt {
        let what = format!(
            "token request for {} to {}",
            self.describe(),
            self.token_url.path()
        );
        Retrying::new(&options.retry, &what)
            .run(|_attempt| self.attempt(options, form))
            .await
    }

    async fn attempt(&self, options: &SendOptions, form: &TokenForm) -> TokenAttempt {
        let sent_at = Instant::now();
        let sent_at_wall = SystemTime::now();
        TokenAttempt {
            outcome: self.send_once(options, form).await,
            sent_at,
            sent_at_wall,
        }
    }

    async fn send_once(&self, options: &SendOptions, form: &TokenForm) -> Result<Response> {
        let mut request = options
            .client
            .post(self.token_url.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form.body.as_str().to_owned());
        if let Some(authorization) = &form.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let response = http::send(
            &options.client,
            request,
            "POST",
            "token request",
            Deadline::after(options.timeout),
            MAX_TOKEN_RESPONSE_BYTES,
        )
        .await?;
        // The client follows redirects (dropping Authorization when one
        // leaves the origin), but a token handed out by another origin is
        // not the token endpoint's: refused, never used as a bearer.
        if !endpoint::same_origin(&response.url, &self.token_url) {
            return Err(Error::protocol(format!(
                "the token endpoint {} redirected to another origin ({}); \
                 check token_url / base_url",
                self.token_url.origin().ascii_serialization(),
                response.url.origin().ascii_serialization()
            )));
        }
        Ok(response)
    }
}

fn same_access_token(first: &Token, second: &Token) -> bool {
    first.access_token.expose_secret() == second.access_token.expose_secret()
}

/// One token request's outcome and when it was sent, on both clocks: the
/// token's expiry is counted from then.
struct TokenAttempt {
    outcome: Result<Response>,
    sent_at: Instant,
    sent_at_wall: SystemTime,
}

impl TokenAttempt {
    /// The token, or why there is none. Still a retryable status after the
    /// last retry: reported as the HTTP status error it is.
    fn parse(self) -> Result<Token> {
        self.outcome
            .and_then(|response| parse_token_response(response, self.sent_at, self.sent_at_wall))
    }

    /// Whether the server refused the bearer token the request carried.
    fn refused_bearer(&self) -> bool {
        matches!(&self.outcome, Ok(response) if crate::response::refuses_bearer(response.status_code))
    }
}

impl Outcome for TokenAttempt {
    fn sent(&self) -> Option<&Result<Response>> {
        Some(&self.outcome)
    }
}

/// `get_token`'s options as the caller gave them; `None` is the default
/// (see [`config`]), applied by [`TokenCall::new`].
#[derive(Clone, Debug, Default)]
pub struct TokenOptions {
    pub region: Option<String>,
    pub base_url: Option<String>,
    pub token_url: Option<String>,
    pub scope: Option<String>,
    pub timeout: Option<Duration>,
    pub ca_bundle: Option<PathBuf>,
    /// A store shared with other processes (`token_cache=`).
    pub token_cache: Option<StoreHandle>,
    /// `"basic"` (the default) or `"post"`: see [`ClientAuth::argument`].
    pub client_auth: Option<String>,
    /// Each extra form field's name and values (see
    /// [`config::token_params_argument`]).
    pub token_params: Vec<(String, Vec<String>)>,
    /// A proxy URL for the token request, overriding the environment;
    /// `""` disables proxies.
    pub proxy: Option<String>,
}

/// One `get_token` call, checked, with every default applied: what to ask
/// for, how to send it, and how fresh a cached token must be.
///
/// ```
/// use druva_core::grant::{TokenCall, TokenOptions};
/// let call = TokenCall::new("my-client-id", "my-secret", TokenOptions::default())?;
/// assert_eq!(call.request.token_url.as_str(), "https://apis.druva.com/token");
/// assert_eq!(call.send.timeout, druva_core::config::TIMEOUT);
/// # Ok::<(), druva_core::errors::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct TokenCall {
    pub request: TokenRequest,
    /// The base URL and token URL the options resolve to.
    pub endpoints: Endpoints,
    pub send: SendOptions,
    /// What `send`'s client was built from (its trusted roots and proxy).
    pub client_options: ClientOptions,
    pub leeway: Duration,
}

impl TokenCall {
    /// Checks the credentials, resolves the endpoints and applies the
    /// defaults; builds (or reuses) the process's client for `ca_bundle`.
    /// Nothing is sent.
    pub fn new(client_id: &str, secret: &str, options: TokenOptions) -> Result<Self> {
        let TokenOptions {
            region,
            base_url,
            token_url,
            scope,
            timeout,
            ca_bundle,
            token_cache,
            client_auth,
            token_params,
            proxy,
        } = options;
        let credentials = Credentials::new(client_id, secret)?;
        let store = token_cache.and_then(|store| StoredTokens::new(store, &credentials));
        let endpoints =
            Endpoints::resolve(region.as_deref(), base_url.as_deref(), token_url.as_deref())?;
        let scope = endpoints.scope(scope)?;
        let client_auth = ClientAuth::argument(client_auth.as_deref())?;
        let token_params = config::token_params_argument(token_params)?.into();
        let client_options = ClientOptions { ca_bundle, proxy };
        let send = TokenCall::send_options(&client_options, timeout.unwrap_or(config::TIMEOUT))?;
        Ok(TokenCall {
            request: TokenRequest {
                token_url: endpoints.token_url.clone(),
                credentials: Arc::new(credentials),
                client_auth,
                scope,
                grant: Grant::ClientCredentials,
                store: store.map(Arc::new),
                token_params,
            },
            endpoints,
            client_options,
            send,
            leeway: config::LEEWAY,
        })
    }

    /// How a token request outside a session is sent: this process's
    /// shared client for `client_options` (a forked child builds its own),
    /// the default retries.
    pub fn send_options(client_options: &ClientOptions, timeout: Duration) -> Result<SendOptions> {
        Ok(SendOptions {
            client: client_options.shared_client()?,
            timeout,
            retry: RetryPolicy::default(),
        })
    }

    /// The cache entry of this call's token.
    pub fn slot(&self) -> Arc<TokenSlot> {
        token_cache().slot(&self.request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn request(secret: &str) -> TokenRequest {
        TokenRequest {
            token_url: Url::parse("http://127.0.0.1:9/token").unwrap(),
            credentials: Arc::new(Credentials::new("client", secret).unwrap()),
            client_auth: ClientAuth::Basic,
            scope: None,
            grant: Grant::ClientCredentials,
            store: None,
            token_params: Arc::new([]),
        }
    }

    #[test]
    fn a_wrong_secret_never_finds_the_right_ones_entry() {
        let cache = TokenCache::<TokenRequest>::default();
        let right = cache.slot(&request("right"));
        assert!(Arc::ptr_eq(&right, &cache.slot(&request("right"))));
        let wrong = cache.slot(&request("wrong"));
        assert!(!Arc::ptr_eq(&right, &wrong));
        let found = cache.find(&request("right")).unwrap();
        assert!(Arc::ptr_eq(&found, &right));
        assert!(cache.find(&request("nope")).is_none());
        let scoped = TokenRequest {
            scope: Some("read".into()),
            ..request("right")
        };
        assert!(cache.find(&scoped).is_none());
    }

    #[test]
    fn the_client_authentication_and_the_customer_are_part_of_the_key() {
        let cache = TokenCache::<TokenRequest>::default();
        let basic = cache.slot(&request("s"));
        let post = TokenRequest {
            client_auth: ClientAuth::Post,
            ..request("s")
        };
        assert!(cache.find(&post).is_none());
        assert!(!Arc::ptr_eq(&basic, &cache.slot(&post)));
        let customer = |id: &str| TokenRequest {
            grant: Grant::Customer(Arc::new(CustomerGrant {
                customer_id: id.to_owned(),
                msp: Arc::clone(&basic),
                leeway: config::LEEWAY,
            })),
            ..request("s")
        };
        let first = cache.slot(&customer("first"));
        assert!(!Arc::ptr_eq(&first, &basic));
        assert!(!Arc::ptr_eq(&first, &cache.slot(&customer("second"))));
        assert!(Arc::ptr_eq(&first, &cache.slot(&customer("first"))));
        assert_eq!(cache.len(), 4);
        let audience = |value: &str| TokenRequest {
            token_params: vec![("audience".to_owned(), value.to_owned())].into(),
            ..request("s")
        };
        assert!(cache.find(&audience("a")).is_none());
        let with_audience = cache.slot(&audience("a"));
        assert!(!Arc::ptr_eq(&with_audience, &basic));
        assert!(Arc::ptr_eq(&with_audience, &cache.slot(&audience("a"))));
        assert!(cache.find(&audience("b")).is_none());
    }

    #[test]
    fn a_token_call_applies_the_defaults() {
        let call = TokenCall::new("abcdefgh", "secret", TokenOptions::default()).unwrap();
        assert_eq!(
            call.request.token_url.as_str(),
            "https://apis.druva.com/token"
        );
        assert_eq!(call.request.scope, None);
        assert_eq!(call.send.timeout, config::TIMEOUT);
        assert_eq!(call.send.retry, RetryPolicy::default());
        assert_eq!(call.leeway, config::LEEWAY);
        let given = TokenOptions {
            region: Some("govcloud".into()),
            scope: Some("read".into()),
            timeout: Some(Duration::from_secs(5)),
            ..TokenOptions::default()
        };
        let call = TokenCall::new("abcdefgh", "secret", given).unwrap();
        assert_eq!(
            call.request.token_url.as_str(),
            "https://govcloudapis.druva.com/token"
        );
        assert_eq!(call.request.scope.as_deref(), Some("read"));
        assert_eq!(call.send.timeout, Duration::from_secs(5));
    }

    #[test]
    fn govcloud_asks_for_read_and_the_options_reach_the_request() {
        let given = TokenOptions {
            region: Some("govcloud-workloads".into()),
            base_url: Some("http://127.0.0.1:9".into()),
            client_auth: Some("post".into()),
            token_params: vec![("resource".into(), vec!["a".into(), "b".into()])],
            ..TokenOptions::default()
        };
        let call = TokenCall::new("abcdefgh", "secret", given).unwrap();
        assert_eq!(call.request.scope.as_deref(), Some("read"));
        assert_eq!(call.request.client_auth, ClientAuth::Post);
        let resource = |value: &str| ("resource".to_owned(), value.to_owned());
        assert_eq!(&*call.request.token_params, &[resource("a"), resource("b")]);
    }

    #[test]
    fn a_blank_scope_or_bad_arguments_are_value_errors() {
        /// Sets the one bad argument of a row.
        type Change = fn(&mut TokenOptions);
        let rows: [(&str, &str, Change); 5] = [
            ("a blank scope", "abcdefgh", |given| {
                given.scope = Some(" \t".into());
            }),
            ("an unknown region", "abcdefgh", |given| {
                given.region = Some("eu".into());
            }),
            ("an empty client id", "", |_| {}),
            ("an unknown client_auth", "abcdefgh", |given| {
                given.client_auth = Some("jwt".into());
            }),
            ("a reserved token param", "abcdefgh", |given| {
                given.token_params = vec![("client_secret".into(), vec!["x".into()])];
            }),
        ];
        for (row, client_id, change) in rows {
            let mut given = TokenOptions::default();
            change(&mut given);
            let error = TokenCall::new(client_id, "secret", given).unwrap_err();
            assert!(
                matches!(error, Error::InvalidArgument { .. }),
                "{row}: {error:?}"
            );
        }
    }

    /// A one-request token endpoint on loopback: what it received (head and
    /// body, as text), after answering with a token.
    fn serve_one_token_request() -> (Url, std::thread::JoinHandle<String>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = Url::parse(&format!("http://{}/token", listener.local_addr().unwrap())).unwrap();
        let server = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(error) => panic!("no token request: {error}"),
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut received = Vec::new();
            let mut buffer = [0; 4096];
            while !request_is_complete(&received) {
                let read = stream.read(&mut buffer).unwrap();
                assert!(read > 0, "the client closed before sending its request");
                received.extend_from_slice(&buffer[..read]);
            }
            let body = r#"{"access_token": "t", "token_type": "bearer", "expires_in": 1800}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(answer.as_bytes()).unwrap();
            String::from_utf8(received).unwrap()
        });
        (url, server)
    }

    fn request_is_complete(received: &[u8]) -> bool {
        let text = String::from_utf8_lossy(received);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return false;
        };
        let length = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        body.len() >= length
    }

    fn fetch_from_loopback(client_auth: ClientAuth) -> (String, Token) {
        let (token_url, server) = serve_one_token_request();
        let request = TokenRequest {
            token_url,
            client_auth,
            scope: Some("read".into()),
            token_params: vec![
                ("audience".to_owned(), "https://api.example".to_owned()),
                ("resource".to_owned(), "a".to_owned()),
                ("resource".to_owned(), "b".to_owned()),
            ]
            .into(),
            ..request("se cr&et")
        };
        let options = SendOptions {
            client: ClientOptions::default().shared_client().unwrap(),
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::with_max_retries(0),
        };
        let runtime = crate::runtime::runtime().unwrap();
        let token = runtime
            .block_on(request.fetch(&options, &Wanted::default()))
            .unwrap();
        (server.join().unwrap(), token)
    }

    #[test]
    fn client_secret_post_sends_the_credential_in_the_form_body_and_no_basic() {
        let (received, token) = fetch_from_loopback(ClientAuth::Post);
        let (head, body) = received.split_once("\r\n\r\n").unwrap();
        assert!(
            !head.to_ascii_lowercase().contains("authorization"),
            "{head}"
        );
        let fields: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        let expected = [
            ("grant_type", "client_credentials"),
            ("scope", "read"),
            ("audience", "https://api.example"),
            ("resource", "a"),
            ("resource", "b"),
            ("client_id", "client"),
            ("client_secret", "se cr&et"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()));
        assert_eq!(fields, expected);
        assert_eq!(token.access_token.expose_secret(), "t");
    }

    #[test]
    fn basic_sends_the_credential_in_the_authorization_header_only() {
        use base64::Engine;
        let (received, _) = fetch_from_loopback(ClientAuth::Basic);
        let (head, body) = received.split_once("\r\n\r\n").unwrap();
        let basic = base64::engine::general_purpose::STANDARD.encode("client:se cr&et");
        // Capitalised, as GovCloud needs.
        assert!(
            head.contains(&format!("\r\nAuthorization: Basic {basic}\r\n")),
            "{head}"
        );
        assert_eq!(
            body,
            "grant_type=client_credentials&scope=read&audience=https%3A%2F%2Fapi.example\
             &resource=a&resource=b"
        );
    }

    /// A shared store in memory: what two processes sharing a directory or
    /// a Redis see.
    #[derive(Default)]
    struct MemoryStore {
        entries: std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>,
        locks: std::sync::atomic::AtomicUsize,
    }

    impl crate::store::SharedStore for MemoryStore {
        fn load(&self, key: &str, _: Duration) -> std::io::Result<Option<Vec<u8>>> {
            Ok(self.entries.lock().unwrap().get(key).cloned())
        }

        fn save(&self, key: &str, blob: &[u8], _: Duration, _: Duration) -> std::io::Result<()> {
            self.entries
                .lock()
                .unwrap()
                .insert(key.to_owned(), blob.to_vec());
            Ok(())
        }

        fn delete(&self, key: &str, blob: &[u8], _: Duration) -> std::io::Result<()> {
            let mut entries = self.entries.lock().unwrap();
            if entries.get(key).map(Vec::as_slice) == Some(blob) {
                entries.remove(key);
            }
            Ok(())
        }

        fn lock(&self, _: &str, _: Duration) -> std::io::Result<Option<crate::store::StoreLock>> {
            self.locks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Some(Box::new(())))
        }

        fn identity(&self) -> String {
            "memory".into()
        }

        fn describe(&self) -> String {
            "memory".into()
        }
    }

    #[test]
    fn a_second_process_reads_the_stored_token_without_a_request() {
        let (token_url, server) = serve_one_token_request();
        let store = Arc::new(MemoryStore::default());
        let shared = |secret: &str| {
            let credentials = Credentials::new("client", secret).unwrap();
            let handle = StoreHandle(Arc::clone(&store) as Arc<dyn crate::store::SharedStore>);
            TokenRequest {
                token_url: token_url.clone(),
                store: StoredTokens::new(handle, &credentials).map(Arc::new),
                ..request(secret)
            }
        };
        let options = SendOptions {
            client: ClientOptions::default().shared_client().unwrap(),
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::with_max_retries(0),
        };
        let runtime = crate::runtime::runtime().unwrap();
        // Two caches: two processes. The server answers one token request only.
        let first_process = TokenCache::<TokenRequest>::default().slot(&shared("secret"));
        let first = runtime
            .block_on(first_process.get(options.clone(), config::LEEWAY, false))
            .unwrap();
        server.join().unwrap();
        let second_process = TokenCache::<TokenRequest>::default().slot(&shared("secret"));
        let second = runtime
            .block_on(second_process.get(options.clone(), config::LEEWAY, false))
            .unwrap();
        assert_eq!(
            first.access_token.expose_secret(),
            second.access_token.expose_secret()
        );
        // Its expiry too, to the millisecond the entry keeps.
        let now = Instant::now();
        assert!(first.expires_in(now).abs_diff(second.expires_in(now)) <= 1);
        assert_eq!(store.locks.load(std::sync::atomic::Ordering::SeqCst), 1);
        let entries = store.entries.lock().unwrap().clone();
        assert_eq!(entries.len(), 1);
        // Another secret finds no entry: it asks the (now closed) endpoint.
        let other = TokenCache::<TokenRequest>::default().slot(&shared("other"));
        let options = SendOptions {
            timeout: Duration::from_secs(2),
            ..options
        };
        assert!(runtime
            .block_on(other.get(options, config::LEEWAY, false))
            .is_err());
    }
}
