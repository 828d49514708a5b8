//! The admin API under `/admin/v1`: configuration objects and admin keys. Every route takes an
//! [`AdminCaller`](super::auth::AdminCaller); every change writes an audit line.

pub mod actors;
mod admin_keys;
mod channels;
mod cluster;
mod connections;
pub mod endpoints;
mod file_channels;
mod links;
pub mod messages;
mod overview;
pub mod services;
pub mod subscriptions;
mod topics;

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use signalbox_schema::Page;

use crate::node::error::{blocking, NodeError};
use crate::node::Node;

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
    overview::configure(cfg);
    connections::configure(cfg);
}

/// `?limit=&offset=` of list routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl PageQuery {
    pub fn page(&self) -> Result<Page, NodeError> {
        let limit = self.limit.unwrap_or(1000);
        let offset = self.offset.unwrap_or(0);
        if !(1..=10_000).contains(&limit) || offset < 0 {
            return Err(NodeError::bad_request("limit must be 1–10000 and offset not negative"));
        }
        Ok(Page { limit, offset })
    }
}

/// One page of a list the store answers whole (the short configuration lists).
pub fn page_of<T>(rows: &[T], page: Page) -> impl Iterator<Item = &T> {
    rows.iter().skip(page.offset as usize).take(page.limit as usize)
}

/// The longest search a list takes.
pub const MAX_SEARCH: usize = 200;

/// `?q=&limit=&offset=` of the configuration lists: `q` is found anywhere in the names a person
/// looks for (case-insensitive; which names, each route says), then one page of the matches.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub q: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl ListQuery {
    pub fn page(&self) -> Result<Page, NodeError> {
        check_search(self.q.as_deref())?;
        PageQuery { limit: self.limit, offset: self.offset }.page()
    }

    /// The search, if any (an empty one is none).
    pub fn q(&self) -> Option<&str> {
        self.q.as_deref().filter(|q| !q.is_empty())
    }
}

/// Refuses a search longer than [`MAX_SEARCH`] characters.
pub fn check_search(q: Option<&str>) -> Result<(), NodeError> {
    if q.is_some_and(|q| q.chars().count() > MAX_SEARCH) {
        return Err(NodeError::bad_request(format!("`q` must be at most {MAX_SEARCH} characters")));
    }
    Ok(())
}

/// The header of a list's answer that says how many objects match its search over all pages;
/// the body stays a JSON array, as clients written before it expect.
pub const TOTAL_COUNT: &str = "X-Total-Count";

/// A list's answer: one page of rows, and the total in [`TOTAL_COUNT`].
pub fn list_answer(rows: Vec<serde_json::Value>, total: usize) -> HttpResponse {
    HttpResponse::Ok().insert_header((TOTAL_COUNT, total.to_string())).json(rows)
}

/// The string fields `names` of a JSON row, for [`search_page`] over rows already made.
pub fn json_fields<'a>(row: &'a serde_json::Value, names: &[&str]) -> Vec<&'a str> {
    names.iter().filter_map(|name| row[*name].as_str()).collect()
}

/// A list held in memory, searched by `q` over the names `fields` gives each row, and paged:
/// the page and how many rows matched.
pub fn search_page<'a, T>(
    rows: &'a [T],
    query: &ListQuery,
    fields: impl Fn(&T) -> Vec<&str>,
) -> Result<(Vec<&'a T>, usize), NodeError> {
    let page = query.page()?;
    Ok(search_rows(rows, query.q(), page.offset as usize, page.limit as usize, fields))
}

/// The rows whose `fields` hold `q`, `take` of them after `skip`, and how many matched.
pub fn search_rows<'a, T>(
    rows: &'a [T],
    q: Option<&str>,
    skip: usize,
    take: usize,
    fields: impl Fn(&T) -> Vec<&str>,
) -> (Vec<&'a T>, usize) {
    let found: Vec<&T> = rows.iter().filter(|r| signalbox_schema::matches(q, &fields(r))).collect();
    let total = found.len();
    (found.into_iter().skip(skip).take(take).collect(), total)
}

/// A path id that must be a number.
pub fn parse_id(raw: &str) -> Result<i64, NodeError> {
    raw.parse::<i64>().map_err(|_| NodeError::bad_request(format!("`{raw}` is not a numeric id")))
}

/// A store call on the object a numeric path id names; a missing one is a 404 naming it.
pub async fn with_id<T: Send + 'static>(
    state: &Node,
    id: i64,
    what: &'static str,
    call: impl FnOnce(&signalbox_schema::Store, i64) -> Result<T, signalbox_schema::StoreError> + Send + 'static,
) -> Result<T, NodeError> {
    let store = state.store.clone();
    blocking(move || call(&store, id))
        .await
        .map_err(|e| e.when_not_found(|| format!("no {what} with id {id}")))
}

/// Refuses a create that leaves out a required field, naming the first one missing.
pub fn required(fields: &[(&str, bool)]) -> Result<(), NodeError> {
    match fields.iter().find(|(_, given)| !given) {
        Some((name, _)) => Err(NodeError::bad_request(format!("`{name}` is required"))),
        None => Ok(()),
    }
}
