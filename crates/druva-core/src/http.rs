//! HTTP clients and the one place a request is sent and its response read.
//!
//! Clients (and their connection pools) are bound to the process that built
//! them and to the TLS and proxy options they were built with. TLS is rustls
//! with the `ring` provider and the platform verifier, which reads the system
//! roots and honours `SSL_CERT_FILE` / `SSL_CERT_DIR`; `ca_bundle` adds roots.
//! Proxies come from `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY`
//! unless `proxy` overrides them, and never see a request to a loopback host:
//! plain `http://` is allowed only because it stays on the machine. The
//! environment is read, and checked, when a client is built. Redirects are
//! followed up to ten hops, and reqwest drops `Authorization` on any hop that
//! leaves the origin.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::{Client, ClientBuilder, Proxy};
use url::Url;

use crate::deadline::Deadline;
use crate::endpoint;
use crate::errors::{Error, Result};
use crate::response::Response;
use crate::runtime::PerProcess;

/// How a client reaches servers: extra trusted roots and an explicit proxy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClientOptions {
    /// A PEM file of certificates to trust in addition to the system roots.
    pub ca_bundle: Option<PathBuf>,
    /// A proxy URL for every request, overriding the environment; `""` disables proxies.
    pub proxy: Option<String>,
}

static CRYPTO_PROVIDER_INSTALLED: AtomicBool = AtomicBool::new(false);

/// Installs rustls's provider once. A flag, not a `Once`: a `Once` left
/// running by a thread of the parent at a fork would block the child.
/// Two threads may both install; rustls keeps the first.
fn install_crypto_provider() {
    if CRYPTO_PROVIDER_INSTALLED.load(Ordering::Acquire) {
        return;
    }
    // Another library in the process may have installed its provider first;
    // rustls then uses that one, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    CRYPTO_PROVIDER_INSTALLED.store(true, Ordering::Release);
}

/// A client with its connection pool, and the proxy given as `proxy=` if
/// any: the one a failed connection is named by, since reqwest's error
/// names only the server the request was for.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: Client,
    proxy: Option<Arc<GivenProxy>>,
}

/// A proxy given as `proxy=`, and how messages show it (credentials masked).
#[derive(Debug)]
struct GivenProxy {
    shown: String,
}

impl std::ops::Deref for HttpClient {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl HttpClient {
    /// The given proxy that a request to `url` goes through, as messages
    /// show it: every request but plain `http://` to a loopback host. `None`
    /// for the environment's proxies, whose `NO_PROXY` reqwest applies.
    fn proxy_for(&self, url: Option<&Url>) -> Option<&str> {
        let proxy = self.proxy.as_deref()?;
        let direct = url.is_some_and(|url| url.scheme() == "http" && endpoint::is_loopback(url));
        (!direct).then_some(proxy.shown.as_str())
    }
}

impl ClientOptions {
    /// Builds a new client with its own connection pool.
    pub fn build(&self) -> Result<HttpClient> {
        install_crypto_provider();
        let mut builder = Client::builder()
            .http1_title_case_headers()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(50))
            .connect_timeout(Duration::from_secs(30))
            .user_agent(concat!("druva-python/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &self.ca_bundle {
            builder = builder.tls_certs_merge(read_ca_bundle(path)?);
        }
        check_tls_environment()?;
        let (proxies, given) = match self.proxy.as_deref() {
            Some("") => (Proxies::default(), None),
            Some(proxy) => (
                Proxies::everything_through(proxy_url(proxy, "the proxy argument")?),
                Some(Arc::new(GivenProxy {
                    shown: redact_userinfo(proxy.trim()),
                })),
            ),
            None => (Proxies::from_environment()?, None),
        };
        let client = proxies
            .apply(builder.redirect(redirect_policy()))?
            .build()
            .map_err(|error| Error::Transport {
                // reqwest's own words are only "builder error"; the cause
                // ("No CA certificates were loaded from the system") says more.
                message: format!(
                    "could not set up the HTTP client: {}; check SSL_CERT_FILE, SSL_CERT_DIR \
                     and ca_bundle",
                    root_cause(&error)
                ),
            })?;
        Ok(HttpClient {
            client,
            proxy: given,
        })
    }

    /// A client shared by every caller with these options in this process
    /// (used for token requests made outside a session).
    pub fn shared_client(&self) -> Result<HttpClient> {
        static CLIENTS: PerProcess<Arc<Mutex<HashMap<ClientOptions, HttpClient>>>> =
            PerProcess::new();
        let clients = CLIENTS.get_or_try_init(|| Ok(Arc::default()))?;
        let mut clients = clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = clients.get(self) {
            return Ok(client.clone());
        }
        let client = self.build()?;
        clients.insert(self.clone(), client.clone());
        Ok(client)
    }
}

/// The largest `ca_bundle` read: system bundles are a few hundred kilobytes,
/// so more is the wrong file (or an endless one, such as `/dev/zero`).
const MAX_CA_BUNDLE_BYTES: u64 = 16 * 1024 * 1024;

fn read_ca_bundle(path: &PathBuf) -> Result<Vec<reqwest::Certificate>> {
    use std::io::Read;
    let unreadable = |error: std::io::Error| {
        Error::value(format!(
            "ca_bundle {} could not be read: {error}",
            path.display()
        ))
    };
    let mut pem = Vec::new();
    open_regular_file(path)
        .map_err(unreadable)?
        .ok_or_else(|| {
            Error::value(format!(
                "ca_bundle {} is not a regular file (a FIFO, a device or a directory); \
                 pass a PEM file of CA certificates",
                path.display()
            ))
        })?
        .take(MAX_CA_BUNDLE_BYTES + 1)
        .read_to_end(&mut pem)
        .map_err(unreadable)?;
    if pem.len() as u64 > MAX_CA_BUNDLE_BYTES {
        return Err(Error::value(format!(
            "ca_bundle {} is larger than {} MiB: pass a PEM file of CA certificates",
            path.display(),
            MAX_CA_BUNDLE_BYTES / (1024 * 1024)
        )));
    }
    let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| {
        Error::value(format!(
            "ca_bundle {} is not a PEM file of certificates",
            path.display()
        ))
    })?;
    if certificates.is_empty() {
        return Err(Error::value(format!(
            "ca_bundle {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certificates)
}

/// Opens `path` if it is a regular file, `None` if it is anything else. A
/// FIFO would block the open and every read until a writer came, beyond the
/// reach of Ctrl-C; it is opened without blocking (unix) and refused, as is a
/// device, whose reads may never end.
fn open_regular_file(path: &PathBuf) -> std::io::Result<Option<std::fs::File>> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    Ok(file.metadata()?.is_file().then_some(file))
}

/// The loopback hosts of [`crate::endpoint::is_loopback`] in `NO_PROXY`
/// form (a domain entry also covers its subdomains).
const LOOPBACK_HOSTS: &str = "127.0.0.0/8, ::1, localhost, localhost.";

/// The proxy schemes reqwest can use as this crate builds it (without its
/// `socks` feature).
const PROXY_SCHEMES: &str = "http and https";

/// Where requests go through a proxy: one for `http://` destinations, one
/// for `https://`, both bypassed for the `NO_PROXY` hosts and loopback;
/// an explicit proxy also takes `https://` loopback (plain `http://`
/// loopback never goes through a proxy).
#[derive(Default)]
struct Proxies {
    http: Option<Url>,
    https: Option<Url>,
    no_proxy: String,
    https_loopback: bool,
}

impl Proxies {
    fn everything_through(proxy: Url) -> Self {
        Proxies {
            http: Some(proxy.clone()),
            https: Some(proxy),
            no_proxy: String::new(),
            https_loopback: true,
        }
    }

    /// The proxies of the environment, read as reqwest reads them (the
    /// upper-case name first; `HTTP_PROXY` / `HTTPS_PROXY` before
    /// `ALL_PROXY`; a value without a scheme is an `http://` proxy), but a
    /// value reqwest would silently skip is an error here.
    fn from_environment() -> Result<Self> {
        // Under CGI, HTTP_PROXY may come from a request's `Proxy:` header
        // ("httpoxy"): reqwest ignores every proxy variable then, as does this.
        if std::env::var_os("REQUEST_METHOD").is_some() {
            return Ok(Proxies::default());
        }
        let all = proxy_variable(["ALL_PROXY", "all_proxy"])?;
        let http = proxy_variable(["HTTP_PROXY", "http_proxy"])?.or_else(|| all.clone());
        let https = proxy_variable(["HTTPS_PROXY", "https_proxy"])?.or(all);
        let no_proxy = environment_variable(["NO_PROXY", "no_proxy"])?
            .map(|(_, value)| value)
            .unwrap_or_default();
        Ok(Proxies {
            http,
            https,
            no_proxy,
            https_loopback: false,
        })
    }

    fn apply(self, builder: ClientBuilder) -> Result<ClientBuilder> {
        if self.http.is_none() && self.https.is_none() {
            return Ok(builder.no_proxy());
        }
        let bypass = |loopback: bool| {
            let hosts = if loopback {
                format!("{}, {LOOPBACK_HOSTS}", self.no_proxy)
            } else {
                self.no_proxy.clone()
            };
            reqwest::NoProxy::from_string(&hosts)
        };
        let refused = |error: reqwest::Error| {
            Error::value(format!("the proxy cannot be used: {}", root_cause(&error)))
        };
        let mut builder = builder;
        if let Some(url) = self.http {
            builder = builder.proxy(Proxy::http(url).map_err(refused)?.no_proxy(bypass(true)));
        }
        if let Some(url) = self.https {
            let bypassed = bypass(!self.https_loopback);
            builder = builder.proxy(Proxy::https(url).map_err(refused)?.no_proxy(bypassed));
        }
        Ok(builder)
    }
}

/// The first of `names` that is set, with its value.
fn environment_variable(names: [&'static str; 2]) -> Result<Option<(&'static str, String)>> {
    for name in names {
        match std::env::var(name) {
            Ok(value) => return Ok(Some((name, value))),
            Err(std::env::VarError::NotPresent) => {}
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(Error::value(format!(
                    "the environment variable {name} is not valid UTF-8; fix or unset it"
                )))
            }
        }
    }
    Ok(None)
}

/// A proxy variable's URL; blank is unset. A value without a scheme is an
/// `http://` proxy, as curl and reqwest read it.
fn proxy_variable(names: [&'static str; 2]) -> Result<Option<Url>> {
    let Some((name, value)) = environment_variable(names)? else {
        return Ok(None);
    };
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let what = format!("the environment variable {name}");
    if value.contains("://") {
        proxy_url(value, &what).map(Some)
    } else {
        proxy_url(&format!("http://{value}"), &what).map(Some)
    }
}

/// Checks a proxy URL given as `what`: its scheme one reqwest can use, a host.
/// Messages show the URL with its credentials masked.
fn proxy_url(proxy: &str, what: &str) -> Result<Url> {
    let shown = redact_userinfo(proxy.trim());
    let url = Url::parse(proxy.trim()).ok().filter(Url::has_host);
    match url {
        Some(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
        _ if !proxy.contains("://") => Err(Error::value(format!(
            "{what} {shown:?} has no scheme; write it as \"http://{shown}\" \
             (the accepted schemes are {PROXY_SCHEMES})"
        ))),
        Some(url) => Err(Error::value(format!(
            "{what} {shown:?} has the scheme {:?}, which druva cannot use \
             (SOCKS proxies are not supported); the accepted schemes are {PROXY_SCHEMES}",
            url.scheme()
        ))),
        None => Err(Error::value(format!(
            "{what} {shown:?} is not a valid proxy URL; pass e.g. \"http://proxy.example:3128\" \
             (the accepted schemes are {PROXY_SCHEMES})"
        ))),
    }
}

/// A proxy URL with any `user:password@` replaced, for messages.
fn redact_userinfo(proxy: &str) -> String {
    let (scheme, rest) = match proxy.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), proxy),
    };
    match rest.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}***@{host}"),
        None => proxy.to_owned(),
    }
}

/// Where the platform verifier reads `SSL_CERT_FILE` / `SSL_CERT_DIR` (it
/// then trusts only them), a path that is not there is a mistake to report
/// now: otherwise it is silently skipped, or, with nothing left to trust,
/// the client fails to build with a bare "builder error".
fn check_tls_environment() -> Result<()> {
    if !cfg!(all(
        unix,
        not(target_os = "android"),
        not(target_vendor = "apple")
    )) {
        return Ok(());
    }
    if let Some(file) = std::env::var_os("SSL_CERT_FILE").filter(|file| !file.is_empty()) {
        let path = PathBuf::from(file);
        if !path.is_file() {
            return Err(Error::value(format!(
                "the environment variable SSL_CERT_FILE names {}, which is not a file; \
                 point it at a PEM file of CA certificates, or unset it",
                path.display()
            )));
        }
    }
    if let Some(dirs) = std::env::var_os("SSL_CERT_DIR") {
        for dir in std::env::split_paths(&dirs).filter(|dir| !dir.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(Error::value(format!(
                    "the environment variable SSL_CERT_DIR names {}, which is not a directory; \
                     point it at a directory of CA certificates, or unset it",
                    dir.display()
                )));
            }
        }
    }
    Ok(())
}

/// The innermost cause of an error chain.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

tokio::task_local! {
    /// Set by the redirect policy when a hop of the request being sent left
    /// the origin of the one before it.
    static LEFT_ORIGIN: Cell<bool>;
}

/// The redirects a client follows: up to 10 hops, as reqwest's default, and
/// a note (for [`send`]) when a hop leaves its origin, since reqwest then
/// drops the `Authorization` header for the rest of the chain.
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error("too many redirects");
        }
        let left = attempt
            .previous()
            .last()
            .is_some_and(|previous| previous.origin() != attempt.url().origin());
        if left {
            let _ = LEFT_ORIGIN.try_with(|flag| flag.set(true));
        }
        attempt.follow()
    })
}

const MAX_REDIRECTS: usize = 10;

/// Sends a request and reads the whole response, bounded in size and by the
/// call's `deadline`. `what` names the request in error messages ("token
/// request", "GET /path"), which give the call's timeout; `client` is the
/// one `request` was built with.
pub async fn send(
    client: &HttpClient,
    request: reqwest::RequestBuilder,
    method: &str,
    what: &str,
    deadline: Deadline,
    max_response_bytes: u64,
) -> Result<Response> {
    let started = Instant::now();
    let timeout = deadline.timeout();
    let (sent, left_origin) = LEFT_ORIGIN
        .scope(Cell::new(false), async {
            let sent = request.timeout(deadline.remaining()).send().await;
            (sent, LEFT_ORIGIN.with(Cell::get))
        })
        .await;
    let mut response = sent.map_err(|error| {
        let proxy = client.proxy_for(error.url());
        Error::from_reqwest(&error, what, timeout, proxy)
    })?;
    let status_code = response.status().as_u16();
    let headers = std::mem::take(response.headers_mut());
    let url = response.url().clone();
    let too_large = || {
        Error::protocol(format!(
            "{what}: the response body is larger than max_response_bytes ({max_response_bytes} bytes)"
        ))
    };
    let declared = response.content_length();
    if declared.is_some_and(|length| length > max_response_bytes) {
        return Err(too_large());
    }
    let content = read_body(&mut response, declared, max_response_bytes, what, timeout)
        .await?
        .ok_or_else(too_large)?;
    Ok(Response {
        method: method.to_owned(),
        status_code,
        headers,
        url,
        content,
        elapsed: started.elapsed(),
        fresh_token_refused: false,
        left_origin,
    })
}

/// The most of a body's declared length reserved before it has come; past
/// it the buffer grows as the body does.
const RESERVED_AHEAD: usize = 16 << 20;

/// Reads a body, refusing it past `max_response_bytes` (`None`) without
/// holding more than that. A body of one chunk is handed over as it came; a
/// longer one is copied chunk by chunk into one buffer, made at the
/// `declared` length when there is one (hyper stops there; up to
/// [`RESERVED_AHEAD`]), so each chunk is
/// freed once copied and the body is never held twice over (collecting the
/// chunks first and joining them would be, for a moment: with the page after
/// arriving while one is decoded, that was a page more at the peak).
async fn read_body(
    response: &mut reqwest::Response,
    declared: Option<u64>,
    max_response_bytes: u64,
    what: &str,
    timeout: Duration,
) -> Result<Option<bytes::Bytes>> {
    let declared = declared.map_or(0, |length| usize::try_from(length).unwrap_or(0));
    // The first chunk as it came, while it is the only one.
    let mut only: Option<bytes::Bytes> = None;
    let mut content = bytes::BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| Error::from_reqwest(&error, what, timeout, None))?
    {
        let held = content.len() + only.as_ref().map_or(0, bytes::Bytes::len);
        if (held + chunk.len()) as u64 > max_response_bytes {
            return Ok(None);
        }
        if only.is_none() && content.is_empty() {
            only = Some(chunk);
            continue;
        }
        if let Some(first) = only.take() {
            // The declared length, up to a bound: a server that declares
            // 100 MiB and stalls is not given it all ahead.
            let received = held + chunk.len();
            content.reserve(declared.min(RESERVED_AHEAD).max(received));
            content.extend_from_slice(&first);
        }
        content.extend_from_slice(&chunk);
    }
    Ok(Some(only.unwrap_or_else(|| content.freeze())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_credentials_are_redacted_in_messages() {
        assert_eq!(
            redact_userinfo("http://user:pw@proxy:3128"),
            "http://***@proxy:3128"
        );
        assert_eq!(redact_userinfo("http://proxy:3128"), "http://proxy:3128");
        assert_eq!(redact_userinfo("user:pw@proxy:3128"), "***@proxy:3128");
    }

    #[test]
    fn proxy_urls_need_a_scheme_reqwest_can_use() {
        for good in [
            "http://proxy:3128",
            "https://proxy",
            "http://u:p@[::1]:8080/",
        ] {
            assert!(proxy_url(good, "proxy").is_ok(), "{good}");
        }
        for (bad, says) in [
            ("htp://proxy:3128", "scheme \"htp\""),
            ("socks5://proxy:1080", "SOCKS proxies are not supported"),
            ("socks9://proxy", "scheme \"socks9\""),
            ("proxy.example:3128", "has no scheme"),
            ("http://", "not a valid proxy URL"),
        ] {
            let error = proxy_url(bad, "the proxy argument")
                .unwrap_err()
                .to_string();
            assert!(error.contains(says), "{error}");
            assert!(error.contains("the proxy argument"), "{error}");
            assert!(error.contains("http and https"), "{error}");
        }
        let error = proxy_url("htp://user:secret@proxy", "proxy")
            .unwrap_err()
            .to_string();
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn a_missing_ca_bundle_is_a_value_error() {
        let options = ClientOptions {
            ca_bundle: Some(PathBuf::from("/nonexistent/ca.pem")),
            proxy: None,
        };
        let error = options.build().unwrap_err();
        assert!(error.to_string().contains("could not be read"));
    }

    #[cfg(unix)]
    #[test]
    fn a_ca_bundle_that_is_not_a_regular_file_is_refused_without_blocking() {
        for path in ["/dev/null", "/"] {
            let options = ClientOptions {
                ca_bundle: Some(PathBuf::from(path)),
                proxy: None,
            };
            let error = options.build().unwrap_err();
            assert!(matches!(error, Error::InvalidArgument { .. }), "{error}");
            assert!(error.to_string().contains("not a regular file"), "{error}");
        }
    }

    #[test]
    fn clients_are_shared_per_options() {
        let options = ClientOptions::default();
        assert!(options.shared_client().is_ok());
        assert!(options.shared_client().is_ok());
    }
}
