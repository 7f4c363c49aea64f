//! The host side of the guest's imports, one file per interface
//! (`tenants`, `sites`, `instances`, `log`), and the store data of one
//! guest call: [`HostState`], with the resource limiter and the host-call
//! budget.
//!
//! Look-ups answer from a [`Scope`]: a snapshot of what the calling tenant
//! may see, taken before the call. So a guest sees only its own tree, never
//! waits on I/O, and a decision replays exactly on the scope recorded with
//! it. The state also notes what the guest looked up ([`Lookups`]), so the
//! caller can record only the part of the scope the guest saw
//! ([`Scope::seen`]) and a replay on that part answers every look-up the
//! same.

mod instances;
mod log;
mod sites;
mod tenants;

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wasmtime::ResourceLimiter;

use super::bindings::types;
use super::limits::Limits;
pub use instances::ScopeInstance;
pub use sites::ScopeSite;
pub use tenants::ScopeTenant;

/// The most records one `list` answers (the WIT promises it).
const LIST_MAX: usize = 100;

/// What a guest may look up during one call. It is part of a decision's
/// recorded input: empty lists are left out of its JSON, so a record
/// without sites keeps the shape it had before sites were in scope.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    /// The calling tenant and its ancestors.
    pub tenants: Vec<ScopeTenant>,
    /// Sites the guest may look up; only those of a tenant in `tenants`
    /// ever answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<ScopeSite>,
    /// Instances, as sites.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<ScopeInstance>,
}

impl Scope {
    /// The part of this scope a guest that made `lookups` saw: every tenant
    /// (a guest may walk the tree freely), and the sites and instances it
    /// found by id or listed by tenant. Replaying the same guest on it
    /// answers each of those look-ups as they were answered.
    pub fn seen(&self, lookups: &Lookups) -> Scope {
        Scope {
            tenants: self.tenants.clone(),
            sites: lookups.sites.kept(&self.sites),
            instances: lookups.instances.kept(&self.instances),
        }
    }

    fn has_tenant(&self, id: &str) -> bool {
        self.tenants.iter().any(|t| t.id == id)
    }
}

/// What a guest looked up of one kind of record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Looked {
    /// Ids passed to `get` that were found.
    pub ids: BTreeSet<String>,
    /// Tenants passed to `list`.
    pub tenants: BTreeSet<String>,
}

impl Looked {
    /// The records of `all` these look-ups reached, in their order.
    fn kept<R: Record>(&self, all: &[R]) -> Vec<R> {
        all.iter()
            .filter(|r| self.ids.contains(r.id()) || self.tenants.contains(r.tenant_id()))
            .cloned()
            .collect()
    }

    fn absorb(&mut self, other: Looked) {
        self.ids.extend(other.ids);
        self.tenants.extend(other.tenants);
    }
}

/// What a guest looked up during a call (tenants are not tracked: every
/// scope keeps them all).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lookups {
    pub sites: Looked,
    pub instances: Looked,
}

impl Lookups {
    /// Adds `other`'s look-ups to these (for a decision several guests made).
    pub fn absorb(&mut self, other: Lookups) {
        self.sites.absorb(other.sites);
        self.instances.absorb(other.instances);
    }
}

/// A record guests look up by id or by its tenant (a site, an instance).
trait Record: Clone {
    type Wit;
    fn id(&self) -> &str;
    fn tenant_id(&self) -> &str;
    fn wit(&self) -> Self::Wit;
    /// The records of this kind in `scope`.
    fn all(scope: &Scope) -> &[Self];
    /// The look-ups of this kind.
    fn looked(lookups: &mut Lookups) -> &mut Looked;
}

/// The store data of one guest call.
pub struct HostState {
    pub scope: Arc<Scope>,
    pub limits: Limits,
    pub host_calls: u32,
    /// Set when the guest asked for more memory or table than allowed.
    pub limit_hit: Option<&'static str>,
    /// Linear-memory bytes of all the call's memories together.
    pub memory_bytes: usize,
    /// Table elements of all the call's tables together.
    pub table_elements: usize,
    /// Log lines the guest wrote (at most 16 reach the host's log).
    pub log_lines: u32,
    /// What the guest looked up so far.
    pub lookups: Lookups,
    /// Whose guest this is and its world, for its log lines.
    pub origin: Option<(Arc<Origin>, &'static str)>,
    /// The time and seed its WASI answers from.
    pub determinism: super::wasi::Determinism,
    /// Its WASI state, built at its first WASI call.
    pub wasi: Option<Box<super::wasi::GuestWasi>>,
}

/// Whose guest a call runs: the tenant it runs for (`platform` for the
/// platform's own) and the component's sha256. Its log lines carry both,
/// with the world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub tenant: String,
    pub component: String,
}

impl Origin {
    pub fn new(tenant: impl Into<String>, component: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            tenant: tenant.into(),
            component: component.into(),
        })
    }
}

impl HostState {
    pub fn new(scope: Arc<Scope>, limits: Limits) -> Self {
        Self {
            scope,
            limits,
            host_calls: 0,
            limit_hit: None,
            memory_bytes: 0,
            table_elements: 0,
            log_lines: 0,
            lookups: Lookups::default(),
            origin: None,
            determinism: Default::default(),
            wasi: None,
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

    /// `get(id)` of a record kind: found only when its tenant is in scope
    /// too (the scope should hold no other, but a look-up never leaves the
    /// tenant tree whatever the caller put in it).
    fn look_up<R: Record>(&mut self, id: String) -> wasmtime::Result<Option<R::Wit>> {
        self.charge()?;
        let scope = &self.scope;
        let found = R::all(scope)
            .iter()
            .find(|r| r.id() == id && scope.has_tenant(r.tenant_id()))
            .map(R::wit);
        if found.is_some() {
            R::looked(&mut self.lookups).ids.insert(id);
        }
        Ok(found)
    }

    /// `list(tenant-id)` of a record kind: at most [`LIST_MAX`], none for a
    /// tenant outside the scope.
    fn list_of<R: Record>(&mut self, tenant_id: String) -> wasmtime::Result<Vec<R::Wit>> {
        self.charge()?;
        let scope = &self.scope;
        let listed = if scope.has_tenant(&tenant_id) {
            R::all(scope)
                .iter()
                .filter(|r| r.tenant_id() == tenant_id)
                .take(LIST_MAX)
                .map(R::wit)
                .collect()
        } else {
            Vec::new()
        };
        R::looked(&mut self.lookups).tenants.insert(tenant_id);
        Ok(listed)
    }
}

impl ResourceLimiter for HostState {
    /// A memory's creation (from zero) or growth: refused when all the
    /// call's memories together would pass the limit.
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.memory_bytes + desired.saturating_sub(current);
        if total > self.limits.memory_bytes {
            self.limit_hit = Some("memory");
            return Ok(false);
        }
        self.memory_bytes = total;
        Ok(true)
    }

    /// The same for tables, counted in elements.
    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.table_elements + desired.saturating_sub(current);
        if total > self.limits.table_elements {
            self.limit_hit = Some("table");
            return Ok(false);
        }
        self.table_elements = total;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TenantStatus;
    use crate::domain::site::{Environment, SiteStatus};
    use crate::runtime::bindings::bbws::platform::{instances, sites};

    fn tenant(id: &str, parent: Option<&str>) -> ScopeTenant {
        ScopeTenant {
            id: id.into(),
            organisation_name: id.into(),
            status: TenantStatus::Active,
            parent_id: parent.map(str::to_string),
            tier: "standard".into(),
        }
    }

    fn site(id: &str, tenant_id: &str) -> ScopeSite {
        ScopeSite {
            id: id.into(),
            tenant_id: tenant_id.into(),
            name: format!("{id}-name"),
            environment: Environment::Dev,
            status: SiteStatus::Active,
        }
    }

    /// A child and its parent; 150 sites of the child, one of the parent,
    /// and one of a tenant outside the tree that should never have been
    /// put in the scope.
    fn state() -> HostState {
        let mut sites: Vec<ScopeSite> = (0..150)
            .map(|i| site(&format!("site_c{i}"), "ten_c"))
            .collect();
        sites.push(site("site_p", "ten_p"));
        sites.push(site("site_x", "ten_x"));
        let scope = Scope {
            tenants: vec![tenant("ten_c", Some("ten_p")), tenant("ten_p", None)],
            sites,
            instances: Vec::new(),
        };
        HostState::new(Arc::new(scope), Limits::default())
    }

    #[test]
    fn a_site_is_found_only_when_its_tenant_is_in_scope() {
        let mut s = state();
        let found = sites::Host::get(&mut s, "site_p".into()).unwrap().unwrap();
        assert_eq!(
            (found.name.as_str(), found.environment, found.status),
            (
                "site_p-name",
                types::Environment::Dev,
                types::SiteStatus::Active
            )
        );
        assert_eq!(sites::Host::get(&mut s, "site_x".into()).unwrap(), None);
        assert_eq!(sites::Host::get(&mut s, "site_nope".into()).unwrap(), None);
        assert!(
            sites::Host::list(&mut s, "ten_x".into())
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            s.lookups.sites.ids,
            BTreeSet::from(["site_p".to_string()]),
            "only ids that were found"
        );
    }

    #[test]
    fn a_list_answers_at_most_a_hundred_sites_of_the_tenant() {
        let mut s = state();
        let listed = sites::Host::list(&mut s, "ten_c".into()).unwrap();
        assert_eq!(listed.len(), LIST_MAX);
        assert!(listed.iter().all(|site| site.tenant_id == "ten_c"));
        assert_eq!(listed[0].id, "site_c0");
        assert_eq!(listed[99].id, "site_c99");
    }

    #[test]
    fn the_seen_part_answers_every_look_up_as_the_whole_scope_did() {
        let mut whole = state();
        let got = sites::Host::get(&mut whole, "site_p".into()).unwrap();
        let listed = sites::Host::list(&mut whole, "ten_c".into()).unwrap();
        let missing = sites::Host::get(&mut whole, "site_x".into()).unwrap();

        let seen = whole.scope.seen(&whole.lookups);
        assert_eq!(seen.tenants, whole.scope.tenants);
        assert_eq!(seen.sites.len(), 151, "the parent's site and the child's");
        assert!(seen.sites.iter().all(|s| s.id != "site_x"));

        let mut replay = HostState::new(Arc::new(seen), Limits::default());
        assert_eq!(sites::Host::get(&mut replay, "site_p".into()).unwrap(), got);
        assert_eq!(
            sites::Host::list(&mut replay, "ten_c".into()).unwrap(),
            listed
        );
        assert_eq!(
            sites::Host::get(&mut replay, "site_x".into()).unwrap(),
            missing
        );
        assert_eq!(replay.lookups, whole.lookups);
    }

    #[test]
    fn nothing_looked_up_leaves_only_the_tenants() {
        let s = state();
        let seen = s.scope.seen(&s.lookups);
        assert_eq!(seen.tenants.len(), 2);
        assert!(seen.sites.is_empty() && seen.instances.is_empty());
    }

    #[test]
    fn instances_answer_nothing_until_a_scope_holds_some() {
        let mut s = state();
        assert!(
            instances::Host::get(&mut s, "inst_1".into())
                .unwrap()
                .is_none()
        );
        assert!(
            instances::Host::list(&mut s, "ten_c".into())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_scope_without_sites_keeps_its_json_and_old_records_still_decode() {
        let scope = Scope {
            tenants: vec![tenant("ten_p", None)],
            ..Scope::default()
        };
        let json = serde_json::to_value(&scope).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"tenants": [{
                "id": "ten_p", "organisationName": "ten_p", "status": "ACTIVE",
                "parentId": null, "tier": "standard"
            }]})
        );
        let decoded: Scope = serde_json::from_value(json).unwrap();
        assert_eq!(decoded, scope);

        let with_site = Scope {
            sites: vec![site("site_p", "ten_p")],
            ..scope
        };
        let json = serde_json::to_value(&with_site).unwrap();
        assert_eq!(
            json["sites"],
            serde_json::json!([{
                "id": "site_p", "tenantId": "ten_p", "name": "site_p-name",
                "environment": "DEV", "status": "ACTIVE"
            }])
        );
        assert_eq!(serde_json::from_value::<Scope>(json).unwrap(), with_site);
    }
}
