//! The outbox: e-mail the platform sends, kept in the store. A mail relay
//! (or an operator, or a test) reads it; `GET /v1/outbox` shows it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::validate::normalise_email;
use crate::policy::Resource;
use crate::store::record::encode;
use crate::store::{Index, Item, Query, keys};

use super::paging::Page;
use super::{Caller, PageRequest, Result, Services};

/// The platform's outgoing mail.
pub struct Outbox<'a> {
    pub(super) cx: &'a Services,
}

/// One outgoing e-mail.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub message_id: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    /// What the message is about (`invitation`).
    pub kind: String,
    /// Structured content of the message (for an invitation: its id, the
    /// tenant and the token).
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl Message {
    pub(crate) fn item(&self) -> Result<Item> {
        Ok(
            Item::new(keys::outbox_message(&self.message_id), encode(self)?)
                .with_gsi1(keys::outbox_to(&self.to), &self.message_id),
        )
    }
}

impl Outbox<'_> {
    pub async fn list(
        &self,
        caller: &Caller,
        to: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Message>> {
        self.cx
            .authorize_global(caller, "outbox.read", Resource::default())
            .await?;
        let query = match to {
            Some(to) => Query::new(Index::Gsi1, keys::outbox_to(&normalise_email(to))),
            None => Query::new(Index::Primary, keys::OUTBOX),
        };
        self.cx
            .page(query, page, |item| Ok(Some(item.decode()?)))
            .await
    }
}
