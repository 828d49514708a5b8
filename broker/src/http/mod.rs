//! The node's HTTP surface: the admin API, operations routes, the web console, and (with the
//! data plane) the pub/sub REST API. Every error answer goes through [`error`].

pub mod admin;
pub mod auth;
pub mod clients;
pub mod endpoint_auth;
pub mod error;
pub mod openapi;
mod ops;
pub mod publish_input;
pub mod pubsub;
mod ui;

use actix::Addr;
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlers;
use actix_web::web;
use signalbox_actors::registry::Registry;
use signalbox_actors::secrets::MasterKey;
use signalbox_actors::supervisor::{Supervisor, SyncSubscription, SyncTopics};
use signalbox_actors::{Metrics, PubSubError};
use signalbox_schema::Store;

use crate::config::Config;
use crate::node::error::NodeError;

/// What every request handler may reach. Cloned per worker; every field is cheap to clone.
pub struct AppState {
    pub store: Store,
    pub master_key: MasterKey,
    pub metrics: Metrics,
    pub config: Config,
    pub node_name: String,
    pub registry: Registry,
    pub supervisor: Addr<Supervisor>,
    pub auth: endpoint_auth::Authenticator,
    pub services: signalbox_actors::services::Services,
    pub channels: crate::wsx::Channels,
    pub wsx_sessions: crate::wsx::Sessions,
    pub links: crate::links::Links,
    /// Present when this node is one of a cluster (PostgreSQL).
    pub cluster: Option<crate::cluster::member::Cluster>,
    /// The node's recent figures, sampled every few seconds, for the console.
    pub history: std::sync::Arc<signalbox_actors::history::History>,
    /// REST clients seen here, and the throttle on endpoints' stored `last_seen`.
    pub rest_clients: clients::RestClients,
}

impl AppState {
    /// What the node's links need of it.
    pub fn link_deps(&self) -> crate::links::LinkDeps {
        crate::links::LinkDeps {
            store: self.store.clone(),
            master_key: self.master_key.clone(),
            metrics: self.metrics.clone(),
            services: self.services.clone(),
            max_frame: self.config.max_message_size,
        }
    }

    /// Topics changed: the node's topic actors follow before this returns, so the next request
    /// sees the change.
    pub async fn topics_changed(&self) -> Result<(), NodeError> {
        self.supervisor.send(SyncTopics).await.map_err(PubSubError::from)??;
        self.cluster_changed().await;
        Ok(())
    }

    /// An endpoint's credentials, patterns or role changed, or it was deleted: cached logins
    /// are forgotten and live WSX sessions check theirs again, here and on every other node.
    pub async fn credentials_changed(&self, endpoint_id: i64) {
        self.auth.forget(endpoint_id);
        self.recheck_sessions(Some(endpoint_id));
        self.cluster_changed().await;
    }

    /// Live WSX sessions of `endpoint_id` (of every endpoint: `None`) read their endpoint again
    /// (see `RecheckLogin`).
    pub fn recheck_sessions(&self, endpoint_id: Option<i64>) {
        for session in self.wsx_sessions.all() {
            session.do_send(crate::wsx::session::RecheckLogin { endpoint_id });
        }
    }

    /// Configuration changed here (already applied on this node): in a cluster, every other
    /// node follows before this returns.
    pub async fn cluster_changed(&self) {
        if let Some(cluster) = &self.cluster {
            let _ = cluster.member.send(crate::cluster::member::Changed::Configuration).await;
        }
    }

    /// A subscription was created, edited or deleted: its delivery actor is started, updated
    /// or stopped before this returns.
    ///
    /// In a cluster a new subscription gets its owner here — the least loaded live node, or
    /// this one for a WSX subscription, whose session is here — and the owner starts it before
    /// this returns.
    pub async fn subscription_changed(&self, sub_key: &str) -> Result<(), NodeError> {
        let sync = SyncSubscription { sub_key: sub_key.to_owned() };
        self.supervisor.send(sync).await.map_err(PubSubError::from)??;
        if let Some(cluster) = &self.cluster {
            let (store, key, me) = (self.store.clone(), sub_key.to_owned(), self.node_name.clone());
            let (name, timeout) = (self.config.cluster_name.clone(), self.config.heartbeat_timeout);
            crate::node::error::blocking(move || {
                crate::cluster::leader::assign_new(&store, &key, &me, &name, timeout)
            })
            .await?;
            let _ =
                cluster.member.send(crate::cluster::member::Changed::Subscription(sub_key.to_owned())).await;
        }
        Ok(())
    }
}

/// Error handlers that put actix-web's own bodiless answers into the envelope.
pub fn envelope_errors<B: 'static>() -> ErrorHandlers<B> {
    let mut handlers = ErrorHandlers::new();
    for status in [
        StatusCode::NOT_FOUND,
        StatusCode::METHOD_NOT_ALLOWED,
        StatusCode::BAD_REQUEST,
        StatusCode::PAYLOAD_TOO_LARGE,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    ] {
        handlers = handlers.handler(status, error::wrap_plain_errors);
    }
    handlers
}

/// A request body that sends nothing for this long is given up on (a 400), so a client cannot hold
/// a worker's request open by stalling; WebSocket upgrades, whose body is the socket, are exempt.
pub const BODY_STALL: std::time::Duration = std::time::Duration::from_secs(10);

/// Wraps a request's body so that a wait of more than [`BODY_STALL`] for its next bytes ends it.
pub fn stall_guard(req: &mut actix_web::dev::ServiceRequest) {
    use actix_web::http::header;
    use actix_web::HttpMessage;
    use futures_util::StreamExt;
    let headers = req.headers();
    let no_body = !headers.contains_key(header::TRANSFER_ENCODING)
        && headers.get(header::CONTENT_LENGTH).is_none_or(|n| n.as_bytes() == b"0");
    if no_body || headers.contains_key(header::UPGRADE) {
        return;
    }
    let body = req.take_payload();
    let guarded = futures_util::stream::unfold(Some(body), |state| async move {
        let mut body = state?;
        match tokio::time::timeout(BODY_STALL, body.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(body))),
            Ok(None) => None,
            Err(_) => {
                let stalled = std::io::Error::new(std::io::ErrorKind::TimedOut, "the request body stalled");
                Some((Err(actix_web::error::PayloadError::Io(stalled)), None))
            }
        }
    });
    req.set_payload(actix_web::dev::Payload::Stream { payload: Box::pin(guarded) });
}

/// All routes, with body limits and extractor errors mapped to the envelope.
pub fn configure(cfg: &mut web::ServiceConfig, max_body: usize) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(max_body)
            .content_type_required(false)
            .error_handler(|err, _| error::json_error(err).into()),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|err, _| NodeError::bad_request(format!("invalid query: {err}")).into()),
    )
    .app_data(web::PayloadConfig::new(max_body))
    .app_data(
        web::PathConfig::default()
            .error_handler(|err, _| NodeError::bad_request(format!("invalid path: {err}")).into()),
    )
    .configure(ops::configure)
    .configure(pubsub::configure)
    .configure(crate::wsx::configure)
    .configure(ui::configure)
    .service(web::scope("/admin/v1").configure(admin::configure).configure(ops::configure_admin));
}
