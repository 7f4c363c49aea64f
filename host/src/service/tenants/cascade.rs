//! Deleting tenants, resumably.
//!
//! A deletion first writes an intent (`CASCADE/{root}`) and marks the root
//! `DELETED` in one transaction; from then on the root is invisible to the
//! API. The subtree is then removed leaves first, one tenant at a time, each
//! in three steps: mark it `DELETED` (blocking new members and children),
//! remove its members and invitations, then delete it and decrement its
//! parent's child count in one transaction conditional on both versions.
//! At every instant every remaining tenant's parent exists, so a process
//! that dies midway leaves no orphan; the intent is found on the next start
//! ([`Tenants::resume_deletions`]) and the work goes on. The resources a
//! tenant owns (sites, templates, instances) go with it, through
//! [`super::super::follow`].

use crate::domain::{Invitation, Tenant, TenantStatus};
use crate::store::record::decode;
use crate::store::{Condition, Index, Item, MAX_TRANSACTION_ITEMS, Query, StoreError, TxOp, keys};

use super::super::Result;
use super::{Tenants, put_tenant, tenant_item};

impl Tenants<'_> {
    /// Records the intent to delete `tenant` and hides it.
    pub async fn start_deletion(&self, tenant: &Tenant, cascade: bool) -> Result<()> {
        let mut hidden = tenant.clone();
        hidden.status = TenantStatus::Deleted;
        hidden.updated_at = self.cx.clock.now();
        let intent = Item::new(
            keys::cascade(&tenant.tenant_id),
            serde_json::json!({ "cascade": cascade, "requestedAt": hidden.updated_at }),
        );
        match self
            .cx
            .store
            .transact(vec![
                put_tenant(&hidden)?,
                TxOp::put(intent, Condition::None),
            ])
            .await
        {
            Err(StoreError::TransactionCancelled { .. }) => {
                Err(super::super::Error::VersionConflict(
                    "the tenant changed while it was being deleted; retry".into(),
                ))
            }
            other => other.map_err(Into::into),
        }
    }

    /// Works on the deletion of `root_id` for at most `max_steps` tenant
    /// removals; finishes by removing the intent once the root is gone.
    pub async fn run_deletion(&self, root_id: &str, max_steps: usize) -> Result<()> {
        let mut steps = 0;
        while steps < max_steps {
            let Some(root) = self.cx.load::<Tenant>(&keys::tenant(root_id)).await? else {
                self.cx
                    .store
                    .delete(&keys::cascade(root_id), Condition::None)
                    .await?;
                tracing::info!(tenant = %root_id, "tenant deletion complete");
                return Ok(());
            };
            // Descend to a leaf.
            let mut leaf = root;
            while leaf.child_count > 0 {
                match self.children_of(&leaf.tenant_id).await?.into_iter().next() {
                    Some(child) => leaf = child,
                    None => break,
                }
            }
            self.delete_leaf(leaf).await?;
            steps += 1;
        }
        Ok(())
    }

    /// Removes one childless tenant; a lost race just returns, and the
    /// caller's loop looks again.
    async fn delete_leaf(&self, mut leaf: Tenant) -> Result<()> {
        if leaf.status != TenantStatus::Deleted {
            leaf.status = TenantStatus::Deleted;
            leaf.updated_at = self.cx.clock.now();
            match self
                .cx
                .store
                .put(tenant_item(&leaf)?, Condition::Version(leaf.version))
                .await
            {
                Ok(v) => leaf.version = v,
                Err(StoreError::ConditionFailed { .. }) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        self.remove_tenant_contents(&leaf.tenant_id).await?;
        self.cx.remove_followers(&leaf.tenant_id).await?;
        let mut ops = vec![TxOp::delete(
            keys::tenant(&leaf.tenant_id),
            Condition::Version(leaf.version),
        )];
        if let Some(pid) = &leaf.parent_tenant_id
            && let Some(mut parent) = self.cx.load::<Tenant>(&keys::tenant(pid)).await?
        {
            parent.child_count = parent.child_count.saturating_sub(1);
            ops.push(put_tenant(&parent)?);
        }
        match self.cx.store.transact(ops).await {
            Ok(()) | Err(StoreError::TransactionCancelled { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a tenant's members, invitations and invitation tokens.
    async fn remove_tenant_contents(&self, tenant_id: &str) -> Result<()> {
        loop {
            let page = self
                .cx
                .store
                .query(Query::new(Index::Primary, keys::tenant_pk(tenant_id)).limit(50))
                .await?;
            let mut ops = Vec::new();
            for item in &page.items {
                if item.key == keys::tenant(tenant_id) {
                    continue;
                }
                if item.key.sk.starts_with(keys::INVITATION_PREFIX) {
                    let inv: Invitation = decode(item)?;
                    ops.push(TxOp::delete(
                        keys::invitation_token(&inv.token_hash),
                        Condition::None,
                    ));
                }
                ops.push(TxOp::delete(item.key.clone(), Condition::None));
            }
            debug_assert!(ops.len() <= MAX_TRANSACTION_ITEMS);
            if ops.is_empty() {
                return Ok(());
            }
            self.cx.store.transact(ops).await?;
            // Members lost a role: forget every cached caller (deletions are rare).
            self.cx.auth_cache.clear();
        }
    }

    /// Finishes every deletion a previous process left unfinished.
    pub async fn resume_deletions(&self) -> Result<usize> {
        let page = self
            .cx
            .store
            .query(Query::new(Index::Primary, keys::CASCADE).limit(1000))
            .await?;
        for intent in &page.items {
            tracing::info!(tenant = %intent.key.sk, "resuming an unfinished tenant deletion");
            self.run_deletion(&intent.key.sk, usize::MAX).await?;
        }
        Ok(page.items.len())
    }
}
