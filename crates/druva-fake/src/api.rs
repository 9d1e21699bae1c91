//! The API side of the fake server: the router over the endpoints of every
//! product and `/_echo`, and its answers to a path or method it does not
//! serve.
//!
//! Requests reach this router only after the bearer check in `dispatch`; the
//! handlers live in a module a product (what they share is in `handler`).

use std::sync::Arc;

use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::Router;

use super::data::{Backup, Device, Org, Profile, Restore, Storage, User};
use super::envelope;
use super::state::Shared;
use super::{echo, insync, msp, reporting, streams, users};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            insync::USERS,
            get(insync::list::<User>).post(users::create_user),
        )
        .route(
            "/insync/usermanagement/v1/users/{id}",
            get(users::get_user)
                .put(users::update_user)
                .patch(users::update_user)
                .delete(users::delete_user),
        )
        .route("/insync/endpoints/v1/devices", get(insync::list::<Device>))
        .route("/insync/endpoints/v1/backups", get(insync::list::<Backup>))
        .route(
            "/insync/endpoints/v1/restores",
            get(insync::list::<Restore>),
        )
        .route(
            "/insync/storagemanagement/v1/storages",
            get(insync::list::<Storage>),
        )
        .route(
            "/insync/profilemanagement/v1/profiles",
            get(insync::list::<Profile>),
        )
        .route(streams::EVENTS_V2, get(streams::list_events_v2))
        .route(streams::EVENTS_V3, get(streams::list_events_v3))
        .route(
            streams::PLATFORM_EVENTS_V2,
            get(streams::list_platform_events_v2),
        )
        .route(
            streams::CYBER_RESILIENCE_EVENTS,
            get(streams::list_cyber_resilience_events),
        )
        .route(reporting::REPORTS, get(reporting::list_reports))
        .route(
            "/platform/reporting/{version}/reports/{report_id}",
            post(reporting::report_data),
        )
        .route("/phoenix/organization/v1/orgs", get(insync::list::<Org>))
        .route(
            "/phoenix/storage/v1/orgs/{org_id}/reports/usage",
            get(insync::storage_usage),
        )
        .route(msp::CUSTOMERS, get(msp::list_customers))
        .route(msp::CUSTOMERS_V3, get(msp::list_customers_v3))
        .route("/_echo", any(echo::echo))
        .route("/_echo/{*rest}", any(echo::echo))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(shared)
}

async fn not_found(uri: Uri) -> Response {
    envelope::not_found(&format!("No API at {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    envelope::druva_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "InsyncCommon-405",
        &format!("{method} is not supported on {}", uri.path()),
    )
}
