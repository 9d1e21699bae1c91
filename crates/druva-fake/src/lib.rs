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
//!
//! # Layers
//!
//! Each module uses only modules of the layers below it (none imports one
//! that imports it), from the bottom up:
//!
//! 1. Leaves: `config` ([`FakeConfig`], its defaults and ranges), `lock`,
//!    `request` ([`RequestKind`], [`RecordedRequest`]), `authorization` (the
//!    `Authorization` header read), `envelope` (Druva's error bodies), `data`
//!    (the synthetic data set), `tls`.
//! 2. `paging` on `config`; `filters` on `data` and `paging`; `faults` on
//!    `envelope`, `lock` and `request`; `tenant` on `config`, `data` and
//!    `lock`.
//! 3. `state`, what a server shares, on `faults`, `tenant` and the leaves.
//! 4. `handler` (what every API handler shares: the caller's tenant as an
//!    extractor, the query readers, the responses) and `token` (the token
//!    endpoints), on `state` and below.
//! 5. The handlers, one module a product: `insync`, `users`, `streams`,
//!    `reporting`, `msp`, `echo`, on `handler` and below.
//! 6. `api`, the router, on the handlers (and on `data`, whose item types
//!    pick the list `insync::list` serves).
//! 7. `dispatch`, the front door (counters, faults, the bearer check), on
//!    `api`, `token`, `handler`'s `Caller` and below.
//! 8. `server`, the connections, on `dispatch`, `state` and `tls`.
//! 9. This file: [`FakeServer`], on `server`, `state` and `config`.

mod api;
mod authorization;
mod config;
mod data;
mod dispatch;
mod echo;
mod envelope;
mod faults;
mod filters;
mod handler;
mod insync;
mod lock;
mod msp;
mod paging;
mod reporting;
mod request;
mod server;
mod state;
mod streams;
mod tenant;
mod tls;
mod token;
mod users;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use druva_core::errors::Result;
use druva_core::http::{ClientOptions, HttpClient};

pub use config::{
    whole_argument, CaughtUp, FakeConfig, Knob, LastPage, MAX_ADDED_EVENTS, MAX_CUSTOMERS,
    MAX_IN_FLIGHT, MAX_LATENCY, MAX_PAGE_SIZE, MAX_RATE_LIMIT, MAX_TOKEN_LIFETIME, MAX_TOTAL_USERS,
    MAX_TRACKER_TTL, MAX_USERS,
};
pub use faults::{Fault, FaultKind};
pub use request::{RecordedRequest, RequestKind};

use lock::lock;
use server::Running;
use state::Shared;

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
    /// client id, a size outside its range, see the `MAX_` constants); a
    /// transport error when the
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

    /// The token endpoint of the credential: `base_url() + "/token"`, or
    /// `base_url() + "/msp/auth/v1/token"` for an MSP one.
    pub fn token_url(&self) -> String {
        let path = if self.shared.msp {
            token::MSP_TOKEN_PATH
        } else {
            "/token"
        };
        format!("{}{path}", self.base_url)
    }

    /// The MSP's customer IDs in the order `/msp/v2/customers` lists them;
    /// empty without MSP.
    pub fn customer_ids(&self) -> Vec<String> {
        if !self.shared.msp {
            return Vec::new();
        }
        self.shared
            .tenants
            .iter()
            .map(|tenant| tenant.id.clone())
            .collect()
    }

    /// Appends `count` new events to the event streams (inSync v2, Platform
    /// v2 and v3, Cyber Resilience) of every tenant that has devices, each on
    /// a real device of a real user.
    ///
    /// # Errors
    ///
    /// A value error for a count outside 1 to [`MAX_ADDED_EVENTS`].
    pub fn add_events(&self, count: usize) -> Result<()> {
        Knob::ADDED_EVENTS.check(count)?;
        for tenant in &self.shared.tenants {
            tenant.data().add_events(count);
        }
        Ok(())
    }

    /// What a caught-up events v3 stream answers from now on.
    pub fn set_caught_up(&self, caught_up: CaughtUp) {
        *lock(&self.shared.caught_up) = caught_up;
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

    /// Requests received on a token endpoint (any path ending in `/token`,
    /// the MSP customer token exchange too), including refused and faulted ones.
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

/// A client for fake servers, as the fake's own tests use one: it trusts
/// `ca_bundle` (an HTTPS fake's [`FakeServer::ca_pem_path`]) beside the
/// system's roots, and ignores the proxy variables, so that loopback traffic
/// stays local.
///
/// # Errors
///
/// As [`ClientOptions::build`]: an unreadable `ca_bundle`, or TLS variables
/// that name a missing file.
pub fn loopback_client(ca_bundle: Option<&Path>) -> Result<HttpClient> {
    ClientOptions {
        ca_bundle: ca_bundle.map(Path::to_path_buf),
        proxy: Some(String::new()),
    }
    .build()
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
