//! `signalbox serve`: prepare the node, run the HTTP server until SIGTERM/SIGINT, exit cleanly.

use std::time::Duration;

use actix::Actor;
use actix_web::dev::Service;
use actix_web::{middleware, web, App, HttpServer};
use signalbox_actors::cluster::ClusterRoute;
use signalbox_actors::outbound::Outbound;
use signalbox_actors::registry::Registry;
use signalbox_actors::services::{ServiceDeps, Services};
use signalbox_actors::sinks::SinkDeps;
use signalbox_actors::supervisor::{Boot, SetCluster, Supervisor};
use signalbox_actors::topic::OverflowLog;
use signalbox_actors::Metrics;
use signalbox_schema::Backend;
use tokio::signal::unix::{signal, SignalKind};

use crate::cluster::handover::Leave;
use crate::cluster::member::{ClusterMember, MemberConfig, MemberDeps, Start};
use crate::cluster::Cluster;
use crate::config::Config;
use crate::http;
use crate::links::LinkDeps;
use crate::node::auth::Authenticator;
use crate::node::sessions::GoingAway;
use crate::node::Node;
use crate::startup;

/// How long a stopping node waits for its WSX sessions to close.
const SESSIONS_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a stopping cluster node may take to hand its subscriptions over.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs a node to completion with the built-in services. Start-up failures come back as one
/// line for the operator.
pub async fn serve(config: Config) -> Result<(), String> {
    serve_with(config, Services::builtin()).await
}

/// Runs a node with services registered in Rust by the embedding program, e.g.
/// `services.register("billing.quote", |req| async move { … })`.
pub async fn serve_with(config: Config, services: Services) -> Result<(), String> {
    let prepared = startup::prepare(&config)?;
    let addr = prepared.listener.local_addr().map_err(|e| format!("cannot read the bound address: {e}"))?;
    let node_name = config.node_name();
    let metrics = Metrics::new();
    let registry = Registry::default();
    let ca = config.tls_ca.as_ref().map(|p| p.to_string_lossy().into_owned());
    let outbound = Outbound::new(crate::tls::client_config(ca.as_deref())?);
    let services = services.with_store(
        ServiceDeps {
            store: prepared.store.clone(),
            registry: registry.clone(),
            master_key: prepared.master_key.clone(),
            max_reply: config.max_message_size,
            outbound: outbound.clone(),
        },
        &metrics,
    );
    let supervisor = Supervisor::new(
        node_name.clone(),
        prepared.store.clone(),
        metrics.clone(),
        registry.clone(),
        OverflowLog::new(&config.data_dir),
        SinkDeps {
            node: node_name.clone(),
            master_key: prepared.master_key.clone(),
            outbound,
            services: Some(std::sync::Arc::new(services.clone())),
        },
        2,
    )
    .start();
    // On PostgreSQL every node is a member of a cluster (possibly of one); on SQLite it runs alone.
    let cluster = match prepared.store.backend() {
        Backend::Sqlite => None,
        Backend::Postgres => {
            let member = ClusterMember::new(
                MemberConfig {
                    node: node_name.clone(),
                    cluster: config.cluster_name.clone(),
                    advertise_url: config.advertise_url(addr),
                    database_url: config.database_url(),
                    heartbeat: Duration::from_secs_f64(config.heartbeat_interval),
                    timeout: Duration::from_secs_f64(config.heartbeat_timeout),
                    tls_ca: ca.clone(),
                },
                prepared.store.clone(),
                supervisor.clone(),
                MemberDeps {
                    registry: registry.clone(),
                    metrics: metrics.clone(),
                    link_deps: LinkDeps {
                        store: prepared.store.clone(),
                        master_key: prepared.master_key.clone(),
                        metrics: metrics.clone(),
                        services: services.clone(),
                        max_frame: config.max_message_size,
                    },
                },
            );
            let (peers, leader, lease) = (member.peers(), member.leader_flag(), member.lease());
            let member = member.start();
            let route = ClusterRoute::new(
                node_name.clone(),
                member.clone().recipient(),
                member.clone().recipient(),
                lease,
            );
            supervisor
                .send(SetCluster(route.clone()))
                .await
                .map_err(|e| format!("supervisor failed: {e}"))?;
            Some(Cluster { node: node_name.clone(), member, route, peers, leader })
        }
    };
    supervisor
        .send(Boot)
        .await
        .map_err(|e| format!("supervisor failed to start: {e}"))?
        .map_err(|e| format!("cannot start the actors: {e}"))?;
    let stored = prepared.store.services().map_err(|e| format!("cannot load services: {e}"))?;
    services.reload(stored);
    let state = web::Data::new(Node {
        store: prepared.store.clone(),
        master_key: prepared.master_key.clone(),
        metrics,
        config: config.clone(),
        node_name: node_name.clone(),
        registry,
        supervisor,
        auth: Authenticator::new(Duration::from_secs(config.auth_cache_ttl)),
        services,
        channels: Default::default(),
        wsx_sessions: Default::default(),
        links: Default::default(),
        cluster: cluster.clone(),
        history: Default::default(),
        rest_clients: Default::default(),
    });
    crate::node::figures::start_sampling(state.clone().into_inner());
    state
        .channels
        .reload(prepared.store.wsx_channels().map_err(|e| format!("cannot load WSX channels: {e}"))?);
    match &cluster {
        Some(cluster) => {
            state.channels.set_internal(crate::wsx::internal_channel(config.max_message_size));
            // Registers, takes this node's share of the subscriptions (and links and file
            // channels if it leads) before the node says it is listening.
            cluster
                .member
                .send(Start(state.clone().into_inner()))
                .await
                .map_err(|e| format!("cluster member failed: {e}"))?;
        }
        None => {
            let links = prepared.store.wsx_links().map_err(|e| format!("cannot load WSX links: {e}"))?;
            state.run_links(links, state.leads());
        }
    }
    crate::wsx::end_orphans(&state)
        .await
        .map_err(|e| format!("cannot end orphaned WSX subscriptions: {e}"))?;
    let stopping = state.clone();
    let max_body = config.max_message_size;
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap_fn(|mut req, service| {
                http::stall_guard(&mut req);
                service.call(req)
            })
            .wrap(http::envelope_errors())
            .wrap(middleware::Logger::new("%a \"%r\" %s %b %Dms").log_target("signalbox::http"))
            .configure(|cfg| http::configure(cfg, max_body))
    })
    .on_connect(crate::wsx::remember_socket)
    .shutdown_timeout(10)
    .disable_signals();
    let scheme = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            server = server
                .listen_rustls_0_23(prepared.listener, crate::tls::server_config(cert, key)?)
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            "https"
        }
        _ => {
            server = server.listen(prepared.listener).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            "http"
        }
    };
    if config.workers > 0 {
        server = server.workers(config.workers);
    }
    let server = server.run();
    let handle = server.handle();
    // Registered before the listening line, so a SIGTERM right after start-up is a clean stop.
    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| format!("signal handler: {e}"))?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| format!("signal handler: {e}"))?;
    let leaving = cluster.clone();
    actix_rt::spawn(async move {
        let which = tokio::select! {
            _ = sigterm.recv() => "SIGTERM",
            _ = sigint.recv() => "SIGINT",
        };
        log::info!("event=shutdown_requested signal={which}");
        // WSX clients hear 1001 now rather than a reset after the drain; their subscriptions
        // that end with the connection are gone before the process is.
        let sessions = stopping.wsx_sessions.all().into_iter().map(|s| s.going_away.send(GoingAway));
        if tokio::time::timeout(SESSIONS_TIMEOUT, futures_util::future::join_all(sessions)).await.is_err() {
            log::warn!("event=wsx_sessions_close_timed_out");
        }
        if let Some(cluster) = leaving {
            // Hand every subscription to a live peer before the listener closes.
            if tokio::time::timeout(LEAVE_TIMEOUT, cluster.member.send(Leave)).await.is_err() {
                log::warn!("event=handover_timed_out node={}", cluster.node);
            }
        }
        handle.stop(true).await;
    });
    // Tests and scripts read this line to learn the port when `listen` asked for port 0.
    println!("signalbox listening on {scheme}://{addr}");
    log::info!("event=node_started node={node_name} listen={addr} backend={:?}", prepared.store.backend());
    server.await.map_err(|e| format!("server failed: {e}"))?;
    log::info!("event=node_stopped node={node_name}");
    drop(prepared._lock);
    Ok(())
}
