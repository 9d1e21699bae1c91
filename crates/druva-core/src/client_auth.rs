//! How a client authenticates to the token endpoint (RFC 6749 §2.3.1), kept
//! apart from what it asks for (the grant), as oauth2-rs keeps its `AuthType`
//! apart from its token requests: the request is built from plain values, so
//! a new way to authenticate is one [`ClientAuth`] variant and its test.

use std::fmt;

use base64::Engine;
use reqwest::header::HeaderValue;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::errors::{Error, Result};
use crate::redact::Redactor;
use crate::seal::SealKeys;
use crate::token::mask;

/// A Client ID and its Secret Key. The secret lives in a zeroizing buffer and
/// is exposed only to authenticate a token request ([`ClientAuth`]).
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

    /// The keys that seal and name this credential's entries in a shared
    /// token store, derived from its secret.
    pub fn seal_keys(&self) -> Option<SealKeys> {
        SealKeys::derive(self.secret.expose_secret().as_bytes())
    }

    /// A redactor of this credential's secret, for what a server answers.
    pub fn redactor(&self) -> Redactor {
        Redactor::new().value(self.secret.expose_secret())
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

/// How the credential is presented to the token endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ClientAuth {
    /// `Authorization: Basic base64(client_id:secret)`, the id and secret
    /// plain (not URL-encoded, like `requests.auth.HTTPBasicAuth`) and UTF-8
    /// (RFC 7617): what Druva documents.
    #[default]
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form
    /// body, and no `Authorization` header.
    Post,
}

/// What a token request carries besides its URL: an `Authorization` header
/// (none for `client_secret_post`) and its form body. The body may hold the
/// secret: it is zeroed when dropped.
pub struct TokenForm {
    pub authorization: Option<HeaderValue>,
    pub body: Zeroizing<String>,
}

impl fmt::Debug for TokenForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenForm(***)")
    }
}

impl TokenForm {
    /// `redactor` with what this request presents added: the credential of
    /// its `Authorization` header (a form-body secret is the call's secret,
    /// which the caller's redactor already holds).
    #[must_use]
    pub fn redactor(&self, redactor: Redactor) -> Redactor {
        match &self.authorization {
            Some(authorization) => redactor.authorization(authorization),
            None => redactor,
        }
    }

    /// A request authorized by `authorization` (a bearer token, say), with
    /// the grant's form `fields`.
    pub fn with_authorization(authorization: HeaderValue, fields: &[(&str, &str)]) -> Self {
        TokenForm {
            authorization: Some(authorization),
            body: encode(fields.iter().copied()),
        }
    }
}

impl ClientAuth {
    /// The way named by `client_auth=`: `"basic"`, `"post"`, or the default
    /// (`Basic`) when none is given.
    ///
    /// ```
    /// use druva_core::client_auth::ClientAuth;
    /// assert_eq!(ClientAuth::argument(Some("post"))?, ClientAuth::Post);
    /// assert_eq!(ClientAuth::argument(None)?, ClientAuth::Basic);
    /// assert!(ClientAuth::argument(Some("client_secret_jwt")).is_err());
    /// # Ok::<(), druva_core::errors::Error>(())
    /// ```
    pub fn argument(name: Option<&str>) -> Result<Self> {
        match name {
            None => Ok(ClientAuth::default()),
            Some("basic") => Ok(ClientAuth::Basic),
            Some("post") => Ok(ClientAuth::Post),
            Some(other) => Err(Error::value(format!(
                "client_auth must be \"basic\" (Authorization: Basic, what Druva documents) or \
                 \"post\" (client_id and client_secret in the form body), not {other:?}"
            ))),
        }
    }

    /// The token request for the grant's form `fields`, authenticated as
    /// `credentials` this way.
    ///
    /// ```
    /// use druva_core::client_auth::{ClientAuth, Credentials};
    /// let credentials = Credentials::new("my-client-id", "my-secret")?;
    /// let grant = [("grant_type", "client_credentials")];
    /// let post = ClientAuth::Post.authenticate(&credentials, &grant)?;
    /// assert!(post.authorization.is_none());
    /// assert_eq!(
    ///     post.body.as_str(),
    ///     "grant_type=client_credentials&client_id=my-client-id&client_secret=my-secret"
    /// );
    /// let basic = ClientAuth::Basic.authenticate(&credentials, &grant)?;
    /// assert_eq!(basic.body.as_str(), "grant_type=client_credentials");
    /// # Ok::<(), druva_core::errors::Error>(())
    /// ```
    pub fn authenticate(
        self,
        credentials: &Credentials,
        fields: &[(&str, &str)],
    ) -> Result<TokenForm> {
        match self {
            ClientAuth::Basic => Ok(TokenForm::with_authorization(
                credentials.basic_authorization()?,
                fields,
            )),
            ClientAuth::Post => {
                let secret = credentials.secret.expose_secret();
                let own = [
                    ("client_id", credentials.client_id()),
                    ("client_secret", secret),
                ];
                Ok(TokenForm {
                    authorization: None,
                    body: encode(fields.iter().copied().chain(own)),
                })
            }
        }
    }
}

/// `application/x-www-form-urlencoded`, in a buffer zeroed when dropped.
fn encode<'a>(fields: impl Iterator<Item = (&'a str, &'a str)>) -> Zeroizing<String> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.extend_pairs(fields);
    Zeroizing::new(form.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_form_body_secret_is_redacted_in_what_the_server_echoes() {
        let credentials = Credentials::new("client", "s3cr et/+&=").unwrap();
        let form = ClientAuth::Post
            .authenticate(&credentials, &[("grant_type", "client_credentials")])
            .unwrap();
        let echoed = format!("bad request: {}", form.body.as_str());
        let redactor = form.redactor(credentials.redactor());
        let redacted = redactor.text(&echoed);
        assert!(!redacted.contains("s3cr"), "{redacted}");
        assert!(redacted.contains("client_secret=***"), "{redacted}");
    }
}
