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

/// A list's documented filters: read from the query, then asked of each item
/// (with the data set, for filters on an item's device or user).
pub(crate) trait ListFilter<T>: Sized {
    fn parse(params: &Params) -> Checked<Self>;
    fn keeps(&self, item: &T, data: &DataSet) -> bool;
}

/// Each list's filter, as the generic list handler takes it.
macro_rules! list_filter {
    ($filter:ty, $item:ty, |$this:ident, $it:ident, $data:ident| $keeps:expr) => {
        impl ListFilter<$item> for $filter {
            fn parse(params: &Params) -> Checked<Self> {
                <$filter>::parse(params)
            }
            fn keeps(&self, $it: &$item, $data: &DataSet) -> bool {
                let $this = self;
                $keeps
            }
        }
    };
}

list_filter!(UserFilter, User, |this, user, _data| this.matches(user));
list_filter!(DeviceFilter, Device, |this, device, data| this
    .matches(device, data));
list_filter!(BackupFilter, Backup, |this, backup, data| this
    .matches(backup, data));
list_filter!(RestoreFilter, Restore, |this, restore, _data| this
    .matches(restore));

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

/// Whether `value` lies within the optional bounds, both inclusive.
fn within(value: Timestamp, min: Option<Timestamp>, max: Option<Timestamp>) -> bool {
    min.is_none_or(|min| value >= min) && max.is_none_or(|max| value <= max)
}

/// The users filters of `/insync/usermanagement/v1/users`.
#[derive(Debug, Default)]
pub(crate) struct UserFilter {
    profile_id: Option<u64>,
    storage_id: Option<u64>,
    cache_id: Option<u64>,
    user_ids: Option<Vec<u64>>,
    email: Option<String>,
    email_prefix: Option<String>,
    name_prefix: Option<String>,
    min_added_on: Option<Timestamp>,
    max_added_on: Option<Timestamp>,
    status: Option<String>,
    ldap_guid: Option<String>,
    privacy_settings_enabled: Option<bool>,
}

impl UserFilter {
    pub fn parse(params: &Params) -> Checked<Self> {
        check_known(
            params,
            &[
                "profileID",
                "storageID",
                "cacheID",
                "userIDs",
                "emailID",
                "searchPrefixEmailID",
                "searchPrefixUserName",
                "minAddedOn",
                "maxAddedOn",
                "status",
                "ldapGUID",
                "privacySettingsEnabled",
                PAGE_SIZE,
            ],
        )?;
        Ok(UserFilter {
            profile_id: id(params, "profileID")?,
            storage_id: id(params, "storageID")?,
            cache_id: id(params, "cacheID")?,
            user_ids: ids(params, "userIDs")?,
            email: text(params, "emailID")?.map(str::to_owned),
            email_prefix: text(params, "searchPrefixEmailID")?.map(str::to_lowercase),
            name_prefix: text(params, "searchPrefixUserName")?.map(str::to_lowercase),
            min_added_on: time(params, "minAddedOn")?,
            max_added_on: time(params, "maxAddedOn")?,
            status: one_of(params, "status", &["active", "preserved"])?.map(str::to_owned),
            ldap_guid: text(params, "ldapGUID")?.map(str::to_uppercase),
            privacy_settings_enabled: flag(params, "privacySettingsEnabled")?,
        })
    }

    pub fn matches(&self, user: &User) -> bool {
        let local_part = user.email.split('@').next().unwrap_or_default();
        self.profile_id.is_none_or(|id| user.profile_id == id)
            && self.storage_id.is_none_or(|id| user.storage_id == id)
            && self.cache_id.is_none_or(|id| user.cache_id == id)
            && self
                .user_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&user.id))
            && self
                .email
                .as_ref()
                .is_none_or(|email| user.email.eq_ignore_ascii_case(email))
            && self
                .email_prefix
                .as_ref()
                .is_none_or(|prefix| local_part.to_lowercase().starts_with(prefix.as_str()))
            && self
                .name_prefix
                .as_ref()
                .is_none_or(|prefix| user.name.to_lowercase().starts_with(prefix.as_str()))
            && within(user.added_on, self.min_added_on, self.max_added_on)
            && self
                .status
                .as_ref()
                .is_none_or(|status| user.status == *status)
            && self
                .ldap_guid
                .as_ref()
                .is_none_or(|guid| user.ldap_guid == *guid)
            && self
                .privacy_settings_enabled
                .is_none_or(|enabled| user.privacy_settings_enabled == enabled)
    }
}

/// The devices filters of `/insync/endpoints/v1/devices`.
#[derive(Debug, Default)]
pub(crate) struct DeviceFilter {
    user_id: Option<u64>,
    user_ids: Option<Vec<u64>>,
    device_ids: Option<Vec<u64>>,
    profile_ids: Option<Vec<u64>>,
    name_prefix: Option<String>,
    client_version: Option<String>,
    platform: Option<String>,
    status: Option<String>,
    upgrade_state: Option<String>,
    min_last_connected: Option<Timestamp>,
    max_last_connected: Option<Timestamp>,
    min_added_on: Option<Timestamp>,
    max_added_on: Option<Timestamp>,
    serial_number: Option<String>,
    uuid: Option<String>,
    marked_inactive: Option<bool>,
}

impl DeviceFilter {
    pub fn parse(params: &Params) -> Checked<Self> {
        check_known(
            params,
            &[
                "userID",
                "userIDs",
                "deviceIDs",
                "profileIDs",
                "searchPrefixDeviceName",
                "clientVersion",
                "platformOS",
                "deviceStatus",
                "upgradeState",
                "minLastConnected",
                "maxLastConnected",
                "minAddedOn",
                "maxAddedOn",
                "serialNumber",
                "uuid",
                "deviceMarkedInactive",
                PAGE_SIZE,
            ],
        )?;
        Ok(DeviceFilter {
            user_id: id(params, "userID")?,
            user_ids: ids(params, "userIDs")?,
            device_ids: ids(params, "deviceIDs")?,
            profile_ids: ids(params, "profileIDs")?,
            name_prefix: text(params, "searchPrefixDeviceName")?.map(str::to_lowercase),
            client_version: text(params, "clientVersion")?.map(str::to_owned),
            platform: one_of(
                params,
                "platformOS",
                &["win32", "linux2", "darwin", "android", "ios"],
            )?
            .map(str::to_owned),
            status: one_of(params, "deviceStatus", &["enabled", "disabled"])?.map(str::to_owned),
            upgrade_state: one_of(
                params,
                "upgradeState",
                &[
                    "NOT UPGRADABLE",
                    "UPGRADABLE",
                    "UPTODATE",
                    "SCHEDULED",
                    "UNKNOWN",
                ],
            )?
            .map(str::to_owned),
            min_last_connected: time(params, "minLastConnected")?,
            max_last_connected: time(params, "maxLastConnected")?,
            min_added_on: time(params, "minAddedOn")?,
            max_added_on: time(params, "maxAddedOn")?,
            serial_number: text(params, "serialNumber")?.map(str::to_owned),
            uuid: text(params, "uuid")?.map(str::to_owned),
            marked_inactive: flag(params, "deviceMarkedInactive")?,
        })
    }

    pub fn matches(&self, device: &Device, data: &DataSet) -> bool {
        let profile_ok = self.profile_ids.as_ref().is_none_or(|ids| {
            data.user(device.user_id)
                .is_some_and(|user| ids.contains(&user.profile_id))
        });
        profile_ok
            && self.user_id.is_none_or(|id| device.user_id == id)
            && self
                .user_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&device.user_id))
            && self
                .device_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&device.id))
            && self
                .name_prefix
                .as_ref()
                .is_none_or(|prefix| device.name.to_lowercase().starts_with(prefix.as_str()))
            && self
                .client_version
                .as_ref()
                .is_none_or(|v| device.client_version == v)
            && self.platform.as_ref().is_none_or(|p| device.platform == p)
            && self.status.as_ref().is_none_or(|s| device.status == s)
            && self
                .upgrade_state
                .as_ref()
                .is_none_or(|s| device.upgrade_state == s)
            && within(
                device.last_connected,
                self.min_last_connected,
                self.max_last_connected,
            )
            && within(device.added_on, self.min_added_on, self.max_added_on)
            && self
                .serial_number
                .as_ref()
                .is_none_or(|n| device.serial_number == *n)
            && self.uuid.as_ref().is_none_or(|uuid| device.uuid == *uuid)
            && self
                .marked_inactive
                .is_none_or(|inactive| device.marked_inactive == inactive)
    }
}

/// The filters of `/insync/endpoints/v1/backups`, whose `lastSuccessful` is
/// required and only `true` is supported.
#[derive(Debug, Default)]
pub(crate) struct BackupFilter {
    device_id: Option<u64>,
    user_id: Option<u64>,
    min_start: Option<Timestamp>,
    max_start: Option<Timestamp>,
    min_end: Option<Timestamp>,
    max_end: Option<Timestamp>,
}

impl BackupFilter {
    pub fn parse(params: &Params) -> Checked<Self> {
        check_known(
            params,
            &[
                "lastSuccessful",
                "deviceID",
                "userID",
                "minBackupStartTime",
                "maxBackupStartTime",
                "minBackupEndTime",
                "maxBackupEndTime",
                PAGE_SIZE,
            ],
        )?;
        if flag(params, "lastSuccessful")? != Some(true) {
            return Err(InvalidParameter::new(
                "lastSuccessful is required, and only true is supported",
            ));
        }
        Ok(BackupFilter {
            device_id: id(params, "deviceID")?,
            user_id: id(params, "userID")?,
            min_start: time(params, "minBackupStartTime")?,
            max_start: time(params, "maxBackupStartTime")?,
            min_end: time(params, "minBackupEndTime")?,
            max_end: time(params, "maxBackupEndTime")?,
        })
    }

    pub fn matches(&self, backup: &Backup, data: &DataSet) -> bool {
        let user_ok = self.user_id.is_none_or(|id| {
            data.device(backup.device_id)
                .is_some_and(|device| device.user_id == id)
        });
        user_ok
            && self.device_id.is_none_or(|id| backup.device_id == id)
            && within(backup.start_time, self.min_start, self.max_start)
            && within(backup.end_time, self.min_end, self.max_end)
    }
}

/// The filters of `/insync/endpoints/v1/restores`.
#[derive(Debug, Default)]
pub(crate) struct RestoreFilter {
    device_id: Option<u64>,
    target_device_id: Option<u64>,
    user_id: Option<u64>,
    min_start: Option<Timestamp>,
    max_start: Option<Timestamp>,
}

impl RestoreFilter {
    pub fn parse(params: &Params) -> Checked<Self> {
        check_known(
            params,
            &[
                "deviceID",
                "targetDeviceID",
                "userID",
                "minStartTime",
                "maxStartTime",
                PAGE_SIZE,
            ],
        )?;
        Ok(RestoreFilter {
            device_id: id(params, "deviceID")?,
            target_device_id: id(params, "targetDeviceID")?,
            user_id: id(params, "userID")?,
            min_start: time(params, "minStartTime")?,
            max_start: time(params, "maxStartTime")?,
        })
    }

    pub fn matches(&self, restore: &Restore) -> bool {
        self.device_id.is_none_or(|id| restore.device_id == id)
            && self
                .target_device_id
                .is_none_or(|id| restore.target_device_id == id)
            && self.user_id.is_none_or(|id| restore.user_id == id)
            && within(restore.start_time, self.min_start, self.max_start)
    }
}

/// A list that takes no filter, only the fake's `pageSize`.
pub(crate) fn no_filters(params: &Params) -> Checked<()> {
    check_known(params, &[PAGE_SIZE])
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
            let error = UserFilter::parse(&params(&[(name, value)])).unwrap_err();
            assert!(error.0.contains(name), "{name}: {}", error.0);
        }
        let error = UserFilter::parse(&params(&[("colour", "red")])).unwrap_err();
        assert!(error.0.contains("Unknown parameter colour"), "{}", error.0);
    }

    #[test]
    fn user_filters_combine() {
        let data = DataSet::generate(5, 60);
        let user = &data.users[7];
        let local = user.email.split('@').next().unwrap();
        let filter = UserFilter::parse(&params(&[
            ("searchPrefixEmailID", &local[..4]),
            ("status", &user.status),
            ("profileID", &user.profile_id.to_string()),
        ]))
        .unwrap();
        let found: Vec<&User> = data.users.iter().filter(|u| filter.matches(u)).collect();
        assert!(found.iter().any(|u| u.id == user.id));
        assert!(found
            .iter()
            .all(|u| u.profile_id == user.profile_id && u.status == user.status));
        let exact =
            UserFilter::parse(&params(&[("ldapGUID", &user.ldap_guid.to_lowercase())])).unwrap();
        assert_eq!(data.users.iter().filter(|u| exact.matches(u)).count(), 1);
    }

    #[test]
    fn backups_need_last_successful_true() {
        assert!(BackupFilter::parse(&params(&[])).is_err());
        assert!(BackupFilter::parse(&params(&[("lastSuccessful", "false")])).is_err());
        assert!(BackupFilter::parse(&params(&[("lastSuccessful", "True")])).is_ok());
    }
}
