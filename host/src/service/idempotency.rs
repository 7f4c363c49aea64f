//! Idempotency records: the first request with a key claims it with a
//! conditional write (so two concurrent requests with one key cannot both
//! run), and its answer is stored for 24 hours, to be given again to a
//! retry. A retry with a different request is refused: the key names one
//! request, not a slot to reuse. The HTTP side (which requests, what is
//! hashed, replaying the answer) is `api/idempotency.rs`.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::domain::ids::hash_secret;
use crate::store::{Condition, Item, Key, StoreError, keys};

use super::{Result, Services};

const TTL_SECONDS: i64 = 24 * 3600;
/// How long a claim of a request that never finished blocks its key.
const PENDING_SECONDS: i64 = 60;

/// The idempotency records of requests.
pub struct Idempotency<'a> {
    pub(super) cx: &'a Services,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    request_hash: String,
    /// None while the first request runs.
    response: Option<Stored>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    status: u16,
    headers: Vec<(String, String)>,
    /// Base64 of the body.
    body: String,
    /// The answer held a secret: only that it succeeded is kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    secret: bool,
}

/// An answer worth giving again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The answer held a secret, which is not kept: a retry is refused.
    pub secret: bool,
}

impl Answer {
    /// A successful answer whose body (a secret) is not kept.
    pub fn secret(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            secret: true,
        }
    }
}

/// What a key's claim found.
#[derive(Debug)]
pub enum Claim {
    /// The first request with this key: run it, then [`Idempotency::answer`]
    /// or [`Idempotency::release`] the ticket.
    First(Ticket),
    /// The same request ran already: its answer.
    Replay(Answer),
    /// The same request is running now.
    InProgress,
    /// Another request claimed the key just now, between the look and the
    /// claim.
    ClaimedMeanwhile,
    /// The key was used for a different request.
    Reused,
}

/// The claim of a key, held while its first request runs.
#[derive(Debug)]
pub struct Ticket {
    key: Key,
    version: u64,
    request_hash: String,
}

impl Idempotency<'_> {
    /// Claims the key `scope` (the caller, the route and the client's key)
    /// for the request hashed as `request`.
    pub async fn claim(&self, scope: &str, request: &str) -> Result<Claim> {
        let key = keys::idempotency(&hash_secret(scope));
        let request_hash = hash_secret(request);
        if let Some(item) = self.cx.store.get(&key).await? {
            let record: Record = item.decode()?;
            if record.request_hash != request_hash {
                return Ok(Claim::Reused);
            }
            return Ok(match record.response {
                Some(stored) => Claim::Replay(Answer {
                    status: stored.status,
                    headers: stored.headers,
                    body: base64::engine::general_purpose::STANDARD
                        .decode(stored.body)
                        .unwrap_or_default(),
                    secret: stored.secret,
                }),
                None => Claim::InProgress,
            });
        }
        let now = self.cx.clock.now().timestamp();
        let claim = Item::record(
            key.clone(),
            &Record {
                request_hash: request_hash.clone(),
                response: None,
            },
        )?
        .expiring_at(now + PENDING_SECONDS);
        match self.cx.store.put(claim, Condition::NotExists).await {
            Ok(version) => Ok(Claim::First(Ticket {
                key,
                version,
                request_hash,
            })),
            Err(StoreError::ConditionFailed { .. }) => Ok(Claim::ClaimedMeanwhile),
            Err(e) => Err(e.into()),
        }
    }

    /// Keeps the first request's answer for its retries.
    pub async fn answer(&self, ticket: Ticket, answer: Answer) {
        let now = self.cx.clock.now().timestamp();
        let record = Record {
            request_hash: ticket.request_hash,
            response: Some(Stored {
                status: answer.status,
                headers: answer.headers,
                body: base64::engine::general_purpose::STANDARD.encode(&answer.body),
                secret: answer.secret,
            }),
        };
        let item = match Item::record(ticket.key, &record) {
            Ok(item) => item.expiring_at(now + TTL_SECONDS),
            Err(e) => {
                tracing::warn!(error = %e, "could not encode an idempotent answer");
                return;
            }
        };
        if let Err(e) = self
            .cx
            .store
            .put(item, Condition::Version(ticket.version))
            .await
        {
            tracing::warn!(error = %e, "could not store an idempotent answer");
        }
    }

    /// Gives the key up (the request failed in a way worth retrying).
    pub async fn release(&self, ticket: Ticket) {
        let _ = self
            .cx
            .store
            .delete(&ticket.key, Condition::Version(ticket.version))
            .await;
    }
}
