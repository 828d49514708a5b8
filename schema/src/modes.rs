//! The closed sets of words that configure topics, endpoints and subscriptions: each one an enum,
//! parsed once where text comes in (the admin API, REST and WSX input, a row read from SQL), so
//! the code inside matches on variants and never compares strings.
//!
//! Each enum is stored and sent as exactly the word the API documents (`as_str`, serde, and
//! diesel `Text` on both backends), and its `FromStr` error names the field and every allowed
//! word in the order the API lists them — the text of the 400 a caller gets for a wrong one.

use std::fmt;
use std::str::FromStr;

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;

use crate::connection::MultiBackend;

/// A word that is not one of a mode's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` must be one of {}, not `{value}`", allowed.join(", "))]
pub struct UnknownMode {
    /// The field (and column) the word was given for, e.g. `delivery_method`.
    pub field: &'static str,
    /// The word as given.
    pub value: String,
    /// Every word the field takes, in the order the API lists them.
    pub allowed: &'static [&'static str],
}

/// One enum per closed set of words: its variants with their wire words, `as_str`, `Display`,
/// `FromStr`, serde, and diesel `Text` for SQLite, PostgreSQL and the connection over both.
macro_rules! mode {
    (
        $(#[$meta:meta])*
        pub enum $name:ident in $field:literal {
            $($(#[$variant_meta:meta])* $variant:ident = $word:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow)]
        #[diesel(sql_type = Text)]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $name {
            /// The field (and column) these words are the values of.
            pub const FIELD: &'static str = $field;
            /// Every value, in the order the API lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];
            /// The words of [`Self::ALL`], as stored and sent.
            pub const NAMES: &'static [&'static str] = &[$($word,)+];

            /// The word stored and sent for this value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownMode;

            fn from_str(word: &str) -> Result<Self, UnknownMode> {
                match word {
                    $($word => Ok($name::$variant),)+
                    other => Err(UnknownMode { field: $field, value: other.to_owned(), allowed: Self::NAMES }),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let word = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                word.parse().map_err(serde::de::Error::custom)
            }
        }

        impl FromSql<Text, Pg> for $name {
            fn from_sql(bytes: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                Ok(<String as FromSql<Text, Pg>>::from_sql(bytes)?.parse()?)
            }
        }

        impl FromSql<Text, Sqlite> for $name {
            fn from_sql(bytes: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                Ok(<String as FromSql<Text, Sqlite>>::from_sql(bytes)?.parse()?)
            }
        }

        impl FromSql<Text, MultiBackend> for $name {
            fn from_sql(bytes: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                bytes.from_sql::<Self, Text>()
            }
        }

        impl ToSql<Text, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl ToSql<Text, Sqlite> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
                <str as ToSql<Text, Sqlite>>::to_sql(self.as_str(), out)
            }
        }

        impl ToSql<Text, MultiBackend> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                out.set_value((Text, self));
                Ok(IsNull::No)
            }
        }
    };
}

mode! {
    /// How a subscription's messages reach it (`delivery_method`).
    pub enum DeliveryMethod in "delivery_method" {
        /// The subscriber asks for them (REST `PATCH /pubsub/topic/…`).
        Pull = "pull",
        /// The node pushes them to the subscription's target (a WSX session, an HTTP URL, …).
        Notify = "notify",
    }
}

mode! {
    /// When a delivered message leaves a subscription's queue (`ack_mode`).
    pub enum AckMode in "ack_mode" {
        /// As it is delivered.
        Auto = "auto",
        /// When the subscriber acknowledges it, within `ack_timeout`; else it is delivered again.
        Explicit = "explicit",
    }
}

mode! {
    /// What an endpoint may do (`role`); its `pub=` / `sub=` patterns then say where.
    pub enum Role in "role" {
        PubOnly = "pub-only",
        SubOnly = "sub-only",
        PubSub = "pub-sub",
    }
}

impl Role {
    /// The role lets the endpoint publish.
    pub fn may_publish(self) -> bool {
        matches!(self, Role::PubOnly | Role::PubSub)
    }

    /// The role lets the endpoint subscribe.
    pub fn may_subscribe(self) -> bool {
        matches!(self, Role::SubOnly | Role::PubSub)
    }
}

mode! {
    /// The kind of client an endpoint is (`endpoint_type`): it names its sub keys and decides the
    /// push targets its subscriptions may have.
    pub enum EndpointType in "endpoint_type" {
        Rest = "rest",
        Soap = "soap",
        Wsx = "wsx",
        Srv = "srv",
        Amqp = "amqp",
        Files = "files",
    }
}

mode! {
    /// How an endpoint proves who it is (`auth`).
    pub enum AuthKind in "auth" {
        /// A username and a password (REST Basic, WSX `create-session`).
        Basic = "basic",
        /// An API key (REST `X-API-Key`, WSX `create-session`).
        ApiKey = "api_key",
        /// No credentials: the endpoint cannot log in (publishers named in configuration).
        None = "none",
    }
}

mode! {
    /// What a topic does with in-RAM messages past `max_depth_non_gd` (`on_overflow_non_gd`).
    pub enum OverflowPolicy in "on_overflow_non_gd" {
        /// Keep them in the overflow log, and say so (`"overflow": true`).
        Log = "log",
        /// Refuse the publication.
        Reject = "reject",
    }
}

mode! {
    /// What a topic does with a GD message when it has no subscription (`on_no_subs_pub`).
    pub enum NoSubsPolicy in "on_no_subs_pub" {
        /// Keep it for the first subscriber.
        Accept = "accept",
        /// Do not keep it.
        Drop = "drop",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(all: &[T], names: &[&str])
    where
        T: Copy + PartialEq + fmt::Debug + fmt::Display + FromStr<Err = UnknownMode> + serde::Serialize,
        T: serde::de::DeserializeOwned,
    {
        assert_eq!(all.len(), names.len());
        for (value, name) in all.iter().zip(names) {
            assert_eq!(value.to_string(), *name);
            assert_eq!(name.parse::<T>(), Ok(*value));
            assert_eq!(serde_json::to_value(value).unwrap(), serde_json::json!(name));
            assert_eq!(serde_json::from_value::<T>(serde_json::json!(name)).unwrap(), *value);
        }
    }

    #[test]
    fn every_mode_reads_back_the_word_it_is_stored_and_sent_as() {
        round_trip(DeliveryMethod::ALL, &["pull", "notify"]);
        round_trip(AckMode::ALL, &["auto", "explicit"]);
        round_trip(Role::ALL, &["pub-only", "sub-only", "pub-sub"]);
        round_trip(EndpointType::ALL, &["rest", "soap", "wsx", "srv", "amqp", "files"]);
        round_trip(AuthKind::ALL, &["basic", "api_key", "none"]);
        round_trip(OverflowPolicy::ALL, &["log", "reject"]);
        round_trip(NoSubsPolicy::ALL, &["accept", "drop"]);
    }

    #[test]
    fn an_unknown_word_is_refused_naming_the_field_and_every_allowed_word() {
        let err = "Notify".parse::<DeliveryMethod>().unwrap_err();
        assert_eq!(err.to_string(), "`delivery_method` must be one of pull, notify, not `Notify`");
        let err = "fax".parse::<EndpointType>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`endpoint_type` must be one of rest, soap, wsx, srv, amqp, files, not `fax`"
        );
        let err = "".parse::<Role>().unwrap_err();
        assert_eq!(err.to_string(), "`role` must be one of pub-only, sub-only, pub-sub, not ``");
        let err = serde_json::from_value::<AckMode>(serde_json::json!("later")).unwrap_err();
        assert_eq!(err.to_string(), "`ack_mode` must be one of auto, explicit, not `later`");
    }

    /// Every value is written and read back as itself on both backends, through inserts,
    /// edits and filters, and the column holds the documented word.
    #[test]
    fn every_mode_is_stored_as_its_word_and_read_back_on_both_backends() {
        use crate::models::{EndpointFields, SubscriptionFields, TopicFields};
        use crate::schema::{pubsub_endpoint, pubsub_sub, pubsub_topic};
        use crate::testing::{self, TestStore};
        use crate::{EndpointSearch, Page};
        use diesel::prelude::*;

        for store in TestStore::all() {
            let db = store.name;
            let mut endpoints = Vec::new();
            for (i, (role, (endpoint_type, auth))) in Role::ALL
                .iter()
                .cycle()
                .zip(EndpointType::ALL.iter().zip(AuthKind::ALL.iter().cycle()))
                .enumerate()
            {
                let fields = EndpointFields {
                    role: Some(*role),
                    endpoint_type: Some(*endpoint_type),
                    auth: Some(*auth),
                    ..testing::endpoint(&format!("e{i}"))
                };
                let made = store.endpoint_create(fields).unwrap();
                assert_eq!(
                    (made.role, made.endpoint_type, made.auth),
                    (*role, *endpoint_type, *auth),
                    "{db}"
                );
                endpoints.push(made);
            }
            let mut conn = store.conn().unwrap();
            let words: Vec<(String, String, String)> = pubsub_endpoint::table
                .order(pubsub_endpoint::id)
                .select((pubsub_endpoint::role, pubsub_endpoint::endpoint_type, pubsub_endpoint::auth))
                .load(&mut *conn)
                .unwrap();
            let expected: Vec<(String, String, String)> = endpoints
                .iter()
                .map(|e| (e.role.to_string(), e.endpoint_type.to_string(), e.auth.to_string()))
                .collect();
            assert_eq!(words, expected, "{db}: the columns hold the words");
            let search =
                EndpointSearch { role: Some(Role::PubSub), endpoint_type: Some(EndpointType::Wsx), q: None };
            let found = store.endpoints_found(&search, Page::default()).unwrap();
            let names: Vec<&str> = found.rows.iter().map(|e| e.name.as_str()).collect();
            assert_eq!((names, found.total), (vec!["e2"], 1), "{db}: filtered on the enums");

            for (i, (overflow, no_subs)) in
                OverflowPolicy::ALL.iter().zip(NoSubsPolicy::ALL.iter().rev()).enumerate()
            {
                let fields = TopicFields {
                    on_overflow_non_gd: Some(*overflow),
                    on_no_subs_pub: Some(*no_subs),
                    ..testing::topic(&format!("/t{i}"))
                };
                let topic = store.topic_create(fields).unwrap();
                assert_eq!((topic.on_overflow_non_gd, topic.on_no_subs_pub), (*overflow, *no_subs), "{db}");
                let stored: (String, String) = pubsub_topic::table
                    .find(topic.id)
                    .select((pubsub_topic::on_overflow_non_gd, pubsub_topic::on_no_subs_pub))
                    .first(&mut *conn)
                    .unwrap();
                assert_eq!(stored, (overflow.to_string(), no_subs.to_string()), "{db}");
            }

            let topic = store.topic_create(testing::topic("/subs")).unwrap();
            let fields = SubscriptionFields {
                delivery_method: Some(DeliveryMethod::Notify),
                ack_mode: Some(AckMode::Explicit),
                ..testing::subscription("zpsk.modes", topic.id, endpoints[0].id)
            };
            let made = store.subscription_create(fields).unwrap();
            assert_eq!(
                (made.delivery_method, made.ack_mode),
                (DeliveryMethod::Notify, AckMode::Explicit),
                "{db}"
            );
            let edit = SubscriptionFields {
                delivery_method: Some(DeliveryMethod::Pull),
                ack_mode: Some(AckMode::Auto),
                ..SubscriptionFields::default()
            };
            diesel::update(pubsub_sub::table.find(made.id)).set(&edit).execute(&mut *conn).unwrap();
            let read = store.subscription("zpsk.modes").unwrap();
            assert_eq!((read.delivery_method, read.ack_mode), (DeliveryMethod::Pull, AckMode::Auto), "{db}");
        }
    }

    /// A column holding a word outside its set (written by hand, or by a newer node) is an error
    /// naming the field, not a silent default.
    #[test]
    fn a_stored_word_outside_the_set_is_refused_when_read() {
        use crate::schema::pubsub_endpoint;
        use crate::testing::{self, TestStore};
        use diesel::prelude::*;

        for store in TestStore::all() {
            let endpoint = store.endpoint_create(testing::endpoint("odd")).unwrap();
            let mut conn = store.conn().unwrap();
            diesel::update(pubsub_endpoint::table.find(endpoint.id))
                .set(pubsub_endpoint::role.eq("publisher"))
                .execute(&mut *conn)
                .unwrap();
            let err = store.endpoint(endpoint.id).unwrap_err().to_string();
            assert!(
                err.contains("`role` must be one of pub-only, sub-only, pub-sub, not `publisher`"),
                "{}: {err}",
                store.name
            );
        }
    }

    #[test]
    fn roles_allow_what_they_name() {
        let allowed: Vec<(bool, bool)> =
            Role::ALL.iter().map(|r| (r.may_publish(), r.may_subscribe())).collect();
        assert_eq!(allowed, [(true, false), (false, true), (true, true)]);
    }
}
