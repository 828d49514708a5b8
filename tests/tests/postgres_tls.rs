//! The node's PostgreSQL driver is built from source with the node (libpq and OpenSSL, no system
//! library); TLS to the database must still work: `sslmode=require` in the URL, every connection
//! of the node encrypted as the server sees it.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use signalbox_tests::*;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    ssl: String,
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(conn).expect(sql).n
}

#[test]
fn a_node_on_postgresql_with_sslmode_require_talks_to_it_only_over_tls() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let admin_url = std::env::var("SIGNALBOX_TEST_PG_URL").unwrap();
    let mut admin = PgConnection::establish(&admin_url).expect("connect to SIGNALBOX_TEST_PG_URL");
    let ssl = diesel::sql_query("SHOW ssl").get_result::<Setting>(&mut admin).expect("SHOW ssl").ssl;
    if !needs("PostgreSQL with ssl = on", "SIGNALBOX_TEST_REQUIRE_PG", ssl == "on") {
        return;
    }

    let url = fresh_pg_database();
    let name = url.rsplit_once('/').unwrap().1.to_owned();
    let node = Node::start_with(NodeOptions {
        database_url: Some(format!("{url}?sslmode=require")),
        ..NodeOptions::default()
    });
    // The node works over it: a GD publication stored and pulled back.
    let ps = PubSub::setup(&node, "/tls", json!({}), "tls");
    ps.subscribe(json!({}));
    let msg_id = ps.publish_ok(json!({"data": "over TLS"}));
    let pulled = ps.pull_when_ready(10);
    assert_eq!(pulled.len(), 1, "{pulled:?}");
    assert_eq!(pulled[0]["msg_id"], json!(msg_id));
    assert_eq!(pulled[0]["data"], json!("over TLS"));

    let of_node =
        format!("FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = '{name}'");
    let encrypted = count(&mut admin, &format!("SELECT count(*) AS n {of_node} AND s.ssl"));
    let plain = count(&mut admin, &format!("SELECT count(*) AS n {of_node} AND NOT s.ssl"));
    assert!(encrypted > 0, "no connection of the node is open");
    assert_eq!(plain, 0, "{plain} of the node's connections are not encrypted ({encrypted} are)");
    drop(node);
}
