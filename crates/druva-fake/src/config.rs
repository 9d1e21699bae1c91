//! How a fake server is configured: [`FakeConfig`], its defaults (written
//! once, in [`with_fake_defaults!`](crate::with_fake_defaults)) and the
//! ranges every knob is checked against.

use std::str::FromStr;
use std::time::Duration;

use druva_core::errors::{Error, Result};

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

/// The most events one `FakeServer::add_events` call may add.
pub const MAX_ADDED_EVENTS: usize = 100_000;

/// The longest token lifetime: a year.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// The highest `rate_limit`, in API requests a second.
pub const MAX_RATE_LIMIT: usize = 100_000;

/// The longest `tracker_ttl`: a year, like a token's lifetime.
pub const MAX_TRACKER_TTL: Duration = MAX_TOKEN_LIFETIME;

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

/// A whole-number knob's name and range: the one place each range is
/// stated, for [`FakeConfig`]'s own check and for callers whose numbers can be
/// anything (the Python binding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Knob {
    pub name: &'static str,
    pub min: usize,
    pub max: usize,
}

impl Knob {
    pub const USERS: Knob = Knob::new("users", 0, MAX_USERS);
    pub const PAGE_SIZE: Knob = Knob::new("page_size", 1, MAX_PAGE_SIZE);
    pub const CUSTOMERS: Knob = Knob::new("customers", 1, MAX_CUSTOMERS);
    pub const MAX_IN_FLIGHT: Knob = Knob::new("max_in_flight", 1, MAX_IN_FLIGHT);
    pub const RATE_LIMIT: Knob = Knob::new("rate_limit", 1, MAX_RATE_LIMIT);
    /// The count of `FakeServer::add_events`.
    pub const ADDED_EVENTS: Knob = Knob::new("count", 1, MAX_ADDED_EVENTS);

    const fn new(name: &'static str, min: usize, max: usize) -> Self {
        Knob { name, min, max }
    }

    /// `value` when it is within the range, else a value error naming it.
    pub fn whole(self, value: i128) -> Result<usize> {
        let checked = whole_argument(self.name, value, self.min as u64, self.max as u64)?;
        usize::try_from(checked).map_err(|_| Error::value(format!("{} is too large", self.name)))
    }

    pub(crate) fn check(self, value: usize) -> Result<()> {
        check_range(self.name, value, self.min, self.max)
    }
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

impl FromStr for CaughtUp {
    type Err = Error;

    /// By its name in Python: `"same"` or `"new"`.
    fn from_str(name: &str) -> Result<Self> {
        match name {
            "same" => Ok(CaughtUp::SameToken),
            "new" => Ok(CaughtUp::NewToken),
            other => Err(Error::value(format!(
                "caught_up must be \"same\" or \"new\", not {other:?}"
            ))),
        }
    }
}

/// How the last page of a `nextPageToken` listing says that it is the last.
///
/// Druva is not consistent about it, and a client must accept all three, so
/// the fake server lets tests pick one. [`FakeConfig::default`] has the one
/// [`with_fake_defaults!`](crate::with_fake_defaults) names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LastPage {
    /// The `nextPageToken` key is absent.
    Missing,
    /// `"nextPageToken": ""`.
    Empty,
    /// `"nextPageToken": null`.
    Null,
}

impl LastPage {
    /// By its name in Python and on the command line: `"missing"`, `"empty"`
    /// or `"null"`.
    pub const fn named(name: &str) -> Option<LastPage> {
        match name.as_bytes() {
            b"missing" => Some(LastPage::Missing),
            b"empty" => Some(LastPage::Empty),
            b"null" => Some(LastPage::Null),
            _ => None,
        }
    }
}

impl FromStr for LastPage {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        LastPage::named(name).ok_or_else(|| {
            Error::value(format!(
                "last_page must be \"missing\", \"empty\" or \"null\", not {name:?}"
            ))
        })
    }
}

/// Calls `$callback! { name = literal, ..., forwarded tokens }` with every
/// default of a [`FakeConfig`] knob that has one, followed by whatever tokens
/// came after the callback's name.
///
/// The one place they are written: [`FakeConfig::default`] is built from
/// them, and the Python binding writes them into `FakeDruva`'s signature.
/// Durations are seconds (floats); `last_page` is a [`LastPage::named`] name.
/// `client_id`, `secret` and `max_in_flight` are `None`: generated, and no
/// limit.
#[macro_export]
macro_rules! with_fake_defaults {
    ($callback:ident $($forward:tt)*) => {
        $callback! {
            token_lifetime = 1800.0,
            users = 250,
            page_size = 100,
            tls = false,
            port = 0,
            seed = 0,
            last_page = "empty",
            latency = 0.0,
            msp = false,
            customers = 3,
            $($forward)*
        }
    };
}

/// How to start a `FakeServer`.
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
    /// API requests a second across all callers (1 to 100 000), a token
    /// bucket holding one second's worth; beyond it a 429 without
    /// `Retry-After`. Token requests are never refused so.
    pub rate_limit: Option<usize>,
    /// How long an events v2 tracker (the inSync `tracker`, the Platform v2
    /// page token) stays valid; an older one is refused with 403 unless the
    /// request says `ignoreTrackerExpiry=true`. `None`: trackers never
    /// expire.
    pub tracker_ttl: Option<Duration>,
}

/// `FakeConfig::default()` from [`with_fake_defaults!`](crate::with_fake_defaults).
macro_rules! default_config {
    ($($knob:ident = $value:tt,)*) => {
        impl Default for FakeConfig {
            fn default() -> Self {
                FakeConfig {
                    client_id: None,
                    secret: None,
                    max_in_flight: None,
                    caught_up: CaughtUp::default(),
                    rate_limit: None,
                    tracker_ttl: None,
                    $($knob: default_value!($knob = $value),)*
                }
            }
        }
    };
}

/// A default's value as a [`FakeConfig`] field holds it.
macro_rules! default_value {
    (token_lifetime = $seconds:tt) => {
        Duration::from_secs_f64($seconds)
    };
    (latency = $seconds:tt) => {
        Duration::from_secs_f64($seconds)
    };
    (last_page = $name:tt) => {{
        // A bad name fails the build, not a caller.
        const LAST_PAGE: LastPage = match LastPage::named($name) {
            Some(last_page) => last_page,
            None => panic!("with_fake_defaults! names no LastPage"),
        };
        LAST_PAGE
    }};
    ($knob:ident = $value:tt) => {
        $value
    };
}

with_fake_defaults!(default_config);

impl FakeConfig {
    pub(crate) fn validate(&self) -> Result<()> {
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
        Knob::PAGE_SIZE.check(self.page_size)?;
        Knob::USERS.check(self.users)?;
        Knob::CUSTOMERS.check(self.customers)?;
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
            Knob::MAX_IN_FLIGHT.check(limit)?;
        }
        if let Some(rate) = self.rate_limit {
            Knob::RATE_LIMIT.check(rate)?;
        }
        if let Some(ttl) = self.tracker_ttl {
            if ttl.is_zero() || ttl > MAX_TRACKER_TTL {
                return Err(Error::value(format!(
                    "tracker_ttl must be more than 0 s and at most {} s, got {ttl:?}",
                    MAX_TRACKER_TTL.as_secs()
                )));
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knob_names_parse_and_an_unknown_one_says_which_are_known() {
        assert_eq!("null".parse::<LastPage>().unwrap(), LastPage::Null);
        assert_eq!("missing".parse::<LastPage>().unwrap(), LastPage::Missing);
        assert_eq!("new".parse::<CaughtUp>().unwrap(), CaughtUp::NewToken);
        let error = "Null".parse::<LastPage>().unwrap_err().to_string();
        assert!(
            error.contains(r#""missing", "empty" or "null", not "Null""#),
            "{error}"
        );
        let error = "old".parse::<CaughtUp>().unwrap_err().to_string();
        assert!(error.contains(r#""same" or "new", not "old""#), "{error}");
    }

    #[test]
    fn a_knob_takes_any_whole_number_and_refuses_one_outside_its_range() {
        assert_eq!(Knob::PAGE_SIZE.whole(4097).unwrap(), MAX_PAGE_SIZE);
        let error = Knob::PAGE_SIZE.whole(0).unwrap_err().to_string();
        assert!(
            error.contains("page_size must be between 1 and 4097, not 0"),
            "{error}"
        );
        let error = Knob::USERS
            .whole(-(10_i128.pow(30)))
            .unwrap_err()
            .to_string();
        assert!(error.contains("a huge negative number"), "{error}");
    }

    #[test]
    fn the_stream_knobs_are_range_checked() {
        for bad in [
            FakeConfig {
                rate_limit: Some(0),
                ..FakeConfig::default()
            },
            FakeConfig {
                rate_limit: Some(MAX_RATE_LIMIT + 1),
                ..FakeConfig::default()
            },
            FakeConfig {
                tracker_ttl: Some(Duration::ZERO),
                ..FakeConfig::default()
            },
            FakeConfig {
                tracker_ttl: Some(MAX_TRACKER_TTL + Duration::from_secs(1)),
                ..FakeConfig::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let good = FakeConfig {
            rate_limit: Some(10),
            tracker_ttl: Some(Duration::from_millis(500)),
            ..FakeConfig::default()
        };
        assert!(good.validate().is_ok());
    }

    #[test]
    fn the_default_config_is_valid() {
        assert!(FakeConfig::default().validate().is_ok());
    }
}
