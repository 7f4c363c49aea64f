//! `tenants`: the calling tenant and its ancestors, as the scope holds them.

use serde::{Deserialize, Serialize};

use super::HostState;
use crate::domain::TenantStatus;
use crate::runtime::bindings::bbws::platform::tenants;
use crate::runtime::bindings::types;

/// A tenant as recorded in a scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeTenant {
    pub id: String,
    pub organisation_name: String,
    pub status: TenantStatus,
    pub parent_id: Option<String>,
    pub tier: String,
}

impl ScopeTenant {
    fn to_wit(&self) -> types::Tenant {
        types::Tenant {
            id: self.id.clone(),
            organisation_name: self.organisation_name.clone(),
            status: match self.status {
                TenantStatus::Active => types::TenantStatus::Active,
                TenantStatus::Parked => types::TenantStatus::Parked,
                TenantStatus::Suspended => types::TenantStatus::Suspended,
                TenantStatus::Deleted => types::TenantStatus::Deleted,
            },
            parent_id: self.parent_id.clone(),
            tier: self.tier.clone(),
        }
    }
}

impl tenants::Host for HostState {
    fn get(&mut self, id: String) -> wasmtime::Result<Option<types::Tenant>> {
        self.charge()?;
        Ok(self
            .scope
            .tenants
            .iter()
            .find(|t| t.id == id)
            .map(ScopeTenant::to_wit))
    }

    fn ancestors(&mut self, id: String) -> wasmtime::Result<Vec<types::Tenant>> {
        self.charge()?;
        let mut out = Vec::new();
        let mut next = self
            .scope
            .tenants
            .iter()
            .find(|t| t.id == id)
            .and_then(|t| t.parent_id.clone());
        while let Some(pid) = next {
            let Some(parent) = self.scope.tenants.iter().find(|t| t.id == pid) else {
                break;
            };
            out.push(parent.to_wit());
            next = parent.parent_id.clone();
        }
        Ok(out)
    }
}
