//! The web console at `/admin/ui/`: static files compiled into the binary, so every node serves
//! the same console without a separate server or network access. The console is a client of the
//! admin API (`/admin/v1`) and holds no server logic of its own; the admin key stays in the
//! browser's session storage and travels as `Authorization: Bearer` on each API call.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::node::error::NodeError;

/// One embedded file: its path under `/admin/ui/`, its media type and its bytes.
struct Asset {
    path: &'static str,
    media_type: &'static str,
    body: &'static str,
}

macro_rules! asset {
    ($path:literal, $media_type:expr) => {
        Asset { path: $path, media_type: $media_type, body: include_str!(concat!("../../ui/", $path)) }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the console. A new screen module must be listed here to be served.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("view.js", JS),
    asset!("list.js", JS),
    asset!("chart.js", JS),
    asset!("screens/overview.js", JS),
    asset!("screens/connections.js", JS),
    asset!("screens/topics.js", JS),
    asset!("screens/endpoints.js", JS),
    asset!("screens/subscriptions.js", JS),
    asset!("screens/queue.js", JS),
    asset!("screens/message.js", JS),
    asset!("screens/channels.js", JS),
    asset!("screens/links.js", JS),
    asset!("screens/services.js", JS),
    asset!("screens/actors.js", JS),
    asset!("screens/cluster.js", JS),
    asset!("vendor/lit-html.js", JS),
];

/// Scripts, styles and API calls come from this node only; nothing may frame the console.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/ui", web::get().to(redirect_to_slash))
        .route("/admin/ui/{path:.*}", web::get().to(file));
}

async fn redirect_to_slash() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "/admin/ui/")).finish()
}

async fn file(path: web::Path<String>) -> Result<HttpResponse, NodeError> {
    let wanted = match path.as_str() {
        "" => "index.html",
        other => other,
    };
    let asset = ASSETS
        .iter()
        .find(|a| a.path == wanted)
        .ok_or_else(|| NodeError::not_found(format!("no console file `{wanted}`")))?;
    Ok(HttpResponse::Ok()
        .content_type(asset.media_type)
        // The files change with the binary: a browser must ask again after an upgrade.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(asset.body))
}

#[cfg(test)]
mod tests {
    use super::ASSETS;

    /// Every `import` of a console module names a file that is served.
    #[test]
    fn every_imported_module_is_embedded() {
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let dir = asset.path.rsplit_once('/').map_or("", |(d, _)| d);
            for line in asset.body.lines().filter(|l| l.starts_with("import ")) {
                let Some(spec) = line.split(['"', '\'']).nth(1) else { continue };
                let mut parts: Vec<&str> = if dir.is_empty() { vec![] } else { dir.split('/').collect() };
                for seg in spec.split('/') {
                    match seg {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        s => parts.push(s),
                    }
                }
                let resolved = parts.join("/");
                assert!(
                    ASSETS.iter().any(|a| a.path == resolved),
                    "{} imports {spec} ({resolved}), which is not in ASSETS",
                    asset.path
                );
            }
        }
    }
}
