//! Every default a caller can override, in one place.
//!
//! [`with_defaults!`](crate::with_defaults) hands the defaults, as literal
//! tokens, to a macro of the caller's: the binding uses it to write them into
//! its Python signatures (so `help()`, `inspect.signature` and stubtest see
//! the real values), and this module uses it to define the constants that the
//! core runs with. Changing a default here changes both.

use std::time::Duration;

/// Calls `$callback! { name = literal, ... }` with every default.
///
/// `region` is the Druva cloud; durations are seconds (floats);
/// `max_response_bytes` is 100 MiB.
#[macro_export]
macro_rules! with_defaults {
    ($callback:ident) => {
        $callback! {
            region = "cloud",
            timeout = 30.0,
            max_retries = 3,
            leeway = 60.0,
            max_response_bytes = 104857600,
        }
    };
}

macro_rules! define_defaults {
    (
        region = $region:tt,
        timeout = $timeout:tt,
        max_retries = $max_retries:tt,
        leeway = $leeway:tt,
        max_response_bytes = $max_response_bytes:tt,
    ) => {
        /// The region a credential belongs to when none is given.
        pub const REGION: &str = $region;
        /// The bound of one call, attempts and retry waits together.
        pub const TIMEOUT: Duration = seconds($timeout);
        /// Retries of a failed attempt (connect errors, 502–504).
        pub const MAX_RETRIES: u32 = $max_retries;
        /// How long before its expiry a token is renewed (capped at half its lifetime).
        pub const LEEWAY: Duration = seconds($leeway);
        /// Bodies larger than this are refused, so a misbehaving server cannot exhaust memory.
        pub const MAX_RESPONSE_BYTES: u64 = $max_response_bytes;
    };
}

with_defaults!(define_defaults);

/// A whole number of milliseconds from seconds, at compile time.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
const fn seconds(seconds: f64) -> Duration {
    Duration::from_millis((seconds * 1000.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_documented_ones() {
        assert_eq!(REGION, "cloud");
        assert_eq!(TIMEOUT, Duration::from_secs(30));
        assert_eq!(MAX_RETRIES, 3);
        assert_eq!(LEEWAY, Duration::from_secs(60));
        assert_eq!(MAX_RESPONSE_BYTES, 100 * 1024 * 1024);
    }
}
