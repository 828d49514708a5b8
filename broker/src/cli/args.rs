//! The command line's grammar: `serve`, and the client commands with their verbs.
//!
//! The client flags (`--url`, `--data-dir`, `--json`) belong to the client commands only: they are
//! added to every command but `serve` when the parser is built ([`command`]), so `serve --help`
//! does not list flags it would ignore. For scripts written before, they are still accepted, unlisted,
//! before the command name (`signalbox --url X topic list`); there they are a usage error with `serve`.
//! The admin key comes from `SIGNALBOX_ADMIN_KEY` or the data directory's `admin.key`, never from a
//! listed flag: a flag's value shows in the process list.

use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::ServeArgs;

#[derive(Debug, Parser)]
#[command(
    name = "signalbox",
    version,
    about = "Signalbox: an actor-based pub/sub broker speaking Zato 3.x formats",
    after_help = "Every command but `serve` is a client of a node's admin API and takes --url, --data-dir \
                  and --json.\nThe admin key is read from SIGNALBOX_ADMIN_KEY, else from <data-dir>/admin.key.\n\
                  `signalbox <command> --help` lists a command's verbs and flags."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a broker node.
    Serve(Box<ServeArgs>),
    #[command(flatten)]
    Client(ClientCommand),
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Invocation {
    Serve(Box<ServeArgs>),
    Client(ClientArgs, ClientCommand),
}

// The flags of every client command: which node, and how to print its answers. (A plain comment:
// a doc comment would become the about text of every command these are added to.)
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The node's address.
    #[arg(long, global = true, env = "SIGNALBOX_URL", default_value = "http://127.0.0.1:17010")]
    pub url: String,
    /// Data directory whose admin.key is used when SIGNALBOX_ADMIN_KEY is unset.
    #[arg(long, global = true, env = "SIGNALBOX_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Print the answer as JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The parser: [`Cli`] with the client flags on every client command, listed, and before the
/// command name, unlisted.
pub fn command() -> clap::Command {
    let client_flags: Vec<clap::Arg> =
        ClientArgs::augment_args(clap::Command::new("client")).get_arguments().cloned().collect();
    let before_command = client_flags.into_iter().map(|flag| {
        // Without env or default here: the command's own flag supplies those, and a value given
        // here reaches it because it was given on the command line (clap's global propagation).
        flag.global(false).hide(true).env(None::<&str>).default_value(None::<&str>)
    });
    Cli::command()
        .mut_subcommands(|sub| if sub.get_name() == "serve" { sub } else { ClientArgs::augment_args(sub) })
        .args(before_command)
}

/// Parses the process's arguments.
pub fn parse() -> Result<Invocation, clap::Error> {
    parse_from(std::env::args_os())
}

pub fn parse_from<I, T>(args: I) -> Result<Invocation, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut parser = command();
    let matches = parser.try_get_matches_from_mut(args)?;
    match Cli::from_arg_matches(&matches)?.command {
        Command::Serve(args) => match flag_before_command(&matches) {
            Some(flag) => Err(parser.error(
                ErrorKind::UnknownArgument,
                format!("--{flag} before `serve`: serve's own flags go after it"),
            )),
            None => Ok(Invocation::Serve(args)),
        },
        Command::Client(command) => {
            let (_, sub) = matches.subcommand().expect("clap requires a command");
            Ok(Invocation::Client(ClientArgs::from_arg_matches(sub)?, command))
        }
    }
}

/// A client flag written before the command name, if any.
fn flag_before_command(matches: &ArgMatches) -> Option<String> {
    ["url", "data_dir", "json"]
        .into_iter()
        .find(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
        .map(|id| id.replace('_', "-"))
}

/// The commands that talk to a node over its admin API.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Apply a configuration file: create what is missing, update what differs (never deletes).
    Apply {
        /// The TOML file ([[topic]], [[endpoint]], [[subscription]], …; see docs/CLI.md).
        file: PathBuf,
        /// Print what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the node's configuration as an apply file: no runtime state, no secrets.
    Export,
    /// Admin keys: create, list, revoke.
    #[command(subcommand)]
    AdminKey(AdminKeyCmd),
    /// Topics: list, create, show, edit, delete, clear.
    #[command(subcommand)]
    Topic(TopicCmd),
    /// Endpoints (the callers of the pub/sub API): list, create, show, edit, delete, rotate-credentials.
    #[command(subcommand)]
    Endpoint(EndpointCmd),
    /// Subscriptions: list, create, show, edit, delete.
    #[command(subcommand)]
    Sub(SubCmd),
    /// Publish a message to a topic as an endpoint.
    Publish {
        /// The topic's name.
        topic: String,
        /// The data: JSON if it parses as JSON, else a string.
        data: String,
        /// The endpoint to publish as.
        #[arg(long = "as", value_name = "ENDPOINT")]
        endpoint: String,
        /// 1 (lowest) to 9 (highest); default 5.
        #[arg(long)]
        priority: Option<u8>,
        /// Guaranteed delivery: stored in the database until delivered.
        #[arg(long, conflicts_with = "no_gd")]
        gd: bool,
        /// In-RAM delivery.
        #[arg(long)]
        no_gd: bool,
        /// Seconds until the message expires.
        #[arg(long)]
        expiration: Option<u64>,
    },
    /// A subscription's queue: browse, dead-letters, clear.
    #[command(subcommand)]
    Queue(QueueCmd),
    /// One queued message: show, edit, delete.
    #[command(subcommand)]
    Msg(MsgCmd),
    /// Services (built-in, `http` and `publish`): list, create, delete, invoke.
    #[command(subcommand)]
    Service(ServiceCmd),
    /// WSX channels (where WebSocket clients connect): list, create, show, edit, delete, sessions.
    #[command(subcommand)]
    Channel(ChannelCmd),
    /// Outgoing WSX links to other Zato or Signalbox nodes: list, create, show, edit, delete, invoke.
    #[command(subcommand)]
    Link(LinkCmd),
    /// Inbound file channels (files in a directory become messages): list, create, show, edit, delete.
    #[command(subcommand)]
    FileChannel(FileChannelCmd),
    /// The node's actors with their state, queue depths and counters.
    Actors {
        /// Only actors of this kind: topic, delivery, peer, session or supervisor.
        #[arg(long)]
        kind: Option<String>,
        /// Only actors on this node (in a cluster).
        #[arg(long)]
        node: Option<String>,
    },
    /// Send one actor a command.
    #[command(after_help = "Commands by actor:\n  \
        delivery:<sub_key>  pause, resume, restart, clear, move --node N\n  \
        topic:<topic id>    clear\n  \
        peer:<link name>    reconnect, stop, start")]
    Actor {
        /// `delivery:<sub_key>`, `topic:<topic id>` or `peer:<link name>` (see `signalbox actors`).
        actor_id: String,
        /// pause, resume, restart, clear, move, reconnect, stop or start.
        command: String,
        /// The node to move a delivery actor to (`move` only).
        #[arg(long)]
        node: Option<String>,
    },
    /// The cluster: nodes.
    #[command(subcommand)]
    Cluster(ClusterCmd),
}

/// `FIELD=VALUE` pairs with the admin API's field names; a VALUE that parses as JSON is JSON.
const FIELDS: &str = "FIELD=VALUE";

#[derive(Debug, Subcommand)]
pub enum TopicCmd {
    /// List topics.
    List,
    /// Create a topic: `topic create /orders/new has_gd=true max_depth_gd=5000`.
    Create {
        /// The topic's name, e.g. /orders/new.
        name: String,
        /// Fields (is_active, has_gd, max_depth_gd, …); a VALUE that parses as JSON is JSON.
        #[arg(value_name = FIELDS)]
        fields: Vec<String>,
    },
    /// Show one topic: every field, its depths and its last publication.
    Show { name: String },
    /// Change the fields given; the others stay.
    Edit {
        name: String,
        #[arg(value_name = FIELDS)]
        fields: Vec<String>,
    },
    /// Delete a topic.
    Delete { name: String },
    /// Delete every message of a topic.
    Clear { name: String },
}

#[derive(Debug, Subcommand)]
pub enum EndpointCmd {
    /// List endpoints.
    List,
    /// Create an endpoint; its password or API key is shown once.
    ///
    /// Example: `endpoint create crm role=pub-sub 'topic_patterns=["pub=/orders/*","sub=/orders/*"]'`.
    Create {
        /// The endpoint's name (also its username unless username= is given).
        name: String,
        /// Fields (role, endpoint_type, topic_patterns, auth, username, wsx_channel).
        #[arg(value_name = FIELDS)]
        fields: Vec<String>,
    },
    /// Show one endpoint.
    Show { name: String },
    /// Change the fields given; the others stay.
    Edit {
        name: String,
        #[arg(value_name = FIELDS)]
        fields: Vec<String>,
    },
    /// Delete an endpoint.
    Delete { name: String },
    /// Make a new password or API key (shown once); the old one stops working.
    RotateCredentials { name: String },
}

#[derive(Debug, Subcommand)]
pub enum SubCmd {
    /// List subscriptions.
    List,
    /// Subscribe an endpoint to a topic: `sub create /orders/new crm ack_mode=explicit`.
    Create {
        /// The topic's name.
        topic: String,
        /// The subscribing endpoint's name.
        endpoint: String,
        /// Fields (delivery_method, ack_mode, push, …); a VALUE that parses as JSON is JSON.
        #[arg(value_name = FIELDS)]
        fields: Vec<String>,
    },
    /// Show one subscription.
    Show { sub_key: String },
    /// Change the fields given; the others stay.
    Edit {
        sub_key: String,
        #[arg(value_name = FIELDS)]
        fields: Vec<String>,
    },
    /// Delete a subscription and its queue.
    Delete { sub_key: String },
}

#[derive(Debug, Subcommand)]
pub enum ChannelCmd {
    /// List WSX channels.
    List,
    /// Create a channel: `channel create clients path=/wsx/clients`.
    Create {
        name: String,
        /// Fields (path, service, allowed_services, token_ttl, ping_interval, …).
        #[arg(value_name = FIELDS)]
        fields: Vec<String>,
    },
    /// Show one channel.
    Show { name: String },
    /// Change the fields given; the others stay.
    Edit {
        name: String,
        #[arg(value_name = FIELDS)]
        fields: Vec<String>,
    },
    /// Delete a channel.
    Delete { name: String },
    /// The live sessions of a channel.
    Sessions { name: String },
}

#[derive(Debug, Subcommand)]
pub enum LinkCmd {
    /// List links with their state and last error.
    List,
    /// Create a link: `link create to-b address=ws://… username=… secret=…`.
    ///
    /// Prefer `apply` with `secret_env = "VARIABLE"`: a secret given here shows in the process list.
    Create {
        name: String,
        /// Fields (address, username, secret, subscription_list, on_message, …).
        #[arg(value_name = FIELDS)]
        fields: Vec<String>,
    },
    /// Show one link.
    Show { name: String },
    /// Change the fields given; the others stay.
    Edit {
        name: String,
        #[arg(value_name = FIELDS)]
        fields: Vec<String>,
    },
    /// Delete a link (it disconnects).
    Delete { name: String },
    /// Invoke SERVICE on the remote end with a JSON request; prints the JSON reply.
    Invoke {
        name: String,
        service: String,
        #[arg(default_value = "null")]
        request: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum FileChannelCmd {
    /// List file channels.
    List,
    /// Create a file channel.
    ///
    /// Example: `file-channel create inbox directory=/srv/inbox topic_name=/files endpoint=loader`.
    Create {
        name: String,
        /// Fields (directory, topic_name, endpoint, poll_interval).
        #[arg(value_name = FIELDS)]
        fields: Vec<String>,
    },
    /// Show one file channel.
    Show { name: String },
    /// Change the fields given; the others stay.
    Edit {
        name: String,
        #[arg(value_name = FIELDS)]
        fields: Vec<String>,
    },
    /// Delete a file channel.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// Nodes with their address, state, last heartbeat, subscriptions owned and the leader.
    Nodes,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCmd {
    /// List services, the built-in ones included.
    List,
    /// Create an `http` or a `publish` service.
    ///
    /// Examples: `service create crm.lookup kind=http url=http://crm/lookup timeout=5`,
    /// `service create audit.in kind=publish topic_name=/audit endpoint=auditor`.
    Create {
        name: String,
        #[arg(value_name = FIELDS)]
        fields: Vec<String>,
    },
    /// Delete a service.
    Delete { name: String },
    /// Invoke a service with a JSON request; prints the JSON reply.
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
    /// A subscription's dead letters; --requeue puts them back, --purge deletes them.
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
    /// Show one message with its data and metadata.
    Show { msg_id: String },
    /// Edit in place: data, priority, expiration, exp_from_now, correl_id, in_reply_to, mime_type.
    Edit {
        msg_id: String,
        #[arg(value_name = FIELDS)]
        fields: Vec<String>,
    },
    /// Delete one message.
    Delete { msg_id: String },
}

#[derive(Debug, Subcommand)]
pub enum AdminKeyCmd {
    /// Create an admin key (shown once).
    Create {
        name: String,
        /// The key may only read (GET).
        #[arg(long)]
        read_only: bool,
        /// Write the key straight into the node's database on this machine, with no admin key
        /// and no running node needed: the way back in when every admin key is lost. Needs the
        /// node's --data-dir (its secret.key, or SIGNALBOX_SECRET_KEY, and its SQLite database)
        /// or --database-url.
        #[arg(long)]
        local: bool,
        /// With --local: the node's database, when it is not the data directory's SQLite file.
        #[arg(long, env = "SIGNALBOX_DATABASE_URL", requires = "local", value_name = "URL")]
        database_url: Option<String>,
    },
    /// List admin keys (names and roles, never the keys).
    List,
    /// Revoke an admin key by name.
    Revoke { name: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(args: &[&str]) -> (ClientArgs, ClientCommand) {
        match parse_from(std::iter::once("signalbox").chain(args.iter().copied())) {
            Ok(Invocation::Client(flags, command)) => (flags, command),
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn the_parser_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn client_flags_are_taken_after_the_verb_after_the_command_and_before_it() {
        for args in [
            &["topic", "list", "--json", "--url", "http://n:1"][..],
            &["topic", "--json", "--url", "http://n:1", "list"],
            &["--json", "--url", "http://n:1", "topic", "list"],
        ] {
            let (flags, command) = client(args);
            assert!(flags.json, "{args:?}");
            assert_eq!(flags.url, "http://n:1", "{args:?}");
            assert!(matches!(command, ClientCommand::Topic(TopicCmd::List)));
        }
        let (flags, _) = client(&["export"]);
        assert!(!flags.json);
    }

    #[test]
    fn serve_takes_no_client_flags() {
        let err = parse_from(["signalbox", "serve", "--json"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnknownArgument);
        let err = parse_from(["signalbox", "--url", "http://n:1", "serve"]).unwrap_err();
        assert!(err.to_string().contains("--url before `serve`"), "{err}");
        assert!(matches!(parse_from(["signalbox", "serve"]), Ok(Invocation::Serve(_))));
    }
}
