//! The MSP API: the customers of an MSP credential, paged.
//!
//! Druva's MSP sample sends `pageToken` beside an *empty* `pageSize` on later
//! pages; an empty parameter is taken as not sent, so the sample's exact
//! requests work, while a page token beside a real value is refused as on
//! every other list. The tenant token exchange is a token endpoint
//! (`token.rs`).

use axum::extract::{RawQuery, State};
use serde::Serialize;

use super::data::Timestamp;
use super::handler::{self, Answer, SharedState};
use super::paging;

pub(crate) const CUSTOMERS: &str = "/msp/v2/customers";

/// A customer as `/msp/v2/customers` lists it.
#[derive(Debug, Serialize)]
#[allow(clippy::struct_field_names)] // Druva's field names
struct Customer<'a> {
    id: &'a str,
    #[serde(rename = "accountName")]
    account_name: &'a str,
    #[serde(rename = "customerName")]
    customer_name: &'a str,
    status: u8,
    #[serde(rename = "createdOn")]
    created_on: Timestamp,
}

pub(crate) async fn list_customers(
    State(shared): SharedState,
    RawQuery(query): RawQuery,
) -> Answer {
    let mut params = handler::query_params(query.as_deref());
    params.retain(|_, value| !value.is_empty());
    let query = paging::list_query(params)?;
    paging::check_known(&query.params, &["pageSize"])?;
    let customers: Vec<Customer<'_>> = shared
        .tenants
        .iter()
        .map(|tenant| Customer {
            id: &tenant.id,
            account_name: &tenant.account_name,
            customer_name: &tenant.account_name,
            status: 1,
            created_on: tenant.created_on,
        })
        .collect();
    handler::token_paged(&shared, &query, "customers", &customers, false)
}
