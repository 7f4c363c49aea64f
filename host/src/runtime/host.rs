//! The host side of the guest's imports (`tenants`, `sites`, `instances`,
//! `log`), and the per-call store data.
//!
//! Look-ups answer from a [`Scope`]: a snapshot of the calling tenant's tree
//! taken before the call and recorded with the decision. So a guest sees
//! only its own tree, never waits on I/O, and a recorded decision replays
//! exactly.

use serde::{Deserialize, Serialize};
use wasmtime::ResourceLimiter;

use super::bindings::bbws::platform::{instances, log, sites, tenants};
use super::bindings::types;
use super::limits::Limits;

/// A tenant as recorded in a scope.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeTenant {
    pub id: String,
    pub organisation_name: String,
    pub status: String,
    pub parent_id: Option<String>,
    pub tier: String,
}

/// What a guest may look up during one call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    /// The calling tenant and its ancestors.
    pub tenants: Vec<ScopeTenant>,
}

impl ScopeTenant {
    fn to_wit(&self) -> types::Tenant {
        types::Tenant {
            id: self.id.clone(),
            organisation_name: self.organisation_name.clone(),
            status: match self.status.as_str() {
                "PARKED" => types::TenantStatus::Parked,
                "SUSPENDED" => types::TenantStatus::Suspended,
                _ => types::TenantStatus::Active,
            },
            parent_id: self.parent_id.clone(),
            tier: self.tier.clone(),
        }
    }
}

/// The store data of one guest call.
pub struct HostState {
    pub scope: std::sync::Arc<Scope>,
    pub limits: Limits,
    pub host_calls: u32,
    /// Set when the guest asked for more memory or table than allowed.
    pub limit_hit: Option<&'static str>,
    /// Log lines the guest wrote (at most 16 reach the host's log).
    pub log_lines: u32,
}

impl HostState {
    pub fn new(scope: std::sync::Arc<Scope>, limits: Limits) -> Self {
        Self {
            scope,
            limits,
            host_calls: 0,
            limit_hit: None,
            log_lines: 0,
        }
    }

    fn charge(&mut self) -> wasmtime::Result<()> {
        self.host_calls += 1;
        if self.host_calls > self.limits.host_calls {
            return Err(wasmtime::format_err!(
                "host-call budget of {} exhausted",
                self.limits.host_calls
            ));
        }
        Ok(())
    }
}

impl ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.memory_bytes {
            self.limit_hit = Some("memory");
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.table_elements {
            self.limit_hit = Some("table");
            return Ok(false);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.limits.instances
    }
    fn tables(&self) -> usize {
        self.limits.instances * 4
    }
    fn memories(&self) -> usize {
        self.limits.instances
    }
}

impl types::Host for HostState {}

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

impl sites::Host for HostState {
    fn get(&mut self, _id: String) -> wasmtime::Result<Option<types::Site>> {
        self.charge()?;
        // Sites arrive with the sites service; until then none is in scope.
        Ok(None)
    }

    fn list(&mut self, _tenant_id: String) -> wasmtime::Result<Vec<types::Site>> {
        self.charge()?;
        Ok(Vec::new())
    }
}

impl instances::Host for HostState {
    fn get(&mut self, _id: String) -> wasmtime::Result<Option<types::Instance>> {
        self.charge()?;
        Ok(None)
    }

    fn list(&mut self, _tenant_id: String) -> wasmtime::Result<Vec<types::Instance>> {
        self.charge()?;
        Ok(Vec::new())
    }
}

impl log::Host for HostState {
    fn write(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.charge()?;
        if self.log_lines < 16 {
            self.log_lines += 1;
            // Cut on a character boundary: guests choose the bytes.
            let message = &message[..message.floor_char_boundary(1024)];
            tracing::debug!(?level, %message, "guest log");
        }
        Ok(())
    }
}
