//! What the integration tests share: a fake server to test against.

use druva_fake::{FakeConfig, FakeServer};

pub const USERS: &str = "/insync/usermanagement/v1/users";

/// A fake server, started or the test failed.
#[allow(clippy::unwrap_used)]
pub fn start(config: FakeConfig) -> FakeServer {
    FakeServer::start(config).unwrap()
}
