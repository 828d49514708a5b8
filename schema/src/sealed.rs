//! The stored values that hold secrets sealed under the master key, read and replaced one by one
//! for the start-up step that seals old, unbound values again for their row and field.

use diesel::prelude::*;

use crate::schema::*;
use crate::{Store, StoreResult};

/// The row of a value with sealed secrets in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedRow {
    /// `sb_wsx_link.secret_enc` of the link with this id: the value is one sealed secret.
    Link(i64),
    /// `pubsub_sub.push_config` of this sub key: a JSON object with sealed `*_enc` members.
    Subscription(String),
    /// `sb_service.config` of this service: a JSON object with sealed `*_enc` members.
    Service(String),
}

/// One stored value, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedCell {
    pub row: SealedRow,
    pub value: String,
}

impl Store {
    /// Every link secret, and every push config and service config that has a sealed member.
    pub fn sealed_cells(&self) -> StoreResult<Vec<SealedCell>> {
        let mut conn = self.conn()?;
        let cell = |row, value| SealedCell { row, value };
        let links: Vec<(i64, String)> =
            sb_wsx_link::table.select((sb_wsx_link::id, sb_wsx_link::secret_enc)).load(&mut *conn)?;
        // `_` is LIKE's one-character wildcard: `enc"` finds every `…_enc"` key, and a few more
        // rows that the caller finds nothing sealed in.
        let subs: Vec<(String, Option<String>)> = pubsub_sub::table
            .filter(pubsub_sub::push_config.like("%enc\"%"))
            .select((pubsub_sub::sub_key, pubsub_sub::push_config))
            .load(&mut *conn)?;
        let services: Vec<(String, String)> = sb_service::table
            .filter(sb_service::config.like("%enc\"%"))
            .select((sb_service::name, sb_service::config))
            .load(&mut *conn)?;
        let mut out: Vec<SealedCell> =
            links.into_iter().map(|(id, v)| cell(SealedRow::Link(id), v)).collect();
        out.extend(subs.into_iter().filter_map(|(k, v)| Some(cell(SealedRow::Subscription(k), v?))));
        out.extend(services.into_iter().map(|(n, v)| cell(SealedRow::Service(n), v)));
        Ok(out)
    }

    /// Stores `value` in place of `cell`'s, if the row still holds the value `cell` was read
    /// with; answers whether it did. A compare-and-set in one statement, so nodes re-sealing at
    /// once never overwrite each other's work or an edit made meanwhile.
    pub fn sealed_cell_replace(&self, cell: &SealedCell, value: &str) -> StoreResult<bool> {
        let old = cell.value.as_str();
        let n = self.write(|conn| {
            Ok(match &cell.row {
                SealedRow::Link(id) => {
                    diesel::update(sb_wsx_link::table.find(*id).filter(sb_wsx_link::secret_enc.eq(old)))
                        .set(sb_wsx_link::secret_enc.eq(value))
                        .execute(conn)?
                }
                SealedRow::Subscription(sub_key) => diesel::update(
                    pubsub_sub::table
                        .filter(pubsub_sub::sub_key.eq(sub_key))
                        .filter(pubsub_sub::push_config.eq(old)),
                )
                .set(pubsub_sub::push_config.eq(value))
                .execute(conn)?,
                SealedRow::Service(name) => diesel::update(
                    sb_service::table.filter(sb_service::name.eq(name)).filter(sb_service::config.eq(old)),
                )
                .set(sb_service::config.eq(value))
                .execute(conn)?,
            })
        })?;
        Ok(n == 1)
    }
}

#[cfg(test)]
#[path = "sealed_tests.rs"]
mod tests;
