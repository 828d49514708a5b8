//! Fencing of a delivery actor's queue writes: each checks, inside its transaction, that the
//! subscription is still owned by the node and epoch the actor runs as.

use diesel::prelude::*;

use crate::connection::AnyConnection;
use crate::schema::*;
use crate::{StoreError, StoreResult};

/// The owner a delivery actor runs as: its queue writes check that the subscription is still
/// theirs, so an old owner cannot ack, count or dead-letter over a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub sub_key: String,
    pub node: String,
    pub epoch: i64,
}

/// Fails with [`StoreError::Fenced`] unless `fence` still owns its subscription. Locks the
/// owner row until the caller's transaction ends, so a change of owner waits for a write that
/// passed this check.
pub(crate) fn check_fence(conn: &mut AnyConnection, fence: &Fence) -> StoreResult<()> {
    let held = diesel::update(
        sb_sub_owner::table
            .filter(sb_sub_owner::sub_key.eq(&fence.sub_key))
            .filter(sb_sub_owner::node.eq(&fence.node))
            .filter(sb_sub_owner::epoch.eq(fence.epoch)),
    )
    .set(sb_sub_owner::epoch.eq(fence.epoch))
    .execute(conn)?;
    match held {
        0 => Err(StoreError::Fenced(fence.sub_key.clone())),
        _ => Ok(()),
    }
}
