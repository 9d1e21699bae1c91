//! A fake Druva: a real HTTP(S) server on `127.0.0.1` that behaves like the
//! Druva REST APIs, for tests, benchmarks, the demo and users' offline tests.
//!
//! It follows the API facts of DESIGN.md: `POST /token` with HTTP Basic
//! credentials and a `grant_type=client_credentials` form, bearer checks (401
//! without a token, 403 for an unknown or expired one), a seeded synthetic
//! inSync data set with real pagination, Druva's error envelopes, fault
//! injection and counters of what it received.
//!
//! The server runs on its own small tokio runtime, never on the druva client
//! runtime, so a client under test cannot starve it (and the reverse).
//!
//! ```no_run
//! use std::time::Duration;
//! use druva_fake::{FakeConfig, FakeServer, Fault, FaultKind};
//!
//! let fake = FakeServer::start(FakeConfig {
//!     token_lifetime: Duration::from_secs(2),
//!     ..FakeConfig::default()
//! })?;
//! // Hand fake.token_url(), fake.client_id() and fake.secret() to the client.
//! fake.fail_next(Fault::status(503).times(2))?;
//! assert_eq!(fake.token_requests(), 0);
//! fake.stop();
//! # Ok::<(), druva_core::errors::Error>(())
//! ```

mod api;
mod data;
mod dispatch;
mod envelope;
mod faults;
mod paging;
mod server;
mod state;
mod tls;
mod token;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use druva_core::errors::{Error, Result};

pub use faults::{Fault, FaultKind};
pub use state::{RecordedRequest, RequestKind};

use server::Running;
use state::{lock, Shared};

/// The largest page Druva serves; a larger `pageSize` is capped to it.
pub const MAX_PAGE_SIZE: usize = 4097;

/// How the last page of a `nextPageToken` listing says that it is the last.
///
/// Druva is not consistent about it, and a client must accept all three, so
/// the fake server lets tests pick one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LastPage {
    /// The `nextPageToken` key is absent.
    Missing,
    /// `"nextPageToken": ""`.
    #[default]
    Empty,
    /// `"nextPageToken": null`.
    Null,
}

/// How to start a [`FakeServer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeConfig {
    /// The Client ID it accepts; a random one when `None`.
    pub client_id: Option<String>,
    /// The Secret Key it accepts; a random base64 one when `None`.
    pub secret: Option<String>,
    /// How long an issued token stays valid. Fractions of a second are honoured
    /// when checking tokens; `expires_in` carries the whole seconds.
    pub token_lifetime: Duration,
    /// How many synthetic users the data set has (each with one or two devices).
    pub users: usize,
    /// The page size used when a request has no `pageSize` (1 to 4097).
    pub page_size: usize,
    /// Serve HTTPS with a generated certificate for `127.0.0.1` and `localhost`.
    pub tls: bool,
    /// The port to listen on; `0` picks a free one.
    pub port: u16,
    /// Seeds the synthetic data set: the same seed gives the same data.
    pub seed: u64,
    /// How the last page of a listing is marked.
    pub last_page: LastPage,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            client_id: None,
            secret: None,
            token_lifetime: Duration::from_secs(1800),
            users: 250,
            page_size: 100,
            tls: false,
            port: 0,
            seed: 0,
            last_page: LastPage::Empty,
        }
    }
}

impl FakeConfig {
    fn validate(&self) -> Result<()> {
        if let Some(client_id) = &self.client_id {
            if client_id.is_empty() || client_id.contains(':') {
                return Err(Error::value(
                    "client_id must be non-empty and free of ':', which HTTP Basic cannot carry",
                ));
            }
        }
        if self.secret.as_deref() == Some("") {
            return Err(Error::value("secret must be non-empty"));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(Error::value(format!(
                "page_size must be between 1 and {MAX_PAGE_SIZE}, got {}",
                self.page_size
            )));
        }
        Ok(())
    }
}

/// A running fake Druva server. Stopping it (or dropping it) closes the
/// listener, lets in-flight requests finish for a moment, then ends every
/// connection and removes the generated TLS files.
pub struct FakeServer {
    shared: Arc<Shared>,
    base_url: String,
    port: u16,
    ca_pem_path: Option<PathBuf>,
    running: Mutex<Option<Running>>,
}

impl FakeServer {
    /// Starts a server on `127.0.0.1` and returns once it is listening.
    ///
    /// # Errors
    ///
    /// A value error for a bad configuration (an empty secret, a `:` in the
    /// client id, a page size outside 1 to 4097); a transport error when the
    /// port is taken or the runtime or certificates cannot be set up.
    #[allow(clippy::needless_pass_by_value)] // a config is built to be handed over
    pub fn start(config: FakeConfig) -> Result<FakeServer> {
        config.validate()?;
        let shared = Arc::new(Shared::new(&config));
        let tls = if config.tls {
            Some(tls::generate()?)
        } else {
            None
        };
        let ca_pem_path = tls.as_ref().map(|material| material.ca_pem_path.clone());
        let running = server::start(config.port, Arc::clone(&shared), tls)?;
        let scheme = if config.tls { "https" } else { "http" };
        let port = running.port;
        Ok(FakeServer {
            shared,
            base_url: format!("{scheme}://127.0.0.1:{port}"),
            port,
            ca_pem_path,
            running: Mutex::new(Some(running)),
        })
    }

    /// `http://127.0.0.1:PORT`, or `https://127.0.0.1:PORT` with TLS.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The token endpoint: `base_url() + "/token"`.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.base_url)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The Client ID the token endpoint accepts.
    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    /// The Secret Key the token endpoint accepts.
    pub fn secret(&self) -> &str {
        &self.shared.secret
    }

    /// Requests received on a token endpoint (any path ending in `/token`),
    /// including refused and faulted ones.
    pub fn token_requests(&self) -> u64 {
        self.shared.token_requests()
    }

    /// Requests received on every other path, including refused and faulted ones.
    pub fn api_requests(&self) -> u64 {
        self.shared.api_requests()
    }

    /// The most recent requests (up to 10 000), oldest first. Records carry the
    /// authorization scheme only, never a credential or a token.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// Sets both counters to zero and forgets the recorded requests.
    pub fn reset_counters(&self) {
        self.shared.reset_counters();
    }

    /// Queues a fault for the next matching requests. Faults apply in the order
    /// they were queued; a request takes at most one.
    ///
    /// # Errors
    ///
    /// A value error for a fault the server could not send: a count of 0, a
    /// status outside 200 to 599 (300 to 399 for a redirect), or a
    /// `Retry-After` or `Location` that is not a valid header value.
    pub fn fail_next(&self, fault: Fault) -> Result<()> {
        self.shared.faults.push(fault)
    }

    /// Forgets every queued fault.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Every token issued so far is now refused with 403; new ones work.
    pub fn expire_tokens(&self) {
        self.shared.expire_tokens();
    }

    /// The lifetime of tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        *lock(&self.shared.token_lifetime) = lifetime;
    }

    /// How the last page of listings is marked from now on.
    pub fn set_last_page(&self, last_page: LastPage) {
        *lock(&self.shared.last_page) = last_page;
    }

    /// The PEM file of the CA that signed the server certificate (TLS only),
    /// for `ca_bundle`. It is removed when the server stops.
    pub fn ca_pem_path(&self) -> Option<&Path> {
        self.ca_pem_path.as_deref()
    }

    /// Whether the server is still serving.
    pub fn is_running(&self) -> bool {
        lock(&self.running).is_some()
    }

    /// Stops the server: graceful for a moment, then abrupt. Idempotent.
    pub fn stop(&self) {
        let running = lock(&self.running).take();
        if let Some(running) = running {
            running.stop();
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for FakeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeServer")
            .field("base_url", &self.base_url)
            .field("client_id", &self.shared.client_id)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}
