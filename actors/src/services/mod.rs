//! Services: named JSON-in / JSON-out handlers that channels, hooks and push delivery call.
//!
//! Built in: `helpers.echo` (answers its request) and `zato.ping`. Users add `http` services
//! (the node POSTs the request to a URL and answers the JSON reply — any language can implement
//! one) and `publish` services (the request goes into a local topic as a given endpoint — a
//! bridge), stored in the database. Code that embeds Signalbox registers its own in Rust:
//!
//! ```
//! use serde_json::json;
//! use signalbox_actors::services::{ServiceError, Services};
//!
//! let mut services = Services::builtin();
//! services.register("billing.quote", |request: serde_json::Value| async move {
//!     let amount = request["amount"].as_f64().ok_or_else(|| ServiceError::bad_request("`amount` is required"))?;
//!     Ok(json!({"quote": amount * 1.2}))
//! });
//! # actix_rt::System::new().block_on(async {
//! let reply = services.invoke("billing.quote", json!({"amount": 10.0}), Default::default()).await.unwrap();
//! assert_eq!(reply, json!({"quote": 12.0}));
//! # });
//! ```

mod http;
mod publish;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};
use serde_json::{json, Value};
use signalbox_schema::models::StoredService;
use signalbox_schema::Store;

pub use http::HttpService;
pub use publish::PublishService;

use crate::message::Message;
use crate::registry::Registry;
use crate::secrets::{MasterKey, SealedAt};
use crate::Metrics;

/// A service's answer, on the thread that invoked it (services may hold actix's `!Send` types).
pub type ServiceFuture = Pin<Box<dyn Future<Output = Result<Value, ServiceError>>>>;

/// A named JSON-in / JSON-out handler.
pub trait Service: Send + Sync + 'static {
    fn invoke(&self, request: Value, ctx: InvokeContext) -> ServiceFuture;
}

impl<F, Fut> Service for F
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, ServiceError>> + 'static,
{
    fn invoke(&self, request: Value, _ctx: InvokeContext) -> ServiceFuture {
        Box::pin(self(request))
    }
}

/// Where an invocation comes from; push delivery passes the messages it pushes.
#[derive(Debug, Clone, Default)]
pub struct InvokeContext {
    /// Set when push delivery (a `srv` target or a link's `on_message`) calls the service.
    pub pushed: Option<Vec<Arc<Message>>>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ServiceError {
    #[error("no service named `{0}`")]
    NotFound(String),
    /// The request does not suit the service.
    #[error("{0}")]
    BadRequest(String),
    /// The service ran and failed; `status` is the remote HTTP status where there was one.
    #[error("{message}")]
    Failed { status: Option<u16>, message: String },
    #[error("service did not answer within {0} s")]
    Timeout(f64),
    /// Refused with an HTTP-like status (pub/sub services: 400, 403, 409, 503 …).
    #[error("{message}")]
    Status { status: u16, message: String },
}

impl ServiceError {
    pub fn bad_request(message: impl Into<String>) -> ServiceError {
        ServiceError::BadRequest(message.into())
    }
    pub fn failed(message: impl Into<String>) -> ServiceError {
        ServiceError::Failed { status: None, message: message.into() }
    }
}

/// Series per service: calls, errors, latency.
#[derive(Clone)]
struct ServiceMetrics {
    calls: IntCounterVec,
    errors: IntCounterVec,
    seconds: HistogramVec,
}

impl ServiceMetrics {
    fn new(metrics: Option<&Metrics>) -> ServiceMetrics {
        let calls =
            IntCounterVec::new(Opts::new("service_calls_total", "Service invocations."), &["service"])
                .expect("valid metric");
        let errors = IntCounterVec::new(
            Opts::new("service_errors_total", "Failed service invocations."),
            &["service"],
        )
        .expect("valid metric");
        let seconds = HistogramVec::new(
            HistogramOpts::new("service_seconds", "Service invocation time.")
                .buckets(vec![0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
            &["service"],
        )
        .expect("valid metric");
        if let Some(m) = metrics {
            let _ = m.registry.register(Box::new(calls.clone()));
            let _ = m.registry.register(Box::new(errors.clone()));
            let _ = m.registry.register(Box::new(seconds.clone()));
        }
        ServiceMetrics { calls, errors, seconds }
    }
}

/// What user-defined services need from the node.
#[derive(Clone)]
pub struct ServiceDeps {
    pub store: Store,
    pub registry: Registry,
    pub master_key: MasterKey,
    /// Largest reply accepted from an `http` service.
    pub max_reply: usize,
    pub outbound: crate::outbound::Outbound,
}

/// Every service the node can invoke: built-ins, ones registered in Rust, ones in the database.
#[derive(Clone)]
pub struct Services {
    builtins: Arc<HashMap<String, Arc<dyn Service>>>,
    /// User-defined services, reloaded from the database when they change.
    stored: Arc<RwLock<HashMap<String, Arc<dyn Service>>>>,
    deps: Option<ServiceDeps>,
    metrics: ServiceMetrics,
}

impl Services {
    /// `helpers.echo` and `zato.ping`, nothing else; no database.
    pub fn builtin() -> Services {
        let mut builtins: HashMap<String, Arc<dyn Service>> = HashMap::new();
        builtins.insert("helpers.echo".into(), Arc::new(|request: Value| async move { Ok(request) }));
        builtins.insert(
            "zato.ping".into(),
            Arc::new(|_request: Value| async move {
                Ok(json!({"pong": crate::time::iso(crate::time::now_micros())}))
            }),
        );
        Services {
            builtins: Arc::new(builtins),
            stored: Arc::default(),
            deps: None,
            metrics: ServiceMetrics::new(None),
        }
    }

    /// Built-ins plus the database's services, with their series in the node's metrics.
    pub fn with_store(mut self, deps: ServiceDeps, metrics: &Metrics) -> Services {
        self.deps = Some(deps);
        self.metrics = ServiceMetrics::new(Some(metrics));
        self
    }

    /// Adds (or replaces) a service implemented in Rust. Call before the node starts.
    pub fn register(&mut self, name: &str, service: impl Service) {
        Arc::make_mut(&mut self.builtins).insert(name.to_owned(), Arc::new(service));
    }

    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtins.contains_key(name)
    }

    pub fn builtin_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.builtins.keys().cloned().collect();
        names.sort();
        names
    }

    /// Rebuilds the user-defined services from their stored rows.
    pub fn reload(&self, rows: Vec<StoredService>) {
        let Some(deps) = &self.deps else { return };
        let mut built: HashMap<String, Arc<dyn Service>> = HashMap::new();
        for row in rows {
            match build(&row, deps) {
                Ok(service) => {
                    built.insert(row.name.clone(), service);
                }
                Err(e) => log::error!("event=service_unusable name={} error={e}", row.name),
            }
        }
        if let Ok(mut stored) = self.stored.write() {
            *stored = built;
        }
    }

    fn find(&self, name: &str) -> Option<Arc<dyn Service>> {
        self.builtins.get(name).cloned().or_else(|| self.stored.read().ok()?.get(name).cloned())
    }

    /// Runs a service and counts the call.
    pub async fn invoke(
        &self,
        name: &str,
        request: Value,
        ctx: InvokeContext,
    ) -> Result<Value, ServiceError> {
        let service = self.find(name).ok_or_else(|| ServiceError::NotFound(name.to_owned()))?;
        let started = Instant::now();
        let result = service.invoke(request, ctx).await;
        self.metrics.calls.with_label_values(&[name]).inc();
        self.metrics.seconds.with_label_values(&[name]).observe(started.elapsed().as_secs_f64());
        if let Err(e) = &result {
            self.metrics.errors.with_label_values(&[name]).inc();
            log::info!("event=service_failed name={name} error={e:?}");
        }
        result
    }
}

fn build(row: &StoredService, deps: &ServiceDeps) -> Result<Arc<dyn Service>, String> {
    let config: Value = serde_json::from_str(&row.config).map_err(|e| e.to_string())?;
    match row.kind.as_str() {
        "http" => {
            Ok(Arc::new(HttpService::from_config(&config, deps, &SealedAt::service_config(&row.name))?))
        }
        "publish" => Ok(Arc::new(PublishService::from_config(&config, deps)?)),
        other => Err(format!("unknown service kind `{other}`")),
    }
}

/// Checks a service definition and answers its stored config (secrets sealed for the service
/// `name`) — the one place both the admin API and `apply` go through.
pub fn validate(name: &str, kind: &str, config: &Value, key: &MasterKey) -> Result<Value, String> {
    match kind {
        "http" => http::validate(config, key, &SealedAt::service_config(name)),
        "publish" => publish::validate(config),
        other => Err(format!("`kind` must be `http` or `publish`, not `{other}`")),
    }
}

/// The stored config as admins may see it: sealed secrets left out.
pub fn public_config(config: &str) -> Value {
    serde_json::from_str::<Value>(config).map(|c| crate::targets::public_view(&c)).unwrap_or(Value::Null)
}

impl crate::sinks::CallService for Services {
    fn call_with_pushed(
        &self,
        name: &str,
        request: Value,
        pushed: Vec<Arc<Message>>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>>>> {
        let (services, name) = (self.clone(), name.to_owned());
        Box::pin(async move {
            let ctx = InvokeContext { pushed: Some(pushed) };
            services.invoke(&name, request, ctx).await.map(|_| ()).map_err(|e| e.to_string())
        })
    }
}
