//! Reading the `Authorization` header: the bearer token of an API request,
//! the Basic credentials of a token request, and the scheme, the only part of
//! it the server ever records or echoes.

use axum::http::{header, HeaderMap};
use base64::Engine;

/// The token of an `Authorization: Bearer` header.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// The scheme of the `Authorization` header, the only part of it the server
/// ever records or echoes: `Basic` and `Bearer` normalised, others as sent.
pub(crate) fn auth_scheme(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?;
    let text = String::from_utf8_lossy(value.as_bytes());
    let scheme = text.split_whitespace().next()?;
    let normalised = if scheme.eq_ignore_ascii_case("basic") {
        "Basic".to_owned()
    } else if scheme.eq_ignore_ascii_case("bearer") {
        "Bearer".to_owned()
    } else {
        // A scheme-less header would be the credential itself: never keep it.
        if text.split_whitespace().nth(1).is_none() {
            return Some("(no scheme)".to_owned());
        }
        scheme.chars().take(32).collect()
    };
    Some(normalised)
}

/// The client id and secret of an `Authorization: Basic` header. The secret
/// may itself contain `:`, so the pair is split at the first one.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (client_id, secret) = text.split_once(':')?;
    Some((client_id.to_owned(), secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_authorization(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn only_the_scheme_of_authorization_is_kept() {
        assert_eq!(
            auth_scheme(&with_authorization("bearer abc")).as_deref(),
            Some("Bearer")
        );
        assert_eq!(
            auth_scheme(&with_authorization("Basic aWQ6c2VjcmV0")).as_deref(),
            Some("Basic")
        );
        assert_eq!(
            auth_scheme(&with_authorization("sometoken")).as_deref(),
            Some("(no scheme)")
        );
        assert_eq!(auth_scheme(&HeaderMap::new()), None);
    }

    #[test]
    fn a_bearer_token_needs_the_bearer_scheme() {
        assert_eq!(
            bearer_token(&with_authorization("Bearer  tok ")),
            Some("tok")
        );
        assert_eq!(bearer_token(&with_authorization("Basic tok")), None);
        assert_eq!(bearer_token(&with_authorization("Bearer ")), None);
    }

    fn basic(plain: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode(plain);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        headers
    }

    #[test]
    fn a_secret_with_colons_is_split_at_the_first_colon() {
        assert_eq!(
            basic_credentials(&basic("id:se:cr:et")),
            Some(("id".into(), "se:cr:et".into()))
        );
    }

    #[test]
    fn malformed_basic_headers_carry_no_credentials() {
        assert_eq!(basic_credentials(&basic("no-colon")), None);
        assert_eq!(basic_credentials(&HeaderMap::new()), None);
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(basic_credentials(&bearer), None);
    }
}
