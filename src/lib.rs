//! The Rust core of `druva`: OAuth 2.0 client-credentials tokens for the Druva
//! REST APIs, a process-wide single-flight token cache, authenticated sessions
//! with retries and paging, and a fake Druva server for tests.
//!
//! The core does not depend on Python; the `python` feature adds the binding
//! layer that maturin builds into `druva._druva`.

#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod cache;
pub mod endpoint;
pub mod errors;
pub mod fake;
pub mod http;
pub mod logging;
pub mod paginate;
pub mod response;
pub mod retry;
pub mod runtime;
pub mod session;
pub mod token;

#[cfg(feature = "python")]
mod python;
