//! `/admin/v1/file-channels`: inbound directories whose new files become messages.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use signalbox_actors::supervisor::SyncFileChannels;
use signalbox_actors::time::{iso, now_micros};
use signalbox_actors::PubSubError;
use signalbox_schema::models::{FileChannel, FileChannelFields};

use super::{list_answer, parse_id, required, search_page, with_id, ListQuery};
use crate::http::auth::{audit_admin, AdminCaller};
use crate::node::error::{blocking, NodeError};
use crate::node::Node;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/file-channels").route(web::get().to(list)).route(web::post().to(create)))
        .service(
            web::resource("/file-channels/{id}")
                .route(web::get().to(read))
                .route(web::patch().to(edit))
                .route(web::delete().to(delete)),
        );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    name: Option<String>,
    directory: Option<String>,
    topic_name: Option<String>,
    endpoint: Option<String>,
    poll_interval: Option<f64>,
}

fn channel_json(c: &FileChannel) -> Value {
    json!({"id": c.id, "name": c.name, "directory": c.directory, "topic_name": c.topic_name,
           "endpoint": c.endpoint, "poll_interval": c.poll_interval, "created_at": iso(c.created_at)})
}

impl Input {
    async fn into_fields(self, state: &Node) -> Result<FileChannelFields, NodeError> {
        if self.name.as_ref().is_some_and(|n| n.trim().is_empty() || n.len() > 200) {
            return Err(NodeError::bad_request("`name` must be 1–200 characters"));
        }
        if let Some(dir) = &self.directory {
            if !std::path::Path::new(dir).is_dir() {
                return Err(NodeError::bad_request(format!(
                    "`directory` {dir} is not an existing directory"
                )));
            }
        }
        if self.poll_interval.is_some_and(|p| !(0.05..=86_400.0).contains(&p)) {
            return Err(NodeError::bad_request("`poll_interval` must be 0.05–86400 seconds"));
        }
        if let Some(topic) = &self.topic_name {
            if state.registry.topic(topic).is_none() {
                return Err(NodeError::bad_request(format!("no topic named `{topic}`")));
            }
        }
        if let Some(endpoint) = self.endpoint.clone() {
            let store = state.store.clone();
            let name = endpoint.clone();
            blocking(move || store.endpoint_by_name(&name))
                .await
                .map_err(|e| e.when_missing_reference(|| format!("no endpoint named `{endpoint}`")))?;
        }
        Ok(FileChannelFields {
            name: self.name,
            directory: self.directory,
            topic_name: self.topic_name,
            endpoint: self.endpoint,
            poll_interval: self.poll_interval,
            created_at: None,
        })
    }
}

async fn sync(state: &Node) -> Result<(), NodeError> {
    state.supervisor.send(SyncFileChannels).await.map_err(PubSubError::from)??;
    state.cluster_changed().await;
    Ok(())
}

async fn list(
    _c: AdminCaller,
    state: web::Data<Node>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, NodeError> {
    query.page()?;
    let store = state.store.clone();
    let rows = blocking(move || store.file_channels()).await?;
    // `?q=` finds file channels by name, directory, topic or endpoint.
    let (page, total) =
        search_page(&rows, &query, |c| vec![&c.name, &c.directory, &c.topic_name, &c.endpoint])?;
    Ok(list_answer(page.into_iter().map(channel_json).collect(), total))
}

async fn create(
    caller: AdminCaller,
    state: web::Data<Node>,
    body: web::Json<Input>,
) -> Result<HttpResponse, NodeError> {
    let input = body.into_inner();
    required(&[
        ("name", input.name.is_some()),
        ("directory", input.directory.is_some()),
        ("topic_name", input.topic_name.is_some()),
        ("endpoint", input.endpoint.is_some()),
    ])?;
    let mut fields = input.into_fields(&state).await?;
    fields.poll_interval.get_or_insert(1.0);
    fields.created_at = Some(now_micros());
    let name = fields.name.clone().unwrap_or_default();
    let store = state.store.clone();
    let channel = blocking(move || store.file_channel_create(fields))
        .await
        .map_err(|e| e.when_conflict(|| format!("a file channel named `{name}` already exists")))?;
    sync(&state).await?;
    audit_admin(&caller, "file_channel.create", &channel.name);
    Ok(HttpResponse::Created().json(channel_json(&channel)))
}

async fn read(
    _c: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    let id = parse_id(&id)?;
    let channel = with_id(&state, id, "file channel", |store, id| store.file_channel(id)).await?;
    Ok(HttpResponse::Ok().json(channel_json(&channel)))
}

async fn edit(
    caller: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
    body: web::Json<Input>,
) -> Result<HttpResponse, NodeError> {
    let id = parse_id(&id)?;
    let fields = body.into_inner().into_fields(&state).await?;
    let store = state.store.clone();
    let channel = blocking(move || store.file_channel_update(id, fields)).await.map_err(|e| {
        e.when_not_found(|| format!("no file channel with id {id}"))
            .when_conflict(|| "another file channel has that name".into())
    })?;
    sync(&state).await?;
    audit_admin(&caller, "file_channel.edit", &channel.name);
    Ok(HttpResponse::Ok().json(channel_json(&channel)))
}

async fn delete(
    caller: AdminCaller,
    state: web::Data<Node>,
    id: web::Path<String>,
) -> Result<HttpResponse, NodeError> {
    let id = parse_id(&id)?;
    with_id(&state, id, "file channel", |store, id| store.file_channel_delete(id)).await?;
    sync(&state).await?;
    audit_admin(&caller, "file_channel.delete", &id.to_string());
    Ok(HttpResponse::Ok().json(json!({})))
}
