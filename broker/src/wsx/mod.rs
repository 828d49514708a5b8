//! WSX channels: WebSocket paths that speak Zato 3.x's WSX protocol (INTERFACES §4).
//!
//! `GET <channel path>` upgrades to a WebSocket served by one [`session::WsxSession`] actor per
//! connection. The node's [`Channels`](crate::node::channels::Channels) maps paths to channel
//! settings; its [`Sessions`](crate::node::sessions::Sessions) lists the live sessions, which
//! register there and answer the node's messages. The frames themselves are [`crate::frames`]
//! (links speak them too).

mod pubsub;
pub mod session;

pub use pubsub::end_orphans;

use std::any::Any;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use actix::{Actor, AsyncContext};
use actix_web::dev::Extensions;
use actix_web::{web, HttpRequest, HttpResponse};
use signalbox_schema::models::WsxChannel;

use crate::internal_channel::{CHANNEL_ID, CHANNEL_PATH};
use crate::node::channels::Channel;
use crate::node::error::NodeError;
use crate::node::Node;
use session::WsxSession;

/// The services a channel's gateway allows unless told otherwise.
pub const DEFAULT_ALLOWED: &[&str] = &[
    "zato.pubsub.pubapi.publish-message",
    "zato.pubsub.pubapi.subscribe-wsx",
    "zato.pubsub.pubapi.unsubscribe",
    "zato.pubsub.resume-wsx-subscription",
    "zato.pubsub.subscription.create-wsx-subscription",
    "zato.ping",
    "helpers.echo",
];
pub const GATEWAY: &str = "helpers.web-sockets-gateway";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/wsx/{tail:.*}", web::get().to(upgrade));
}

async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<Node>,
) -> Result<HttpResponse, NodeError> {
    let channel =
        state.channels.get(req.path()).ok_or_else(|| NodeError::not_found("no WSX channel at this path"))?;
    let (response, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| NodeError::bad_request(format!("a WebSocket upgrade is required: {e}")))?;
    let stream = stream.max_frame_size(channel.row.max_frame_size.max(1024) as usize);
    let peer = req.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let socket = req.conn_data::<ConnectionSocket>().cloned();
    WsxSession::create(|ctx| {
        ctx.add_stream(stream);
        WsxSession::new(channel, state.clone(), session, peer, socket)
    });
    Ok(response)
}

/// A duplicate of a connection's socket, kept with the connection, so that a session can cut
/// off a client that does not read: actix-web would otherwise wait, for ever, for it to take what
/// was already written for it (and hold those buffers).
#[derive(Clone)]
pub struct ConnectionSocket(Arc<OwnedFd>);

impl ConnectionSocket {
    /// Ends the connection both ways at once, whatever is still unsent. A shutdown alone sends a
    /// FIN, which waits behind the unsent bytes while the client's window is closed (a client
    /// that does not read): so the socket is first disconnected — `connect` to an `AF_UNSPEC`
    /// address, which aborts a TCP connection with a reset — and the bytes are dropped.
    pub fn shut_down(&self) {
        use std::os::fd::AsRawFd;
        let unspec = libc::sockaddr { sa_family: libc::AF_UNSPEC as libc::sa_family_t, sa_data: [0; 14] };
        let size = std::mem::size_of::<libc::sockaddr>() as libc::socklen_t;
        // SAFETY: a valid socket descriptor we own a duplicate of, and a valid address of `size`.
        unsafe { libc::connect(self.0.as_raw_fd(), &unspec, size) };
        let _ = socket2::SockRef::from(self.0.as_ref()).shutdown(std::net::Shutdown::Both);
    }
}

/// `HttpServer::on_connect`: keeps each connection's socket (plain or TLS) for its WSX session.
pub fn remember_socket(connection: &dyn Any, data: &mut Extensions) {
    use actix_tls::accept::rustls_0_23::TlsStream;
    use actix_web::rt::net::TcpStream;
    let duplicate = if let Some(tcp) = connection.downcast_ref::<TcpStream>() {
        tcp.as_fd().try_clone_to_owned()
    } else if let Some(tls) = connection.downcast_ref::<TlsStream<TcpStream>>() {
        tls.get_ref().0.as_fd().try_clone_to_owned()
    } else {
        return;
    };
    if let Ok(fd) = duplicate {
        data.insert(ConnectionSocket(Arc::new(fd)));
    }
}

/// The internal channel's settings: only the cluster's own services, generous frames.
pub fn internal_channel(max_message_size: usize) -> Arc<Channel> {
    let row = WsxChannel {
        id: CHANNEL_ID,
        name: "_cluster".into(),
        path: CHANNEL_PATH.into(),
        service: GATEWAY.into(),
        allowed_services: "[]".into(),
        new_token_wait_time: 5.0,
        token_ttl: 1e9,
        ping_interval: 15.0,
        pings_missed_threshold: 4,
        // A forwarded batch carries whole messages plus their envelope.
        max_frame_size: (max_message_size as i64).saturating_mul(4),
        created_at: 0,
    };
    Arc::new(Channel {
        row,
        allowed: crate::node::peer_calls::SERVICES.iter().map(|s| s.to_string()).collect(),
    })
}
