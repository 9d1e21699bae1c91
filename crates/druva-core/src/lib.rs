//! The core of `druva`: OAuth 2.0 client-credentials tokens for the Druva REST
//! APIs, a process-wide single-flight token cache, and authenticated sessions
//! with retries and paging.
//!
//! Every default, policy and state machine lives here once, for the sync and
//! async Python APIs alike; the binding (the `druva` crate) only converts
//! types. This crate knows nothing of Python and nothing of the fake server:
//! `cargo tree -p druva-core` shows neither pyo3 nor a server framework.

pub mod cache;
pub mod client_auth;
pub mod config;
pub mod deadline;
pub mod directory;
pub mod endpoint;
pub mod errors;
pub mod grant;
pub mod http;
pub mod limit;
pub mod logging;
pub mod pager;
pub mod paginate;
pub mod redact;
pub mod response;
pub mod retry;
pub mod runtime;
pub mod seal;
pub mod session;
pub mod store;
pub mod token;
