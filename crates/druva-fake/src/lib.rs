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
mod filters;
mod insync;
mod msp;
mod paging;
mod reporting;
mod server;
mod state;
mod streams;
mod tenant;
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

/// The most users a data set (one tenant's) may have.
pub const MAX_USERS: usize = 100_000;

/// The most customers an MSP fake may have.
pub const MAX_CUSTOMERS: usize = 100;

/// The most users all of an MSP fake's customers may have together.
pub const MAX_TOTAL_USERS: usize = 1_000_000;

/// The longest `latency` (a WAN round trip is well below it).
pub const MAX_LATENCY: Duration = Duration::from_secs(60);

/// The highest `max_in_flight`.
pub const MAX_IN_FLIGHT: usize = 100_000;

/// The most events one [`FakeServer::add_events`] call may add.
pub const MAX_ADDED_EVENTS: usize = 100_000;

/// The longest token lifetime: a year.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// Checks a whole-number argument `name` against its allowed range, for
/// callers (the Python binding) whose numbers can be anything.
pub fn whole_argument(name: &str, value: i128, min: u64, max: u64) -> Result<u64> {
    u64::try_from(value)
        .ok()
        .filter(|value| (min..=max).contains(value))
        .ok_or_else(|| {
            let shown = if value.unsigned_abs() > u128::from(u64::MAX) {
                if value < 0 {
                    "a huge negative number".to_owned()
                } else {
                    "a huge number".to_owned()
                }
            } else {
                value.to_string()
            };
            Error::value(format!(
                "{name} must be between {min} and {max}, not {shown}"
            ))
        })
}

/// What a caught-up Platform events v3 stream answers: an empty page with a
/// token, either the token it was sent or a new one. Druva documents neither
/// (see docs/druva-api.md); a client must end the list on both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CaughtUp {
    /// The empty page carries the token it was asked with.
    #[default]
    SameToken,
    /// The empty page carries a new token for the same place.
    NewToken,
}
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
    /// Added before every response (0 to 60 s).
    pub latency: Duration,
    /// API requests beyond this many in flight at once get 429 without
    /// `Retry-After` (1 to 100 000); token requests are never refused so.
    pub max_in_flight: Option<usize>,
    /// The credential is an MSP one: its token comes from
    /// `/msp/auth/v1/token`, and each customer has a data set.
    pub msp: bool,
    /// How many customers an MSP has (1 to 100; with two or more, the last is
    /// hollow). Ignored without `msp`.
    pub customers: usize,
    /// What a caught-up events v3 stream answers.
    pub caught_up: CaughtUp,
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
            latency: Duration::ZERO,
            max_in_flight: None,
            msp: false,
            customers: 3,
            caught_up: CaughtUp::SameToken,
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
        check_range("page_size", self.page_size, 1, MAX_PAGE_SIZE)?;
        check_range("users", self.users, 0, MAX_USERS)?;
        check_range("customers", self.customers, 1, MAX_CUSTOMERS)?;
        if self.msp && self.users.saturating_mul(self.customers) > MAX_TOTAL_USERS {
            return Err(Error::value(format!(
                "users multiplied by customers must be at most {MAX_TOTAL_USERS}, got {} × {}",
                self.users, self.customers
            )));
        }
        if self.token_lifetime.is_zero() || self.token_lifetime > MAX_TOKEN_LIFETIME {
            return Err(Error::value(format!(
                "token_lifetime must be more than 0 s and at most {} s, got {:?}",
                MAX_TOKEN_LIFETIME.as_secs(),
                self.token_lifetime
            )));
        }
        if self.latency > MAX_LATENCY {
            return Err(Error::value(format!(
                "latency must be between 0 and {} s, got {:?}",
                MAX_LATENCY.as_secs(),
                self.latency
            )));
        }
        if let Some(limit) = self.max_in_flight {
            check_range("max_in_flight", limit, 1, MAX_IN_FLIGHT)?;
        }
        Ok(())
    }
}

fn check_range(name: &str, value: usize, min: usize, max: usize) -> Result<()> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(Error::value(format!(
            "{name} must be between {min} and {max}, got {value}"
        )))
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

    /// Appends `count` new events to the event streams (v2 and v3) of every
    /// tenant that has devices, each on a real device of a real user.
    ///
    /// # Errors
    ///
    /// A value error for a count outside 1 to [`MAX_ADDED_EVENTS`].
    pub fn add_events(&self, count: usize) -> Result<()> {
        check_range("count", count, 1, MAX_ADDED_EVENTS)?;
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
