//! Rows as diesel reads and writes them. Validation happens at the HTTP edge; these are plain data,
//! with the closed sets of words as the enums of [`crate::modes`] (stored as text).

use crate::modes::{AckMode, AuthKind, DeliveryMethod, EndpointType, NoSubsPolicy, OverflowPolicy, Role};
use crate::schema::*;
use diesel::prelude::*;
use serde::Serialize;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = sb_admin_key)]
pub struct AdminKey {
    pub id: i64,
    pub name: String,
    pub role: String,
    #[serde(skip)]
    pub key_digest: String,
    pub created_at: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = sb_admin_key)]
pub struct NewAdminKey<'a> {
    pub name: &'a str,
    pub role: &'a str,
    pub key_digest: &'a str,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize, PartialEq)]
#[diesel(table_name = pubsub_topic)]
pub struct Topic {
    pub id: i64,
    pub name: String,
    pub is_active: bool,
    pub has_gd: bool,
    pub is_api_sub_allowed: bool,
    pub max_depth_gd: i64,
    pub max_depth_non_gd: i64,
    pub on_overflow_non_gd: OverflowPolicy,
    pub limit_message_expiry: i64,
    pub limit_sub_inactivity: i64,
    pub on_no_subs_pub: NoSubsPolicy,
    pub dedup_window: i64,
    pub created_at: i64,
    pub last_pub_time: Option<i64>,
}

/// Every settable topic field; used for create (all set) and edit (only the changed ones).
#[derive(Debug, Clone, Default, Insertable, AsChangeset)]
#[diesel(table_name = pubsub_topic)]
pub struct TopicFields {
    pub name: Option<String>,
    pub is_active: Option<bool>,
    pub has_gd: Option<bool>,
    pub is_api_sub_allowed: Option<bool>,
    pub max_depth_gd: Option<i64>,
    pub max_depth_non_gd: Option<i64>,
    pub on_overflow_non_gd: Option<OverflowPolicy>,
    pub limit_message_expiry: Option<i64>,
    pub limit_sub_inactivity: Option<i64>,
    pub on_no_subs_pub: Option<NoSubsPolicy>,
    pub dedup_window: Option<i64>,
    pub created_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = pubsub_endpoint)]
pub struct Endpoint {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub endpoint_type: EndpointType,
    /// Newline-separated `pub=GLOB` / `sub=GLOB` lines, in the order they are tried.
    pub topic_patterns: String,
    pub auth: AuthKind,
    pub username: Option<String>,
    /// `pbkdf2-sha256$<iterations>$<salt>$<hash>`; never leaves the node.
    pub password_hash: Option<String>,
    /// HMAC-SHA256(master key, API key), hex; never leaves the node.
    pub api_key_digest: Option<String>,
    pub wsx_channel: Option<String>,
    pub created_at: i64,
    pub last_seen: Option<i64>,
}

#[derive(Debug, Clone, Default, Insertable, AsChangeset)]
#[diesel(table_name = pubsub_endpoint)]
pub struct EndpointFields {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub endpoint_type: Option<EndpointType>,
    pub topic_patterns: Option<String>,
    pub auth: Option<AuthKind>,
    pub username: Option<Option<String>>,
    pub password_hash: Option<Option<String>>,
    pub api_key_digest: Option<Option<String>>,
    pub wsx_channel: Option<Option<String>>,
    pub created_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = pubsub_sub)]
pub struct Subscription {
    pub id: i64,
    pub sub_key: String,
    pub topic_id: i64,
    pub endpoint_id: i64,
    pub creation_time: i64,
    pub sub_pattern_matched: String,
    pub delivery_method: DeliveryMethod,
    pub ack_mode: AckMode,
    pub ack_timeout: f64,
    pub delivery_batch_size: i64,
    pub wrap_one_msg_in_list: bool,
    pub delivery_max_retry: i64,
    pub delivery_err_should_block: bool,
    pub wait_sock_err: f64,
    pub wait_non_sock_err: f64,
    pub active_status: String,
    pub max_in_flight: i64,
    /// JSON of the push target; secrets inside are encrypted under the master key.
    pub push_config: Option<String>,
    pub is_wsx: bool,
    pub unsub_on_wsx_close: bool,
    pub server_name: Option<String>,
}

#[derive(Debug, Clone, Default, Insertable, AsChangeset)]
#[diesel(table_name = pubsub_sub)]
pub struct SubscriptionFields {
    pub sub_key: Option<String>,
    pub topic_id: Option<i64>,
    pub endpoint_id: Option<i64>,
    pub creation_time: Option<i64>,
    pub sub_pattern_matched: Option<String>,
    pub delivery_method: Option<DeliveryMethod>,
    pub ack_mode: Option<AckMode>,
    pub ack_timeout: Option<f64>,
    pub delivery_batch_size: Option<i64>,
    pub wrap_one_msg_in_list: Option<bool>,
    pub delivery_max_retry: Option<i64>,
    pub delivery_err_should_block: Option<bool>,
    pub wait_sock_err: Option<f64>,
    pub wait_non_sock_err: Option<f64>,
    pub active_status: Option<String>,
    pub max_in_flight: Option<i64>,
    pub push_config: Option<Option<String>>,
    pub is_wsx: Option<bool>,
    pub unsub_on_wsx_close: Option<bool>,
    pub server_name: Option<Option<String>>,
}

/// A guaranteed-delivery message as stored (also the shape in-RAM messages take in memory).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq)]
#[diesel(table_name = pubsub_message)]
pub struct StoredMessage {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub pub_msg_id: String,
    pub topic_id: i64,
    pub published_by_id: Option<i64>,
    pub pub_correl_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub ext_client_id: Option<String>,
    pub group_id: Option<String>,
    pub position_in_group: Option<i64>,
    pub pub_pattern_matched: String,
    pub pub_time: i64,
    pub ext_pub_time: Option<i64>,
    pub expiration: i64,
    pub expiration_time: i64,
    pub data: String,
    pub mime_type: String,
    pub size: i64,
    pub priority: i32,
    pub user_ctx: Option<String>,
    pub is_in_sub_queue: bool,
    pub last_updated: Option<i64>,
}

/// One queued GD message for one subscription, joined with the message itself.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    pub message: StoredMessage,
    pub delivery_count: i64,
    /// When the row was queued for this subscription (`recv_time_iso`).
    pub creation_time: i64,
}

/// A GD publication handed to [`crate::Store::gd_commit`].
#[derive(Debug, Clone)]
pub struct GdPublication {
    pub message: StoredMessage,
    /// A publisher-chosen msg_id repeated on the same topic within this many microseconds is
    /// answered with the first publication and stores nothing.
    pub dedup_window: i64,
    /// `on_no_subs_pub = drop`: a message with no subscription to queue it for is not kept.
    pub drop_if_no_subs: bool,
    /// The msg_id was chosen by the publisher (only those are checked for repeats).
    pub client_msg_id: bool,
    /// Queue it for these subscriptions only (an in-RAM message whose owner node could not take
    /// it, or a queue handed over to another node); the message row may exist already.
    pub only_sub_keys: Option<Vec<String>>,
}

/// What became of one [`GdPublication`].
#[derive(Debug, Clone, PartialEq)]
pub enum GdOutcome {
    /// Stored and queued for this many subscriptions (0: retained for the first subscriber).
    Stored { queued: usize },
    /// A repeat within the dedup window: nothing stored.
    Duplicate,
    /// The msg_id is taken by another topic's message, or by an older one outside the window.
    Conflict,
    /// No subscription and the topic drops such messages.
    Dropped,
}

/// In-place edit of a queued message; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = pubsub_message)]
pub struct MessageEdit {
    pub data: Option<String>,
    pub size: Option<i64>,
    pub priority: Option<i32>,
    pub expiration: Option<i64>,
    pub expiration_time: Option<i64>,
    pub pub_correl_id: Option<Option<String>>,
    pub in_reply_to: Option<Option<String>>,
    pub mime_type: Option<String>,
    pub last_updated: Option<i64>,
}

/// A user-defined service: `kind` is `http` or `publish`; `config` its JSON settings.
#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = sb_service)]
pub struct StoredService {
    pub id: i64,
    pub name: String,
    pub kind: String,
    /// JSON; secrets inside are sealed under the master key.
    pub config: String,
    pub created_at: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = sb_service)]
pub struct NewService<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub config: &'a str,
    pub created_at: i64,
}

/// An inbound file channel: new complete files in `directory` are published to `topic_name`
/// as `endpoint`, every `poll_interval` seconds.
#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = sb_file_channel)]
pub struct FileChannel {
    pub id: i64,
    pub name: String,
    pub directory: String,
    pub topic_name: String,
    pub endpoint: String,
    pub poll_interval: f64,
    pub created_at: i64,
}

#[derive(Debug, Clone, Default, Insertable, AsChangeset)]
#[diesel(table_name = sb_file_channel)]
pub struct FileChannelFields {
    pub name: Option<String>,
    pub directory: Option<String>,
    pub topic_name: Option<String>,
    pub endpoint: Option<String>,
    pub poll_interval: Option<f64>,
    pub created_at: Option<i64>,
}

/// A WSX channel: a WebSocket path speaking Zato 3.x's WSX protocol.
#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = sb_wsx_channel)]
pub struct WsxChannel {
    pub id: i64,
    pub name: String,
    /// Full path on the node's listener, starting with `/wsx/`.
    pub path: String,
    /// What `invoke-service` runs (by default the gateway).
    pub service: String,
    /// JSON list of the services the gateway may run.
    pub allowed_services: String,
    pub new_token_wait_time: f64,
    pub token_ttl: f64,
    pub ping_interval: f64,
    pub pings_missed_threshold: i64,
    pub max_frame_size: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone, Default, Insertable, AsChangeset)]
#[diesel(table_name = sb_wsx_channel)]
pub struct WsxChannelFields {
    pub name: Option<String>,
    pub path: Option<String>,
    pub service: Option<String>,
    pub allowed_services: Option<String>,
    pub new_token_wait_time: Option<f64>,
    pub token_ttl: Option<f64>,
    pub ping_interval: Option<f64>,
    pub pings_missed_threshold: Option<i64>,
    pub max_frame_size: Option<i64>,
    pub created_at: Option<i64>,
}

/// An outgoing WSX link to another cluster's channel.
#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = sb_wsx_link)]
pub struct WsxLink {
    pub id: i64,
    pub name: String,
    /// `ws://host:port/wsx/path` (or `wss://`).
    pub address: String,
    pub username: String,
    /// The secret, sealed under the master key; never returned.
    pub secret_enc: String,
    pub is_zato: bool,
    /// JSON list of remote topics to subscribe to.
    pub subscription_list: String,
    pub on_connect: Option<String>,
    pub on_message: Option<String>,
    pub on_close: Option<String>,
    pub ping_interval: f64,
    pub auto_reconnect: bool,
    /// `None`: try for ever.
    pub max_connect_attempts: Option<i64>,
    pub invoke_timeout: f64,
    pub ca_file: Option<String>,
    /// JSON object topic → sub_key, as the remote answered.
    pub sub_keys: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Default, Insertable, AsChangeset)]
#[diesel(table_name = sb_wsx_link)]
pub struct WsxLinkFields {
    pub name: Option<String>,
    pub address: Option<String>,
    pub username: Option<String>,
    pub secret_enc: Option<String>,
    pub is_zato: Option<bool>,
    pub subscription_list: Option<String>,
    pub on_connect: Option<Option<String>>,
    pub on_message: Option<Option<String>>,
    pub on_close: Option<Option<String>>,
    pub ping_interval: Option<f64>,
    pub auto_reconnect: Option<bool>,
    pub max_connect_attempts: Option<Option<i64>>,
    pub invoke_timeout: Option<f64>,
    pub ca_file: Option<Option<String>>,
    pub sub_keys: Option<String>,
    pub created_at: Option<i64>,
}

/// A node of the cluster as its row says (times in microseconds).
#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = sb_cluster_node)]
pub struct ClusterNode {
    pub name: String,
    pub cluster_name: String,
    pub advertise_url: String,
    pub state: String,
    pub started_at: i64,
    pub last_heartbeat: i64,
}

/// A subscription with the node that runs its delivery (None: nobody yet).
#[derive(Debug, Clone, PartialEq)]
pub struct SubOwner {
    pub sub_key: String,
    pub topic_id: i64,
    pub endpoint_id: i64,
    /// WSX subscriptions are delivered where their session is; the leader never moves them to
    /// balance load, only away from a dead node.
    pub is_wsx: bool,
    pub node: Option<String>,
    pub epoch: i64,
    pub moving_to: Option<String>,
}
