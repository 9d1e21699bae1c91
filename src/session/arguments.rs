//! A session's constructor arguments, typed, into the core's session.

use std::sync::Arc;

use pyo3::prelude::*;

use crate::args::{self, Path, Scope, TokenParams};
use crate::errors::Result;
use druva_core::config;
use druva_core::session::{Session, SessionConfig, SessionOptions};
use druva_core::store::StoreHandle;

/// A session's arguments as Python passed them, typed.
pub(super) struct SessionArguments<'a> {
    pub(super) client_id: &'a Bound<'a, PyAny>,
    pub(super) secret: &'a Bound<'a, PyAny>,
    pub(super) region: &'a str,
    pub(super) base_url: Option<&'a str>,
    pub(super) token_url: Option<&'a str>,
    pub(super) scope: Option<Scope>,
    pub(super) timeout: f64,
    pub(super) max_retries: i128,
    pub(super) leeway: f64,
    pub(super) ca_bundle: Option<Path>,
    pub(super) proxy: Option<&'a str>,
    pub(super) max_response_bytes: i128,
    pub(super) rate_limit_wait: f64,
    pub(super) max_concurrency: Option<i128>,
    pub(super) msp: bool,
    pub(super) token_cache: Option<StoreHandle>,
    pub(super) client_auth: &'a str,
    pub(super) token_params: Option<TokenParams>,
}

impl SessionArguments<'_> {
    pub(super) fn into_session(self) -> Result<Arc<Session>> {
        let client_id = args::text(self.client_id, "client_id")?;
        let secret = args::text(self.secret, "secret")?;
        let options = SessionOptions {
            region: Some(self.region.to_owned()),
            base_url: self.base_url.map(str::to_owned),
            token_url: self.token_url.map(str::to_owned),
            scope: self.scope.map(|scope| scope.0),
            timeout: Some(config::seconds_argument("timeout", self.timeout, false)?),
            max_retries: Some(config::count_argument("max_retries", self.max_retries)?),
            leeway: Some(config::seconds_argument("leeway", self.leeway, true)?),
            ca_bundle: self.ca_bundle.map(|path| path.0),
            proxy: self.proxy.map(str::to_owned),
            max_response_bytes: Some(config::response_limit_argument(self.max_response_bytes)?),
            rate_limit_wait: Some(config::seconds_argument(
                "rate_limit_wait",
                self.rate_limit_wait,
                true,
            )?),
            max_concurrency: config::concurrency_argument("max_concurrency", self.max_concurrency)?,
            msp: self.msp,
            token_cache: self.token_cache,
            client_auth: Some(self.client_auth.to_owned()),
            token_params: self.token_params.map(|params| params.0).unwrap_or_default(),
        };
        let config = SessionConfig::new(&client_id, &secret, options)?;
        // Building the client reads `ca_bundle`, which may block (a FIFO, a
        // network drive): never with the GIL held.
        let session = self.client_id.py().detach(|| Session::new(config));
        Ok(Arc::new(session?))
    }
}
