//! The token-paged lists of inSync (users, devices, last backups, restores,
//! storages, profiles) and of Phoenix (organizations and their storage usage
//! report), each over the caller's tenant, with its documented filters.

use axum::extract::{Path, RawQuery, State};
use serde::Serialize;
use serde_json::{json, Value};

use super::data::{Backup, DataSet, Device, Restore, User};
use super::envelope;
use super::filters::{self, BackupFilter, DeviceFilter, ListFilter, RestoreFilter, UserFilter};
use super::handler::{self, Answer, CallerTenant, SharedState};
use super::paging::ListQuery;
use super::state::Shared;

pub(crate) const USERS: &str = "/insync/usermanagement/v1/users";

/// Reads a list request (a lone page token, or the first request's
/// parameters) and answers it from the caller's data set.
fn with_list(
    tenant: &CallerTenant,
    query: Option<&str>,
    answer: impl FnOnce(&ListQuery, &DataSet) -> Answer,
) -> Answer {
    let query = handler::list_query(query)?;
    answer(&query, &tenant.data())
}

/// A list filtered by its documented filters and paged with `pageToken`.
fn filtered<T: Serialize, F: ListFilter<T>>(
    shared: &Shared,
    tenant: &CallerTenant,
    query: Option<&str>,
    field: &str,
    items: fn(&DataSet) -> &[T],
) -> Answer {
    with_list(tenant, query, |query, data| {
        let filter = F::parse(&query.params)?;
        let kept: Vec<&T> = items(data)
            .iter()
            .filter(|item| filter.keeps(item, data))
            .collect();
        handler::token_paged(shared, query, field, &kept, true)
    })
}

/// Users with Druva's documented filters, paged with `pageToken`.
pub(crate) async fn list_users(
    State(shared): SharedState,
    tenant: CallerTenant,
    RawQuery(query): RawQuery,
) -> Answer {
    filtered::<User, UserFilter>(&shared, &tenant, query.as_deref(), "users", |d| &d.users)
}

pub(crate) async fn list_devices(
    State(shared): SharedState,
    tenant: CallerTenant,
    RawQuery(query): RawQuery,
) -> Answer {
    filtered::<Device, DeviceFilter>(&shared, &tenant, query.as_deref(), "devices", |d| {
        &d.devices
    })
}

/// The last successful backup of each device (`lastSuccessful=true`).
pub(crate) async fn list_backups(
    State(shared): SharedState,
    tenant: CallerTenant,
    RawQuery(query): RawQuery,
) -> Answer {
    filtered::<Backup, BackupFilter>(&shared, &tenant, query.as_deref(), "backups", |d| {
        &d.backups
    })
}

pub(crate) async fn list_restores(
    State(shared): SharedState,
    tenant: CallerTenant,
    RawQuery(query): RawQuery,
) -> Answer {
    let field = "restores";
    filtered::<Restore, RestoreFilter>(&shared, &tenant, query.as_deref(), field, |d| &d.restores)
}

pub(crate) async fn list_storages(
    State(shared): SharedState,
    tenant: CallerTenant,
    RawQuery(query): RawQuery,
) -> Answer {
    with_list(&tenant, query.as_deref(), |query, data| {
        filters::no_filters(&query.params)?;
        handler::token_paged(&shared, query, "storages", &data.storages, true)
    })
}

/// Profiles, token-paged like every inSync list (`nextPageToken` on the last
/// page too, in the `last_page` form).
pub(crate) async fn list_profiles(
    State(shared): SharedState,
    tenant: CallerTenant,
    RawQuery(query): RawQuery,
) -> Answer {
    with_list(&tenant, query.as_deref(), |query, data| {
        filters::no_filters(&query.params)?;
        handler::token_paged(&shared, query, "profiles", &data.profiles, true)
    })
}

pub(crate) async fn list_orgs(
    State(shared): SharedState,
    tenant: CallerTenant,
    RawQuery(query): RawQuery,
) -> Answer {
    with_list(&tenant, query.as_deref(), |query, data| {
        filters::no_filters(&query.params)?;
        handler::token_paged(&shared, query, "orgs", &data.orgs, false)
    })
}

/// Phoenix's storage usage report of one organization, or of all with
/// `OrgID` 0, as Druva's Phoenix script calls it.
pub(crate) async fn storage_usage(
    State(shared): SharedState,
    tenant: CallerTenant,
    Path(org_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Answer {
    let Ok(org_id) = org_id.parse::<u64>() else {
        return Ok(envelope::bad_request(
            "Invalid OrgID: it must be a whole number",
        ));
    };
    with_list(&tenant, query.as_deref(), |query, data| {
        filters::no_filters(&query.params)?;
        if org_id != 0 && !data.orgs.iter().any(|org| org.id == org_id) {
            return Ok(envelope::not_found(&format!(
                "No organization with ID {org_id}"
            )));
        }
        let rows: Vec<Value> = data
            .orgs
            .iter()
            .filter(|org| org_id == 0 || org.id == org_id)
            .map(|org| {
                let source = org.source_bytes;
                let changes = source + source / 5;
                let stored = source / 3;
                json!({
                    "organizationName": org.name,
                    "currentSource": gigabytes(source),
                    "currentSourceInBytes": source,
                    "sourcePlusChanges": gigabytes(changes),
                    "sourcePlusChangesInBytes": changes,
                    "phoenixStorage": gigabytes(stored),
                    "phoenixStorageInBytes": stored,
                })
            })
            .collect();
        handler::token_paged(&shared, query, "storageUsage", &rows, false)
    })
}

#[allow(clippy::cast_precision_loss)] // a size shown to two decimals
fn gigabytes(bytes: u64) -> String {
    format!("{:.2} GB", bytes as f64 / f64::from(1u32 << 30))
}
