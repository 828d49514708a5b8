//! What the cluster member asks of the node ([`Subsystems`]): read the configuration again
//! when another node changed it, and start or stop the work only the leader does — links to
//! other clusters ([`Node::run_links`]) and inbound file channels.

use std::sync::Arc;

use futures_util::future::LocalBoxFuture;
use signalbox_actors::supervisor::{RunFileChannels, SyncTopics};
use signalbox_actors::PubSubError;

use super::error::blocking;
use super::Node;
use crate::cluster::Subsystems;

impl Subsystems for Node {
    fn reload_configuration(self: Arc<Self>, leading: bool) -> LocalBoxFuture<'static, ()> {
        Box::pin(async move {
            if let Err(e) = self.supervisor.send(SyncTopics).await.map_err(PubSubError::from).and_then(|r| r)
            {
                log::warn!("event=configuration_reload_failed part=topics error={e}");
            }
            let store = self.store.clone();
            let loaded =
                blocking(move || Ok((store.wsx_channels()?, store.services()?, store.wsx_links()?))).await;
            match loaded {
                Ok((channels, services, links)) => {
                    self.channels.reload(channels);
                    self.services.reload(services);
                    self.run_links(links, leading);
                }
                Err(_) => log::warn!("event=configuration_reload_failed part=channels"),
            }
            self.auth.forget_all();
            self.recheck_sessions(None);
        })
    }

    fn leadership_changed(self: Arc<Self>, leading: bool) -> LocalBoxFuture<'static, ()> {
        Box::pin(async move {
            let store = self.store.clone();
            let Ok(links) = blocking(move || store.wsx_links()).await else { return };
            self.run_links(links, leading);
            let _ = self.supervisor.send(RunFileChannels(leading)).await;
        })
    }
}
