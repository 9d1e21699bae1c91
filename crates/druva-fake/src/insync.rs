//! The token-paged lists of inSync (users, devices, last backups, restores,
//! storages, profiles) and of Phoenix (organizations and their storage usage
//! report), each over the caller's tenant, with its documented filters.

use axum::extract::{Path, RawQuery, State};
use serde::Serialize;
use serde_json::{json, Value};

use super::data::{Backup, DataSet, Device, Org, Profile, Restore, Storage, User};
use super::envelope;
use super::filters::{self, Documented, Filter};
use super::handler::{self, Answer, CallerTenant, SharedState};
use super::paging::ListQuery;

pub(crate) const USERS: &str = "/insync/usermanagement/v1/users";

/// How a tenant's data set serves one list.
pub(crate) struct List<T: 'static> {
    /// The field a page holds the items in.
    field: &'static str,
    items: fn(&DataSet) -> &[T],
    filters: &'static Documented<T>,
    /// Whether a page says how many items the list holds in all.
    with_total_size: bool,
}

/// An item of a list that [`list`] serves.
pub(crate) trait Listed: Serialize + Sized + 'static {
    const LIST: List<Self>;
}

/// Each list: its item, its page's field, where it is in a data set, its
/// documented filters, and whether its pages carry `totalSize`.
macro_rules! lists {
    ($($item:ty: $field:literal, $items:ident, $filters:expr, $total:literal;)*) => {$(
        impl Listed for $item {
            const LIST: List<Self> = List {
                field: $field,
                items: |data| &data.$items,
                filters: $filters,
                with_total_size: $total,
            };
        }
    )*};
}

lists! {
    User: "users", users, filters::USER_FILTERS, true;
    Device: "devices", devices, filters::DEVICE_FILTERS, true;
    // The last successful backup of each device (`lastSuccessful=true`).
    Backup: "backups", backups, filters::BACKUP_FILTERS, true;
    Restore: "restores", restores, filters::RESTORE_FILTERS, true;
    Storage: "storages", storages, &[], true;
    // Profiles carry `nextPageToken` on the last page too, in the
    // `last_page` form, like every inSync list.
    Profile: "profiles", profiles, &[], true;
    // Phoenix's organizations.
    Org: "orgs", orgs, &[], false;
}

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

/// A token-paged list of the caller's tenant, filtered by its documented
/// filters.
pub(crate) async fn list<T: Listed>(
    State(shared): SharedState,
    tenant: CallerTenant,
    RawQuery(query): RawQuery,
) -> Answer {
    let list = T::LIST;
    with_list(&tenant, query.as_deref(), |query, data| {
        let filter = Filter::parse(&query.params, list.filters)?;
        let kept: Vec<&T> = (list.items)(data)
            .iter()
            .filter(|item| filter.keeps(item, data))
            .collect();
        handler::token_paged(&shared, query, list.field, &kept, list.with_total_size)
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
