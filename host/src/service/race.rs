//! Read-change-conditional-write loops without lost updates: a write that
//! did not promise to win (no If-Match) re-reads and re-applies after
//! losing a race, with a jittered pause, so concurrent writers each land.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use crate::store::record::Versioned;
use crate::store::{Condition, Item, Key, StoreError, TxOp};

use super::{Error, Result, Services};

/// How often a write retries after losing a race it did not promise to win.
/// Every round of a race has a winner, so with a jittered pause between
/// attempts this carries a few dozen concurrent writers to one record.
pub(crate) const RETRIES: usize = 30;

/// A short random pause before retry `attempt` (0-based), growing to at
/// most 20 ms, so that writers that lost a race spread out.
pub(crate) async fn backoff(attempt: usize) {
    let ceiling = 1u64 << attempt.min(4);
    let micros = rand::random_range(0..=ceiling * 1250);
    tokio::time::sleep(Duration::from_micros(micros)).await;
}

/// The retries of a read-change-conditional-write loop: each lost round
/// waits a [`backoff`]; after [`RETRIES`] lost rounds, 409
/// `concurrent_modification` saying that `what` kept changing.
pub(crate) struct Race {
    what: &'static str,
    lost: usize,
}

impl Race {
    pub(crate) fn new(what: &'static str) -> Self {
        Self { what, lost: 0 }
    }

    /// Records a lost round: pauses, or gives up.
    pub(crate) async fn lost(&mut self) -> Result<()> {
        if self.lost + 1 >= RETRIES {
            return Err(Error::conflict(
                "concurrent_modification",
                format!("{} kept changing; retry", self.what),
            ));
        }
        backoff(self.lost).await;
        self.lost += 1;
        Ok(())
    }
}

/// A conditional write's outcome in a [`Race`]: a failed condition is a
/// lost round (`None`), any other error is final.
pub(crate) fn won<T>(written: std::result::Result<T, StoreError>) -> Result<Option<T>> {
    match written {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_condition() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Checks an If-Match version against the current one.
pub fn check_if_match(if_match: Option<u64>, current: u64, what: &str) -> Result<()> {
    match if_match {
        Some(v) if v != current => Err(Error::VersionConflict(format!(
            "{what} is at version {current}, not {v}"
        ))),
        _ => Ok(()),
    }
}

/// A record that [`Services::change_record`] changes: one item, versioned.
pub(crate) trait Changeable: DeserializeOwned + Versioned {
    fn version(&self) -> u64;
    /// Marks the record changed at `now`.
    fn touch(&mut self, now: DateTime<Utc>);
    /// The record as the item written back.
    fn item(&self) -> Result<Item>;
}

impl Services {
    /// Re-reads the record at `key` and applies `change` until the
    /// conditional write wins, or 412 if `if_match` is stale; `missing`
    /// when there is no record. `change` may refuse.
    pub(crate) async fn change_record<T: Changeable>(
        &self,
        key: &Key,
        what: &'static str,
        missing: impl Fn() -> Error,
        if_match: Option<u64>,
        change: impl FnMut(&mut T) -> Result<()>,
    ) -> Result<T> {
        self.change_record_with(key, what, missing, if_match, change, Vec::new)
            .await
    }

    /// [`change_record`](Self::change_record), writing `extra()` in the same
    /// transaction as the record: both land, or neither does.
    pub(crate) async fn change_record_with<T: Changeable>(
        &self,
        key: &Key,
        what: &'static str,
        missing: impl Fn() -> Error,
        if_match: Option<u64>,
        mut change: impl FnMut(&mut T) -> Result<()>,
        extra: impl Fn() -> Vec<TxOp>,
    ) -> Result<T> {
        let mut race = Race::new(what);
        loop {
            let mut record: T = self.load(key).await?.ok_or_else(&missing)?;
            check_if_match(if_match, record.version(), what)?;
            change(&mut record)?;
            record.touch(self.clock.now());
            let (item, condition) = (record.item()?, Condition::Version(record.version()));
            let extra = extra();
            let written = if extra.is_empty() {
                self.store.put(item, condition).await
            } else {
                // Versions go up by one per write, in every store.
                let next = record.version() + 1;
                let mut ops = vec![TxOp::put(item, condition)];
                ops.extend(extra);
                self.store.transact(ops).await.map(|()| next)
            };
            match won(written)? {
                Some(version) => {
                    record.set_version(version);
                    return Ok(record);
                }
                None => race.lost().await?,
            }
        }
    }
}
