//! The tenants of a fake server: one for a plain credential, or an MSP's
//! customers, each with a data set of its own.
//!
//! A customer's data follows from the server's seed and the customer's
//! place in the listing, so a seed always gives the same customers. With two
//! or more customers the last one is hollow, as Druva's MSP sample meets
//! them: no users, no devices, no events, and `"reports": null`.

use std::sync::{Mutex, MutexGuard};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::config::FakeConfig;
use super::data::{self, DataSet, Shape};
use super::lock::lock;

/// Spreads the customers' seeds apart (the 64-bit golden ratio).
const SEED_SPREAD: u64 = 0x9E37_79B9_7F4A_7C15;

/// One tenant: an MSP customer, or the only tenant of a plain credential.
pub(crate) struct Tenant {
    /// The customer ID (`/msp/v2/customers` `id`); the `globalID` of events v3.
    pub id: String,
    pub account_name: String,
    /// A hollow customer has no reports (`"reports": null`).
    pub hollow: bool,
    pub created_on: data::Timestamp,
    data: Mutex<DataSet>,
}

impl Tenant {
    /// The tenants `config` asks for.
    pub fn generate_all(config: &FakeConfig) -> Vec<Tenant> {
        if !config.msp {
            let mut rng = StdRng::seed_from_u64(config.seed ^ SEED_SPREAD);
            return vec![Tenant {
                id: data::guid(&mut rng),
                account_name: "Default".to_owned(),
                hollow: false,
                created_on: data::Timestamp(data::EPOCH),
                data: Mutex::new(DataSet::generate(config.seed, config.users)),
            }];
        }
        (0..config.customers)
            .map(|index| customer(config, index))
            .collect()
    }

    pub fn data(&self) -> MutexGuard<'_, DataSet> {
        lock(&self.data)
    }
}

fn customer(config: &FakeConfig, index: usize) -> Tenant {
    let number = index as u64 + 1;
    let seed = config.seed.wrapping_add(number.wrapping_mul(SEED_SPREAD));
    let mut rng = StdRng::seed_from_u64(seed ^ SEED_SPREAD);
    let hollow = config.customers >= 2 && index + 1 == config.customers;
    let data = if hollow {
        DataSet::empty(seed)
    } else {
        DataSet::generate_shaped(Shape {
            seed,
            users: config.users,
            email_domain: &format!("customer{number}.example.com"),
        })
    };
    Tenant {
        // Shaped like the customer IDs of Druva's MSP API: a GUID and a number.
        id: format!("{}-{}", data::guid(&mut rng), 100 + number),
        account_name: format!("Customer {number:02}"),
        hollow,
        created_on: data::Timestamp(data::EPOCH + number * 86_400),
        data: Mutex::new(data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msp(customers: usize) -> FakeConfig {
        FakeConfig {
            msp: true,
            customers,
            users: 5,
            ..FakeConfig::default()
        }
    }

    #[test]
    fn each_customer_has_its_own_data_and_the_last_of_several_is_hollow() {
        let tenants = Tenant::generate_all(&msp(3));
        assert_eq!(tenants.len(), 3);
        let emails: Vec<String> = tenants
            .iter()
            .map(|tenant| {
                tenant
                    .data()
                    .users
                    .first()
                    .map(|u| u.email.clone())
                    .unwrap_or_default()
            })
            .collect();
        assert!(emails[0].ends_with("@customer1.example.com"));
        assert!(emails[1].ends_with("@customer2.example.com"));
        assert!(tenants[2].hollow && tenants[2].data().users.is_empty());
        assert_ne!(tenants[0].id, tenants[1].id);
        let again = Tenant::generate_all(&msp(3));
        assert_eq!(again[1].id, tenants[1].id);
        assert_eq!(again[1].data().users, tenants[1].data().users);
    }

    #[test]
    fn a_single_customer_is_not_hollow() {
        let tenants = Tenant::generate_all(&msp(1));
        assert!(!tenants[0].hollow);
        assert_eq!(tenants[0].data().users.len(), 5);
    }
}
