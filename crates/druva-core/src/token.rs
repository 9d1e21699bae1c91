//! The client-credentials token exchange, exactly as Druva documents it:
//! `POST` to the token URL with `Authorization: Basic base64(id:secret)` and a
//! form body `grant_type=client_credentials` (plus `scope` when given).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use url::Url;

use crate::cache::{self, Slot};
use crate::config;
use crate::endpoint::{self, Endpoints};
use crate::errors::{Error, Result};
use crate::http::{self, ClientOptions};
use crate::redact::Redactor;
use crate::response::Response;
use crate::retry::{Outcome, RetryPolicy, Retrying};

/// Lifetime assumed when a server omits `expires_in` (Druva always sends it).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// A token response is a few hundred bytes; a megabyte is already absurd.
const MAX_TOKEN_RESPONSE_BYTES: u64 = 1024 * 1024;

/// The longest lifetime believed: a server's larger `expires_in` is capped
/// here, which keeps every expiry computation far from clock overflow.
const MAX_LIFETIME: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// A Client ID and its Secret Key. The secret lives in a zeroizing buffer and
/// is exposed only to build the `Authorization` header.
#[derive(Clone)]
pub struct Credentials {
    client_id: String,
    secret: SecretString,
}

impl Credentials {
    /// Checks the credentials the way the token endpoint would need them.
    pub fn new(client_id: &str, secret: &str) -> Result<Self> {
        if client_id.trim().is_empty() {
            return Err(Error::value(
                "client_id is empty; pass the Client ID of a Druva API credential",
            ));
        }
        if client_id.contains(':') {
            return Err(Error::value(
                "client_id contains ':', which HTTP Basic authentication cannot carry; \
                 check that the Client ID and Secret Key are not swapped or joined",
            ));
        }
        if secret.is_empty() {
            return Err(Error::value(
                "secret is empty; pass the Secret Key of the Druva API credential",
            ));
        }
        if client_id
            .chars()
            .chain(secret.chars())
            .any(char::is_control)
        {
            return Err(Error::value(
                "client_id or secret contains a control character (a stray newline?); \
                 strip it before passing the credential",
            ));
        }
        Ok(Credentials {
            client_id: client_id.to_owned(),
            secret: SecretString::from(secret),
        })
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Whether two credentials are the same id and secret. The token cache
    /// asks this of a caller's secret against each cached one for the same
    /// client id, so the secrets are compared in constant time: a caller who
    /// can time its own lookups learns nothing of another caller's secret
    /// (beyond its length).
    pub fn same_as(&self, other: &Credentials) -> bool {
        let secret = self.secret.expose_secret().as_bytes();
        self.client_id == other.client_id
            && bool::from(secret.ct_eq(other.secret.expose_secret().as_bytes()))
    }

    /// The client id as logs and reprs show it: the first four characters.
    pub fn masked_client_id(&self) -> String {
        mask(&self.client_id)
    }

    fn basic_authorization(&self) -> Result<HeaderValue> {
        let plain = secrecy::zeroize::Zeroizing::new(format!(
            "{}:{}",
            self.client_id,
            self.secret.expose_secret()
        ));
        let encoded = secrecy::zeroize::Zeroizing::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(plain.as_bytes())
        ));
        let mut value = HeaderValue::from_str(&encoded)
            .map_err(|_| Error::value("the credentials cannot be sent in an HTTP header"))?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Credentials(client_id={}, secret=***)",
            self.masked_client_id()
        )
    }
}

/// Shows the first four characters of an identifier, masking the rest.
pub fn mask(text: &str) -> String {
    let shown: String = text.chars().take(4).collect();
    format!("{shown}***")
}

/// An access token and when it stops being valid. Its `Debug` masks the token.
pub struct Token {
    pub access_token: SecretString,
    pub token_type: String,
    pub scope: Option<String>,
    /// The lifetime the server granted (`expires_in`).
    pub lifetime: Duration,
    /// When the token request was sent: expiry is counted from here.
    pub requested_at: Instant,
    /// The same moment on the wall clock, for `expires_at`.
    pub requested_at_wall: SystemTime,
}

impl Token {
    /// The moment the token expires, on the monotonic clock.
    pub fn expires(&self) -> Instant {
        self.requested_at + self.lifetime
    }

    /// Whole seconds left before expiry, at `now`.
    pub fn expires_in(&self, now: Instant) -> u64 {
        self.expires().saturating_duration_since(now).as_secs()
    }

    /// Unix time, in whole seconds, of the expiry.
    pub fn expires_at(&self) -> u64 {
        (self.requested_at_wall + self.lifetime)
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs())
    }

    /// Whether the token may still be handed out: more than `leeway` left,
    /// with the leeway capped at half the lifetime so short-lived tokens are reused.
    pub fn is_fresh(&self, leeway: Duration, now: Instant) -> bool {
        let leeway = leeway.min(self.lifetime / 2);
        now + leeway < self.expires()
    }

    /// Whether the token has not expired yet at `now`.
    pub fn is_valid(&self, now: Instant) -> bool {
        now < self.expires()
    }

    /// The `Authorization` header value for API calls.
    pub fn bearer_header(&self) -> Result<HeaderValue> {
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", self.access_token.expose_secret()))
                .map_err(|_| {
                    Error::protocol("the access token cannot be sent in an HTTP header")
                })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"***")
            .field("token_type", &self.token_type)
            .field("lifetime", &self.lifetime)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Everything that identifies one token: where it comes from, for whom, for what.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub token_url: Url,
    pub credentials: Arc<Credentials>,
    pub scope: Option<String>,
    pub grant: Grant,
}

/// How a token is granted.
#[derive(Clone, Debug, Default)]
pub enum Grant {
    /// The client-credentials grant: `credentials` as HTTP Basic at `token_url`.
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
    pub msp: Arc<Slot>,
    /// How fresh the MSP token must be when it is used for an exchange.
    pub leeway: Duration,
}

impl fmt::Debug for CustomerGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomerGrant(customer_id={:?})", self.customer_id)
    }
}

impl Grant {
    pub fn is_customer(&self) -> bool {
        matches!(self, Grant::Customer(_))
    }
}

/// How a token request is sent.
#[derive(Clone, Debug)]
pub struct SendOptions {
    pub client: reqwest::Client,
    pub timeout: Duration,
    pub retry: RetryPolicy,
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
}

/// One `get_token` call, checked, with every default applied: what to ask
/// for, how to send it, and how fresh a cached token must be.
///
/// ```
/// use druva_core::token::{TokenCall, TokenOptions};
/// let call = TokenCall::new("my-client-id", "my-secret", TokenOptions::default())?;
/// assert_eq!(call.request.token_url.as_str(), "https://apis.druva.com/token");
/// assert_eq!(call.send.timeout, druva_core::config::TIMEOUT);
/// # Ok::<(), druva_core::errors::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct TokenCall {
    pub request: TokenRequest,
    pub send: SendOptions,
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
        } = options;
        let credentials = Credentials::new(client_id, secret)?;
        let endpoints =
            Endpoints::resolve(region.as_deref(), base_url.as_deref(), token_url.as_deref())?;
        let scope = config::scope_argument(scope)?;
        let client = ClientOptions {
            ca_bundle,
            proxy: None,
        }
        .shared_client()?;
        Ok(TokenCall {
            request: TokenRequest {
                token_url: endpoints.token_url,
                credentials: Arc::new(credentials),
                scope,
                grant: Grant::ClientCredentials,
            },
            send: SendOptions {
                client,
                timeout: timeout.unwrap_or(config::TIMEOUT),
                retry: RetryPolicy::default(),
            },
            leeway: config::LEEWAY,
        })
    }

    /// The cache entry of this call's token.
    pub fn slot(&self) -> Arc<Slot> {
        cache::global().slot(&self.request)
    }
}

impl TokenRequest {
    /// Gets a token: the client-credentials grant, or for a customer the
    /// exchange under the MSP token. Connection failures, 429 and 502–504
    /// are retried; a refusal of the credentials is not. When the exchange
    /// refuses the MSP token (401/403: both expire together), the MSP token
    /// is renewed once and the exchange sent again.
    pub async fn fetch(&self, options: &SendOptions) -> Result<Token> {
        // What the server answers is cleared of what this request sent.
        let redactor = Redactor::new().value(self.credentials.secret.expose_secret());
        let Grant::Customer(customer) = &self.grant else {
            let basic = self.credentials.basic_authorization()?;
            let redactor = redactor.authorization(&basic);
            let attempt = self.send_retrying(options, &basic).await;
            return attempt.parse().map_err(|error| error.redacted(&redactor));
        };
        let msp = &customer.msp;
        let msp_token = Arc::clone(msp)
            .get(options.clone(), customer.leeway, false)
            .await?;
        let bearer = msp_token.bearer_header()?;
        let mut redactor = redactor.authorization(&bearer);
        let mut exchanged = self.send_retrying(options, &bearer).await;
        if exchanged.refused_bearer() {
            msp.invalidate(&msp_token);
            let msp_token = Arc::clone(msp)
                .get(options.clone(), customer.leeway, false)
                .await?;
            let bearer = msp_token.bearer_header()?;
            redactor = redactor.authorization(&bearer);
            exchanged = self.send_retrying(options, &bearer).await;
        }
        exchanged.parse().map_err(|error| error.redacted(&redactor))
    }

    /// Whose token this is, for log records: the masked client id, and the
    /// customer of an exchanged token.
    pub fn describe(&self) -> String {
        match &self.grant {
            Grant::ClientCredentials => self.credentials.masked_client_id(),
            Grant::Customer(customer) => format!(
                "{} (customer {})",
                self.credentials.masked_client_id(),
                customer.customer_id
            ),
        }
    }

    async fn send_retrying(
        &self,
        options: &SendOptions,
        authorization: &HeaderValue,
    ) -> TokenAttempt {
        let what = format!(
            "token request for {} to {}",
            self.describe(),
            self.token_url.path()
        );
        Retrying::new(&options.retry, &what)
            .run(|_attempt| self.attempt(options, authorization))
            .await
    }

    async fn attempt(&self, options: &SendOptions, authorization: &HeaderValue) -> TokenAttempt {
        let sent_at = Instant::now();
        let sent_at_wall = SystemTime::now();
        TokenAttempt {
            outcome: self.send_once(options, authorization).await,
            sent_at,
            sent_at_wall,
        }
    }

    async fn send_once(
        &self,
        options: &SendOptions,
        authorization: &HeaderValue,
    ) -> Result<Response> {
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            if let Some(scope) = &self.scope {
                form.append_pair("scope", scope);
            }
            form.finish()
        };
        let request = options
            .client
            .post(self.token_url.clone())
            .header(AUTHORIZATION, authorization.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        let response = http::send(
            request,
            "POST",
            "token request",
            options.timeout,
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

#[derive(Deserialize)]
struct TokenBody {
    access_token: Option<serde_json::Value>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
    scope: Option<String>,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: Option<String>,
    error_description: Option<String>,
}

/// Reads a token endpoint's answer. A success without a usable token is a
/// protocol error; a credentials refusal is an authentication error; any other
/// error status is reported as the HTTP status it is. The body is never quoted:
/// it may hold a token.
pub fn parse_token_response(
    response: Response,
    requested_at: Instant,
    requested_at_wall: SystemTime,
) -> Result<Token> {
    if !response.is_success() {
        return Err(classify_token_error(response));
    }
    // A JSON object only: serde would also read a struct from an array.
    let is_object = response
        .content
        .iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .is_some_and(|byte| *byte == b'{');
    let parsed = if is_object {
        serde_json::from_slice::<TokenBody>(&response.content).ok()
    } else {
        None
    };
    let body = parsed.ok_or_else(|| {
        Error::protocol(format!(
            "the token endpoint answered {} with a body that is not a JSON token object",
            response.status_code
        ))
    })?;
    let access_token = match body.access_token {
        Some(serde_json::Value::String(token)) if !token.is_empty() => token,
        _ => {
            return Err(Error::protocol(
                "the token endpoint's answer has no access_token",
            ))
        }
    };
    if access_token
        .chars()
        .any(|c| c.is_control() || !c.is_ascii())
    {
        return Err(Error::protocol(
            "the token endpoint's access_token has characters that cannot be sent in a header",
        ));
    }
    let lifetime = match body.expires_in {
        None | Some(serde_json::Value::Null) => DEFAULT_LIFETIME,
        Some(value) => parse_lifetime(&value)?,
    };
    Ok(Token {
        access_token: SecretString::from(access_token),
        token_type: body.token_type.unwrap_or_else(|| "bearer".to_owned()),
        scope: body.scope,
        lifetime,
        requested_at,
        requested_at_wall,
    })
}

fn parse_lifetime(value: &serde_json::Value) -> Result<Duration> {
    let seconds = match value {
        serde_json::Value::Number(number) => number.as_f64(),
        serde_json::Value::String(text) => text.trim().parse::<f64>().ok(),
        _ => None,
    };
    seconds
        .filter(|seconds| !seconds.is_nan() && *seconds >= 0.0)
        .map(|seconds| {
            Duration::try_from_secs_f64(seconds).map_or(MAX_LIFETIME, |d| d.min(MAX_LIFETIME))
        })
        .ok_or_else(|| {
            Error::protocol("the token endpoint's expires_in is not a number of seconds")
        })
}

fn classify_token_error(response: Response) -> Error {
    let body: Option<OAuthErrorBody> = serde_json::from_slice(&response.content).ok();
    let (error, error_description) = body
        .map(|body| (body.error, body.error_description))
        .unwrap_or_default();
    let refused = response.status_code == 401
        || (response.status_code == 400
            && matches!(
                error.as_deref(),
                Some("invalid_grant" | "invalid_client" | "unauthorized_client")
            ));
    if !refused {
        return Error::from_status(response);
    }
    Error::Authentication {
        status_code: response.status_code,
        error: error.unwrap_or_else(|| "invalid_client".to_owned()),
        error_description,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use reqwest::header::HeaderMap;

    fn response(status_code: u16, body: &str) -> Response {
        Response {
            method: "POST".into(),
            status_code,
            headers: HeaderMap::new(),
            url: Url::parse("https://apis.druva.com/token").unwrap(),
            content: Bytes::from(body.to_owned()),
            elapsed: Duration::ZERO,
            fresh_token_refused: false,
            left_origin: false,
        }
    }

    fn parse(status: u16, body: &str) -> Result<Token> {
        parse_token_response(response(status, body), Instant::now(), SystemTime::now())
    }

    #[test]
    fn druva_success_is_a_token_with_its_lifetime() {
        let token = parse(
            200,
            r#"{"access_token": "abc", "token_type": "bearer", "expires_in": 1800}"#,
        )
        .unwrap();
        assert_eq!(token.access_token.expose_secret(), "abc");
        assert_eq!(token.lifetime, Duration::from_secs(1800));
        assert_eq!(token.expires_in(token.requested_at), 1800);
        assert!(!format!("{token:?}").contains("abc"));
    }

    #[test]
    fn an_absurd_lifetime_is_capped_at_a_year() {
        for expires_in in ["1e300", "18446744073709551615", "\"9e99\""] {
            let body = format!(r#"{{"access_token": "t", "expires_in": {expires_in}}}"#);
            let token = parse(200, &body).unwrap();
            assert_eq!(token.lifetime, MAX_LIFETIME, "{expires_in}");
            assert!(token.expires_at() > 0);
            assert!(token.is_fresh(Duration::from_secs(60), Instant::now()));
        }
    }

    #[test]
    fn bad_credentials_are_an_authentication_error() {
        for (status, body) in [
            (400, r#"{"error": "invalid_grant"}"#),
            (
                401,
                r#"{"error": "invalid_client", "error_description": "nope"}"#,
            ),
            (401, "not json"),
        ] {
            match parse(status, body).unwrap_err() {
                Error::Authentication { status_code, .. } => assert_eq!(status_code, status),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_success_without_a_token_is_a_protocol_error_that_quotes_nothing() {
        for body in [
            "{}",
            r#"{"access_token": ""}"#,
            r#"{"access_token": 5}"#,
            "<html>secret-ish</html>",
            r#"["t", "bearer", 1800]"#,
            r#"{"access_token": "t", "expires_in": "soon"}"#,
        ] {
            let error = parse(200, body).unwrap_err();
            assert!(matches!(error, Error::Protocol { .. }), "{body}");
            assert!(!error.to_string().contains("secret-ish"));
        }
    }

    #[test]
    fn other_error_statuses_stay_http_errors() {
        assert!(matches!(
            parse(500, "{}").unwrap_err(),
            Error::HttpStatus { .. }
        ));
        assert!(matches!(
            parse(429, "{}").unwrap_err(),
            Error::RateLimit { .. }
        ));
    }

    #[test]
    fn leeway_is_capped_at_half_the_lifetime() {
        let now = Instant::now();
        let token = Token {
            access_token: SecretString::from("t"),
            token_type: "bearer".into(),
            scope: None,
            lifetime: Duration::from_secs(2),
            requested_at: now,
            requested_at_wall: SystemTime::now(),
        };
        let leeway = Duration::from_secs(60);
        assert!(token.is_fresh(leeway, now));
        assert!(token.is_fresh(leeway, now + Duration::from_millis(900)));
        assert!(!token.is_fresh(leeway, now + Duration::from_secs(1)));
        assert!(token.is_fresh(Duration::ZERO, now + Duration::from_millis(1900)));
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
    fn a_blank_scope_or_bad_arguments_are_value_errors() {
        for (client_id, options) in [
            (
                "abcdefgh",
                TokenOptions {
                    scope: Some(" \t".into()),
                    ..TokenOptions::default()
                },
            ),
            (
                "abcdefgh",
                TokenOptions {
                    region: Some("eu".into()),
                    ..TokenOptions::default()
                },
            ),
            ("", TokenOptions::default()),
        ] {
            let error = TokenCall::new(client_id, "secret", options).unwrap_err();
            assert!(matches!(error, Error::InvalidArgument { .. }), "{error:?}");
        }
    }

    #[test]
    fn credentials_are_checked_and_never_printed() {
        assert!(Credentials::new("", "s").is_err());
        assert!(Credentials::new("id:x", "s").is_err());
        assert!(Credentials::new("id", "").is_err());
        assert!(Credentials::new("id", "line\n").is_err());
        let credentials = Credentials::new("abcdefgh", "se:cr:et").unwrap();
        assert!(credentials.same_as(&Credentials::new("abcdefgh", "se:cr:et").unwrap()));
        assert!(!credentials.same_as(&Credentials::new("abcdefgh", "se:cr:eT").unwrap()));
        let printed = format!("{credentials:?}");
        assert!(printed.contains("abcd***") && !printed.contains("se:cr"));
        let header = credentials.basic_authorization().unwrap();
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("abcdefgh:se:cr:et")
        );
        assert_eq!(header.to_str().unwrap(), expected);
    }
}
