//! The node's HTTP surface: the admin API, operations routes, and (with the data plane) the
//! pub/sub REST API. Every error answer goes through [`error`].

pub mod admin;
pub mod auth;
pub mod error;
mod ops;

use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlers;
use actix_web::web;
use signalbox_actors::secrets::MasterKey;
use signalbox_actors::Metrics;
use signalbox_schema::Store;

use crate::config::Config;

/// What every request handler may reach. Cloned per worker; every field is cheap to clone.
pub struct AppState {
    pub store: Store,
    pub master_key: MasterKey,
    pub metrics: Metrics,
    pub config: Config,
    pub node_name: String,
}

impl AppState {
    /// A topic, endpoint or other configuration object changed.
    pub fn config_changed(&self) {
        log::debug!("event=config_changed node={}", self.node_name);
    }

    /// An endpoint's credentials, patterns or role changed, or it was deleted.
    pub fn credentials_changed(&self, endpoint_id: i64) {
        log::debug!("event=credentials_changed endpoint_id={endpoint_id}");
    }

    /// A subscription was created, edited or deleted.
    pub fn subscription_changed(&self, sub_key: &str) {
        log::debug!("event=subscription_changed sub_key={sub_key}");
    }
}

/// Error handlers that put actix-web's own bodiless answers into the envelope.
pub fn envelope_errors<B: 'static>() -> ErrorHandlers<B> {
    let mut handlers = ErrorHandlers::new();
    for status in [
        StatusCode::NOT_FOUND,
        StatusCode::METHOD_NOT_ALLOWED,
        StatusCode::BAD_REQUEST,
        StatusCode::PAYLOAD_TOO_LARGE,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    ] {
        handlers = handlers.handler(status, error::wrap_plain_errors);
    }
    handlers
}

/// All routes, with body limits and extractor errors mapped to the envelope.
pub fn configure(cfg: &mut web::ServiceConfig, max_body: usize) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(max_body)
            .content_type_required(false)
            .error_handler(|err, _| error::json_error(err).into()),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|err, _| error::ApiError::bad_request(format!("invalid query: {err}")).into()),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|err, _| error::ApiError::bad_request(format!("invalid path: {err}")).into()),
    )
    .configure(ops::configure)
    .service(web::scope("/admin/v1").configure(admin::configure).configure(ops::configure_admin));
}
