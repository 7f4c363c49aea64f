//! Caps on what a tenant accumulates: uploaded extension versions per kind
//! (by tier), templates. Each capped set keeps its count in an item of its
//! own (`COUNT#{set}` under the tenant), written in the same transaction as
//! every addition to the set and removal from it, conditionally on the
//! version read: concurrent additions serialise on it, so none passes the
//! cap, and no addition ever has to count the set.

use serde::{Deserialize, Serialize};

use crate::store::{Item, Key, Query, TxOp};

use super::{Result, Services};

#[derive(Serialize, Deserialize)]
struct Tally {
    count: usize,
}

/// A capped set's count as read, at the version of its item.
pub(crate) struct Count {
    key: Key,
    pub(crate) n: usize,
    version: u64,
}

impl Count {
    /// The write that moves the count by `delta`, conditional on the
    /// version read (an addition that lost a race counts again).
    pub(crate) fn moved(&self, delta: isize) -> Result<TxOp> {
        let tally = Tally {
            count: self.n.saturating_add_signed(delta),
        };
        Ok(TxOp::put(
            Item::record(self.key.clone(), &tally)?,
            Services::at_version(self.version),
        ))
    }
}

impl Services {
    /// The count kept at `key`. A set that has none yet (its items predate
    /// the cap) is counted once, as the items `members` finds.
    pub(crate) async fn count(&self, key: Key, members: Query) -> Result<Count> {
        Ok(match self.store.get(&key).await? {
            Some(item) => Count {
                n: item.decode::<Tally>()?.count,
                version: item.version,
                key,
            },
            None => Count {
                n: self.items_all(members).await?.len(),
                version: 0,
                key,
            },
        })
    }
}
