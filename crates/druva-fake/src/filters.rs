//! The documented filters of the inSync lists (users, devices, backups,
//! restores), read from a list's query as Druva types them: an ID is a whole
//! number, a list of IDs is comma-separated, a time is RFC 3339
//! (`YYYY-MM-DDTHH:MM:SSZ`), a flag is `true` or `false`, an enumerated value
//! is one of Druva's. A parameter no list documents, or a value of the wrong
//! shape, is Druva's 400.

use std::collections::HashMap;
use std::time::UNIX_EPOCH;

use super::data::{Backup, DataSet, Device, Restore, Timestamp, User};
use super::paging::{check_known, InvalidParameter};

type Params = HashMap<String, String>;
type Checked<T> = Result<T, InvalidParameter>;

/// How one documented parameter keeps an item: the value's type, as Druva
/// types it, and the item's value it is compared with.
pub(crate) enum Rule<T> {
    /// A whole number equal to the item's (`None`: the item has none, as a
    /// device whose user is gone).
    Id(fn(&T, &DataSet) -> Option<u64>),
    /// Whole numbers separated by commas, one of them equal to the item's.
    Ids(fn(&T, &DataSet) -> Option<u64>),
    /// A value equal to the item's.
    Exact(fn(&T) -> &str),
    /// A value equal to the item's but for ASCII case.
    AnyCase(fn(&T) -> &str),
    /// A value the item's starts with, in any case.
    Prefix(fn(&T) -> &str),
    /// One of Druva's `choices`, equal to the item's.
    OneOf(&'static [&'static str], fn(&T) -> &str),
    /// `true` or `false`, equal to the item's.
    Flag(fn(&T) -> bool),
    /// A time at or before the item's.
    NotBefore(fn(&T) -> Timestamp),
    /// A time at or after the item's.
    NotAfter(fn(&T) -> Timestamp),
    /// A flag that must be given, of which only `true` is supported.
    RequiredTrue,
}

/// A list's documented filters: each parameter with the rule it keeps items
/// by.
pub(crate) type Documented<T> = [(&'static str, Rule<T>)];

/// The users filters of `/insync/usermanagement/v1/users`.
pub(crate) const USER_FILTERS: &Documented<User> = &[
    ("profileID", Rule::Id(|user, _| Some(user.profile_id))),
    ("storageID", Rule::Id(|user, _| Some(user.storage_id))),
    ("cacheID", Rule::Id(|user, _| Some(user.cache_id))),
    ("userIDs", Rule::Ids(|user, _| Some(user.id))),
    ("emailID", Rule::AnyCase(|user| &user.email)),
    ("searchPrefixEmailID", Rule::Prefix(local_part)),
    ("searchPrefixUserName", Rule::Prefix(|user| &user.name)),
    ("minAddedOn", Rule::NotBefore(|user| user.added_on)),
    ("maxAddedOn", Rule::NotAfter(|user| user.added_on)),
    (
        "status",
        Rule::OneOf(&["active", "preserved"], |user| &user.status),
    ),
    ("ldapGUID", Rule::AnyCase(|user| &user.ldap_guid)),
    (
        "privacySettingsEnabled",
        Rule::Flag(|user| user.privacy_settings_enabled),
    ),
];

/// The devices filters of `/insync/endpoints/v1/devices`.
pub(crate) const DEVICE_FILTERS: &Documented<Device> = &[
    ("userID", Rule::Id(|device, _| Some(device.user_id))),
    ("userIDs", Rule::Ids(|device, _| Some(device.user_id))),
    ("deviceIDs", Rule::Ids(|device, _| Some(device.id))),
    ("profileIDs", Rule::Ids(device_profile)),
    (
        "searchPrefixDeviceName",
        Rule::Prefix(|device| &device.name),
    ),
    ("clientVersion", Rule::Exact(|device| device.client_version)),
    (
        "platformOS",
        Rule::OneOf(PLATFORMS, |device| device.platform),
    ),
    (
        "deviceStatus",
        Rule::OneOf(&["enabled", "disabled"], |device| device.status),
    ),
    (
        "upgradeState",
        Rule::OneOf(UPGRADE_STATES, |device| device.upgrade_state),
    ),
    (
        "minLastConnected",
        Rule::NotBefore(|device| device.last_connected),
    ),
    (
        "maxLastConnected",
        Rule::NotAfter(|device| device.last_connected),
    ),
    ("minAddedOn", Rule::NotBefore(|device| device.added_on)),
    ("maxAddedOn", Rule::NotAfter(|device| device.added_on)),
    ("serialNumber", Rule::Exact(|device| &device.serial_number)),
    ("uuid", Rule::Exact(|device| &device.uuid)),
    (
        "deviceMarkedInactive",
        Rule::Flag(|device| device.marked_inactive),
    ),
];

/// The filters of `/insync/endpoints/v1/backups`, whose `lastSuccessful` is
/// required and only `true` is supported.
pub(crate) const BACKUP_FILTERS: &Documented<Backup> = &[
    ("lastSuccessful", Rule::RequiredTrue),
    ("deviceID", Rule::Id(|backup, _| Some(backup.device_id))),
    ("userID", Rule::Id(backup_user)),
    (
        "minBackupStartTime",
        Rule::NotBefore(|backup| backup.start_time),
    ),
    (
        "maxBackupStartTime",
        Rule::NotAfter(|backup| backup.start_time),
    ),
    (
        "minBackupEndTime",
        Rule::NotBefore(|backup| backup.end_time),
    ),
    ("maxBackupEndTime", Rule::NotAfter(|backup| backup.end_time)),
];

/// The filters of `/insync/endpoints/v1/restores`.
pub(crate) const RESTORE_FILTERS: &Documented<Restore> = &[
    ("deviceID", Rule::Id(|restore, _| Some(restore.device_id))),
    (
        "targetDeviceID",
        Rule::Id(|restore, _| Some(restore.target_device_id)),
    ),
    ("userID", Rule::Id(|restore, _| Some(restore.user_id))),
    (
        "minStartTime",
        Rule::NotBefore(|restore| restore.start_time),
    ),
    ("maxStartTime", Rule::NotAfter(|restore| restore.start_time)),
];

const PLATFORMS: &[&str] = &["win32", "linux2", "darwin", "android", "ios"];
const UPGRADE_STATES: &[&str] = &[
    "NOT UPGRADABLE",
    "UPGRADABLE",
    "UPTODATE",
    "SCHEDULED",
    "UNKNOWN",
];

/// What `searchPrefixEmailID` searches: the part of the email before `@`.
fn local_part(user: &User) -> &str {
    user.email.split('@').next().unwrap_or_default()
}

/// The profile of a device's user.
fn device_profile(device: &Device, data: &DataSet) -> Option<u64> {
    data.user(device.user_id).map(|user| user.profile_id)
}

/// The user of a backup's device.
fn backup_user(backup: &Backup, data: &DataSet) -> Option<u64> {
    data.device(backup.device_id).map(|device| device.user_id)
}

/// Whether one given parameter keeps an item.
type Keep<T> = Box<dyn Fn(&T, &DataSet) -> bool + Send + Sync>;

/// A list's filters as one request gives them.
pub(crate) struct Filter<T> {
    given: Vec<Keep<T>>,
}

impl<T> std::fmt::Debug for Filter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("given", &self.given.len())
            .finish()
    }
}

impl<T: 'static> Filter<T> {
    /// Reads the `documented` filters from a list's query; any other
    /// parameter but the fake's `pageSize`, or a value of the wrong shape, is
    /// refused.
    pub fn parse(params: &Params, documented: &Documented<T>) -> Checked<Self> {
        let known: Vec<&str> = documented
            .iter()
            .map(|(name, _)| *name)
            .chain([PAGE_SIZE])
            .collect();
        check_known(params, &known)?;
        let given = documented
            .iter()
            .filter_map(|(name, rule)| read(params, name, rule).transpose())
            .collect::<Checked<_>>()?;
        Ok(Filter { given })
    }

    /// Whether every filter given keeps `item` (with the data set, for
    /// filters on an item's device or user).
    pub fn keeps(&self, item: &T, data: &DataSet) -> bool {
        self.given.iter().all(|keep| keep(item, data))
    }
}

/// The test of parameter `name` under `rule`, `None` when it is not given.
fn read<T: 'static>(params: &Params, name: &str, rule: &Rule<T>) -> Checked<Option<Keep<T>>> {
    let keep: Option<Keep<T>> = match *rule {
        Rule::Id(field) => id(params, name)?
            .map(|id| -> Keep<T> { Box::new(move |item, data| field(item, data) == Some(id)) }),
        Rule::Ids(field) => ids(params, name)?.map(|ids| -> Keep<T> {
            Box::new(move |item, data| field(item, data).is_some_and(|id| ids.contains(&id)))
        }),
        Rule::Exact(field) => text(params, name)?.map(|value| equal(value, field)),
        Rule::AnyCase(field) => text(params, name)?.map(|value| -> Keep<T> {
            let value = value.to_owned();
            Box::new(move |item, _| field(item).eq_ignore_ascii_case(&value))
        }),
        Rule::Prefix(field) => text(params, name)?.map(|value| -> Keep<T> {
            let prefix = value.to_lowercase();
            Box::new(move |item, _| field(item).to_lowercase().starts_with(&prefix))
        }),
        Rule::OneOf(choices, field) => {
            one_of(params, name, choices)?.map(|value| equal(value, field))
        }
        Rule::Flag(field) => flag(params, name)?
            .map(|wanted| -> Keep<T> { Box::new(move |item, _| field(item) == wanted) }),
        Rule::NotBefore(field) => time(params, name)?
            .map(|min| -> Keep<T> { Box::new(move |item, _| field(item) >= min) }),
        Rule::NotAfter(field) => time(params, name)?
            .map(|max| -> Keep<T> { Box::new(move |item, _| field(item) <= max) }),
        Rule::RequiredTrue => {
            if flag(params, name)? != Some(true) {
                return Err(InvalidParameter::new(format!(
                    "{name} is required, and only true is supported"
                )));
            }
            None
        }
    };
    Ok(keep)
}

/// Keeps an item whose `field` is `value`.
fn equal<T: 'static>(value: &str, field: fn(&T) -> &str) -> Keep<T> {
    let value = value.to_owned();
    Box::new(move |item, _| field(item) == value)
}

/// The fake's own page size knob, which every list takes beside its filters.
const PAGE_SIZE: &str = "pageSize";

fn invalid(name: &str, expected: &str) -> InvalidParameter {
    InvalidParameter::new(format!("Invalid {name}: it must be {expected}"))
}

fn text<'a>(params: &'a Params, name: &str) -> Checked<Option<&'a str>> {
    match params.get(name) {
        None => Ok(None),
        Some(value) if value.is_empty() => Err(invalid(name, "a non-empty value")),
        Some(value) => Ok(Some(value)),
    }
}

fn id(params: &Params, name: &str) -> Checked<Option<u64>> {
    text(params, name)?
        .map(|value| value.parse().map_err(|_| invalid(name, "a whole number")))
        .transpose()
}

fn ids(params: &Params, name: &str) -> Checked<Option<Vec<u64>>> {
    text(params, name)?
        .map(|value| {
            value
                .split(',')
                .map(|part| part.trim().parse())
                .collect::<Result<Vec<u64>, _>>()
                .map_err(|_| invalid(name, "whole numbers separated by commas"))
        })
        .transpose()
}

fn time(params: &Params, name: &str) -> Checked<Option<Timestamp>> {
    let expected = "a UTC time like 2023-01-31T08:00:00Z";
    text(params, name)?
        .map(|value| {
            let parsed = humantime::parse_rfc3339(value).map_err(|_| invalid(name, expected))?;
            let seconds = parsed
                .duration_since(UNIX_EPOCH)
                .map_err(|_| invalid(name, expected))?;
            Ok(Timestamp(seconds.as_secs()))
        })
        .transpose()
}

fn flag(params: &Params, name: &str) -> Checked<Option<bool>> {
    text(params, name)?
        .map(|value| match value.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(invalid(name, "true or false")),
        })
        .transpose()
}

fn one_of<'a>(params: &'a Params, name: &str, choices: &[&str]) -> Checked<Option<&'a str>> {
    match text(params, name)? {
        Some(value) if !choices.contains(&value) => {
            Err(invalid(name, &format!("one of {}", choices.join(", "))))
        }
        value => Ok(value),
    }
}

/// A list that takes no filter, only the fake's `pageSize`.
pub(crate) fn no_filters(params: &Params) -> Checked<()> {
    Filter::<()>::parse(params, &[]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn values_of_the_wrong_shape_are_refused_with_the_parameter_named() {
        for (name, value) in [
            ("profileID", "one"),
            ("userIDs", "1,x"),
            ("minAddedOn", "yesterday"),
            ("status", "gone"),
            ("privacySettingsEnabled", "maybe"),
            ("emailID", ""),
        ] {
            let error = Filter::parse(&params(&[(name, value)]), USER_FILTERS).unwrap_err();
            assert!(error.0.contains(name), "{name}: {}", error.0);
        }
        let error = Filter::parse(&params(&[("colour", "red")]), USER_FILTERS).unwrap_err();
        assert!(error.0.contains("Unknown parameter colour"), "{}", error.0);
    }

    #[test]
    fn user_filters_combine() {
        let data = DataSet::generate(5, 60);
        let user = &data.users[7];
        let local = user.email.split('@').next().unwrap();
        let filter = Filter::parse(
            &params(&[
                ("searchPrefixEmailID", &local[..4]),
                ("status", &user.status),
                ("profileID", &user.profile_id.to_string()),
            ]),
            USER_FILTERS,
        )
        .unwrap();
        let found: Vec<&User> = data
            .users
            .iter()
            .filter(|u| filter.keeps(u, &data))
            .collect();
        assert!(found.iter().any(|u| u.id == user.id));
        assert!(found
            .iter()
            .all(|u| u.profile_id == user.profile_id && u.status == user.status));
        let guid = user.ldap_guid.to_lowercase();
        let exact = Filter::parse(&params(&[("ldapGUID", &guid)]), USER_FILTERS).unwrap();
        assert_eq!(
            data.users.iter().filter(|u| exact.keeps(u, &data)).count(),
            1
        );
    }

    #[test]
    fn backups_need_last_successful_true() {
        let backups = |pairs: &[(&str, &str)]| Filter::parse(&params(pairs), BACKUP_FILTERS);
        assert!(backups(&[]).is_err());
        assert!(backups(&[("lastSuccessful", "false")]).is_err());
        assert!(backups(&[("lastSuccessful", "True")]).is_ok());
    }
}
