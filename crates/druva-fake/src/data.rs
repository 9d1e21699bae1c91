//! The seeded synthetic inSync data set: users, their devices, profiles,
//! events and Phoenix organizations, with Druva's field names.
//!
//! Everything is drawn from one seeded generator, so a seed always gives the
//! same data set (for a given druva version), and tests can assert on it.

use std::time::{Duration, SystemTime};

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// 2023-01-01T00:00:00Z: every synthetic date falls in the year after it.
const EPOCH: u64 = 1_672_531_200;
const YEAR_SECONDS: u64 = 365 * 24 * 3600;

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
const PLATFORMS: &[(&str, &str)] = &[
    ("Windows", "LAPTOP"),
    ("Mac", "MACBOOK"),
    ("Linux", "WORKSTATION"),
];
const CLIENT_VERSIONS: &[&str] = &["7.5.0r", "7.5.2r", "7.6.0r", "7.6.1r"];
const EVENT_TYPES: &[(&str, &str)] = &[
    ("Backup", "Backed up successfully"),
    ("Backup", "Backed up with Errors"),
    ("Restore", "Restored successfully"),
    ("Login", "Logged in"),
];

/// An inSync user, as `/insync/usermanagement/v1/users` lists it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
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
    pub status: String,
    #[serde(rename = "addedOn")]
    pub added_on: String,
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
pub(crate) struct Device {
    #[serde(rename = "deviceID")]
    pub id: u64,
    #[serde(rename = "deviceName")]
    pub name: String,
    #[serde(rename = "userID")]
    pub user_id: u64,
    #[serde(rename = "userName")]
    pub user_name: String,
    #[serde(rename = "platformOS")]
    pub platform: &'static str,
    #[serde(rename = "clientVersion")]
    pub client_version: &'static str,
    #[serde(rename = "deviceStatus")]
    pub status: &'static str,
    #[serde(rename = "serialNumber")]
    pub serial_number: String,
    #[serde(rename = "addedOn")]
    pub added_on: String,
    #[serde(rename = "lastConnected")]
    pub last_connected: String,
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

/// An inSync event, as `/insync/eventmanagement/v2/events` lists it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Event {
    #[serde(rename = "eventID")]
    pub id: u64,
    #[serde(rename = "eventType")]
    pub kind: &'static str,
    #[serde(rename = "eventState")]
    pub state: &'static str,
    #[serde(rename = "timestamp")]
    pub timestamp: String,
    #[serde(rename = "inSyncUserID")]
    pub user_id: u64,
    #[serde(rename = "inSyncUserName")]
    pub user_name: String,
    #[serde(rename = "inSyncUserEmail")]
    pub user_email: String,
    #[serde(rename = "profileID")]
    pub profile_id: u64,
    #[serde(rename = "profileName")]
    pub profile_name: &'static str,
    #[serde(rename = "clientOS")]
    pub client_os: &'static str,
    #[serde(rename = "clientVersion")]
    pub client_version: &'static str,
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
}

/// The whole synthetic data set of one server.
#[derive(Clone, Debug)]
pub(crate) struct DataSet {
    pub users: Vec<User>,
    pub devices: Vec<Device>,
    pub profiles: Vec<Profile>,
    pub events: Vec<Event>,
    pub orgs: Vec<Org>,
    next_user_id: u64,
}

impl DataSet {
    /// `users` users with one or two devices each, three events per user, the
    /// five profiles and three organizations, all drawn from `seed`.
    pub fn generate(seed: u64, users: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let profiles = generate_profiles();
        let users: Vec<User> = (1..=users as u64)
            .map(|id| generate_user(&mut rng, id))
            .collect();
        let devices = generate_devices(&mut rng, &users);
        let events = generate_events(&mut rng, &users, &profiles);
        DataSet {
            next_user_id: users.len() as u64 + 1,
            users,
            devices,
            profiles,
            events,
            orgs: generate_orgs(),
        }
    }

    pub fn user(&self, id: u64) -> Option<&User> {
        self.users.iter().find(|user| user.id == id)
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
            status: fields.status.unwrap_or_else(|| "active".to_owned()),
            added_on: iso8601(EPOCH + YEAR_SECONDS),
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

    /// Removes a user and its devices; whether there was such a user.
    pub fn delete_user(&mut self, id: u64) -> bool {
        let before = self.users.len();
        self.users.retain(|user| user.id != id);
        self.devices.retain(|device| device.user_id != id);
        self.users.len() != before
    }
}

fn pick<T: Copy + Default>(rng: &mut StdRng, choices: &[T]) -> T {
    choices.choose(rng).copied().unwrap_or_default()
}

fn random_date(rng: &mut StdRng) -> String {
    iso8601(EPOCH + rng.random_range(0..YEAR_SECONDS))
}

fn generate_user(rng: &mut StdRng, id: u64) -> User {
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
            "{}.{}.{id}@example.com",
            first.to_lowercase(),
            last.to_lowercase()
        ),
        profile_id: rng.random_range(1..=PROFILES.len() as u64),
        storage_id: rng.random_range(1..=3),
        status: status.to_owned(),
        added_on: random_date(rng),
    }
}

fn generate_devices(rng: &mut StdRng, users: &[User]) -> Vec<Device> {
    let mut devices = Vec::with_capacity(users.len() * 3 / 2);
    for user in users {
        let count = rng.random_range(1..=2);
        for _ in 0..count {
            let id = devices.len() as u64 + 1;
            let (platform, kind) = pick(rng, PLATFORMS);
            devices.push(Device {
                id,
                name: format!("{kind}-{id:05}"),
                user_id: user.id,
                user_name: user.name.clone(),
                platform,
                client_version: pick(rng, CLIENT_VERSIONS),
                status: "Enabled",
                serial_number: format!("SN{:010}", rng.random_range(0..10_000_000_000u64)),
                added_on: random_date(rng),
                last_connected: random_date(rng),
            });
        }
    }
    devices
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

fn generate_events(rng: &mut StdRng, users: &[User], profiles: &[Profile]) -> Vec<Event> {
    let count = users.len() as u64 * 3;
    let step = (YEAR_SECONDS / count.max(1)).max(1);
    (1..=count)
        .filter_map(|id| {
            let user = users.choose(rng)?;
            let (event_type, state) = pick(rng, EVENT_TYPES);
            let profile_name = profiles
                .iter()
                .find(|profile| profile.id == user.profile_id)
                .map_or("Default", |profile| profile.name);
            Some(Event {
                id,
                kind: event_type,
                state,
                timestamp: iso8601(EPOCH + id * step),
                user_id: user.id,
                user_name: user.name.clone(),
                user_email: user.email.clone(),
                profile_id: user.profile_id,
                profile_name,
                client_os: pick(rng, PLATFORMS).0,
                client_version: pick(rng, CLIENT_VERSIONS),
                severity: rng.random_range(3..=6),
                initiator: None,
            })
        })
        .collect()
}

fn generate_orgs() -> Vec<Org> {
    ["Default Organization", "Europe", "Research"]
        .iter()
        .zip(1..)
        .map(|(name, id)| Org {
            id,
            name: (*name).to_owned(),
            description: format!("{name} (synthetic)"),
            status: "active",
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
    fn every_user_has_one_or_two_devices() {
        let data = DataSet::generate(1, 100);
        assert_eq!(data.users.len(), 100);
        for user in &data.users {
            let devices = data.devices.iter().filter(|d| d.user_id == user.id).count();
            assert!((1..=2).contains(&devices), "user {} has {devices}", user.id);
        }
        assert_eq!(data.events.len(), 300);
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
