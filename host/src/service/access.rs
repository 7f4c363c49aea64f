//! Turning a caller and a target into a policy request, and the policy's
//! answer into an error the API can give.

use crate::domain::{Tenant, TenantStatus, ids};
use crate::policy::{self, AccessRequest, Decision, Resource, RoleBinding};

use super::{Caller, Error, Result, Services, keys};

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

    /// The caller's roles bearing on `tenant`: on it, and on its ancestors.
    pub(crate) async fn bindings(
        &self,
        caller: &Caller,
        tenant: &Tenant,
    ) -> Result<Vec<RoleBinding>> {
        let mut roles = Vec::new();
        if caller.memberships.is_empty() {
            return Ok(roles);
        }
        if let Some(role) = caller.memberships.get(&tenant.tenant_id) {
            roles.push(RoleBinding {
                tenant_id: tenant.tenant_id.clone(),
                role: *role,
                inherited: false,
            });
        }
        if tenant.parent_tenant_id.is_some() {
            for ancestor in self.ancestors(tenant).await? {
                if let Some(role) = caller.memberships.get(&ancestor.tenant_id) {
                    roles.push(RoleBinding {
                        tenant_id: ancestor.tenant_id.clone(),
                        role: *role,
                        inherited: true,
                    });
                }
            }
        }
        Ok(roles)
    }

    /// Asks the policy whether `caller` may do `action` on `tenant`.
    pub(crate) async fn authorize_on(
        &self,
        caller: &Caller,
        action: &str,
        tenant: &Tenant,
        resource: Resource,
    ) -> Result<()> {
        let roles = if caller.principal.is_platform_admin() {
            Vec::new()
        } else {
            self.bindings(caller, tenant).await?
        };
        let decision = policy::decide(&AccessRequest {
            principal: &caller.principal,
            action,
            tenant_id: Some(&tenant.tenant_id),
            roles: &roles,
            resource,
        });
        into_result(decision, || tenant_not_found(&tenant.tenant_id))
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
    pub(crate) fn authorize_global(
        &self,
        caller: &Caller,
        action: &str,
        resource: Resource,
    ) -> Result<()> {
        let decision = policy::decide(&AccessRequest {
            principal: &caller.principal,
            action,
            tenant_id: None,
            roles: &[],
            resource,
        });
        into_result(decision, || Error::Forbidden(String::new()))
    }
}

fn into_result(decision: Decision, hidden: impl FnOnce() -> Error) -> Result<()> {
    match decision {
        Decision::Allow { .. } => Ok(()),
        Decision::Deny { visible: false, .. } => Err(hidden()),
        Decision::Deny { reason, .. } => Err(Error::Forbidden(reason)),
    }
}

/// A tenant resource for the policy request.
pub(crate) fn tenant_resource(id: &str) -> Resource {
    Resource {
        kind: "tenant",
        id: Some(id.to_string()),
        grants_role: None,
    }
}
