//! Unit tests of the sealed values in `Store`: a link's secret sealed for its own id in the
//! transaction that creates it, the listing of stored values with sealed secrets, and the
//! compare-and-set that lets nodes re-seal at once. On a fresh SQLite file, and on a fresh
//! PostgreSQL database when `SIGNALBOX_TEST_PG_URL` names one ([`TestStore`]).

use super::{SealedCell, SealedRow};
use crate::models::*;
use crate::modes::{DeliveryMethod, EndpointType, Role};
use crate::testing::{self, TestStore};
use crate::Store;

fn link(name: &str) -> WsxLinkFields {
    WsxLinkFields {
        name: Some(name.into()),
        address: Some("ws://127.0.0.1:1/wsx".into()),
        username: Some("u".into()),
        secret_enc: Some("ignored: sealed for the row".into()),
        is_zato: Some(true),
        subscription_list: Some("[]".into()),
        ping_interval: Some(45.0),
        auto_reconnect: Some(true),
        invoke_timeout: Some(5.0),
        sub_keys: Some("{}".into()),
        created_at: Some(1),
        ..WsxLinkFields::default()
    }
}

fn subscription(store: &Store, sub_key: &str, push_config: &str) {
    let topic = store.topic_create(testing::topic(&format!("/t/{sub_key}"))).unwrap();
    let endpoint = EndpointFields {
        role: Some(Role::SubOnly),
        endpoint_type: Some(EndpointType::Amqp),
        ..testing::endpoint(&format!("e-{sub_key}"))
    };
    let endpoint = store.endpoint_create(endpoint).unwrap();
    let subscription = SubscriptionFields {
        delivery_method: Some(DeliveryMethod::Notify),
        push_config: Some(Some(push_config.into())),
        max_in_flight: Some(1),
        ..testing::subscription(sub_key, topic.id, endpoint.id)
    };
    store.subscription_create(subscription).unwrap();
}

#[test]
fn a_new_link_s_secret_is_sealed_for_its_own_id_or_the_link_is_not_stored() {
    for db in TestStore::all() {
        let store = &db.store;
        let first = store.wsx_link_create(link("one"), |id| Ok(format!("sealed-for-{id}"))).unwrap();
        assert_eq!(first.secret_enc, format!("sealed-for-{}", first.id));
        let refused = store.wsx_link_create(link("two"), |_| Err("the seal failed".into()));
        assert_eq!(refused.unwrap_err().to_string(), "the seal failed");
        assert_eq!(store.wsx_links().unwrap().len(), 1, "nothing of the refused link stored");
    }
}

#[test]
fn sealed_values_are_listed_and_replaced_only_while_unchanged() {
    for db in TestStore::all() {
        let store = &db.store;
        let link = store.wsx_link_create(link("one"), |_| Ok("old-secret".into())).unwrap();
        subscription(store, "zpsk.amqp.000001", r#"{"type":"amqp","url_enc":"old-url"}"#);
        subscription(store, "zpsk.amqp.000002", r#"{"type":"wsx"}"#);
        let service = |name: &str, config: &str| {
            store.service_create(NewService { name, kind: "http", config, created_at: 1 }).unwrap();
        };
        service("with-auth", r#"{"url":"http://h/x","auth":{"type":"bearer","token_enc":"old-token"}}"#);
        service("without", r#"{"url":"http://h/x"}"#);

        let mut cells = store.sealed_cells().unwrap();
        cells.sort_by_key(|c| format!("{:?}", c.row));
        let rows: Vec<&SealedRow> = cells.iter().map(|c| &c.row).collect();
        assert_eq!(
            rows,
            [
                &SealedRow::Link(link.id),
                &SealedRow::Service("with-auth".into()),
                &SealedRow::Subscription("zpsk.amqp.000001".into()),
            ]
        );

        // The first node to replace a value wins; one that read it before then changes nothing.
        let read = cells[0].clone();
        assert!(store.sealed_cell_replace(&read, "new-secret").unwrap());
        assert!(!store.sealed_cell_replace(&read, "another").unwrap());
        assert_eq!(store.wsx_link(link.id).unwrap().secret_enc, "new-secret");
        for cell in &cells[1..] {
            let value = cell.value.replace("old-", "new-");
            assert!(store.sealed_cell_replace(cell, &value).unwrap());
            assert!(!store.sealed_cell_replace(cell, &value).unwrap());
        }
        assert!(store.subscription("zpsk.amqp.000001").unwrap().push_config.unwrap().contains("new-url"));
        let gone = SealedCell { row: SealedRow::Service("no-such".into()), value: String::new() };
        assert!(!store.sealed_cell_replace(&gone, "x").unwrap());
    }
}
