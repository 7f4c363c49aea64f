//! `instances`: the instances in the scope, of the scope's tenants only
//! (the service fills the scope with the chain's instances when a tenant's
//! own policy runs, as it does with sites).

use serde::{Deserialize, Serialize};

use super::{HostState, Looked, Lookups, Record, Scope};
use crate::runtime::bindings::bbws::platform::instances;
use crate::runtime::bindings::types;

/// An instance as recorded in a scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeInstance {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub desired_count: u32,
    pub running_count: u32,
    /// `HEALTHY`, `DEGRADED`, `UNHEALTHY` or `PROVISIONING`, as the WIT
    /// carries it, from the instance's recorded parts.
    pub health: String,
}

impl From<&crate::domain::instance::Instance> for ScopeInstance {
    fn from(i: &crate::domain::instance::Instance) -> Self {
        let health = crate::domain::instance::health(i, i.updated_at).overall;
        Self {
            id: i.instance_id.clone(),
            tenant_id: i.tenant_id.clone(),
            name: i.name.clone(),
            desired_count: i.desired_count,
            running_count: i.ecs.running_count,
            health: health.as_str().into(),
        }
    }
}

impl Record for ScopeInstance {
    type Wit = types::Instance;
    fn id(&self) -> &str {
        &self.id
    }
    fn tenant_id(&self) -> &str {
        &self.tenant_id
    }
    fn wit(&self) -> types::Instance {
        types::Instance {
            id: self.id.clone(),
            tenant_id: self.tenant_id.clone(),
            name: self.name.clone(),
            desired_count: self.desired_count,
            running_count: self.running_count,
            health: self.health.clone(),
        }
    }
    fn all(scope: &Scope) -> &[Self] {
        &scope.instances
    }
    fn looked(lookups: &mut Lookups) -> &mut Looked {
        &mut lookups.instances
    }
}

impl instances::Host for HostState {
    fn get(&mut self, id: String) -> wasmtime::Result<Option<types::Instance>> {
        self.look_up::<ScopeInstance>(id)
    }

    fn list(&mut self, tenant_id: String) -> wasmtime::Result<Vec<types::Instance>> {
        self.list_of::<ScopeInstance>(tenant_id)
    }
}
