//! Allows, with a reason saying what `tenants::get` answers for the
//! request's own tenant and for the tenant the resource id names (a test
//! passes another tenant's id there; without one, a well-formed id of no
//! tenant), so tests can check the host's scoping. The reason reads:
//!
//! `tenant-echo: own=<tenant>; other=<tenant>`
//!
//! where `<tenant>` is `none`, or `<id>|<organisation name>|<status>|<parent id or ->|<tier>`
//! (status `active`, `parked`, `suspended` or `deleted`). Without a tenant on the
//! request, `own=no tenant`.
#![no_std]

use bbws_guest::tenants::{self, Tenant, TenantStatus};
use bbws_guest::{Decision, Policy, Request, String, format};

/// A well-formed tenant id that belongs to no test tenant.
const OTHER: &str = "ten_00000000000000000000000000000000";

struct TenantEcho;

fn describe(tenant: Option<Tenant>) -> String {
    let Some(t) = tenant else {
        return "none".into();
    };
    let status = match t.status {
        TenantStatus::Active => "active",
        TenantStatus::Parked => "parked",
        TenantStatus::Suspended => "suspended",
        TenantStatus::Deleted => "deleted",
    };
    let parent = t.parent_id.as_deref().unwrap_or("-");
    format!(
        "{}|{}|{status}|{parent}|{}",
        t.id, t.organisation_name, t.tier
    )
}

impl Policy for TenantEcho {
    fn authorize(request: Request) -> Decision {
        let own = match &request.tenant_id {
            Some(id) => describe(tenants::get(id)),
            None => "no tenant".into(),
        };
        let other = describe(tenants::get(
            request.resource.id.as_deref().unwrap_or(OTHER),
        ));
        Decision::Allow(format!("tenant-echo: own={own}; other={other}"))
    }
}

bbws_guest::export_policy!(TenantEcho);
