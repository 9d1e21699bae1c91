//! The one error type of the core, shaped like the Python hierarchy in DESIGN.md.
//!
//! Every failure is classified here once; the Python binding maps each variant to
//! its exception class without looking inside. Messages never carry a secret or
//! a token: they are built from our own words, status codes and server-sent
//! text, which [`Error::redacted`] clears of the call's own secrets.

use std::fmt;
use std::time::Duration;

use crate::redact::Redactor;
use crate::response::Response;

/// A failure of a druva call, classified once.
#[derive(Clone, Debug)]
pub enum Error {
    /// The caller's arguments are wrong (a `ValueError`); raised before any
    /// network I/O. Wrong types are caught by the binding, which knows them.
    InvalidArgument { message: String },
    /// The token endpoint refused the credentials (`invalid_grant`, `invalid_client`).
    Authentication {
        status_code: u16,
        error: String,
        error_description: Option<String>,
    },
    /// The API answered with an error status.
    HttpStatus { response: Box<Response> },
    /// The API still answered 429 after the retries.
    RateLimit { response: Box<Response> },
    /// Connecting, sending or receiving failed (connect, reset): may pass.
    Transport { message: String },
    /// The server's certificate was refused: retrying cannot help.
    Tls { message: String },
    /// The request took longer than its timeout.
    Timeout { message: String },
    /// A response that breaks the protocol: bad JSON, a token without
    /// `access_token`, a body over the size limit, a redirect loop.
    Protocol { message: String },
    /// An API body that is not JSON at all. The body is kept so that the
    /// binding can say where it broke, the way its language's JSON errors do.
    NotJson { message: String, body: Vec<u8> },
    /// The session was closed before this call.
    Closed { message: String },
}

/// The result of a druva call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A `ValueError` raised for a bad argument.
    pub fn value(message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            message: message.into(),
        }
    }

    pub fn protocol(message: impl Into<String>) -> Self {
        Error::Protocol {
            message: message.into(),
        }
    }

    /// The error for an API response whose status is an error: `RateLimit` for 429.
    pub fn from_status(response: Response) -> Self {
        if response.is_rate_limited() {
            Error::RateLimit {
                response: Box::new(response),
            }
        } else {
            Error::HttpStatus {
                response: Box::new(response),
            }
        }
    }

    /// Classifies a reqwest failure: the one place that reads reqwest's error kinds.
    ///
    /// reqwest's own `Display` can include the request URL, which may carry query
    /// parameters; we say what happened and to which host, never the full URL.
    /// `proxy` is the proxy the request went through, when known (as shown
    /// in messages): a connection that fails is then the proxy's.
    pub fn from_reqwest(
        error: &reqwest::Error,
        what: &str,
        timeout: Duration,
        proxy: Option<&str>,
    ) -> Self {
        let host = error
            .url()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_else(|| "the server".to_owned());
        if error.is_timeout() {
            return Error::Timeout {
                message: format!(
                    "{what} to {host} timed out after {:.3} s; raise `timeout=` if the server is slow",
                    timeout.as_secs_f64()
                ),
            };
        }
        if error.is_redirect() {
            // A redirect loop is the server's configuration, not a passing
            // network failure: retrying it would only repeat the loop.
            return Error::Protocol {
                message: format!(
                    "{what}: too many redirects from {host} (a redirect loop?); \
                     check the base URL"
                ),
            };
        }
        let cause = root_cause(error);
        if is_certificate_error(error) {
            return Error::Tls {
                message: format!(
                    "{what}: the TLS certificate of {host} was refused: {cause}; \
                     pass ca_bundle= (or set SSL_CERT_FILE) if it is signed by a private CA"
                ),
            };
        }
        let message = if error.is_connect() {
            match proxy {
                Some(proxy) => {
                    format!("{what}: could not connect to the proxy {proxy} (for {host}): {cause}")
                }
                None => format!("{what}: could not connect to {host}: {cause}"),
            }
        } else if error.is_body() || error.is_decode() {
            format!("{what}: the response body from {host} was cut off: {cause}")
        } else {
            format!("{what} to {host} failed: {cause}")
        };
        Error::Transport { message }
    }

    /// The error with the call's own secrets taken out of everything a
    /// server may have put in it (see [`crate::redact`]).
    #[must_use]
    pub fn redacted(mut self, redactor: &Redactor) -> Self {
        match &mut self {
            Error::Authentication {
                error,
                error_description,
                ..
            } => {
                *error = redactor.text(error);
                if let Some(description) = error_description {
                    *description = redactor.text(description);
                }
            }
            Error::HttpStatus { response } | Error::RateLimit { response } => {
                response.redact(redactor);
            }
            Error::NotJson { message, body } => {
                *message = redactor.text(message);
                if let Some(redacted) = redactor.bytes(body) {
                    *body = redacted;
                }
            }
            Error::InvalidArgument { message }
            | Error::Transport { message }
            | Error::Tls { message }
            | Error::Timeout { message }
            | Error::Protocol { message }
            | Error::Closed { message } => *message = redactor.text(message),
        }
        self
    }

    /// Whether a fresh attempt of the same request may succeed.
    pub fn is_transient_transport(&self) -> bool {
        matches!(self, Error::Transport { .. })
    }
}

/// Whether rustls refused the peer's certificate somewhere in the chain.
fn is_certificate_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if matches!(
            error.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::InvalidCertificate(_))
        ) {
            return true;
        }
        // An io::Error's source() skips the error it wraps (hyper-rustls wraps
        // rustls's error in two of them); get_ref() gives it.
        current = match error.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    false
}

/// The innermost cause of an error chain, which names what really failed
/// ("connection refused", "invalid peer certificate") without the URL.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument { message }
            | Error::Transport { message }
            | Error::Tls { message }
            | Error::Timeout { message }
            | Error::Protocol { message }
            | Error::NotJson { message, .. }
            | Error::Closed { message } => f.write_str(message),
            Error::Authentication {
                status_code,
                error,
                error_description,
            } => {
                write!(
                    f,
                    "the token endpoint refused the credentials ({status_code} {error}"
                )?;
                if let Some(description) = error_description {
                    write!(f, ": {description}")?;
                }
                if error == "invalid_scope" {
                    return f.write_str(
                        "); check scope= (a GovCloud region asks for \"read\" when none is given)",
                    );
                }
                f.write_str("); check the Client ID and Secret Key, and the region")
            }
            Error::HttpStatus { response } | Error::RateLimit { response } => {
                write!(f, "{}", response.status_summary())
            }
        }
    }
}

impl std::error::Error for Error {}
