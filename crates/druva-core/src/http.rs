//! HTTP clients and the one place a request is sent and its response read.
//!
//! Clients (and their connection pools) are bound to the process that built
//! them and to the TLS and proxy options they were built with. TLS is rustls
//! with the `ring` provider and the platform verifier, which reads the system
//! roots and honours `SSL_CERT_FILE` / `SSL_CERT_DIR`; `ca_bundle` adds roots.
//! Proxies come from `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY`
//! unless `proxy` overrides them. Redirects are followed up to ten hops, and
//! reqwest drops `Authorization` on any hop that leaves the origin.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::{Duration, Instant};

use reqwest::Client;

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

static INSTALL_CRYPTO_PROVIDER: Once = Once::new();

fn install_crypto_provider() {
    INSTALL_CRYPTO_PROVIDER.call_once(|| {
        // Another library in the process may have installed its provider first;
        // rustls then uses that one, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl ClientOptions {
    /// Builds a new client with its own connection pool.
    pub fn build(&self) -> Result<Client> {
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
        match self.proxy.as_deref() {
            None => {}
            Some("") => builder = builder.no_proxy(),
            Some(proxy) => {
                let proxy = reqwest::Proxy::all(proxy).map_err(|_| {
                    Error::value(format!(
                        "proxy {:?} is not a valid proxy URL; pass e.g. \"http://proxy.example:3128\"",
                        redact_userinfo(proxy)
                    ))
                })?;
                builder = builder.proxy(proxy);
            }
        }
        builder.build().map_err(|error| Error::Transport {
            message: format!("could not set up the HTTP client: {error}"),
        })
    }

    /// A client shared by every caller with these options in this process
    /// (used for token requests made outside a session).
    pub fn shared_client(&self) -> Result<Client> {
        static CLIENTS: PerProcess<Arc<Mutex<HashMap<ClientOptions, Client>>>> = PerProcess::new();
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

fn read_ca_bundle(path: &PathBuf) -> Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path).map_err(|error| {
        Error::value(format!(
            "ca_bundle {} could not be read: {error}",
            path.display()
        ))
    })?;
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

/// A proxy URL with any `user:password@` replaced, for messages.
fn redact_userinfo(proxy: &str) -> String {
    match proxy.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => proxy.to_owned(),
        },
        None => proxy.to_owned(),
    }
}

/// Sends a request and reads the whole response, bounded in size and time.
/// `what` names the request in error messages ("token request", "GET /path").
pub async fn send(
    request: reqwest::RequestBuilder,
    method: &str,
    what: &str,
    timeout: Duration,
    max_response_bytes: u64,
) -> Result<Response> {
    let started = Instant::now();
    let mut response = request
        .timeout(timeout)
        .send()
        .await
        .map_err(|error| Error::from_reqwest(&error, what, timeout))?;
    let status_code = response.status().as_u16();
    let headers = std::mem::take(response.headers_mut());
    let url = response.url().clone();
    let too_large = || {
        Error::protocol(format!(
            "{what}: the response body is larger than max_response_bytes ({max_response_bytes} bytes)"
        ))
    };
    let content = match response.content_length() {
        Some(length) if length > max_response_bytes => return Err(too_large()),
        // hyper stops at the declared length, so the limit holds; reqwest
        // then hands over a body of one chunk without copying it.
        Some(_) => response
            .bytes()
            .await
            .map_err(|error| Error::from_reqwest(&error, what, timeout))?,
        None => read_chunked(&mut response, max_response_bytes, what, timeout)
            .await?
            .ok_or_else(too_large)?,
    };
    Ok(Response {
        method: method.to_owned(),
        status_code,
        headers,
        url,
        content,
        elapsed: started.elapsed(),
        fresh_token_refused: false,
    })
}

/// Reads a body of unknown length, refusing it past `max_response_bytes`
/// (`None`) without holding more than that.
async fn read_chunked(
    response: &mut reqwest::Response,
    max_response_bytes: u64,
    what: &str,
    timeout: Duration,
) -> Result<Option<bytes::Bytes>> {
    let mut content = bytes::BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| Error::from_reqwest(&error, what, timeout))?
    {
        if (content.len() + chunk.len()) as u64 > max_response_bytes {
            return Ok(None);
        }
        content.extend_from_slice(&chunk);
    }
    Ok(Some(content.freeze()))
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

    #[test]
    fn clients_are_shared_per_options() {
        let options = ClientOptions::default();
        assert!(options.shared_client().is_ok());
        assert!(options.shared_client().is_ok());
    }
}
