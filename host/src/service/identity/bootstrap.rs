//! First start: create the platform administrator and its token, once.

use crate::domain::PlatformRole;
use crate::store::{Condition, Item, StoreError, TxOp, keys};

use super::super::Result;
use super::Identity;

/// The platform administrator's address.
pub const ADMIN_EMAIL: &str = "admin@bbws.local";

impl Identity<'_> {
    /// Creates the platform admin if the store has none yet. Answers the
    /// token when it was created now (to print it once); `None` when the
    /// store was already bootstrapped. Safe under concurrent replicas: the
    /// marker is written with the user in one conditional transaction.
    pub async fn bootstrap(&self, token: Option<String>) -> Result<Option<String>> {
        if self.cx.store.get(&keys::bootstrap()).await?.is_some() {
            return Ok(None);
        }
        let (user, mut ops) = self.new_user(
            ADMIN_EMAIL,
            "Platform administrator",
            Some(PlatformRole::Admin),
        )?;
        let (mut issued, token_op) = self.new_token(&user.user_id, Some("bootstrap".into()))?;
        if let Some(secret) = token {
            // Use the operator's chosen secret instead of the random one.
            let TxOp::Put {
                mut item,
                condition,
            } = token_op
            else {
                unreachable!("new_token builds a put")
            };
            item.key = keys::token(&crate::domain::ids::hash_secret(&secret));
            ops.push(TxOp::put(item, condition));
            issued.token = secret;
        } else {
            ops.push(token_op);
        }
        ops.push(TxOp::put(
            Item::new(
                keys::bootstrap(),
                serde_json::json!({ "adminUserId": user.user_id, "at": self.cx.clock.now() }),
            ),
            Condition::NotExists,
        ));
        match self.cx.store.transact(ops).await {
            Ok(()) => Ok(Some(issued.token)),
            // Another replica bootstrapped first.
            Err(StoreError::TransactionCancelled { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
