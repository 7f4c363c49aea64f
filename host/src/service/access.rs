//! Authorization: turning a caller and a target into a policy request
//! ([`crate::policy::Request`]), asking [`super::decisions`], and the
//! answer into an error the API can give. Every use case asks through
//! [`Services::authorize_on`] (or [`Services::authorize_global`]).

use crate::domain::instance::Instance;
use crate::domain::site::Site;
use crate::domain::{Tenant, TenantStatus, ids};
use crate::policy::{Request, Resource, RoleBinding};
use crate::runtime::{ScopeInstance, ScopeSite};
use crate::store::record::decode;
use crate::store::{Index, Query, keys};

use super::decisions::Records;
use super::{Caller, Error, Result, Services};

/// The deepest a tenant tree may grow (root = depth 1).
pub const MAX_DEPTH: usize = 10;

pub(crate) fn tenant_not_found(id: &str) -> Error {
    Error::not_found("tenant_not_found", format!("no tenant {id}"))
}

impl Services {
    /// A live tenant by id, or 404.
    pub(crate) async fn live_tenant(&self, id: &str) -> Result<Tenant> {
        if !ids::looks_like("ten", id) {
            return Err(tenant_not_found(id));
        }
        match self.load::<Tenant>(&keys::tenant(id)).await? {
            Some(t) if t.status != TenantStatus::Deleted => Ok(t),
            _ => Err(tenant_not_found(id)),
        }
    }

    /// The tenant's ancestors, parent first.
    pub(crate) async fn ancestors(&self, tenant: &Tenant) -> Result<Vec<Tenant>> {
        let mut out = Vec::new();
        let mut next = tenant.parent_tenant_id.clone();
        while let Some(id) = next {
            if out.len() > MAX_DEPTH {
                return Err(anyhow::anyhow!(
                    "tenant {} is deeper than {MAX_DEPTH}",
                    tenant.tenant_id
                )
                .into());
            }
            let parent = self
                .load::<Tenant>(&keys::tenant(&id))
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!("tenant {} has a missing parent {id}", tenant.tenant_id)
                })?;
            next = parent.parent_tenant_id.clone();
            out.push(parent);
        }
        Ok(out)
    }

    /// The tenant and its ancestors, the tenant first.
    pub(crate) async fn chain(&self, tenant: &Tenant) -> Result<Vec<Tenant>> {
        let mut chain = vec![tenant.clone()];
        if tenant.parent_tenant_id.is_some() {
            chain.extend(self.ancestors(tenant).await?);
        }
        Ok(chain)
    }

    /// Asks the policies whether `caller` may do `action` on `tenant`.
    pub(crate) async fn authorize_on(
        &self,
        caller: &Caller,
        action: &str,
        tenant: &Tenant,
        resource: Resource,
    ) -> Result<()> {
        let admin = caller.principal.is_platform_admin();
        // Without any membership the answer is "not found" whatever the
        // rules say: skip reading the ancestors.
        let chain = if admin || !caller.memberships.is_empty() {
            self.chain(tenant).await?
        } else {
            vec![tenant.clone()]
        };
        let roles = if admin {
            Vec::new()
        } else {
            bindings_in(caller, &chain)
        };
        let no_role = roles.is_empty();
        let records = if self.policies.runs_tenant_policies(admin, &chain) {
            self.scope_records(&chain).await?
        } else {
            // The platform's policy alone looks nothing up: skip the reads.
            Records::default()
        };
        let outcome = self
            .decide(caller, action, &chain, records, roles, resource)
            .await?;
        if outcome.allowed {
            Ok(())
        } else if no_role && !admin {
            Err(tenant_not_found(&tenant.tenant_id))
        } else {
            Err(outcome.denied())
        }
    }

    /// Loads a live tenant and authorizes `action` on it.
    pub(crate) async fn tenant_for(
        &self,
        caller: &Caller,
        action: &str,
        tenant_id: &str,
        resource: Resource,
    ) -> Result<Tenant> {
        let tenant = self.live_tenant(tenant_id).await?;
        self.authorize_on(caller, action, &tenant, resource).await?;
        Ok(tenant)
    }

    /// Authorizes an action that is not scoped to a tenant.
    pub(crate) async fn authorize_global(
        &self,
        caller: &Caller,
        action: &str,
        resource: Resource,
    ) -> Result<()> {
        let outcome = self
            .decide(
                caller,
                action,
                &[],
                Records::default(),
                Vec::new(),
                resource,
            )
            .await?;
        if outcome.allowed {
            Ok(())
        } else {
            Err(outcome.denied())
        }
    }

    /// The sites and instances the policies of `chain` may look up: those
    /// of its tenants (at most 100 of each per tenant, as the WIT's `list`
    /// promises).
    async fn scope_records(&self, chain: &[Tenant]) -> Result<Records> {
        let mut records = Records::default();
        for t in chain {
            let sites = Query::new(Index::Primary, keys::sites_of(&t.tenant_id)).limit(100);
            let instances = Query::new(Index::Primary, keys::instances_of(&t.tenant_id)).limit(100);
            let (sites, instances) =
                tokio::try_join!(self.store.query(sites), self.store.query(instances))?;
            for item in &sites.items {
                records.sites.push(ScopeSite::from(&decode::<Site>(item)?));
            }
            for item in &instances.items {
                records
                    .instances
                    .push(ScopeInstance::from(&decode::<Instance>(item)?));
            }
        }
        Ok(records)
    }

    /// Asks the policies the question, now.
    async fn decide(
        &self,
        caller: &Caller,
        action: &str,
        chain: &[Tenant],
        records: Records,
        roles: Vec<RoleBinding>,
        resource: Resource,
    ) -> Result<super::decisions::Outcome> {
        let now = self.clock.now();
        let request = Request {
            principal: caller.principal.clone(),
            action: action.to_string(),
            tenant_id: chain.first().map(|t| t.tenant_id.clone()),
            roles,
            resource,
            now_ms: now.timestamp_millis(),
        };
        self.policies.decide(request, chain, records, now).await
    }
}

/// The caller's direct roles on the members of `chain` (the first is the
/// request's tenant; the rest are inherited).
fn bindings_in(caller: &Caller, chain: &[Tenant]) -> Vec<RoleBinding> {
    chain
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            caller
                .memberships
                .get(&t.tenant_id)
                .map(|role| RoleBinding {
                    tenant_id: t.tenant_id.clone(),
                    role: *role,
                    inherited: i > 0,
                })
        })
        .collect()
}

/// A tenant resource for the policy request.
pub(crate) fn tenant_resource(id: &str) -> Resource {
    Resource::new("tenant", Some(id))
}
