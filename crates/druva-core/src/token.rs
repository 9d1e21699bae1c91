//! A token endpoint's answer: the access token, its lifetime, and how an
//! answer is read (RFC 6749 §5.1 and §5.2, as Druva sends them). A leaf:
//! how the request is authenticated ([`crate::client_auth`]), what it asks for
//! ([`crate::grant`]) and where the token is kept ([`crate::cache`]) build on it.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::errors::{Error, Result};
use crate::response::Response;
use crate::retry::RetryPolicy;

/// Lifetime assumed when a server omits `expires_in` (Druva always sends
/// it; RFC 6749 makes it optional): the token is kept until the API refuses
/// it (a 401/403 renews it) or for an hour, whichever comes first.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// The errors of RFC 6749 §5.2 a token endpoint answers a request it
/// refuses with: each is an authentication failure, never retried.
pub const OAUTH_ERRORS: [&str; 6] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
];

/// A token response is a few hundred bytes; a megabyte is already absurd.
pub const MAX_TOKEN_RESPONSE_BYTES: u64 = 1024 * 1024;

/// The longest lifetime believed: a server's larger `expires_in` is capped
/// here, which keeps every expiry computation far from clock overflow.
const MAX_LIFETIME: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// Shows the first four characters of an identifier, masking the rest.
pub fn mask(text: &str) -> String {
    let shown: String = text.chars().take(4).collect();
    format!("{shown}***")
}

/// An access token and when it stops being valid. Its `Debug` masks the token.
pub struct Token {
    pub access_token: SecretString,
    pub token_type: String,
    /// The scopes granted, when the server said (RFC 6749 §3.3: a
    /// space-separated string, split as `requests_oauthlib` splits it).
    pub scope: Option<Vec<String>>,
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

/// How a token request is sent.
#[derive(Clone, Debug)]
pub struct SendOptions {
    pub client: crate::http::HttpClient,
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: Option<serde_json::Value>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
    scope: Option<serde_json::Value>,
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
    let token_type = body.token_type.unwrap_or_else(|| "bearer".to_owned());
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(Error::protocol(format!(
            "the token endpoint issued a {token_type:?} token; druva sends bearer tokens \
             only (RFC 6750)"
        )));
    }
    Ok(Token {
        access_token: SecretString::from(access_token),
        token_type,
        scope: body.scope.as_ref().and_then(parse_scope),
        lifetime,
        requested_at,
        requested_at_wall,
    })
}

/// The scopes of a `scope` field: a space-separated string (RFC 6749 §3.3),
/// or a list of strings as some servers send it; anything else is ignored.
fn parse_scope(value: &serde_json::Value) -> Option<Vec<String>> {
    match value {
        serde_json::Value::String(text) => {
            Some(text.split_whitespace().map(str::to_owned).collect())
        }
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
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
    let oauth_error = error
        .as_deref()
        .is_some_and(|error| OAUTH_ERRORS.contains(&error));
    // A 4xx naming an RFC 6749 error (most servers answer 400, some 401 or
    // 403); a 429 or a 5xx is the server's state, not a refusal.
    let client_error = (400..500).contains(&response.status_code) && !response.is_rate_limited();
    let refused = response.status_code == 401 || (client_error && oauth_error);
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
    use url::Url;

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
    fn every_rfc_6749_error_is_an_authentication_error_quoting_it() {
        for error in OAUTH_ERRORS {
            let body = format!(r#"{{"error": "{error}", "error_description": "why {error}"}}"#);
            match parse(400, &body).unwrap_err() {
                Error::Authentication {
                    error: quoted,
                    error_description,
                    ..
                } => {
                    assert_eq!(quoted, error);
                    assert_eq!(error_description.as_deref(), Some(&*format!("why {error}")));
                }
                other => panic!("{error}: {other:?}"),
            }
        }
        assert!(matches!(
            parse(400, r#"{"error": "something_else"}"#).unwrap_err(),
            Error::HttpStatus { .. }
        ));
    }

    #[test]
    fn any_oauth_server_answer_is_read() {
        let token = parse(200, r#"{"access_token": "t", "token_type": "Bearer"}"#).unwrap();
        assert_eq!(token.lifetime, DEFAULT_LIFETIME);
        assert_eq!(token.token_type, "Bearer");
        let scoped = parse(
            200,
            r#"{"access_token": "t", "token_type": "bearer", "scope": "read  write"}"#,
        )
        .unwrap();
        assert_eq!(
            scoped.scope,
            Some(vec!["read".to_owned(), "write".to_owned()])
        );
        let listed = parse(200, r#"{"access_token": "t", "scope": ["a", "b"]}"#).unwrap();
        assert_eq!(listed.scope, Some(vec!["a".to_owned(), "b".to_owned()]));
        let error = parse(200, r#"{"access_token": "t", "token_type": "mac"}"#).unwrap_err();
        assert!(matches!(error, Error::Protocol { .. }), "{error:?}");
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
}
