//! Every default a caller can override, in one place.
//!
//! [`with_defaults!`](crate::with_defaults) hands the defaults, as literal
//! tokens, to a macro of the caller's: the binding uses it to write them into
//! its Python signatures (so `help()`, `inspect.signature` and stubtest see
//! the real values), and this module uses it to define the constants that the
//! core runs with. Changing a default here changes both.

use std::time::Duration;

use crate::errors::{Error, Result};

/// Calls `$callback! { name = literal, ..., forwarded tokens }` with every
/// default, followed by whatever tokens came after the callback's name.
///
/// `region` is the Druva cloud; durations are seconds (floats);
/// `max_response_bytes` is 100 MiB; `rate_limit_wait` is the budget of one
/// call's waits on 429s.
#[macro_export]
macro_rules! with_defaults {
    ($callback:ident $($forward:tt)*) => {
        $callback! {
            region = "cloud",
            timeout = 30.0,
            max_retries = 3,
            leeway = 60.0,
            max_response_bytes = 104857600,
            rate_limit_wait = 120.0,
            $($forward)*
        }
    };
}

macro_rules! define_defaults {
    ($($name:ident = $value:tt,)*) => {
        $(define_default!($name = $value);)*
    };
}

macro_rules! define_default {
    (region = $value:tt) => {
        /// The region a credential belongs to when none is given.
        pub const REGION: &str = $value;
    };
    (timeout = $value:tt) => {
        /// The bound of one call, attempts and retry waits together.
        pub const TIMEOUT: Duration = seconds($value);
    };
    (max_retries = $value:tt) => {
        /// Retries of a failed attempt (connect errors, 502–504).
        pub const MAX_RETRIES: u32 = $value;
    };
    (leeway = $value:tt) => {
        /// How long before its expiry a token is renewed (capped at half its lifetime).
        pub const LEEWAY: Duration = seconds($value);
    };
    (max_response_bytes = $value:tt) => {
        /// Bodies larger than this are refused, so a misbehaving server cannot exhaust memory.
        pub const MAX_RESPONSE_BYTES: u64 = $value;
    };
    (rate_limit_wait = $value:tt) => {
        /// How long one call may wait in all on 429s (not counted against
        /// `max_retries`, not bounded by `timeout`).
        pub const RATE_LIMIT_WAIT: Duration = seconds($value);
    };
}

with_defaults!(define_defaults);

/// No duration argument may exceed a year: beyond that it is a mistake, and
/// clocks plus such durations would overflow.
pub const MAX_SECONDS: f64 = 365.0 * 24.0 * 60.0 * 60.0;

/// The shortest duration argument that may not be zero: a shorter one (say
/// `5e-324`) would be zero to the clocks and timers that use it.
pub const MIN_SECONDS: f64 = 0.001;

/// Checks a number of seconds given as argument `name`: finite, at least a
/// millisecond (or zero, or more, when `allow_zero`), at most a year.
pub fn seconds_argument(name: &str, seconds: f64, allow_zero: bool) -> Result<Duration> {
    if !allow_zero && seconds > 0.0 && seconds < MIN_SECONDS {
        return Err(Error::value(format!(
            "{name} must be at least {MIN_SECONDS} seconds (a millisecond), not {}",
            shown_number(seconds)
        )));
    }
    let acceptable = seconds <= MAX_SECONDS && (seconds > 0.0 || (allow_zero && seconds == 0.0));
    if !acceptable {
        let bound = if allow_zero { ">= 0" } else { "> 0" };
        return Err(Error::value(format!(
            "{name} must be a number of seconds {bound} and at most a year ({MAX_SECONDS}), not {}",
            shown_number(seconds)
        )));
    }
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| Error::value(format!("{name} is too large: {seconds}")))
}

/// Checks a whole number given as argument `name` (already saturated to the
/// `i128` range by the caller): from 0 to `u32::MAX`.
pub fn count_argument(name: &str, value: i128) -> Result<u32> {
    u32::try_from(value).map_err(|_| {
        Error::value(format!(
            "{name} must be between 0 and {}, not {}",
            u32::MAX,
            shown_integer(value)
        ))
    })
}

/// Checks a scope: absent, or not blank (omitting it gets the credential's
/// default scopes, which is what a blank one would mean).
pub fn scope_argument(scope: Option<String>) -> Result<Option<String>> {
    match scope {
        Some(scope) if scope.trim().is_empty() => Err(Error::value(
            "scope is empty; omit it to get the credential's default scopes",
        )),
        scope => Ok(scope),
    }
}

/// The form fields of a token request that have their own arguments
/// (`scope`, `client_auth`) or are the grant itself.
pub const RESERVED_TOKEN_PARAMS: [&str; 4] = ["grant_type", "scope", "client_id", "client_secret"];

/// Checks `token_params`: extra form fields for every token request, each
/// name with its values (a list value is a repeated field), in the caller's
/// order. A field of the protocol's own is refused: it has its own argument.
///
/// ```
/// use druva_core::config::token_params_argument;
/// let fields = token_params_argument(vec![
///     ("audience".into(), vec!["https://api.example".into()]),
///     ("resource".into(), vec!["a".into(), "b".into()]),
/// ])?;
/// assert_eq!(fields.len(), 3);
/// assert!(token_params_argument(vec![("scope".into(), vec!["read".into()])]).is_err());
/// # Ok::<(), druva_core::errors::Error>(())
/// ```
pub fn token_params_argument(params: Vec<(String, Vec<String>)>) -> Result<Vec<(String, String)>> {
    let mut fields = Vec::new();
    for (name, values) in params {
        if RESERVED_TOKEN_PARAMS.contains(&name.as_str()) {
            let instead = match name.as_str() {
                "scope" => "pass scope= instead",
                "client_id" | "client_secret" => {
                    "the credential is sent as client_auth= says (\"basic\" or \"post\")"
                }
                _ => "druva sends the client-credentials grant itself",
            };
            return Err(Error::value(format!(
                "token_params must not set {name:?}: {instead}"
            )));
        }
        if name.is_empty()
            || name
                .chars()
                .chain(values.iter().flat_map(|v| v.chars()))
                .any(char::is_control)
        {
            return Err(Error::value(format!(
                "token_params field {name:?} is empty or holds a control character"
            )));
        }
        fields.extend(values.into_iter().map(|value| (name.clone(), value)));
    }
    Ok(fields)
}

/// Checks `max_concurrency`: absent (no cap), or a [`limit_argument`].
pub fn concurrency_argument(name: &str, value: Option<i128>) -> Result<Option<usize>> {
    value.map(|value| limit_argument(name, value)).transpose()
}

/// Checks a limit of requests in flight at once (`max_concurrency`, `map`'s
/// `concurrency`): from 1 to 100 000.
pub fn limit_argument(name: &str, value: i128) -> Result<usize> {
    const MAX: i128 = 100_000;
    match usize::try_from(value) {
        Ok(limit) if (1..=MAX).contains(&value) => Ok(limit),
        _ => Err(Error::value(format!(
            "{name} must be between 1 and {MAX} (requests in flight at once), not {}",
            shown_integer(value)
        ))),
    }
}

/// Checks `max_response_bytes`: a count as above; 0 is read as 1 byte.
pub fn response_limit_argument(value: i128) -> Result<u64> {
    Ok(u64::from(count_argument("max_response_bytes", value)?).max(1))
}

fn shown_number(value: f64) -> String {
    if value.is_finite() && value.abs() < 1e15 && (value == 0.0 || value.abs() >= 1e-4) {
        format!("{value}")
    } else {
        format!("{value:e}")
    }
}

fn shown_integer(value: i128) -> String {
    match value {
        i128::MAX => "a number too large".to_owned(),
        i128::MIN => "a number too small".to_owned(),
        _ => value.to_string(),
    }
}

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
        assert_eq!(RATE_LIMIT_WAIT, Duration::from_secs(120));
    }

    #[test]
    fn arguments_out_of_range_are_value_errors_naming_them() {
        assert_eq!(
            seconds_argument("timeout", 1.5, false).unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(
            seconds_argument("leeway", 0.0, true).unwrap(),
            Duration::ZERO
        );
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, MAX_SECONDS * 2.0] {
            let error = seconds_argument("timeout", bad, false).unwrap_err();
            assert!(error.to_string().contains("timeout"), "{error}");
        }
        assert_eq!(
            seconds_argument("timeout", MIN_SECONDS, false).unwrap(),
            Duration::from_millis(1)
        );
        for tiny in [5e-324, 1e-9, 0.000_999] {
            let error = seconds_argument("timeout", tiny, false).unwrap_err();
            assert!(error.to_string().contains("at least 0.001"), "{error}");
            assert!(error.to_string().len() < 100, "{error}");
            assert!(seconds_argument("leeway", tiny, true).is_ok());
        }
        assert_eq!(count_argument("max_retries", 3).unwrap(), 3);
        for reserved in RESERVED_TOKEN_PARAMS {
            let error = token_params_argument(vec![(reserved.into(), vec!["x".into()])]);
            assert!(error.unwrap_err().to_string().contains(reserved));
        }
        assert!(token_params_argument(vec![(String::new(), vec![])]).is_err());
        for bad in [-1, i128::from(u32::MAX) + 1, i128::MAX, i128::MIN] {
            let error = count_argument("max_retries", bad).unwrap_err();
            assert!(error.to_string().contains("max_retries"), "{error}");
        }
    }
}
