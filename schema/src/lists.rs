//! Searched, paged lists for the admin API: a case-insensitive substring (`q`) over the names a
//! person looks for and exact filters (a topic's state, an endpoint's role), one page of the
//! matches in id order, and how many match in all — so a client can show "51–100 of 10 000"
//! without reading 10 000 rows.
//!
//! Both backends run the same SQL: `lower(column) LIKE '%…%' ESCAPE '\'`, with the search
//! lowercased and its `%`, `_` and `\` escaped, so they match literally everywhere.

use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::models::*;
use crate::modes::{EndpointType, Role};
use crate::schema::*;
use crate::store::{Page, Store};
use crate::StoreResult;

diesel::define_sql_function! {
    /// SQL `lower()`: ASCII case folding on SQLite, full Unicode on PostgreSQL.
    fn lower(x: Text) -> Text;
}

/// One page of a list and the number of rows matching its search.
#[derive(Debug, Clone, PartialEq)]
pub struct Found<T> {
    pub rows: Vec<T>,
    pub total: i64,
}

/// What to look for in the topics: `q` anywhere in the name; `name`, `is_active` and `has_gd`
/// exactly.
#[derive(Debug, Clone, Default)]
pub struct TopicSearch {
    pub q: Option<String>,
    pub name: Option<String>,
    pub is_active: Option<bool>,
    pub has_gd: Option<bool>,
}

/// What to look for in the endpoints: `q` anywhere in the name or username; `role` and
/// `endpoint_type` exactly.
#[derive(Debug, Clone, Default)]
pub struct EndpointSearch {
    pub q: Option<String>,
    pub role: Option<Role>,
    pub endpoint_type: Option<EndpointType>,
}

/// What to look for in the subscriptions: `q` anywhere in the sub key, topic or endpoint
/// name; `topic_name` and `endpoint` exactly.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionSearch {
    pub q: Option<String>,
    pub topic_name: Option<String>,
    pub endpoint: Option<String>,
}

/// The `LIKE` pattern that finds `q` anywhere, case-insensitively; `None` for no search.
pub fn like_pattern(q: Option<&str>) -> Option<String> {
    let q = q.filter(|q| !q.is_empty())?;
    let mut pattern = String::with_capacity(q.len() + 2);
    pattern.push('%');
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Some(pattern)
}

/// The same match as the SQL one, for lists held in memory.
pub fn matches(q: Option<&str>, fields: &[&str]) -> bool {
    match q.filter(|q| !q.is_empty()) {
        None => true,
        Some(q) => {
            let q = q.to_lowercase();
            fields.iter().any(|f| f.to_lowercase().contains(&q))
        }
    }
}

impl Store {
    /// Topics that match `search`, a page of them in id order.
    pub fn topics_found(&self, search: &TopicSearch, page: Page) -> StoreResult<Found<Topic>> {
        let mut conn = self.conn()?;
        let pattern = like_pattern(search.q.as_deref());
        let matching = || {
            let mut query = pubsub_topic::table.into_boxed();
            if let Some(p) = &pattern {
                query = query.filter(lower(pubsub_topic::name).like(p.clone()).escape('\\'));
            }
            if let Some(name) = &search.name {
                query = query.filter(pubsub_topic::name.eq(name.clone()));
            }
            if let Some(active) = search.is_active {
                query = query.filter(pubsub_topic::is_active.eq(active));
            }
            if let Some(gd) = search.has_gd {
                query = query.filter(pubsub_topic::has_gd.eq(gd));
            }
            query
        };
        let total = matching().count().get_result(&mut *conn)?;
        let rows = matching()
            .order(pubsub_topic::id)
            .limit(page.limit)
            .offset(page.offset)
            .select(Topic::as_select())
            .load(&mut *conn)?;
        Ok(Found { rows, total })
    }

    /// Endpoints that match `search`, a page of them in id order.
    pub fn endpoints_found(&self, search: &EndpointSearch, page: Page) -> StoreResult<Found<Endpoint>> {
        let mut conn = self.conn()?;
        let pattern = like_pattern(search.q.as_deref());
        let matching = || {
            let mut query = pubsub_endpoint::table.into_boxed();
            if let Some(p) = &pattern {
                let name = lower(pubsub_endpoint::name).like(p.clone()).escape('\\');
                let username =
                    lower(pubsub_endpoint::username.assume_not_null()).like(p.clone()).escape('\\');
                query = query.filter(name.or(username));
            }
            if let Some(role) = search.role {
                query = query.filter(pubsub_endpoint::role.eq(role));
            }
            if let Some(endpoint_type) = search.endpoint_type {
                query = query.filter(pubsub_endpoint::endpoint_type.eq(endpoint_type));
            }
            query
        };
        let total = matching().count().get_result(&mut *conn)?;
        let rows = matching()
            .order(pubsub_endpoint::id)
            .limit(page.limit)
            .offset(page.offset)
            .select(Endpoint::as_select())
            .load(&mut *conn)?;
        Ok(Found { rows, total })
    }

    /// Subscriptions with their topic's and endpoint's names that match `search`, a page of
    /// them in id order.
    pub fn subscriptions_found(
        &self,
        search: &SubscriptionSearch,
        page: Page,
    ) -> StoreResult<Found<(Subscription, String, String)>> {
        let mut conn = self.conn()?;
        let pattern = like_pattern(search.q.as_deref());
        let matching = || {
            let mut query = pubsub_sub::table
                .inner_join(pubsub_topic::table)
                .inner_join(pubsub_endpoint::table)
                .into_boxed();
            if let Some(p) = &pattern {
                query = query.filter(
                    lower(pubsub_sub::sub_key)
                        .like(p.clone())
                        .escape('\\')
                        .or(lower(pubsub_topic::name).like(p.clone()).escape('\\'))
                        .or(lower(pubsub_endpoint::name).like(p.clone()).escape('\\')),
                );
            }
            if let Some(topic) = &search.topic_name {
                query = query.filter(pubsub_topic::name.eq(topic.clone()));
            }
            if let Some(endpoint) = &search.endpoint {
                query = query.filter(pubsub_endpoint::name.eq(endpoint.clone()));
            }
            query
        };
        let total = matching().count().get_result(&mut *conn)?;
        let rows = matching()
            .order(pubsub_sub::id)
            .limit(page.limit)
            .offset(page.offset)
            .select((Subscription::as_select(), pubsub_topic::name, pubsub_endpoint::name))
            .load(&mut *conn)?;
        Ok(Found { rows, total })
    }

    /// GD rows of a subscription's queue (`dead`: its dead letters), for a browser's total.
    pub fn queue_count(&self, sub_key: &str, dead: bool) -> StoreResult<i64> {
        let mut conn = self.conn()?;
        Ok(pubsub_endp_msg_queue::table
            .filter(pubsub_endp_msg_queue::sub_key.eq(sub_key))
            .filter(pubsub_endp_msg_queue::is_deliverable.eq(!dead))
            .count()
            .get_result(&mut *conn)?)
    }

    /// GD messages a topic retains for its first subscriber (see `retained`).
    pub fn retained_count(&self, topic_id: i64) -> StoreResult<i64> {
        let mut conn = self.conn()?;
        Ok(pubsub_message::table
            .filter(pubsub_message::topic_id.eq(topic_id))
            .filter(pubsub_message::is_in_sub_queue.eq(false))
            .count()
            .get_result(&mut *conn)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_matches_literally_and_ignores_case() {
        assert_eq!(like_pattern(None), None);
        assert_eq!(like_pattern(Some("")), None);
        assert_eq!(like_pattern(Some("Orders")).as_deref(), Some("%orders%"));
        assert_eq!(like_pattern(Some("50%_a\\b")).as_deref(), Some("%50\\%\\_a\\\\b%"));
        assert!(matches(Some("ORD"), &["/x/orders"]));
        assert!(matches(None, &["anything"]));
        assert!(!matches(Some("%"), &["/orders"]));
    }
}
