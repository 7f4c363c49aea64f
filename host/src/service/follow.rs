//! Resources follow their tenant. A tenant's status change (park, suspend,
//! unpark, resume) and its deletion reach every kind of resource the
//! tenant owns: sites and instances. Each kind joins by
//! implementing [`FollowsTenant`] and being listed in
//! [`Services::followers`].
//!
//! A status change writes a follow intent (`FOLLOW/{tenant}`) in the same
//! transaction as the tenant, then has every follower follow, then removes
//! the intent. A process that dies in between leaves the intent; the next
//! start and every sweep of the job worker ([`Resume`]) finish it, so the
//! resources end in line with their tenant whatever happens.

use async_trait::async_trait;

use crate::domain::Tenant;
use crate::jobs::worker::Recovery;
use crate::store::{Condition, Index, Item, Query, TxOp, keys};

use super::{Result, Services};

/// A kind of resource whose state follows its tenant's lifecycle.
#[async_trait]
pub(crate) trait FollowsTenant: Send + Sync {
    /// Brings the resources of `tenant` in line with its status: held while
    /// it is not ACTIVE, given back their previous state when it is.
    /// Idempotent. Answers how many resources changed.
    async fn follow(&self, tenant: &Tenant) -> Result<usize>;

    /// Removes every resource of a tenant that is being deleted, and what
    /// belongs to them. Idempotent.
    async fn remove_all(&self, tenant_id: &str) -> Result<()>;
}

impl Services {
    /// Every kind of resource that follows its tenant.
    fn followers(&self) -> Vec<Box<dyn FollowsTenant + '_>> {
        vec![Box::new(self.sites()), Box::new(self.instances())]
    }

    /// The write that records, with a tenant's status change, that its
    /// resources must follow.
    pub(crate) fn follow_intent(tenant_id: &str) -> TxOp {
        TxOp::put(
            Item::new(keys::follow(tenant_id), serde_json::json!({})),
            Condition::None,
        )
    }

    /// Has every follower follow the tenant's current status, then drops
    /// the intent.
    pub(crate) async fn follow_tenant(&self, tenant_id: &str) -> Result<usize> {
        let changed = self.followers_follow(tenant_id).await?;
        self.store
            .delete(&keys::follow(tenant_id), Condition::None)
            .await?;
        Ok(changed)
    }

    async fn followers_follow(&self, tenant_id: &str) -> Result<usize> {
        let Some(tenant) = self.load::<Tenant>(&keys::tenant(tenant_id)).await? else {
            return Ok(0);
        };
        let mut changed = 0;
        for follower in self.followers() {
            changed += follower.follow(&tenant).await?;
        }
        Ok(changed)
    }

    /// Finishes every follow a crash left undone. Answers how many intents
    /// it found.
    pub(crate) async fn follow_intents(&self) -> Result<usize> {
        let page = self
            .store
            .query(Query::new(Index::Primary, keys::FOLLOW).limit(100))
            .await?;
        for intent in &page.items {
            self.followers_follow(&intent.key.sk).await?;
            // Conditional: a newer status change may have written the
            // intent again, and its own follow must still see it.
            self.store
                .delete(&intent.key, Condition::Version(intent.version))
                .await
                .or_else(|e| if e.is_condition() { Ok(()) } else { Err(e) })?;
        }
        Ok(page.items.len())
    }

    /// Removes the resources of every kind of a tenant being deleted.
    pub(crate) async fn remove_followers(&self, tenant_id: &str) -> Result<()> {
        for follower in self.followers() {
            follower.remove_all(tenant_id).await?;
        }
        Ok(())
    }
}

/// The job worker's recovery of follow intents.
pub(crate) struct Resume(Services);

impl Resume {
    pub(crate) fn new(services: Services) -> Self {
        Self(services)
    }
}

#[async_trait]
impl Recovery for Resume {
    fn name(&self) -> &'static str {
        "resources following their tenant"
    }

    async fn recover(&self) -> anyhow::Result<usize> {
        Ok(self.0.follow_intents().await?)
    }
}
