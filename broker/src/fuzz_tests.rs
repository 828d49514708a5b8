//! Bounded, seeded fuzzing of what the node reads from the network: WSX client frames, publish
//! bodies, subscription options and permission patterns. Each property runs a few thousand cases in `cargo test`;
//! run longer with `PROPTEST_CASES=100000 cargo test -p signalbox --lib fuzz`, or with another
//! seed with `PROPTEST_RNG_SEED=<u64>`.

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use serde_json::{json, Map, Value};

use crate::frames::ClientFrame;
use crate::node::error::{parse_json, ErrorKind, NodeError};
use crate::node::publish_input::{self, MAX_SECONDS};
use crate::node::subscriptions::{SubscriptionOptions, MAX_WAIT_SECS, OPTION_FIELDS};

/// `cases` unless `PROPTEST_CASES` says otherwise; a fixed seed unless `PROPTEST_RNG_SEED`
/// names one; no regression files.
fn config(cases: u32) -> ProptestConfig {
    let defaults = ProptestConfig::default();
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() { defaults.cases } else { cases },
        rng_seed: match defaults.rng_seed {
            RngSeed::Random => RngSeed::Fixed(0x5167_6e61_6c62_6f78),
            seed => seed,
        },
        failure_persistence: None,
        ..defaults
    }
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // NaN and the infinities become null, as serde_json writes them.
        any::<f64>().prop_map(|f| json!(f)),
        r"\PC{0,24}".prop_map(Value::from),
    ]
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(r"\PC{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// `[[[…"x"…]]]`, `depth` arrays deep.
fn nested(depth: usize) -> Value {
    (0..depth).fold(json!("x"), |v, _| json!([v]))
}

/// A value of any type for a known field: the right type, the wrong one, a huge string, deep
/// nesting.
fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => json_leaf(),
        1 => json_value(),
        1 => (any::<char>(), 1000..70_000usize).prop_map(|(c, n)| Value::from(c.to_string().repeat(n))),
        1 => (1..160usize).prop_map(nested),
    ]
}

/// A key from `names` (mostly) or any other.
fn object_with(names: &'static [&'static str], value: BoxedStrategy<Value>) -> impl Strategy<Value = Value> {
    let key = prop_oneof![8 => prop::sample::select(names).prop_map(str::to_owned), 1 => r"\PC{0,10}"];
    prop::collection::vec((key, value), 0..names.len() + 2)
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>()))
}

/// The deepest array/object nesting of `v`, counting `v` itself.
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn is_400_with_details(e: &NodeError) -> bool {
    e.kind == ErrorKind::BadRequest && !e.details.is_empty()
}

// --- WSX frames ---

/// `ClientFrame::parse(text)` is either an error, or exactly what `text` says read as Zato reads
/// it; `reference` is `text` parsed on its own.
fn check_frame(text: &str) -> Result<(), TestCaseError> {
    let parsed = ClientFrame::parse(text);
    let reference: Option<Value> = serde_json::from_str(text).ok();
    let expect_ok = match reference.as_ref().and_then(Value::as_object) {
        Some(obj) => obj.get("meta").is_none_or(|m| m.is_object() || m.is_null()),
        None => false,
    };
    match parsed {
        Err(e) => {
            prop_assert!(!expect_ok, "refused a valid frame: {e}");
            prop_assert!(!e.is_empty());
        }
        Ok(frame) => {
            prop_assert!(expect_ok, "accepted a frame that is not one");
            let obj = reference.as_ref().and_then(Value::as_object).expect("checked above");
            let meta = obj.get("meta").cloned().unwrap_or(Value::Null);
            let field = |name: &str| meta.get(name).and_then(Value::as_str).map(str::to_owned);
            prop_assert_eq!(&frame.action, &field("action").unwrap_or_else(|| "client-response".into()));
            prop_assert_eq!(&frame.id, &field("id"));
            prop_assert_eq!(&frame.token, &field("token"));
            prop_assert_eq!(&frame.in_reply_to, &field("in_reply_to"));
            prop_assert_eq!(&frame.data, obj.get("data").unwrap_or(&Value::Null));
            prop_assert_eq!(&frame.meta, &meta);
            for name in ["client_name", "action", "id", "data"] {
                let _ = frame.meta_str(name);
            }
        }
    }
    Ok(())
}

const META_FIELDS: &[&str] = &["action", "id", "token", "in_reply_to", "client_name", "sub_key", "username"];

/// A frame whose meta (if an object) carries the known fields with values of any type.
fn frame_shaped() -> impl Strategy<Value = Value> {
    let meta = prop_oneof![
        4 => object_with(META_FIELDS, field_value().boxed()),
        1 => field_value(),
    ];
    (prop::option::weighted(0.9, meta), prop::option::weighted(0.8, field_value()), any::<bool>()).prop_map(
        |(meta, data, extra)| {
            let mut frame = Map::new();
            if let Some(m) = meta {
                frame.insert("meta".into(), m);
            }
            if let Some(d) = data {
                frame.insert("data".into(), d);
            }
            if extra {
                frame.insert("extra".into(), json!(1));
            }
            Value::Object(frame)
        },
    )
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn wsx_frame_parse_never_panics_on_arbitrary_text(text in prop_oneof![
        any::<String>(),
        r#"[{}\[\]":,0-9a-z \\]{0,64}"#,
    ]) {
        check_frame(&text)?;
    }

    #[test]
    fn wsx_frame_parse_reads_arbitrary_json_as_written(value in json_value()) {
        check_frame(&value.to_string())?;
    }

    #[test]
    fn wsx_frame_parse_reads_frame_shaped_json_as_written(frame in frame_shaped(), cut in any::<prop::sample::Index>()) {
        let text = frame.to_string();
        check_frame(&text)?;
        // Within serde_json's nesting limit the outcome is decided by the shape of `meta` alone.
        if depth(&frame) <= 100 {
            let meta_ok = frame.get("meta").is_none_or(|m| m.is_object() || m.is_null());
            prop_assert_eq!(ClientFrame::parse(&text).is_ok(), meta_ok);
        }
        // A frame cut short anywhere is an error, never a panic.
        let at = cut.index(text.len());
        if let Some(prefix) = text.get(..at) {
            check_frame(prefix)?;
        }
    }
}

// --- Publish bodies ---

/// What `publish_input::parse` accepts stays within the documented bounds.
fn check_publish(body: &[u8]) -> Result<(), TestCaseError> {
    match publish_input::parse(body, "application/json") {
        Err(e) => prop_assert!(is_400_with_details(&e), "{:?} {:?}", e.kind, e.details),
        Ok((messages, _as_list)) => {
            prop_assert!(!messages.is_empty());
            for m in &messages {
                prop_assert!((1..=9).contains(&m.priority), "priority {}", m.priority);
                prop_assert!(m.expiration.is_none_or(|e| (0..=MAX_SECONDS).contains(&e)));
                if let Some(id) = &m.msg_id {
                    prop_assert!((1..=200).contains(&id.len()), "msg_id of {} bytes", id.len());
                    prop_assert!(id.bytes().all(|b| (0x21..=0x7e).contains(&b)), "msg_id {id:?}");
                }
                for v in [&m.correl_id, &m.in_reply_to, &m.ext_client_id, &m.group_id].into_iter().flatten() {
                    prop_assert!(v.chars().count() <= 200);
                }
                prop_assert!(m.mime_type.chars().count() <= 200);
                prop_assert!(!matches!(m.data.as_str(), "null" | "\"\"" | "[]" | "{}"), "data {}", m.data);
            }
        }
    }
    Ok(())
}

const PUBLISH_FIELDS: &[&str] = &[
    "data",
    "priority",
    "expiration",
    "correl_id",
    "in_reply_to",
    "ext_client_id",
    "ext_pub_time",
    "group_id",
    "position_in_group",
    "has_gd",
    "mime_type",
    "user_ctx",
    "msg_id",
];

fn short_string() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => r"[ -~]{0,12}",
        1 => r"[ -~]{195,205}",
        1 => r"\PC{60,100}",
    ]
    .prop_map(Value::from)
}

/// A value of the field's type: mostly within its bounds, often at or across them.
fn typed_publish_value(field: &'static str) -> BoxedStrategy<Value> {
    match field {
        "data" => prop_oneof![r"\PC{0,20}".prop_map(Value::from), json_value()].boxed(),
        "priority" => {
            prop_oneof![5 => 1i64..=9, 1 => -2i64..12, 1 => any::<i64>()].prop_map(Value::from).boxed()
        }
        "expiration" => prop_oneof![
            4 => 0..=MAX_SECONDS,
            1 => prop_oneof![-2i64..3, MAX_SECONDS - 2..MAX_SECONDS + 3],
            1 => any::<i64>(),
        ]
        .prop_map(Value::from)
        .boxed(),
        "ext_pub_time" => prop_oneof![
            3 => (1970u32..2100, 1u32..=12, 1u32..=28, 0u32..24, 0u32..60, 0u32..60, any::<bool>()),
            1 => (0u32..10_000, 0u32..14, 0u32..32, 0u32..25, 0u32..61, 0u32..61, any::<bool>()),
        ]
        .prop_map(|(y, mo, d, h, mi, s, zone)| {
            let z = if zone { "+01:00" } else { "" };
            Value::from(format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.123{z}"))
        })
        .boxed(),
        "msg_id" => prop_oneof![
            4 => r"[!-~]{1,40}",
            1 => r"[!-~]{198,202}",
            1 => r"\PC{0,12}",
            1 => Just(String::new()),
        ]
        .prop_map(Value::from)
        .boxed(),
        "position_in_group" => any::<i64>().prop_map(Value::from).boxed(),
        "has_gd" => any::<bool>().prop_map(Value::from).boxed(),
        "user_ctx" => json_value().boxed(),
        _ => short_string().boxed(),
    }
}

/// One publish item: each field absent, of its type, or of any type (`data` mostly present).
fn publish_item() -> impl Strategy<Value = Map<String, Value>> {
    let fields: Vec<_> = PUBLISH_FIELDS
        .iter()
        .map(|&f| {
            let (absent, typed) = if f == "data" { (1, 12) } else { (5, 4) };
            prop_oneof![
                absent => Just(None),
                typed => typed_publish_value(f).prop_map(Some),
                1 => field_value().prop_map(Some),
            ]
            .prop_map(move |v| v.map(|v| (f.to_owned(), v)))
        })
        .collect();
    (fields, prop::option::weighted(0.05, (r"\PC{0,10}", json_leaf())))
        .prop_map(|(fields, unknown)| fields.into_iter().flatten().chain(unknown).collect())
}

fn publish_body() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => publish_item().prop_map(Value::Object),
        1 => (prop::collection::vec(publish_item(), 0..4), prop::option::weighted(0.1, json_leaf())).prop_map(
            |(items, data)| {
                let mut body = Map::new();
                body.insert("data_list".into(), Value::Array(items.into_iter().map(Value::Object).collect()));
                if let Some(d) = data {
                    body.insert("data".into(), d);
                }
                Value::Object(body)
            }
        ),
    ]
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn publish_parse_never_panics_on_arbitrary_bytes(body in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        r#"[{}\[\]":,0-9a-z_ \\]{0,64}"#.prop_map(String::into_bytes),
    ]) {
        check_publish(&body)?;
    }

    #[test]
    fn publish_parse_answers_arbitrary_json_with_400_or_bounded_messages(value in json_value()) {
        check_publish(value.to_string().as_bytes())?;
    }

    #[test]
    fn publish_parse_keeps_accepted_messages_within_bounds(body in publish_body()) {
        check_publish(body.to_string().as_bytes())?;
    }
}

// --- Subscription options ---

/// JSON text of a number near a bound, huge, negative, fractional or out of f64's range, or
/// of any other value.
fn option_value_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "0", "-0", "0.0", "0.001", "0.0009999", "1", "-1", "1.5", "2592000", "2592000.0", "2592000.0001",
            "10000", "10001", "1000", "1001", "9223372036854775807", "9223372036854775808",
            "-9223372036854775808", "18446744073709551616", "1e308", "1e400", "-1e400", "1e-400",
            "\"5\"", "null", "true", "[]", "{}",
        ])
        .prop_map(str::to_owned),
        3 => (-20i64..20_000).prop_map(|v| v.to_string()),
        2 => any::<i64>().prop_map(|v| v.to_string()),
        2 => any::<f64>().prop_map(|f| json!(f).to_string()),
        1 => (0u32..3_000_000, 0u32..10_000).prop_map(|(i, f)| format!("{i}.{f:04}")),
        1 => field_value().prop_map(|v| v.to_string()),
    ]
}

/// The documented ranges, written apart from `check_bounds`.
fn within_documented_bounds(o: &SubscriptionOptions) -> bool {
    let wait = |v: Option<f64>, min: f64| v.is_none_or(|x| min <= x && x <= 2_592_000.0);
    wait(o.ack_timeout, 0.001)
        && wait(o.wait_sock_err, 0.0)
        && wait(o.wait_non_sock_err, 0.0)
        && o.delivery_batch_size.is_none_or(|v| (1..=10_000).contains(&v))
        && o.max_in_flight.is_none_or(|v| (1..=1000).contains(&v))
        && o.delivery_max_retry.is_none_or(|v| v >= 1)
}

proptest! {
    #![proptest_config(config(4000))]

    #[test]
    fn subscription_options_accept_exactly_the_documented_ranges(
        pairs in prop::collection::vec(
            (prop_oneof![8 => prop::sample::select(OPTION_FIELDS).prop_map(str::to_owned), 1 => r"[a-z_]{0,8}"],
             option_value_text()),
            0..6,
        ),
    ) {
        prop_assert_eq!(MAX_WAIT_SECS, 2_592_000.0);
        let body = format!(
            "{{{}}}",
            pairs.iter().map(|(k, v)| format!("{}:{v}", json!(k))).collect::<Vec<_>>().join(",")
        );
        match parse_json::<SubscriptionOptions>(body.as_bytes()) {
            Err(e) => prop_assert!(is_400_with_details(&e), "{:?} {:?}", e.kind, e.details),
            Ok(options) => match options.check_bounds() {
                Ok(()) => prop_assert!(within_documented_bounds(&options), "accepted {body}"),
                Err(e) => {
                    prop_assert!(is_400_with_details(&e));
                    prop_assert!(!within_documented_bounds(&options), "refused {body}: {}", e.details);
                }
            },
        }
    }
}

/// Permission patterns (`pub=` / `sub=` globs) from the actors crate.
mod patterns {
    use proptest::prelude::*;
    use signalbox_actors::patterns::{Access, Patterns};

    use super::config;

    /// Lines that are mostly glob syntax, some with a valid prefix, some with anything at all.
    fn pattern_line() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => ("(pub|sub)=", r"[*?{}\[\]\\/!^,a-c.-]{0,24}").prop_map(|(p, g)| format!("{p}{g}")),
            1 => any::<String>(),
            1 => r"\s*(pub|sub|PUB)?=?\PC{0,30}",
        ]
    }

    /// A valid topic name (printable ASCII, no space) without glob characters `*?[]{}\`.
    fn literal_topic() -> impl Strategy<Value = String> {
        r"[!-)+->@-Z\^-z|~]{1,80}"
    }

    proptest! {
        #![proptest_config(config(3000))]

        #[test]
        fn parsing_and_matching_arbitrary_lines_never_panics(
            lines in prop::collection::vec(pattern_line(), 0..6),
            topics in prop::collection::vec(any::<String>(), 0..4),
            stored in any::<String>(),
        ) {
            let _ = Patterns::from_stored(&stored);
            if let Ok(patterns) = Patterns::parse(&lines) {
                for topic in &topics {
                    for access in [Access::Pub, Access::Sub] {
                        if let Some(line) = patterns.matching(access, topic) {
                            prop_assert!(lines.iter().any(|l| l.trim() == line));
                        }
                    }
                }
            }
        }

        #[test]
        fn a_literal_pattern_matches_exactly_its_topic(
            topic in literal_topic(),
            other in literal_topic(),
        ) {
            let line = format!("pub={topic}");
            let patterns = Patterns::parse(&[&line]).map_err(TestCaseError::fail)?;
            prop_assert_eq!(patterns.matching(Access::Pub, &topic), Some(line.as_str()));
            prop_assert_eq!(patterns.matching(Access::Sub, &topic), None);
            if other != topic {
                prop_assert_eq!(patterns.matching(Access::Pub, &other), None);
            }
            let longer = format!("{topic}/x");
            prop_assert_eq!(patterns.matching(Access::Pub, &longer), None);
        }
    }
}
