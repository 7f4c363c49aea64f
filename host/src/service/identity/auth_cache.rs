//! A short-lived cache of resolved callers, by token hash.
//!
//! Resolving a bearer token costs three store reads (token, user,
//! memberships); most requests come in bursts from the same callers. The
//! cache keeps a resolved caller for a short TTL (default 1 s, 0 disables).
//! This process forgets an entry at once when it revokes the token or
//! changes the user's memberships; another replica's change reaches it
//! within the TTL. That bound is the documented staleness of authorization
//! across replicas (Kubernetes caches webhook token reviews for minutes;
//! one second is conservative).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use super::super::Caller;

/// Entries kept at most; past that, expired ones are dropped, then all.
const MAX_ENTRIES: usize = 10_000;

pub struct AuthCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, (Instant, Arc<Caller>)>>,
}

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    pub fn get(&self, token_hash: &str) -> Option<Arc<Caller>> {
        let entries = self.entries.read();
        let (at, caller) = entries.get(token_hash)?;
        (at.elapsed() < self.ttl).then(|| caller.clone())
    }

    pub fn put(&self, token_hash: String, caller: Arc<Caller>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.write();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(token_hash, (Instant::now(), caller));
    }

    pub fn forget_token(&self, token_hash: &str) {
        self.entries.write().remove(token_hash);
    }

    pub fn forget_user(&self, user_id: &str) {
        self.entries
            .write()
            .retain(|_, (_, c)| c.principal.user_id != user_id);
    }

    pub fn clear(&self) {
        self.entries.write().clear();
    }
}
