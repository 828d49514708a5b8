//! The admin API under `/admin/v1`: configuration objects and admin keys. Every route takes an
//! [`AdminCaller`](super::auth::AdminCaller); every change writes an audit line.

pub mod actors;
mod admin_keys;
mod channels;
mod cluster;
mod endpoints;
mod file_channels;
mod links;
pub mod messages;
pub mod services;
pub mod subscriptions;
mod topics;

use actix_web::web;
use serde::Deserialize;
use signalbox_schema::Page;

use super::error::{blocking, ApiError};
use super::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    topics::configure(cfg);
    endpoints::configure(cfg);
    subscriptions::configure(cfg);
    admin_keys::configure(cfg);
    messages::configure(cfg);
    services::configure(cfg);
    file_channels::configure(cfg);
    channels::configure(cfg);
    actors::configure(cfg);
    links::configure(cfg);
    cluster::configure(cfg);
}

/// `?limit=&offset=` of list routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl PageQuery {
    pub fn page(&self) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(1000);
        let offset = self.offset.unwrap_or(0);
        if !(1..=10_000).contains(&limit) || offset < 0 {
            return Err(ApiError::bad_request("limit must be 1–10000 and offset not negative"));
        }
        Ok(Page { limit, offset })
    }
}

/// One page of a list the store answers whole (the short configuration lists).
pub fn page_of<T>(rows: &[T], page: Page) -> impl Iterator<Item = &T> {
    rows.iter().skip(page.offset as usize).take(page.limit as usize)
}

/// A path id that must be a number.
pub fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().map_err(|_| ApiError::bad_request(format!("`{raw}` is not a numeric id")))
}

/// A store call on the object a numeric path id names; a missing one is a 404 naming it.
pub async fn with_id<T: Send + 'static>(
    state: &AppState,
    id: i64,
    what: &'static str,
    call: impl FnOnce(&signalbox_schema::Store, i64) -> Result<T, signalbox_schema::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    blocking(move || call(&store, id))
        .await
        .map_err(|e| e.when_not_found(|| format!("no {what} with id {id}")))
}

/// Refuses a create that leaves out a required field, naming the first one missing.
pub fn required(fields: &[(&str, bool)]) -> Result<(), ApiError> {
    match fields.iter().find(|(_, given)| !given) {
        Some((name, _)) => Err(ApiError::bad_request(format!("`{name}` is required"))),
        None => Ok(()),
    }
}

/// Checks a value is one of `allowed`, naming them when it is not.
pub fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), ApiError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!("`{field}` must be one of {}, not `{value}`", allowed.join(", "))))
    }
}
