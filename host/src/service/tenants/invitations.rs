//! Invitations: ask an e-mail address to join a tenant with a role.
//!
//! The token travels only in the e-mail (the outbox); the store keeps its
//! hash, in an item of its own that points at the invitation. Resending
//! replaces that item, so the old token stops working at once.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::validate::{MAX_NAME, Validator, normalise_email};
use crate::domain::{Invitation, InvitationStatus, Tenant, TenantRole, ids};
use crate::policy::Resource;
use crate::store::record::{decode, encode};
use crate::store::{Condition, Index, Item, Query, StoreError, TxOp, keys};

use super::super::outbox::Message;
use super::super::paging::Page;
use super::super::{Caller, Error, PageRequest, Result, Services};

/// Invitations to join a tenant.
pub struct Invitations<'a> {
    pub(in crate::service) cx: &'a Services,
}

/// `POST /v1/tenants/{tenantId}/invitations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateInvitation {
    pub email: String,
    pub role: TenantRole,
}

/// `POST /v1/invitations/accept` and `/decline`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InvitationToken {
    /// The token from the invitation e-mail.
    pub token: String,
    /// For a new user: the name to show (default: the e-mail's local part).
    pub display_name: Option<String>,
}

/// The answer to an acceptance: the membership and a token to use it with.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    pub invitation_id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub role: TenantRole,
    /// True when the acceptance created the user.
    pub user_created: bool,
    /// A new API token for a user this acceptance created, shown this
    /// once. An existing user gets none: the invitation's link must not
    /// become a credential for an account that already has its own (a
    /// platform admin's, say); it goes on with its own tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
}

fn invitation_resource(id: Option<&str>, role: Option<TenantRole>) -> Resource {
    Resource {
        kind: "invitation".into(),
        id: id.map(str::to_string),
        grants_role: role,
        attributes: Vec::new(),
    }
}

fn bad_token() -> Error {
    Error::not_found(
        "invitation_not_found",
        "no invitation has this token (it may have been replaced by a resend)",
    )
}

impl Invitations<'_> {
    /// The invitation e-mail, as an outbox message item.
    fn invitation_mail(&self, tenant: &Tenant, inv: &Invitation, token: &str) -> Result<Item> {
        Message {
            message_id: ids::new_id("msg"),
            to: inv.email.clone(),
            subject: format!("You are invited to {} on bbws", tenant.organisation_name),
            body: format!(
                "You have been invited to join {org} as {role}.\n\n\
                 To accept, send:\n  POST /v1/invitations/accept {{\"token\": \"{token}\"}}\n\
                 To decline:\n  POST /v1/invitations/decline {{\"token\": \"{token}\"}}\n\n\
                 The invitation expires at {exp}.\n",
                org = tenant.organisation_name,
                role = inv.role.as_str(),
                exp = inv.expires_at.to_rfc3339(),
            ),
            kind: "invitation".into(),
            data: serde_json::json!({
                "invitationId": inv.invitation_id,
                "tenantId": inv.tenant_id,
                "token": token,
            }),
            created_at: self.cx.clock.now(),
        }
        .item()
    }

    fn expiry(&self) -> chrono::DateTime<chrono::Utc> {
        self.cx.clock.now()
            + chrono::Duration::from_std(self.cx.config.invitation_ttl)
                .unwrap_or(chrono::Duration::days(7))
    }

    pub async fn create(
        &self,
        caller: &Caller,
        tenant_id: &str,
        input: CreateInvitation,
    ) -> Result<Invitation> {
        let tenant = self
            .cx
            .tenant_for(
                caller,
                "tenant.invitation.create",
                tenant_id,
                invitation_resource(None, None),
            )
            .await?;
        let mut v = Validator::new();
        v.email("email", &input.email);
        v.finish().map_err(Error::Validation)?;
        self.cx
            .authorize_on(
                caller,
                "tenant.invitation.create",
                &tenant,
                invitation_resource(None, Some(input.role)),
            )
            .await?;
        let email = normalise_email(&input.email);
        if let Some(user) = self.cx.identity().user_by_email(&email).await?
            && self
                .cx
                .store
                .get(&keys::member(tenant_id, &user.user_id))
                .await?
                .is_some()
        {
            return Err(Error::conflict(
                "already_member",
                format!("{email} is already a member of this tenant"),
            ));
        }
        let now = self.cx.clock.now();
        let token = ids::new_secret("inv");
        let inv = Invitation {
            invitation_id: ids::new_id("inv"),
            tenant_id: tenant_id.to_string(),
            email: email.clone(),
            role: input.role,
            status: InvitationStatus::Pending,
            expires_at: self.expiry(),
            invited_by: caller.principal.user_id.clone(),
            created_at: now,
            updated_at: now,
            accepted_by: None,
            token_hash: ids::hash_secret(&token),
            version: 0,
        };
        // One live invitation per address and tenant: a claim item says which.
        let claim = self.claim_op(&inv, true).await?;
        let ops = vec![
            TxOp::check(keys::tenant(tenant_id), Condition::Version(tenant.version)),
            TxOp::put(self.invitation_item(&inv)?, Condition::NotExists),
            claim.expect("taking a claim always writes"),
            self.token_pointer(&inv)?,
            TxOp::put(
                self.invitation_mail(&tenant, &inv, &token)?,
                Condition::NotExists,
            ),
        ];
        self.cx.store.transact(ops).await.map_err(|e| match e {
            StoreError::TransactionCancelled { .. } => Error::conflict(
                "concurrent_modification",
                "the tenant or its invitations changed while this request ran; retry",
            ),
            e => e.into(),
        })?;
        tracing::info!(tenant = %tenant_id, invitation = %inv.invitation_id, "invitation created");
        Ok(Invitation { version: 1, ..inv })
    }

    fn invitation_item(&self, inv: &Invitation) -> Result<Item> {
        // `token_hash` is not serialised for clients; the stored document keeps it.
        let mut doc = encode(inv)?;
        doc["tokenHash"] = serde_json::Value::String(inv.token_hash.clone());
        Ok(Item::new(
            keys::invitation(&inv.tenant_id, &inv.invitation_id),
            doc,
        ))
    }

    fn token_pointer(&self, inv: &Invitation) -> Result<TxOp> {
        Ok(TxOp::put(
            Item::new(
                keys::invitation_token(&inv.token_hash),
                serde_json::json!({ "tenantId": inv.tenant_id, "invitationId": inv.invitation_id }),
            ),
            Condition::NotExists,
        ))
    }

    pub async fn list(
        &self,
        caller: &Caller,
        tenant_id: &str,
        status: Option<InvitationStatus>,
        page: &PageRequest,
    ) -> Result<Page<Invitation>> {
        self.cx
            .tenant_for(
                caller,
                "tenant.invitation.list",
                tenant_id,
                invitation_resource(None, None),
            )
            .await?;
        let now = self.cx.clock.now();
        self.cx
            .page(
                Query::new(Index::Primary, keys::tenant_pk(tenant_id))
                    .prefix(keys::INVITATION_PREFIX),
                page,
                |item| {
                    let mut inv: Invitation = decode(item)?;
                    inv.status = inv.status_at(now);
                    Ok(status.is_none_or(|s| s == inv.status).then_some(inv))
                },
            )
            .await
    }

    async fn invitation_for(
        &self,
        caller: &Caller,
        action: &str,
        tenant_id: &str,
        id: &str,
    ) -> Result<(Tenant, Invitation)> {
        let tenant = self
            .cx
            .tenant_for(
                caller,
                action,
                tenant_id,
                invitation_resource(Some(id), None),
            )
            .await?;
        let missing = || Error::not_found("invitation_not_found", format!("no invitation {id}"));
        if !ids::looks_like("inv", id) {
            return Err(missing());
        }
        let inv = self
            .cx
            .load(&keys::invitation(tenant_id, id))
            .await?
            .ok_or_else(missing)?;
        Ok((tenant, inv))
    }

    fn not_pending(inv: &Invitation, now: chrono::DateTime<chrono::Utc>) -> Option<Error> {
        match inv.status_at(now) {
            InvitationStatus::Pending => None,
            InvitationStatus::Expired => Some(Error::Gone {
                code: "invitation_expired",
                detail: format!("the invitation expired at {}", inv.expires_at.to_rfc3339()),
            }),
            InvitationStatus::Cancelled => Some(Error::conflict(
                "invitation_cancelled",
                "the invitation was cancelled",
            )),
            s => Some(Error::conflict(
                "invitation_used",
                format!(
                    "the invitation was already {}",
                    format!("{s:?}").to_lowercase()
                ),
            )),
        }
    }

    /// A new token and a new expiry; the old token stops working.
    pub async fn resend(&self, caller: &Caller, tenant_id: &str, id: &str) -> Result<Invitation> {
        let (tenant, mut inv) = self
            .invitation_for(caller, "tenant.invitation.resend", tenant_id, id)
            .await?;
        if !matches!(
            inv.status_at(self.cx.clock.now()),
            InvitationStatus::Pending | InvitationStatus::Expired
        ) {
            return Err(Self::not_pending(&inv, self.cx.clock.now()).expect("not pending"));
        }
        let old_hash = inv.token_hash.clone();
        let token = ids::new_secret("inv");
        inv.token_hash = ids::hash_secret(&token);
        inv.expires_at = self.expiry();
        inv.updated_at = self.cx.clock.now();
        // An expired invitation may have been replaced by a newer one for
        // the same address: the claim decides which one may be live.
        let claim = self.claim_op(&inv, true).await?;
        let ops = vec![
            TxOp::put(self.invitation_item(&inv)?, Condition::Version(inv.version)),
            TxOp::delete(keys::invitation_token(&old_hash), Condition::None),
            self.token_pointer(&inv)?,
            TxOp::put(
                self.invitation_mail(&tenant, &inv, &token)?,
                Condition::NotExists,
            ),
        ]
        .into_iter()
        .chain(claim)
        .collect();
        self.cx.store.transact(ops).await?;
        inv.version += 1;
        Ok(inv)
    }

    pub async fn cancel(&self, caller: &Caller, tenant_id: &str, id: &str) -> Result<Invitation> {
        let (_, mut inv) = self
            .invitation_for(caller, "tenant.invitation.cancel", tenant_id, id)
            .await?;
        if !matches!(
            inv.status_at(self.cx.clock.now()),
            InvitationStatus::Pending | InvitationStatus::Expired
        ) {
            return Err(Self::not_pending(&inv, self.cx.clock.now()).expect("not pending"));
        }
        self.close_invitation(&mut inv, InvitationStatus::Cancelled, Vec::new())
            .await?;
        Ok(inv)
    }

    /// The write on the claim that names the one live invitation of an
    /// address in a tenant. With `take`, point it at `inv`, refused while
    /// another invitation for the address is pending; otherwise release it,
    /// but only if it is `inv`'s (closing a superseded invitation must not
    /// free the address of the newer one).
    async fn claim_op(&self, inv: &Invitation, take: bool) -> Result<Option<TxOp>> {
        let key = keys::invitee(&inv.tenant_id, &inv.email);
        let claim = self.cx.store.get(&key).await?;
        let condition = match &claim {
            None => Condition::NotExists,
            Some(claim) => Condition::Version(claim.version),
        };
        let holder = match &claim {
            Some(c) => c.value()?["invitationId"]
                .as_str()
                .filter(|id| *id != inv.invitation_id)
                .map(str::to_string),
            None => None,
        };
        if let Some(holder) = &holder {
            let other: Option<Invitation> = self
                .cx
                .load(&keys::invitation(&inv.tenant_id, holder))
                .await?;
            if take
                && let Some(other) = other
                && other.status_at(self.cx.clock.now()) == InvitationStatus::Pending
            {
                return Err(Error::conflict(
                    "invitation_exists",
                    format!(
                        "{} already has a pending invitation ({}); resend or cancel it",
                        inv.email, other.invitation_id
                    ),
                ));
            }
        }
        Ok(match (take, claim.is_some(), holder.is_some()) {
            (true, _, _) => Some(TxOp::put(
                Item::new(
                    key,
                    serde_json::json!({ "invitationId": inv.invitation_id }),
                ),
                condition,
            )),
            (false, true, false) => Some(TxOp::delete(key, condition)),
            (false, _, _) => None,
        })
    }

    /// Sets a final status, releases the address's claim, plus `extra` writes.
    async fn close_invitation(
        &self,
        inv: &mut Invitation,
        status: InvitationStatus,
        extra: Vec<TxOp>,
    ) -> Result<()> {
        let claim = self.claim_op(inv, false).await?;
        inv.status = status;
        inv.updated_at = self.cx.clock.now();
        let mut ops = vec![TxOp::put(
            self.invitation_item(inv)?,
            Condition::Version(inv.version),
        )];
        ops.extend(claim);
        ops.extend(extra);
        self.cx.store.transact(ops).await.map_err(|e| match e {
            StoreError::TransactionCancelled { .. } => Error::conflict(
                "invitation_used",
                "the invitation changed while this request ran",
            ),
            e => e.into(),
        })?;
        inv.version += 1;
        Ok(())
    }

    /// The invitation a token names, refusing used and expired ones.
    async fn pending_by_token(&self, token: &str) -> Result<Invitation> {
        if token.is_empty() || token.len() > 200 {
            return Err(Error::invalid(
                "token",
                "must be the token from the invitation e-mail",
            ));
        }
        let pointer = self
            .cx
            .store
            .get(&keys::invitation_token(&ids::hash_secret(token)))
            .await?
            .ok_or_else(bad_token)?;
        let pointer = pointer.value()?;
        let tenant_id = pointer["tenantId"].as_str().unwrap_or_default();
        let id = pointer["invitationId"].as_str().unwrap_or_default();
        let inv: Invitation = self
            .cx
            .load(&keys::invitation(tenant_id, id))
            .await?
            .ok_or_else(bad_token)?;
        match Self::not_pending(&inv, self.cx.clock.now()) {
            Some(e) => Err(e),
            None => Ok(inv),
        }
    }

    /// By the invitee (no bearer token needed: the invitation token is the proof).
    pub async fn accept(&self, input: InvitationToken) -> Result<Accepted> {
        let mut inv = self.pending_by_token(&input.token).await?;
        let tenant = self
            .cx
            .live_tenant(&inv.tenant_id)
            .await
            .map_err(|_| bad_token())?;
        let mut ops = vec![TxOp::check(
            keys::tenant(&tenant.tenant_id),
            Condition::Version(tenant.version),
        )];
        let (user, user_created) = match self.cx.identity().user_by_email(&inv.email).await? {
            Some(user) => (user, false),
            None => {
                let name = match &input.display_name {
                    Some(name) => {
                        let mut v = Validator::new();
                        v.text("displayName", name, MAX_NAME);
                        v.finish().map_err(Error::Validation)?;
                        name.clone()
                    }
                    None => inv.email.split('@').next().unwrap_or_default().to_string(),
                };
                let (user, user_ops) = self.cx.identity().new_user(&inv.email, &name, None)?;
                ops.extend(user_ops);
                (user, true)
            }
        };
        let (membership, member_op) = self
            .cx
            .members()
            .membership_for_invitee(&tenant, &user.user_id, &user.email, inv.role)
            .await?;
        ops.push(member_op);
        let issued = if user_created {
            let (issued, token_op) = self.cx.identity().new_token(
                &user.user_id,
                Some(format!("invitation {}", inv.invitation_id)),
            )?;
            ops.push(token_op);
            Some(issued)
        } else {
            None
        };
        inv.accepted_by = Some(user.user_id.clone());
        self.close_invitation(&mut inv, InvitationStatus::Accepted, ops)
            .await?;
        tracing::info!(tenant = %tenant.tenant_id, user = %user.user_id, "invitation accepted");
        Ok(Accepted {
            invitation_id: inv.invitation_id,
            tenant_id: tenant.tenant_id,
            user_id: user.user_id,
            role: membership.role,
            user_created,
            token_id: issued.as_ref().map(|i| i.token_id.clone()),
            token: issued.map(|i| i.token),
        })
    }

    pub async fn decline(&self, input: InvitationToken) -> Result<Invitation> {
        let mut inv = self.pending_by_token(&input.token).await?;
        self.close_invitation(&mut inv, InvitationStatus::Declined, Vec::new())
            .await?;
        Ok(inv)
    }
}
