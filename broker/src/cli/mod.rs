//! The command line: `serve` runs a node; every other verb is a client of the admin API.
//! Errors go to stderr as one line; exit 0 ok, 1 the server refused, 2 usage.

mod apply;
mod client;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::{json, Map, Value};

pub use client::{Client, ClientError};

use crate::config::ServeArgs;

#[derive(Debug, Parser)]
#[command(
    name = "signalbox",
    version,
    about = "Signalbox: an actor-based pub/sub broker speaking Zato 3.x formats"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Node to talk to.
    #[arg(long, global = true, env = "SIGNALBOX_URL", default_value = "http://127.0.0.1:17010")]
    pub url: String,
    /// Admin key; else read from <data dir>/admin.key.
    #[arg(long, global = true, env = "SIGNALBOX_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Where to look for admin.key when --admin-key is not given.
    #[arg(long, global = true, env = "SIGNALBOX_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Machine-readable JSON output instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a broker node.
    Serve(Box<ServeArgs>),
    /// Apply a declarative configuration file (idempotent).
    Apply {
        file: PathBuf,
        /// Show what would change without changing it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the current configuration as an apply file (no secrets).
    Export,
    /// Admin keys.
    #[command(subcommand)]
    AdminKey(AdminKeyCmd),
    /// Topics.
    #[command(subcommand)]
    Topic(ObjectCmd),
    /// Endpoints.
    #[command(subcommand)]
    Endpoint(ObjectCmd),
    /// Subscriptions.
    #[command(subcommand)]
    Sub(ObjectCmd),
    /// Publish a message as an endpoint.
    Publish {
        topic: String,
        /// The data: JSON if it parses as JSON, else a string.
        data: String,
        /// Endpoint to publish as.
        #[arg(long = "as", value_name = "ENDPOINT")]
        endpoint: String,
        #[arg(long)]
        priority: Option<u8>,
        /// Guaranteed delivery (stored in SQL until confirmed).
        #[arg(long, conflicts_with = "no_gd")]
        gd: bool,
        /// In-RAM delivery.
        #[arg(long)]
        no_gd: bool,
        /// Seconds until the message expires.
        #[arg(long)]
        expiration: Option<u64>,
    },
    /// A subscription's queue.
    #[command(subcommand)]
    Queue(QueueCmd),
    /// One queued message.
    #[command(subcommand)]
    Msg(MsgCmd),
    /// Services: built-in, `http` and `publish`.
    #[command(subcommand)]
    Service(ServiceCmd),
    /// WSX channels: `channel create NAME path=/wsx/… [service=…]`, and `channel sessions NAME`.
    #[command(subcommand)]
    Channel(ChannelCmd),
    /// Outgoing WSX links: `link create NAME address=ws://… username=… secret=…`,
    /// `link invoke NAME SERVICE JSON`.
    #[command(subcommand)]
    Link(LinkCmd),
    /// The node's actors, from the actors themselves.
    Actors {
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        node: Option<String>,
    },
    /// Send an actor a command: pause|resume|restart|clear|move (delivery:<sub_key>), clear
    /// (topic:<name>), reconnect|stop|start (peer:<link>).
    Actor {
        /// `delivery:<sub_key>`, `topic:<name>` or `peer:<link>` (see `signalbox actors`).
        actor_id: String,
        /// pause, resume, restart, clear, move, reconnect, stop or start.
        command: String,
        /// Target node of `move`.
        #[arg(long)]
        node: Option<String>,
    },
    /// Inbound file channels: `file-channel create NAME directory=… topic_name=… endpoint=…`.
    #[command(subcommand)]
    FileChannel(ObjectCmd),
    /// The cluster: `cluster nodes`.
    #[command(subcommand)]
    Cluster(ClusterCmd),
}

#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// Nodes with their address, state, last heartbeat, subscriptions owned and the leader.
    Nodes,
}

#[derive(Debug, Subcommand)]
pub enum ChannelCmd {
    #[command(flatten)]
    Object(ObjectCmd),
    /// Live sessions of a channel.
    Sessions { name: String },
}

#[derive(Debug, Subcommand)]
pub enum LinkCmd {
    #[command(flatten)]
    Object(ObjectCmd),
    /// Invoke SERVICE on the remote end with a JSON request.
    Invoke {
        name: String,
        service: String,
        #[arg(default_value = "null")]
        request: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServiceCmd {
    List,
    /// `service create NAME kind=http url=http://… [timeout=5]` or
    /// `service create NAME kind=publish topic_name=/t endpoint=e`.
    Create {
        name: String,
        fields: Vec<String>,
    },
    Delete {
        name: String,
    },
    /// Invoke with a JSON request; prints the JSON reply.
    Invoke {
        name: String,
        #[arg(default_value = "null")]
        request: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum QueueCmd {
    /// Messages waiting in a subscription's queue, in delivery order.
    Browse {
        sub_key: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long, default_value_t = 0)]
        offset: u32,
    },
    /// Dead letters of a subscription; --requeue puts them back, --purge deletes them.
    DeadLetters {
        sub_key: String,
        #[arg(long, conflicts_with = "purge")]
        requeue: bool,
        #[arg(long)]
        purge: bool,
    },
    /// Delete every message in a subscription's queue.
    Clear { sub_key: String },
}

#[derive(Debug, Subcommand)]
pub enum MsgCmd {
    Show {
        msg_id: String,
    },
    /// Edit in place: data, priority, expiration, exp_from_now, correl_id, in_reply_to, mime_type.
    Edit {
        msg_id: String,
        fields: Vec<String>,
    },
    Delete {
        msg_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminKeyCmd {
    Create {
        name: String,
        #[arg(long)]
        read_only: bool,
    },
    List,
    Revoke {
        name: String,
    },
}

/// The verbs shared by topics, endpoints and subscriptions. Fields are given as `FIELD=VALUE`
/// with the admin API's names; a VALUE that parses as JSON is taken as JSON (numbers, booleans,
/// lists), anything else as a string.
#[derive(Debug, Subcommand)]
pub enum ObjectCmd {
    /// List them (a table, or JSON with --json).
    List,
    /// Create: topics and endpoints by NAME; subscriptions as `sub create TOPIC ENDPOINT`.
    Create {
        name: String,
        /// FIELD=VALUE pairs (for `sub create`, the first is the endpoint name).
        fields: Vec<String>,
    },
    /// Show one, every field.
    Show { name: String },
    /// Change the FIELD=VALUE pairs given; the rest stays.
    Edit {
        name: String,
        /// FIELD=VALUE pairs, with the admin API's names (a VALUE that parses as JSON is JSON).
        fields: Vec<String>,
    },
    /// Delete one.
    Delete { name: String },
    /// Endpoints only: new password or API key, shown once.
    RotateCredentials { name: String },
    /// Topics only: delete every message.
    Clear { name: String },
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Topic,
    Endpoint,
    Sub,
    FileChannel,
    Channel,
    Link,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Topic => "/topics",
            Kind::Endpoint => "/endpoints",
            Kind::Sub => "/subscriptions",
            Kind::FileChannel => "/file-channels",
            Kind::Channel => "/channels",
            Kind::Link => "/links",
        }
    }

    fn columns(self) -> &'static [&'static str] {
        match self {
            Kind::Topic => &["id", "name", "is_active", "has_gd", "max_depth_gd", "max_depth_non_gd"],
            Kind::Endpoint => &["id", "name", "role", "endpoint_type", "auth", "username", "topic_patterns"],
            Kind::Sub => &["sub_key", "topic_name", "endpoint", "delivery_method", "ack_mode", "node"],
            Kind::FileChannel => &["id", "name", "directory", "topic_name", "endpoint", "poll_interval"],
            Kind::Channel => &["id", "name", "path", "service", "token_ttl", "ping_interval"],
            Kind::Link => &["id", "name", "address", "state", "last_error", "next_attempt"],
        }
    }
}

pub fn run(global: &GlobalArgs, command: Command) -> ExitCode {
    let client = Client::new(global);
    let result = match command {
        Command::Serve(_) => unreachable!("serve is handled by main"),
        Command::Apply { file, dry_run } => apply::apply(&client, &file, dry_run),
        Command::Export => apply::export(&client),
        Command::AdminKey(cmd) => admin_key(&client, cmd),
        Command::Topic(cmd) => object(&client, Kind::Topic, cmd),
        Command::Endpoint(cmd) => object(&client, Kind::Endpoint, cmd),
        Command::Sub(cmd) => object(&client, Kind::Sub, cmd),
        Command::Publish { topic, data, endpoint, priority, gd, no_gd, expiration } => {
            let mut body = json!({"endpoint": endpoint, "data": parse_value(&data)});
            if let Some(p) = priority {
                body["priority"] = json!(p);
            }
            if gd || no_gd {
                body["has_gd"] = json!(gd);
            }
            if let Some(e) = expiration {
                body["expiration"] = json!(e);
            }
            client
                .object_path("/topics", &topic)
                .and_then(|path| client.post(&format!("{path}/publish"), &body))
        }
        Command::Queue(cmd) => queue(&client, cmd),
        Command::Msg(cmd) => message(&client, cmd),
        Command::Service(cmd) => service(&client, cmd),
        Command::Actors { kind, node } => {
            let mut query = Vec::new();
            if let Some(k) = kind {
                query.push(format!("kind={}", client::encode(&k)));
            }
            if let Some(n) = node {
                query.push(format!("node={}", client::encode(&n)));
            }
            let rows = client.get(&format!("/actors?{}", query.join("&")));
            match rows {
                Ok(rows) if !global.json => {
                    let columns = [
                        "id",
                        "kind",
                        "node",
                        "state",
                        "queue_depth_ram",
                        "queue_depth_gd",
                        "in_flight",
                        "delivered",
                        "failed",
                        "last_error",
                    ];
                    println!("{}", table::render(&rows, &columns));
                    Ok(Value::Null)
                }
                other => other,
            }
        }
        Command::Actor { actor_id, command, node } => {
            let body = match node {
                Some(n) => json!({"node": n}),
                None => json!({}),
            };
            client.post(&format!("/actors/{}/{}", client::encode(&actor_id), client::encode(&command)), &body)
        }
        Command::FileChannel(cmd) => object(&client, Kind::FileChannel, cmd),
        Command::Cluster(ClusterCmd::Nodes) => match client.get("/cluster/nodes") {
            Ok(rows) if !global.json => {
                let columns = ["name", "advertise_url", "state", "last_heartbeat", "subscriptions", "leader"];
                println!("{}", table::render(&rows, &columns));
                Ok(Value::Null)
            }
            other => other,
        },
        Command::Link(LinkCmd::Object(cmd)) => object(&client, Kind::Link, cmd),
        Command::Link(LinkCmd::Invoke { name, service, request }) => serde_json::from_str::<Value>(&request)
            .map_err(|e| ClientError::Usage(format!("the request must be JSON: {e}")))
            .and_then(|request| {
                let path = client.object_path("/links", &name)?;
                client.post(&format!("{path}/invoke"), &json!({"service": service, "request": request}))
            }),
        Command::Channel(ChannelCmd::Object(cmd)) => object(&client, Kind::Channel, cmd),
        Command::Channel(ChannelCmd::Sessions { name }) => {
            client.object_path("/channels", &name).and_then(|path| client.get(&format!("{path}/sessions")))
        }
    };
    match result {
        Ok(value) => {
            if !value.is_null() {
                println!("{}", render(global.json, &value, &[]));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("signalbox: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn render(as_json: bool, value: &Value, columns: &[&str]) -> String {
    if as_json {
        serde_json::to_string_pretty(value).unwrap_or_default()
    } else {
        table::render(value, columns)
    }
}

fn admin_key(client: &Client, cmd: AdminKeyCmd) -> Result<Value, ClientError> {
    match cmd {
        AdminKeyCmd::Create { name, read_only } => {
            let role = if read_only { "read-only" } else { "admin" };
            client.post("/admin-keys", &json!({"name": name, "role": role}))
        }
        AdminKeyCmd::List => client.get("/admin-keys"),
        AdminKeyCmd::Revoke { name } => client.delete(&format!("/admin-keys/{}", client::encode(&name))),
    }
}

fn parse_value(raw: &str) -> Value {
    serde_json::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.into()))
}

fn queue(client: &Client, cmd: QueueCmd) -> Result<Value, ClientError> {
    let sub = |key: &str| format!("/subscriptions/{}", client::encode(key));
    match cmd {
        QueueCmd::Browse { sub_key, limit, offset } => {
            client.get(&format!("{}/queue?limit={limit}&offset={offset}", sub(&sub_key)))
        }
        QueueCmd::DeadLetters { sub_key, requeue: true, .. } => {
            client.post(&format!("{}/dead-letters/requeue", sub(&sub_key)), &json!({}))
        }
        QueueCmd::DeadLetters { sub_key, purge: true, .. } => {
            client.delete(&format!("{}/dead-letters", sub(&sub_key)))
        }
        QueueCmd::DeadLetters { sub_key, .. } => client.get(&format!("{}/dead-letters", sub(&sub_key))),
        QueueCmd::Clear { sub_key } => client.post(&format!("{}/clear", sub(&sub_key)), &json!({})),
    }
}

fn service(client: &Client, cmd: ServiceCmd) -> Result<Value, ClientError> {
    let path = |name: &str| format!("/services/{}", client::encode(name));
    match cmd {
        ServiceCmd::List => client.get("/services"),
        ServiceCmd::Create { name, fields } => {
            let mut body = parse_fields(&fields)?;
            body.insert("name".into(), json!(name));
            client.post("/services", &Value::Object(body))
        }
        ServiceCmd::Delete { name } => client.delete(&path(&name)),
        ServiceCmd::Invoke { name, request } => {
            let request = serde_json::from_str::<Value>(&request)
                .map_err(|e| ClientError::Usage(format!("the request must be JSON: {e}")))?;
            client.post(&format!("{}/invoke", path(&name)), &request)
        }
    }
}

fn message(client: &Client, cmd: MsgCmd) -> Result<Value, ClientError> {
    let path = |id: &str| format!("/messages/{}", client::encode(id));
    match cmd {
        MsgCmd::Show { msg_id } => client.get(&path(&msg_id)),
        MsgCmd::Edit { msg_id, fields } => {
            client.patch(&path(&msg_id), &Value::Object(parse_fields(&fields)?))
        }
        MsgCmd::Delete { msg_id } => client.delete(&path(&msg_id)),
    }
}

/// `FIELD=VALUE` pairs into a JSON object.
pub fn parse_fields(pairs: &[String]) -> Result<Map<String, Value>, ClientError> {
    let mut out = Map::new();
    for pair in pairs {
        let (key, raw) =
            pair.split_once('=').ok_or_else(|| ClientError::Usage(format!("`{pair}` is not FIELD=VALUE")))?;
        out.insert(key.to_owned(), parse_value(raw));
    }
    Ok(out)
}

fn object(client: &Client, kind: Kind, cmd: ObjectCmd) -> Result<Value, ClientError> {
    let out = match cmd {
        ObjectCmd::List => client.get(kind.path())?,
        ObjectCmd::Create { name, fields } => {
            let mut body;
            match kind {
                Kind::Sub => {
                    let (endpoint, rest) = fields.split_first().ok_or_else(|| {
                        ClientError::Usage("usage: sub create TOPIC ENDPOINT [FIELD=VALUE…]".into())
                    })?;
                    body = parse_fields(rest)?;
                    body.insert("topic_name".into(), json!(name));
                    body.insert("endpoint".into(), json!(endpoint));
                }
                _ => {
                    body = parse_fields(&fields)?;
                    body.insert("name".into(), json!(name));
                }
            }
            client.post(kind.path(), &Value::Object(body))?
        }
        ObjectCmd::Show { name } => client.get(&client.object_path(kind.path(), &name)?)?,
        ObjectCmd::Edit { name, fields } => {
            let body = Value::Object(parse_fields(&fields)?);
            client.patch(&client.object_path(kind.path(), &name)?, &body)?
        }
        ObjectCmd::Delete { name } => client.delete(&client.object_path(kind.path(), &name)?)?,
        ObjectCmd::Clear { name } => {
            if !matches!(kind, Kind::Topic) {
                return Err(ClientError::Usage(
                    "clear applies to topics (use `queue clear` for a queue)".into(),
                ));
            }
            let path = format!("{}/clear", client.object_path(kind.path(), &name)?);
            client.post(&path, &json!({}))?
        }
        ObjectCmd::RotateCredentials { name } => {
            if !matches!(kind, Kind::Endpoint) {
                return Err(ClientError::Usage("rotate-credentials applies to endpoints".into()));
            }
            let path = format!("{}/credentials", client.object_path(kind.path(), &name)?);
            client.post(&path, &json!({}))?
        }
    };
    if client.json {
        return Ok(out);
    }
    println!("{}", table::render(&out, kind.columns()));
    Ok(Value::Null)
}
