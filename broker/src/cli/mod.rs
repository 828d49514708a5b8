//! The command line: `serve` runs a node; every other command is a client of the admin API.
//! Errors go to stderr as one line; exit 0 ok, 1 the server refused, 2 usage.

mod apply;
mod args;
mod client;
mod export;
mod local;
mod table;

use std::path::Path;
use std::process::ExitCode;

use serde_json::{json, Map, Value};

pub use args::{
    command, parse, parse_from, AdminKeyCmd, ChannelCmd, ClientArgs, ClientCommand, ClusterCmd, EndpointCmd,
    FileChannelCmd, Invocation, LinkCmd, MsgCmd, QueueCmd, ServiceCmd, SubCmd, TopicCmd,
};
pub use client::{Client, ClientError};

/// What a command prints on success. `--json` turns tables and values into JSON; text is
/// printed as it is (it chose its format already).
enum Output {
    Value(Value),
    Table(Value, &'static [&'static str]),
    Text(String),
}

/// The admin collections the object verbs work on.
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

    /// The columns of the table a list (or a created object) is shown as.
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

/// The verbs every object collection has, once its command's own verbs are mapped onto them.
enum Verb {
    List,
    Create(Map<String, Value>),
    Show(String),
    Edit(String, Vec<String>),
    Delete(String),
}

pub fn run(flags: &ClientArgs, command: ClientCommand) -> ExitCode {
    let client = Client::new(flags);
    match execute(&client, flags, command) {
        Ok(output) => {
            match output {
                // A deletion answers `{}`: nothing to show a person.
                Output::Value(value) | Output::Table(value, _)
                    if !flags.json && value.as_object().is_some_and(Map::is_empty) => {}
                Output::Value(value) => println!("{}", render(flags.json, &value, &[])),
                Output::Table(value, columns) => println!("{}", render(flags.json, &value, columns)),
                Output::Text(text) => print!("{text}"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("signalbox: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn execute(client: &Client, flags: &ClientArgs, command: ClientCommand) -> Result<Output, ClientError> {
    use ClientCommand as C;
    let as_json = flags.json;
    match command {
        C::Apply { file, dry_run } => apply::apply(client, &file, dry_run, as_json),
        C::Export => export::export(client, as_json),
        C::AdminKey(cmd) => admin_key(client, &flags.data_dir, cmd).map(Output::Value),
        C::Topic(cmd) => topic(client, cmd),
        C::Endpoint(cmd) => endpoint(client, cmd),
        C::Sub(cmd) => sub(client, cmd),
        C::Publish { topic, data, endpoint, priority, gd, no_gd, expiration } => {
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
            let path = client.object_path("/topics", &topic)?;
            client.post(&format!("{path}/publish"), &body).map(Output::Value)
        }
        C::Queue(cmd) => queue(client, cmd).map(Output::Value),
        C::Msg(cmd) => message(client, cmd).map(Output::Value),
        C::Service(cmd) => service(client, cmd).map(Output::Value),
        C::Channel(cmd) => channel(client, cmd),
        C::Link(cmd) => link(client, cmd),
        C::FileChannel(cmd) => file_channel(client, cmd),
        C::Actors { kind, node } => {
            let mut query = Vec::new();
            if let Some(k) = kind {
                query.push(format!("kind={}", client::encode(&k)));
            }
            if let Some(n) = node {
                query.push(format!("node={}", client::encode(&n)));
            }
            let rows = Value::Array(client.list_all(&format!("/actors?{}", query.join("&")))?);
            let columns = &[
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
            Ok(Output::Table(rows, columns))
        }
        C::Actor { actor_id, command, node } => {
            let body = match node {
                Some(n) => json!({"node": n}),
                None => json!({}),
            };
            let path = format!("/actors/{}/{}", client::encode(&actor_id), client::encode(&command));
            client.post(&path, &body).map(Output::Value)
        }
        C::Cluster(ClusterCmd::Nodes) => {
            let columns = &["name", "advertise_url", "state", "last_heartbeat", "subscriptions", "leader"];
            Ok(Output::Table(client.get("/cluster/nodes")?, columns))
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

fn topic(client: &Client, cmd: TopicCmd) -> Result<Output, ClientError> {
    let verb = match cmd {
        TopicCmd::List => Verb::List,
        TopicCmd::Create { name, fields } => Verb::Create(named(name, &fields)?),
        TopicCmd::Show { name } => Verb::Show(name),
        TopicCmd::Edit { name, fields } => Verb::Edit(name, fields),
        TopicCmd::Delete { name } => Verb::Delete(name),
        TopicCmd::Clear { name } => {
            let path = format!("{}/clear", client.object_path(Kind::Topic.path(), &name)?);
            return client.post(&path, &json!({})).map(Output::Value);
        }
    };
    object(client, Kind::Topic, verb)
}

fn endpoint(client: &Client, cmd: EndpointCmd) -> Result<Output, ClientError> {
    let verb = match cmd {
        EndpointCmd::List => Verb::List,
        EndpointCmd::Create { name, fields } => Verb::Create(named(name, &fields)?),
        EndpointCmd::Show { name } => Verb::Show(name),
        EndpointCmd::Edit { name, fields } => Verb::Edit(name, fields),
        EndpointCmd::Delete { name } => Verb::Delete(name),
        EndpointCmd::RotateCredentials { name } => {
            let path = format!("{}/credentials", client.object_path(Kind::Endpoint.path(), &name)?);
            return client.post(&path, &json!({})).map(Output::Value);
        }
    };
    object(client, Kind::Endpoint, verb)
}

fn sub(client: &Client, cmd: SubCmd) -> Result<Output, ClientError> {
    let verb = match cmd {
        SubCmd::List => Verb::List,
        SubCmd::Create { topic, endpoint, fields } => {
            let mut body = parse_fields(&fields)?;
            body.insert("topic_name".into(), json!(topic));
            body.insert("endpoint".into(), json!(endpoint));
            Verb::Create(body)
        }
        SubCmd::Show { sub_key } => Verb::Show(sub_key),
        SubCmd::Edit { sub_key, fields } => Verb::Edit(sub_key, fields),
        SubCmd::Delete { sub_key } => Verb::Delete(sub_key),
    };
    object(client, Kind::Sub, verb)
}

fn channel(client: &Client, cmd: ChannelCmd) -> Result<Output, ClientError> {
    let verb = match cmd {
        ChannelCmd::List => Verb::List,
        ChannelCmd::Create { name, fields } => Verb::Create(named(name, &fields)?),
        ChannelCmd::Show { name } => Verb::Show(name),
        ChannelCmd::Edit { name, fields } => Verb::Edit(name, fields),
        ChannelCmd::Delete { name } => Verb::Delete(name),
        ChannelCmd::Sessions { name } => {
            let path = client.object_path(Kind::Channel.path(), &name)?;
            return client.get(&format!("{path}/sessions")).map(Output::Value);
        }
    };
    object(client, Kind::Channel, verb)
}

fn link(client: &Client, cmd: LinkCmd) -> Result<Output, ClientError> {
    let verb = match cmd {
        LinkCmd::List => Verb::List,
        LinkCmd::Create { name, fields } => Verb::Create(named(name, &fields)?),
        LinkCmd::Show { name } => Verb::Show(name),
        LinkCmd::Edit { name, fields } => Verb::Edit(name, fields),
        LinkCmd::Delete { name } => Verb::Delete(name),
        LinkCmd::Invoke { name, service, request } => {
            let request = parse_json(&request)?;
            let path = client.object_path(Kind::Link.path(), &name)?;
            let body = json!({"service": service, "request": request});
            return client.post(&format!("{path}/invoke"), &body).map(Output::Value);
        }
    };
    object(client, Kind::Link, verb)
}

fn file_channel(client: &Client, cmd: FileChannelCmd) -> Result<Output, ClientError> {
    let verb = match cmd {
        FileChannelCmd::List => Verb::List,
        FileChannelCmd::Create { name, fields } => Verb::Create(named(name, &fields)?),
        FileChannelCmd::Show { name } => Verb::Show(name),
        FileChannelCmd::Edit { name, fields } => Verb::Edit(name, fields),
        FileChannelCmd::Delete { name } => Verb::Delete(name),
    };
    object(client, Kind::FileChannel, verb)
}

/// Lists and created objects are tables; one object shown, edited or deleted is `key  value` lines.
fn object(client: &Client, kind: Kind, verb: Verb) -> Result<Output, ClientError> {
    Ok(match verb {
        Verb::List => Output::Table(Value::Array(client.list_all(kind.path())?), kind.columns()),
        Verb::Create(body) => Output::Table(client.post(kind.path(), &Value::Object(body))?, kind.columns()),
        Verb::Show(name) => Output::Value(client.get(&client.object_path(kind.path(), &name)?)?),
        Verb::Edit(name, fields) => {
            let body = Value::Object(parse_fields(&fields)?);
            Output::Value(client.patch(&client.object_path(kind.path(), &name)?, &body)?)
        }
        Verb::Delete(name) => Output::Value(client.delete(&client.object_path(kind.path(), &name)?)?),
    })
}

/// The body of a create: the `FIELD=VALUE` pairs and the name.
fn named(name: String, fields: &[String]) -> Result<Map<String, Value>, ClientError> {
    let mut body = parse_fields(fields)?;
    body.insert("name".into(), json!(name));
    Ok(body)
}

fn admin_key(client: &Client, data_dir: &Path, cmd: AdminKeyCmd) -> Result<Value, ClientError> {
    match cmd {
        AdminKeyCmd::Create { name, read_only, local: true, database_url } => {
            let role = if read_only { "read-only" } else { "admin" };
            local::create_admin_key(data_dir, database_url.as_deref(), &name, role)
        }
        AdminKeyCmd::Create { name, read_only, .. } => {
            let role = if read_only { "read-only" } else { "admin" };
            client.post("/admin-keys", &json!({"name": name, "role": role}))
        }
        AdminKeyCmd::List => client.get("/admin-keys"),
        AdminKeyCmd::Revoke { name } => client.delete(&format!("/admin-keys/{}", client::encode(&name))),
    }
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
            client.post("/services", &Value::Object(named(name, &fields)?))
        }
        ServiceCmd::Delete { name } => client.delete(&path(&name)),
        ServiceCmd::Invoke { name, request } => {
            client.post(&format!("{}/invoke", path(&name)), &parse_json(&request)?)
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

fn parse_value(raw: &str) -> Value {
    serde_json::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.into()))
}

fn parse_json(raw: &str) -> Result<Value, ClientError> {
    serde_json::from_str::<Value>(raw)
        .map_err(|e| ClientError::Usage(format!("the request must be JSON: {e}")))
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
