//! `sites`: the sites in the scope, of the scope's tenants only.

use serde::{Deserialize, Serialize};

use super::{HostState, Looked, Lookups, Record, Scope};
use crate::domain::site::{Environment, SiteStatus};
use crate::runtime::bindings::bbws::platform::sites;
use crate::runtime::bindings::types;

/// A site as recorded in a scope, and as a `template` guest's `plan` gets
/// the site it plans for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeSite {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub environment: Environment,
    pub status: SiteStatus,
}

impl From<&crate::domain::site::Site> for ScopeSite {
    fn from(site: &crate::domain::site::Site) -> Self {
        ScopeSite {
            id: site.site_id.clone(),
            tenant_id: site.tenant_id.clone(),
            name: site.name.clone(),
            environment: site.environment,
            status: site.status,
        }
    }
}

impl ScopeSite {
    pub(crate) fn to_wit(&self) -> types::Site {
        types::Site {
            id: self.id.clone(),
            tenant_id: self.tenant_id.clone(),
            name: self.name.clone(),
            environment: match self.environment {
                Environment::Dev => types::Environment::Dev,
                Environment::Sit => types::Environment::Sit,
                Environment::Prod => types::Environment::Prod,
            },
            status: match self.status {
                SiteStatus::Provisioning => types::SiteStatus::Provisioning,
                SiteStatus::Active => types::SiteStatus::Active,
                SiteStatus::Suspended => types::SiteStatus::Suspended,
                SiteStatus::Failed => types::SiteStatus::Failed,
                SiteStatus::Deleting => types::SiteStatus::Deleting,
            },
        }
    }
}

impl Record for ScopeSite {
    type Wit = types::Site;
    fn id(&self) -> &str {
        &self.id
    }
    fn tenant_id(&self) -> &str {
        &self.tenant_id
    }
    fn wit(&self) -> types::Site {
        self.to_wit()
    }
    fn all(scope: &Scope) -> &[Self] {
        &scope.sites
    }
    fn looked(lookups: &mut Lookups) -> &mut Looked {
        &mut lookups.sites
    }
}

impl sites::Host for HostState {
    fn get(&mut self, id: String) -> wasmtime::Result<Option<types::Site>> {
        self.look_up::<ScopeSite>(id)
    }

    fn list(&mut self, tenant_id: String) -> wasmtime::Result<Vec<types::Site>> {
        self.list_of::<ScopeSite>(tenant_id)
    }
}
