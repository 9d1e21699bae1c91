//! The URL policy: regions, base and token URLs, loopback-only plain HTTP, and
//! same-origin joining. Every URL druva sends a credential to passes through here.

use std::net::IpAddr;

use url::Url;

use crate::config;
use crate::errors::{Error, Result};

/// The Druva clouds, each with its API base URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Region {
    /// The main cloud, `https://apis.druva.com`.
    Cloud,
    /// Endpoints & Data Governance `GovCloud`, `https://govcloudapis.druva.com`.
    GovCloud,
    /// Enterprise Workloads (Phoenix) `GovCloud`, `https://govapis.druva.com`.
    GovCloudWorkloads,
}

impl Region {
    /// Parses a region name as users write it.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "cloud" => Ok(Region::Cloud),
            "govcloud" => Ok(Region::GovCloud),
            "govcloud-workloads" => Ok(Region::GovCloudWorkloads),
            other => Err(Error::value(format!(
                "unknown region {other:?}; use one of \"cloud\", \"govcloud\" \
                 (Endpoints & Data Governance GovCloud) or \"govcloud-workloads\" \
                 (Enterprise Workloads GovCloud), or pass base_url="
            ))),
        }
    }

    pub fn base_url(self) -> &'static str {
        match self {
            Region::Cloud => "https://apis.druva.com",
            Region::GovCloud => "https://govcloudapis.druva.com",
            Region::GovCloudWorkloads => "https://govapis.druva.com",
        }
    }

    /// The scope a token request of this cloud asks for when the caller
    /// gives none: both `GovCloud` token specs send `scope=read`, and the
    /// Endpoints & Data Governance one requires it (docs/druva-api.md); the
    /// main cloud's documented sample sends none.
    pub fn default_scope(self) -> Option<&'static str> {
        match self {
            Region::Cloud => None,
            Region::GovCloud | Region::GovCloudWorkloads => Some("read"),
        }
    }
}

/// Where a credential goes: the API base URL and the token URL, both checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub base_url: Url,
    pub token_url: Url,
    /// The region's scope for a caller who gives none (see
    /// [`Region::default_scope`]): the region decides it even when
    /// `base_url` overrides its URLs.
    pub default_scope: Option<&'static str>,
}

impl Endpoints {
    /// Resolves `region` / `base_url` / `token_url` the way DESIGN.md says:
    /// no region is [`config::REGION`], `base_url` overrides the region,
    /// `token_url` overrides only the token URL. `region` is a name or an
    /// `Option` of one.
    ///
    /// ```
    /// use druva_core::endpoint::Endpoints;
    /// let endpoints = Endpoints::resolve(None, None, None)?;
    /// assert_eq!(endpoints.token_url.as_str(), "https://apis.druva.com/token");
    /// let gov = Endpoints::resolve("govcloud", None, None)?;
    /// assert_eq!(gov.token_url.as_str(), "https://govcloudapis.druva.com/token");
    /// # Ok::<(), druva_core::errors::Error>(())
    /// ```
    pub fn resolve<'a>(
        region: impl Into<Option<&'a str>>,
        base_url: Option<&str>,
        token_url: Option<&str>,
    ) -> Result<Self> {
        let region = Region::parse(region.into().unwrap_or(config::REGION))?;
        let base_url = match base_url {
            Some(base) => checked_url(base, "base_url")?,
            None => parse(region.base_url(), "base_url")?,
        };
        let token_url = match token_url {
            Some(token) => checked_url(token, "token_url")?,
            None => join_token_path(&base_url),
        };
        Ok(Endpoints {
            base_url,
            token_url,
            default_scope: region.default_scope(),
        })
    }

    /// The scope a token request asks for: the caller's, checked (see
    /// [`config::scope_argument`]), or the region's default.
    ///
    /// ```
    /// use druva_core::endpoint::Endpoints;
    /// let gov = Endpoints::resolve("govcloud", Some("http://127.0.0.1:8080"), None)?;
    /// assert_eq!(gov.scope(None)?.as_deref(), Some("read"));
    /// assert_eq!(gov.scope(Some("admin".into()))?.as_deref(), Some("admin"));
    /// assert_eq!(Endpoints::resolve("cloud", None, None)?.scope(None)?, None);
    /// # Ok::<(), druva_core::errors::Error>(())
    /// ```
    pub fn scope(&self, given: Option<String>) -> Result<Option<String>> {
        Ok(config::scope_argument(given)?.or_else(|| self.default_scope.map(str::to_owned)))
    }

    /// The URL a session call goes to: a path joined to the base URL, or an
    /// absolute URL of the base URL's origin. Anything else would hand the bearer
    /// token to a stranger, so it is refused before sending.
    pub fn join(&self, url: &str) -> Result<Url> {
        if url.is_empty() {
            return Err(Error::value(
                "the URL is empty; pass a path such as \"/insync/usermanagement/v1/users\"",
            ));
        }
        if url.starts_with("//") {
            return Err(Error::value(format!(
                "{url:?} is a scheme-relative URL; pass a path that starts with a single \"/\""
            )));
        }
        if has_scheme(url) {
            let absolute = parse(url, "url")?;
            if !same_origin(&absolute, &self.base_url) {
                let origin = absolute.origin();
                let shown = if origin.is_tuple() {
                    origin.ascii_serialization()
                } else {
                    format!("a {}: URL", absolute.scheme())
                };
                return Err(Error::value(format!(
                    "{shown} is not the session's origin {}; druva sends the bearer token only \
                     to its own origin, use a separate client for other servers",
                    self.base_url.origin().ascii_serialization()
                )));
            }
            return Ok(absolute);
        }
        let base_path = self.base_url.path().trim_end_matches('/');
        let path = url.trim_start_matches('/');
        let mut joined = self.base_url.clone();
        let (path, query) = match path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path, None),
        };
        joined.set_path(&format!("{base_path}/{path}"));
        joined.set_query(query);
        Ok(joined)
    }

    /// Whether the bearer token may go to `url`: an absolute URL of the base
    /// URL's origin. A path, an unparsable URL or another origin may not.
    ///
    /// ```
    /// use druva_core::endpoint::Endpoints;
    /// let endpoints = Endpoints::resolve(None, None, None)?;
    /// assert!(endpoints.admits_token("https://apis.druva.com/insync/usermanagement/v1/users"));
    /// assert!(!endpoints.admits_token("https://example.com/"));
    /// # Ok::<(), druva_core::errors::Error>(())
    /// ```
    pub fn admits_token(&self, url: &str) -> bool {
        Url::parse(url).is_ok_and(|url| same_origin(&url, &self.base_url))
    }
}

/// Whether `url` begins with a scheme (RFC 3986: a letter, then letters,
/// digits, `+`, `-` or `.`, then `:`), so it is an absolute URL rather than a
/// path. A `://` later on, as in `/path?next=https://x`, does not count.
fn has_scheme(url: &str) -> bool {
    let Some((scheme, _)) = url.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Whether two URLs share scheme, host and port: the only place credentials may go.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.origin() == b.origin()
}

fn parse(text: &str, name: &str) -> Result<Url> {
    Url::parse(text).map_err(|error| {
        Error::value(format!(
            "{name} {text:?} is not a valid URL ({error}); pass e.g. \"https://apis.druva.com\""
        ))
    })
}

/// Parses a caller's base or token URL and applies the transport policy:
/// `https://` anywhere, plain `http://` only to a loopback host.
fn checked_url(text: &str, name: &str) -> Result<Url> {
    let url = parse(text, name)?;
    if url.username() != "" || url.password().is_some() {
        return Err(Error::value(format!(
            "{name} must not carry user info; pass the credentials as client_id and secret"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::value(format!(
            "{name} must not have a query or fragment"
        )));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(Error::value(format!(
            "{name} uses plain http:// to {}, which would send credentials unencrypted; \
             use https:// (plain http:// is allowed only for loopback hosts)",
            url.host_str().unwrap_or("a remote host")
        ))),
        scheme => Err(Error::value(format!(
            "{name} has scheme {scheme:?}; use https://"
        ))),
    }
}

fn join_token_path(base_url: &Url) -> Url {
    joined_path(base_url, "/token")
}

/// `path` under the base URL's own path.
fn joined_path(base_url: &Url, path: &str) -> Url {
    let mut joined = base_url.clone();
    joined.set_path(&format!("{}{path}", base_url.path().trim_end_matches('/')));
    joined.set_query(None);
    joined.set_fragment(None);
    joined
}

/// Where an MSP credential gets its token: `{base}/msp/auth/v1/token`.
pub const MSP_TOKEN_PATH: &str = "/msp/auth/v1/token";

impl Endpoints {
    /// The endpoints of an MSP credential: its token URL is
    /// [`MSP_TOKEN_PATH`] under the base URL, unless one was given.
    #[must_use]
    pub fn for_msp(self, token_url_given: bool) -> Self {
        if token_url_given {
            return self;
        }
        Endpoints {
            token_url: joined_path(&self.base_url, MSP_TOKEN_PATH),
            ..self
        }
    }

    /// Where a customer's (tenant's) token is exchanged from the MSP token:
    /// refused before any I/O when the ID would not stay one path segment.
    /// `{base}/msp/v2/customers/{customer_id}/token`, the ID one path segment.
    pub fn customer_token_url(&self, customer_id: &str) -> Result<Url> {
        if customer_id.trim().is_empty() {
            return Err(Error::value(
                "customer_id is empty; pass the ID of one of the MSP's customers \
                 (the `id` of an item of /msp/v2/customers)",
            ));
        }
        if customer_id.chars().any(char::is_control) || customer_id.len() > 256 {
            return Err(Error::value(
                "customer_id has control characters or is over 256 characters long; \
                 pass the `id` of an item of /msp/v2/customers",
            ));
        }
        if matches!(customer_id, "." | "..") || customer_id.contains(PATH_CHANGING) {
            return Err(Error::value(format!(
                "customer_id {customer_id:?} would change the path of the token exchange \
                 (it is a dot segment or holds one of / \\ ? # %); pass the `id` of an item \
                 of /msp/v2/customers"
            )));
        }
        let mut url = joined_path(&self.base_url, "/msp/v2/customers");
        url.path_segments_mut()
            .map_err(|()| Error::value("the base URL cannot have a path"))?
            .push(customer_id)
            .push("token");
        Ok(url)
    }
}

/// Characters that would move a customer ID out of its path segment (or be
/// read as an escape), in any URL a server or proxy may normalise.
const PATH_CHANGING: [char; 5] = ['/', '\\', '?', '#', '%'];

/// Loopback hosts: 127.0.0.0/8, `::1` and `localhost` (and its subdomains).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(base: &str) -> Endpoints {
        Endpoints::resolve("cloud", Some(base), None).unwrap()
    }

    #[test]
    fn a_customer_id_stays_one_path_segment_or_is_refused() {
        let base = endpoints("https://apis.druva.com");
        let url = base.customer_token_url("c-1=").unwrap();
        assert_eq!(url.path(), "/msp/v2/customers/c-1=/token");
        for bad in [
            ".", "..", "a/b", "a\\b", "a?b", "a#b", "%2e%2e", "", " ", "a\nb",
        ] {
            let error = base.customer_token_url(bad).unwrap_err();
            assert!(
                matches!(error, Error::InvalidArgument { .. }),
                "{bad:?}: {error}"
            );
            assert!(error.to_string().contains("customer_id"), "{error}");
        }
    }

    #[test]
    fn regions_resolve_to_druva_token_endpoints() {
        let cases = [
            ("cloud", "https://apis.druva.com/token"),
            ("govcloud", "https://govcloudapis.druva.com/token"),
            ("govcloud-workloads", "https://govapis.druva.com/token"),
        ];
        for (region, token_url) in cases {
            let resolved = Endpoints::resolve(region, None, None).unwrap();
            assert_eq!(resolved.token_url.as_str(), token_url);
        }
    }

    #[test]
    fn govcloud_regions_ask_for_read_unless_a_scope_is_given() {
        for (region, scope) in [
            ("cloud", None),
            ("govcloud", Some("read")),
            ("govcloud-workloads", Some("read")),
        ] {
            for base_url in [None, Some("http://127.0.0.1:9")] {
                let resolved = Endpoints::resolve(region, base_url, None).unwrap();
                assert_eq!(resolved.scope(None).unwrap().as_deref(), scope, "{region}");
                let given = resolved.scope(Some("write".into())).unwrap();
                assert_eq!(given.as_deref(), Some("write"));
            }
        }
    }

    #[test]
    fn no_region_is_the_default_cloud() {
        let default = Endpoints::resolve(None, None, None).unwrap();
        assert_eq!(
            default,
            Endpoints::resolve(config::REGION, None, None).unwrap()
        );
        assert_eq!(default.base_url.as_str(), "https://apis.druva.com/");
    }

    #[test]
    fn unknown_region_is_a_value_error_naming_the_choices() {
        let error = Endpoints::resolve("eu", None, None).unwrap_err();
        assert!(error.to_string().contains("govcloud-workloads"));
    }

    #[test]
    fn base_url_overrides_region_and_token_url_overrides_only_token() {
        let resolved = Endpoints::resolve(
            "govcloud",
            Some("https://example.test/api/"),
            Some("https://auth.example.test/oauth/token"),
        )
        .unwrap();
        assert_eq!(resolved.base_url.as_str(), "https://example.test/api/");
        assert_eq!(
            resolved.token_url.as_str(),
            "https://auth.example.test/oauth/token"
        );
        let derived = endpoints("https://example.test/api/");
        assert_eq!(derived.token_url.as_str(), "https://example.test/api/token");
    }

    #[test]
    fn plain_http_only_for_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://[::1]:1",
            "http://localhost:3",
        ] {
            assert!(Endpoints::resolve("cloud", Some(ok), None).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "http://u:p@127.0.0.1",
        ] {
            assert!(
                Endpoints::resolve("cloud", Some(bad), None).is_err(),
                "{bad}"
            );
        }
        assert!(Endpoints::resolve("cloud", None, Some("http://evil.example/token")).is_err());
    }

    #[test]
    fn paths_join_the_base_and_keep_their_query() {
        let e = endpoints("http://127.0.0.1:9/prefix");
        for (path, joined) in [
            ("/insync/v1/users?x=1", "/insync/v1/users?x=1"),
            ("insync/v1/users", "/insync/v1/users"),
            // A URL in the query or a colon in the path stays a path.
            (
                "/insync/v1/users?next=https://evil.test/x",
                "/insync/v1/users?next=https://evil.test/x",
            ),
            ("/v1/users:batch", "/v1/users:batch"),
        ] {
            let expected = format!("http://127.0.0.1:9/prefix{joined}");
            assert_eq!(e.join(path).unwrap().as_str(), expected, "{path}");
        }
    }

    #[test]
    fn the_token_is_admitted_only_to_the_base_origin() {
        let e = endpoints("https://apis.example.test/prefix");
        for own in [
            "https://apis.example.test/a",
            "https://apis.example.test:443/other?x=1",
            "HTTPS://APIS.EXAMPLE.TEST/a",
        ] {
            assert!(e.admits_token(own), "{own}");
        }
        for foreign in [
            "https://evil.test/a",
            "http://apis.example.test/a",
            "https://apis.example.test:444/a",
            "https://apis.example.test.evil.test/a",
            "/insync/v1/users",
            "",
            "mailto:someone@apis.example.test",
        ] {
            assert!(!e.admits_token(foreign), "{foreign}");
        }
    }

    #[test]
    fn absolute_urls_must_share_the_origin() {
        let e = endpoints("https://apis.example.test");
        assert!(e.join("https://apis.example.test/a").is_ok());
        for foreign in [
            "https://evil.test/a",
            "http://apis.example.test/a",
            "https://apis.example.test:444/a",
            "//evil.test/a",
            "https:evil.test/a",
            "HTTPS://EVIL.test/a",
            "mailto:someone@apis.example.test",
            "javascript:alert(1)",
        ] {
            assert!(e.join(foreign).is_err(), "{foreign}");
        }
    }
}
