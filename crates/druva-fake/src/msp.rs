//! The MSP API: the customers of an MSP credential, paged.
//!
//! Druva's MSP sample sends `pageToken` beside an *empty* `pageSize` on later
//! pages; an empty parameter is taken as not sent on `/msp/v2/customers`, so
//! the sample's exact requests work, while a page token beside a real value
//! is refused as on every other list. `/msp/v3/customers`, where Druva lists
//! customers since 2025, takes `pageSize` 1 to 100 and `includeFeatures`,
//! neither of them beside a page token, empty or not. The tenant token
//! exchange is a token endpoint (`token.rs`).

use axum::extract::{RawQuery, State};
use serde::Serialize;

use super::data::Timestamp;
use super::handler::{self, Answer, SharedState};
use super::paging::{self, InvalidParameter};
use super::state::Shared;

pub(crate) const CUSTOMERS: &str = "/msp/v2/customers";
pub(crate) const CUSTOMERS_V3: &str = "/msp/v3/customers";

/// The largest `pageSize` of `/msp/v3/customers`.
const MAX_CUSTOMERS_V3_PAGE: usize = 100;

/// A customer as `/msp/v2/customers` and `/msp/v3/customers` list it.
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
    /// v3 with `includeFeatures=true` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    features: Option<[Feature; 1]>,
}

#[derive(Debug, Serialize)]
struct Feature {
    name: &'static str,
}

/// Every customer, with its features when asked.
fn customers(shared: &Shared, with_features: bool) -> Vec<Customer<'_>> {
    shared
        .tenants
        .iter()
        .map(|tenant| Customer {
            id: &tenant.id,
            account_name: &tenant.account_name,
            customer_name: &tenant.account_name,
            status: 1,
            created_on: tenant.created_on,
            features: with_features.then_some([Feature {
                name: "Security Posture and Observability",
            }]),
        })
        .collect()
}

pub(crate) async fn list_customers(
    State(shared): SharedState,
    RawQuery(query): RawQuery,
) -> Answer {
    let mut params = handler::query_params(query.as_deref());
    params.retain(|_, value| !value.is_empty());
    let query = paging::list_query(params)?;
    paging::check_known(&query.params, &["pageSize"])?;
    let customers = customers(&shared, false);
    handler::token_paged(&shared, &query, "customers", &customers, false)
}

pub(crate) async fn list_customers_v3(
    State(shared): SharedState,
    RawQuery(query): RawQuery,
) -> Answer {
    let query = handler::list_query(query.as_deref())?;
    paging::check_known(&query.params, &["pageSize", "includeFeatures"])?;
    let page_size = paging::bounded_page_size(
        &query.params,
        shared.page_size.min(MAX_CUSTOMERS_V3_PAGE),
        MAX_CUSTOMERS_V3_PAGE,
    )?;
    let with_features = match query.params.get("includeFeatures").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(InvalidParameter::new(
                "Invalid includeFeatures: it must be true or false",
            ))
        }
    };
    let customers = customers(&shared, with_features);
    let page = paging::token_page(&query, page_size, customers.len())?;
    Ok(handler::ok_serialized(&paging::token_page_body(
        "customers",
        &customers,
        &query,
        page,
        shared.last_page(),
        false,
    )))
}
