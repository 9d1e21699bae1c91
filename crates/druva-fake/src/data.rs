//! The seeded synthetic data set of one tenant: inSync users, their devices,
//! the last successful backup of each device, restores, storages, profiles,
//! events and Phoenix organizations, with Druva's field names.
//!
//! Everything is drawn from one seeded generator, so a seed always gives the
//! same data set (for a given druva version), and tests can assert on it. The
//! records reference each other as Druva's do: a device belongs to a user, a
//! backup or restore to a device, an event to a device and its user.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize, Serializer};

/// 2023-01-01T00:00:00Z: every synthetic date falls in the year after it.
pub(crate) const EPOCH: u64 = 1_672_531_200;
const YEAR_SECONDS: u64 = 365 * 24 * 3600;

/// The syslog facility inSync events carry unless the console sets another.
const DEFAULT_FACILITY: u8 = 23;

/// What Druva calls inSync in its product IDs (reports, events v3).
pub(crate) const ENDPOINTS_PRODUCT_ID: u64 = 8193;

const FIRST_NAMES: &[&str] = &[
    "Ada",
    "Alan",
    "Barbara",
    "Claude",
    "Dennis",
    "Edsger",
    "Frances",
    "Grace",
    "Hedy",
    "John",
    "Katherine",
    "Ken",
    "Linus",
    "Margaret",
    "Radia",
    "Tim",
];
const LAST_NAMES: &[&str] = &[
    "Allen",
    "Berners-Lee",
    "Dijkstra",
    "Hamilton",
    "Hopper",
    "Johnson",
    "Lamarr",
    "Liskov",
    "Lovelace",
    "McCarthy",
    "Perlman",
    "Ritchie",
    "Shannon",
    "Thompson",
    "Torvalds",
    "Turing",
];
const PROFILES: &[(&str, &str)] = &[
    ("Default", "Default backup profile"),
    ("Engineering", "Source trees and build machines"),
    ("Sales", "Laptops of the field team"),
    ("Executives", "Extended retention"),
    ("Offboarded", "Preserved users who left"),
];
const STORAGES: &[&str] = &["Druva-US-East", "Druva-EU-Central", "Druva-AP-South"];
/// `platformOS` as Druva's devices filter spells it, and a device name prefix.
const PLATFORMS: &[(&str, &str)] = &[
    ("win32", "LAPTOP"),
    ("darwin", "MACBOOK"),
    ("linux2", "WORKSTATION"),
];
const CLIENT_VERSIONS: &[&str] = &["7.5.0r", "7.5.2r", "7.6.0r", "7.6.1r"];
const EVENT_TYPES: &[(&str, &str)] = &[
    ("Backup", "Backed up successfully"),
    ("Backup", "Backed up with Errors"),
    ("Restore", "Restored successfully"),
    ("Login", "Logged in"),
];
/// The last backup status of a device, as the `epLastBackupStatus` report
/// shows it; Druva's reporting sample filters on "Backup Failed".
const LAST_BACKUP_STATUSES: &[&str] = &[
    "Backup Successful",
    "Backup Successful",
    "Backup Successful",
    "Backed up with Errors",
    "Backup Failed",
];

/// Unix seconds, serialized as an RFC 3339 UTC timestamp like Druva's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Timestamp(pub u64);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&iso8601(self.0))
    }
}

/// An inSync user, as `/insync/usermanagement/v1/users` lists it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct User {
    #[serde(rename = "userID")]
    pub id: u64,
    #[serde(rename = "userName")]
    pub name: String,
    #[serde(rename = "emailID")]
    pub email: String,
    #[serde(rename = "profileID")]
    pub profile_id: u64,
    #[serde(rename = "storageID")]
    pub storage_id: u64,
    #[serde(rename = "cacheID")]
    pub cache_id: u64,
    pub status: String,
    pub added_on: Timestamp,
    pub privacy_settings_enabled: bool,
    #[serde(rename = "ldapGUID")]
    pub ldap_guid: String,
}

/// The fields a `POST` creates a user from, and a `PUT` / `PATCH` may change.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct UserFields {
    #[serde(rename = "userName")]
    pub name: Option<String>,
    #[serde(rename = "emailID")]
    pub email: Option<String>,
    #[serde(rename = "profileID")]
    pub profile_id: Option<u64>,
    #[serde(rename = "storageID")]
    pub storage_id: Option<u64>,
    pub status: Option<String>,
}

/// An inSync device, as `/insync/endpoints/v1/devices` lists it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Device {
    #[serde(rename = "deviceID")]
    pub id: u64,
    #[serde(rename = "deviceName")]
    pub name: String,
    #[serde(rename = "userID")]
    pub user_id: u64,
    pub user_name: String,
    #[serde(rename = "platformOS")]
    pub platform: &'static str,
    pub client_version: &'static str,
    #[serde(rename = "deviceStatus")]
    pub status: &'static str,
    pub upgrade_state: &'static str,
    pub serial_number: String,
    pub uuid: String,
    pub added_on: Timestamp,
    pub last_connected: Timestamp,
    #[serde(rename = "deviceMarkedInactive")]
    pub marked_inactive: bool,
    /// What the `epLastBackupStatus` report says of the device's last backup.
    #[serde(skip)]
    pub last_backup_status: &'static str,
    #[serde(skip)]
    pub ip: String,
}

/// The last successful backup of a device, as
/// `/insync/endpoints/v1/backups?lastSuccessful=true` lists it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Backup {
    #[serde(rename = "deviceID")]
    pub device_id: u64,
    #[serde(rename = "backupStatus")]
    pub status: &'static str,
    pub files_backed_up: u64,
    pub bytes_transferred: u64,
    pub files_missed: u64,
    pub snapshot_size: String,
    pub start_time: Timestamp,
    pub end_time: Timestamp,
    pub system_settings_backed_up: bool,
}

/// A restore activity, as `/insync/endpoints/v1/restores` lists it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Restore {
    #[serde(rename = "restoreID")]
    pub id: u64,
    #[serde(rename = "deviceID")]
    pub device_id: u64,
    #[serde(rename = "targetDeviceID")]
    pub target_device_id: u64,
    #[serde(rename = "userID")]
    pub user_id: u64,
    #[serde(rename = "restoreLocation")]
    pub location: &'static str,
    pub start_time: Timestamp,
    pub end_time: Timestamp,
    pub status: &'static str,
    #[serde(rename = "restoreSize")]
    pub size: String,
    #[serde(rename = "numberOfFilesRestored")]
    pub files_restored: u64,
    #[serde(rename = "numberOfFilesMissed")]
    pub files_missed: u64,
    #[serde(rename = "restoreMode")]
    pub mode: &'static str,
    #[serde(rename = "systemSettingsRestore")]
    pub system_settings: bool,
    pub failure_reason: &'static str,
}

/// A storage, as `/insync/storagemanagement/v1/storages` lists it. Druva's
/// `OpenAPI` copy spells the ID `StorageID`, capital S, unlike every other ID.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Storage {
    #[serde(rename = "StorageID")]
    pub id: u64,
    #[serde(rename = "storageName")]
    pub name: &'static str,
    #[serde(rename = "storageUsage")]
    pub usage: String,
    #[serde(rename = "totalSizeOfBackedUpFiles")]
    pub backed_up: String,
}

/// An inSync profile, as `/insync/profilemanagement/v1/profiles` lists it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Profile {
    #[serde(rename = "profileID")]
    pub id: u64,
    #[serde(rename = "profileName")]
    pub name: &'static str,
    #[serde(rename = "profileDescription")]
    pub description: &'static str,
}

/// An inSync event, as `/insync/eventmanagement/v2/events` lists it, with
/// the fields a SIEM reads.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Event {
    #[serde(rename = "eventID")]
    pub id: u64,
    #[serde(rename = "eventType")]
    pub kind: &'static str,
    #[serde(rename = "eventState")]
    pub state: &'static str,
    pub timestamp: Timestamp,
    #[serde(rename = "inSyncUserID")]
    pub user_id: u64,
    #[serde(rename = "inSyncUserName")]
    pub user_name: String,
    #[serde(rename = "inSyncUserEmail")]
    pub user_email: String,
    #[serde(rename = "inSyncDataSourceID")]
    pub device_id: u64,
    #[serde(rename = "inSyncDataSourceName")]
    pub device_name: String,
    #[serde(rename = "profileID")]
    pub profile_id: u64,
    pub profile_name: &'static str,
    #[serde(rename = "clientOS")]
    pub client_os: &'static str,
    pub client_version: &'static str,
    pub ip: String,
    #[serde(rename = "eventDetails")]
    pub details: String,
    pub facility: u8,
    pub severity: u8,
    pub initiator: Option<String>,
}

/// A Phoenix organization, as `/phoenix/organization/v1/orgs` lists it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Org {
    pub id: u64,
    pub name: String,
    pub description: String,
    pub status: &'static str,
    /// Bytes on the organization's sources, for its storage usage report.
    #[serde(skip)]
    pub source_bytes: u64,
}

/// The whole synthetic data set of one tenant.
#[derive(Clone, Debug)]
pub(crate) struct DataSet {
    pub users: Vec<User>,
    pub devices: Vec<Device>,
    pub backups: Vec<Backup>,
    pub restores: Vec<Restore>,
    pub storages: Vec<Storage>,
    pub profiles: Vec<Profile>,
    pub events: Vec<Event>,
    pub orgs: Vec<Org>,
    next_user_id: u64,
    /// Draws the events added later, so that they too follow from the seed.
    rng: StdRng,
}

/// How a tenant's users are named.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape<'a> {
    pub seed: u64,
    pub users: usize,
    /// The part after `@` of every user's email.
    pub email_domain: &'a str,
}

impl DataSet {
    /// `users` users with one or two devices each (each device with its last
    /// successful backup, one in four with a restore), three events per user,
    /// the storages, the five profiles and three organizations, all drawn
    /// from `seed`.
    pub fn generate(seed: u64, users: usize) -> Self {
        Self::generate_shaped(Shape {
            seed,
            users,
            email_domain: "example.com",
        })
    }

    pub fn generate_shaped(shape: Shape<'_>) -> Self {
        let mut rng = StdRng::seed_from_u64(shape.seed);
        let profiles = generate_profiles();
        let users: Vec<User> = (1..=shape.users as u64)
            .map(|id| generate_user(&mut rng, id, shape.email_domain))
            .collect();
        let devices = generate_devices(&mut rng, &users);
        let backups = devices
            .iter()
            .map(|device| generate_backup(&mut rng, device))
            .collect();
        let restores = generate_restores(&mut rng, &devices);
        let mut data = DataSet {
            next_user_id: users.len() as u64 + 1,
            storages: generate_storages(&mut rng, users.is_empty()),
            orgs: if users.is_empty() {
                Vec::new()
            } else {
                generate_orgs(&mut rng)
            },
            users,
            devices,
            backups,
            restores,
            profiles,
            events: Vec::new(),
            rng,
        };
        data.add_events(shape.users.saturating_mul(3));
        data
    }

    /// A tenant with nothing in it (an MSP's hollow customer).
    pub fn empty(seed: u64) -> Self {
        let mut data = Self::generate(seed, 0);
        data.profiles.clear();
        data
    }

    pub fn user(&self, id: u64) -> Option<&User> {
        self.users.iter().find(|user| user.id == id)
    }

    pub fn device(&self, id: u64) -> Option<&Device> {
        self.devices.iter().find(|device| device.id == id)
    }

    pub fn profile_name(&self, id: u64) -> &'static str {
        profile_name(&self.profiles, id)
    }

    pub fn storage_name(&self, id: u64) -> &'static str {
        self.storages
            .iter()
            .find(|storage| storage.id == id)
            .map_or("", |storage| storage.name)
    }

    /// Appends `count` events, each on a random device of a user, timed after
    /// the last one. Without devices there is nothing to report on, and
    /// nothing is added. Returns how many were added.
    pub fn add_events(&mut self, count: usize) -> usize {
        if self.devices.is_empty() {
            return 0;
        }
        let step = (YEAR_SECONDS / (self.users.len() as u64 * 3).max(1)).max(1);
        let before = self.events.len();
        // Each event's user by id: a search of the list each time made the
        // 300,000 events of 100,000 users take minutes.
        let users: HashMap<u64, &User> = self.users.iter().map(|user| (user.id, user)).collect();
        for _ in 0..count {
            let id = self.events.len() as u64 + 1;
            let Some(device) = self.devices.choose(&mut self.rng) else {
                break;
            };
            // Every device belongs to a user: delete_user removes both.
            let Some(&user) = users.get(&device.user_id) else {
                break;
            };
            let event = generate_event(
                &mut self.rng,
                id,
                Timestamp(EPOCH + id * step),
                user,
                device,
                profile_name(&self.profiles, user.profile_id),
            );
            self.events.push(event);
        }
        self.events.len() - before
    }

    /// Adds a user from the fields of a `POST`; `None` when `userName` or
    /// `emailID` is missing.
    pub fn create_user(&mut self, fields: UserFields) -> Option<User> {
        let user = User {
            id: self.next_user_id,
            name: fields.name?,
            email: fields.email?,
            profile_id: fields.profile_id.unwrap_or(1),
            storage_id: fields.storage_id.unwrap_or(1),
            cache_id: 0,
            status: fields.status.unwrap_or_else(|| "active".to_owned()),
            added_on: Timestamp(EPOCH + YEAR_SECONDS),
            privacy_settings_enabled: false,
            ldap_guid: String::new(),
        };
        self.next_user_id += 1;
        self.users.push(user.clone());
        Some(user)
    }

    /// Changes the given fields of a user; `None` when there is no such user.
    pub fn update_user(&mut self, id: u64, fields: UserFields) -> Option<User> {
        let user = self.users.iter_mut().find(|user| user.id == id)?;
        if let Some(name) = fields.name {
            user.name = name;
        }
        if let Some(email) = fields.email {
            user.email = email;
        }
        if let Some(profile_id) = fields.profile_id {
            user.profile_id = profile_id;
        }
        if let Some(storage_id) = fields.storage_id {
            user.storage_id = storage_id;
        }
        if let Some(status) = fields.status {
            user.status = status;
        }
        Some(user.clone())
    }

    /// Removes a user with its devices and their backups and restores;
    /// whether there was such a user. Past events stay, as in an audit log.
    pub fn delete_user(&mut self, id: u64) -> bool {
        let before = self.users.len();
        self.users.retain(|user| user.id != id);
        self.devices.retain(|device| device.user_id != id);
        let devices = &self.devices;
        self.backups
            .retain(|backup| devices.iter().any(|device| device.id == backup.device_id));
        self.restores.retain(|restore| restore.user_id != id);
        self.users.len() != before
    }
}

fn profile_name(profiles: &[Profile], id: u64) -> &'static str {
    profiles
        .iter()
        .find(|profile| profile.id == id)
        .map_or("Default", |profile| profile.name)
}

fn pick<T: Copy + Default>(rng: &mut StdRng, choices: &[T]) -> T {
    choices.choose(rng).copied().unwrap_or_default()
}

fn random_time(rng: &mut StdRng) -> Timestamp {
    Timestamp(EPOCH + rng.random_range(0..YEAR_SECONDS))
}

fn hex(rng: &mut StdRng, digits: usize) -> String {
    (0..digits)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// A GUID-shaped identifier, `8-4-4-4-12` hex digits.
pub(crate) fn guid(rng: &mut StdRng) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        hex(rng, 8),
        hex(rng, 4),
        hex(rng, 4),
        hex(rng, 4),
        hex(rng, 12)
    )
}

fn generate_user(rng: &mut StdRng, id: u64, email_domain: &str) -> User {
    let first = pick(rng, FIRST_NAMES);
    let last = pick(rng, LAST_NAMES);
    let status = if rng.random_ratio(1, 10) {
        "preserved"
    } else {
        "active"
    };
    User {
        id,
        name: format!("{first} {last}"),
        email: format!(
            "{}.{}.{id}@{email_domain}",
            first.to_lowercase(),
            last.to_lowercase()
        ),
        profile_id: rng.random_range(1..=PROFILES.len() as u64),
        storage_id: rng.random_range(1..=STORAGES.len() as u64),
        cache_id: rng.random_range(0..=2),
        status: status.to_owned(),
        added_on: random_time(rng),
        privacy_settings_enabled: rng.random_ratio(1, 4),
        ldap_guid: hex(rng, 32).to_uppercase(),
    }
}

fn generate_devices(rng: &mut StdRng, users: &[User]) -> Vec<Device> {
    let mut devices = Vec::with_capacity(users.len() * 3 / 2);
    for user in users {
        let count = rng.random_range(1..=2);
        for _ in 0..count {
            let id = devices.len() as u64 + 1;
            let (platform, kind) = pick(rng, PLATFORMS);
            let added_on = random_time(rng);
            devices.push(Device {
                id,
                name: format!("{kind}-{id:05}"),
                user_id: user.id,
                user_name: user.name.clone(),
                platform,
                client_version: pick(rng, CLIENT_VERSIONS),
                status: "enabled",
                upgrade_state: "UPTODATE",
                serial_number: format!("SN{:010}", rng.random_range(0..10_000_000_000u64)),
                uuid: guid(rng),
                added_on,
                last_connected: Timestamp(
                    added_on.0 + rng.random_range(0..=EPOCH + YEAR_SECONDS - added_on.0),
                ),
                marked_inactive: rng.random_ratio(1, 20),
                last_backup_status: pick(rng, LAST_BACKUP_STATUSES),
                ip: format!(
                    "10.{}.{}.{}",
                    rng.random_range(0..=255),
                    rng.random_range(0..=255),
                    rng.random_range(1..=254)
                ),
            });
        }
    }
    devices
}

/// The last successful backup of a device: it ended before the device last
/// connected.
fn generate_backup(rng: &mut StdRng, device: &Device) -> Backup {
    let duration = rng.random_range(60..=7200);
    let end = device.last_connected.0.max(device.added_on.0 + duration);
    let files_backed_up = rng.random_range(10..=50_000);
    Backup {
        device_id: device.id,
        status: "Backed up successfully",
        files_backed_up,
        bytes_transferred: files_backed_up * rng.random_range(1_000..=200_000),
        files_missed: rng.random_range(0..=20),
        snapshot_size: format!("{} MB", rng.random_range(100..=90_000)),
        start_time: Timestamp(end - duration),
        end_time: Timestamp(end),
        system_settings_backed_up: rng.random_bool(0.5),
    }
}

fn generate_restores(rng: &mut StdRng, devices: &[Device]) -> Vec<Restore> {
    let mut restores = Vec::new();
    for device in devices {
        if !rng.random_ratio(1, 4) {
            continue;
        }
        let start = random_time(rng);
        let files_restored = rng.random_range(1..=5_000);
        restores.push(Restore {
            id: restores.len() as u64 + 1,
            device_id: device.id,
            target_device_id: device.id,
            user_id: device.user_id,
            location: "Original location",
            start_time: start,
            end_time: Timestamp(start.0 + rng.random_range(30..=3600)),
            status: "Successful",
            size: format!("{} MB", rng.random_range(1..=20_000)),
            files_restored,
            files_missed: 0,
            mode: "Web",
            system_settings: false,
            failure_reason: "",
        });
    }
    restores
}

fn generate_storages(rng: &mut StdRng, hollow: bool) -> Vec<Storage> {
    if hollow {
        return Vec::new();
    }
    STORAGES
        .iter()
        .zip(1..)
        .map(|(name, id)| Storage {
            id,
            name,
            usage: format!("{:.2} GB", rng.random_range(1.0..5_000.0)),
            backed_up: format!("{:.2} GB", rng.random_range(5_000.0..50_000.0)),
        })
        .collect()
}

fn generate_profiles() -> Vec<Profile> {
    PROFILES
        .iter()
        .zip(1..)
        .map(|(&(name, description), id)| Profile {
            id,
            name,
            description,
        })
        .collect()
}

fn generate_event(
    rng: &mut StdRng,
    id: u64,
    timestamp: Timestamp,
    user: &User,
    device: &Device,
    profile_name: &'static str,
) -> Event {
    let (kind, state) = pick(rng, EVENT_TYPES);
    let files = rng.random_range(0..=5_000u64);
    let bytes = files * rng.random_range(0..=100_000u64);
    let details = match kind {
        "Backup" => format!(
            "Total Backup Size:{bytes}, Files Backed up:{files}, Files Missed:{}, \
             Total Bytes Transferred:{bytes}, eventsGroupId:{id}",
            rng.random_range(0..=5)
        ),
        "Restore" => format!(
            "Total Restored Size:{bytes}, Files Restored:{files}, Files Missed:0, \
             Total Bytes Transferred:{bytes}, eventsGroupId:{id}"
        ),
        _ => format!("Login from {}, eventsGroupId:{id}", device.ip),
    };
    Event {
        id,
        kind,
        state,
        timestamp,
        user_id: user.id,
        user_name: user.name.clone(),
        user_email: user.email.clone(),
        device_id: device.id,
        device_name: device.name.clone(),
        profile_id: user.profile_id,
        profile_name,
        client_os: device.platform,
        client_version: device.client_version,
        ip: device.ip.clone(),
        details,
        facility: DEFAULT_FACILITY,
        severity: rng.random_range(3..=6),
        initiator: None,
    }
}

fn generate_orgs(rng: &mut StdRng) -> Vec<Org> {
    ["Default Organization", "Europe", "Research"]
        .iter()
        .zip(1..)
        .map(|(name, id)| Org {
            id,
            name: (*name).to_owned(),
            description: format!("{name} (synthetic)"),
            status: "active",
            source_bytes: rng.random_range(1u64 << 30..1u64 << 42),
        })
        .collect()
}

/// Formats Unix seconds as an RFC 3339 UTC timestamp, `2023-05-17T08:30:00Z`.
pub(crate) fn iso8601(unix_seconds: u64) -> String {
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(unix_seconds);
    humantime::format_rfc3339_seconds(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_data_set() {
        let first = DataSet::generate(7, 50);
        let second = DataSet::generate(7, 50);
        assert_eq!(first.users, second.users);
        assert_ne!(first.users, DataSet::generate(8, 50).users);
    }

    #[test]
    fn every_user_has_one_or_two_devices_each_with_its_last_backup() {
        let data = DataSet::generate(1, 100);
        assert_eq!(data.users.len(), 100);
        for user in &data.users {
            let devices = data.devices.iter().filter(|d| d.user_id == user.id).count();
            assert!((1..=2).contains(&devices), "user {} has {devices}", user.id);
        }
        assert_eq!(data.backups.len(), data.devices.len());
        for (backup, device) in data.backups.iter().zip(&data.devices) {
            assert_eq!(backup.device_id, device.id);
            assert!(backup.start_time < backup.end_time);
        }
        for restore in &data.restores {
            assert_eq!(
                data.device(restore.device_id).unwrap().user_id,
                restore.user_id
            );
        }
        assert_eq!(data.events.len(), 300);
    }

    #[test]
    fn events_reference_a_device_and_its_user() {
        let mut data = DataSet::generate(2, 30);
        assert_eq!(data.add_events(7), 7);
        assert_eq!(data.events.len(), 97);
        for event in &data.events {
            let device = data.device(event.device_id).unwrap();
            let user = data.user(event.user_id).unwrap();
            assert_eq!(device.user_id, user.id);
            assert_eq!(event.device_name, device.name);
            assert_eq!(event.user_email, user.email);
            assert_eq!(event.ip, device.ip);
        }
        let times: Vec<Timestamp> = data.events.iter().map(|e| e.timestamp).collect();
        assert!(times.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn an_empty_data_set_has_nothing_to_add_events_to() {
        let mut data = DataSet::empty(3);
        assert_eq!(data.add_events(5), 0);
        assert!(data.users.is_empty() && data.events.is_empty() && data.storages.is_empty());
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(EPOCH), "2023-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400 + 3661), "2000-02-29T01:01:01Z");
    }

    #[test]
    fn users_can_be_created_updated_and_deleted() {
        let mut data = DataSet::generate(0, 3);
        let created = data
            .create_user(UserFields {
                name: Some("New User".into()),
                email: Some("new@example.com".into()),
                ..UserFields::default()
            })
            .unwrap();
        assert_eq!(created.id, 4);
        let renamed = UserFields {
            name: Some("Renamed".into()),
            ..UserFields::default()
        };
        assert_eq!(data.update_user(4, renamed).unwrap().name, "Renamed");
        assert!(data.delete_user(4));
        assert!(!data.delete_user(4));
        assert!(data.create_user(UserFields::default()).is_none());
    }
}
