//! Read-change-conditional-write loops without lost updates: a write that
//! did not promise to win (no If-Match) re-reads and re-applies after
//! losing a race, with a jittered pause, so concurrent writers each land.

use std::time::Duration;

use crate::store::StoreError;

use super::{Error, Result};

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
