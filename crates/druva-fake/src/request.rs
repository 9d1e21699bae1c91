//! What the server records of a request: which side of Druva it was for, and
//! the request itself, for tests' assertions.

/// Which side of Druva a request was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// A token endpoint: any path ending in `/token`.
    Token,
    /// Everything else.
    Api,
}

impl RequestKind {
    pub(crate) fn of(path: &str) -> Self {
        if path.ends_with("/token") {
            RequestKind::Token
        } else {
            RequestKind::Api
        }
    }
}

/// One request as the server received it, for assertions in tests. It holds
/// the authorization *scheme* only, never a credential or a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub kind: RequestKind,
    pub method: String,
    pub path: String,
    /// The raw query string, without the `?`.
    pub query: Option<String>,
    /// `"Basic"`, `"Bearer"`, another scheme as sent, or `None` without an
    /// `Authorization` header.
    pub auth_scheme: Option<String>,
    /// Whether the request carried a bearer token that was valid when it arrived.
    pub bearer_valid: bool,
    /// The body of an API request as text (invalid UTF-8 replaced), `None`
    /// when empty. Never kept for a token request, whose body is a grant.
    pub body: Option<String>,
}
