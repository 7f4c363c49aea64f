//! Promoting a site to PROD takes an admin (or owner): operators may promote
//! DEV to SIT but not to production. Everything else is allowed: the
//! platform's own access rules run first, so a tenant policy can only narrow
//! them.
#![no_std]

use bbws_guest::{Decision, Policy, Request, TenantRole, format};

struct NoProdForOperators;

impl Policy for NoProdForOperators {
    fn authorize(request: Request) -> Decision {
        let to_prod = request.action == "site.promote"
            && request.attribute("targetEnvironment") == Some("PROD");
        if !to_prod {
            return Decision::Allow(format!("{}: not a promotion to PROD", request.action));
        }
        // The platform administrator runs the platform; this policy is about
        // the tenant's own people.
        if request.principal.platform_admin {
            return Decision::Allow("site.promote: platform admin".into());
        }
        match request.highest_role() {
            Some(role) if role >= TenantRole::Admin => Decision::Allow(format!(
                "site.promote: {} may promote to PROD",
                role.as_str()
            )),
            Some(role) => Decision::Deny(format!(
                "site.promote: promoting to PROD takes admin; holds {}",
                role.as_str()
            )),
            None => Decision::Deny("site.promote: promoting to PROD takes admin".into()),
        }
    }
}

bbws_guest::export_policy!(NoProdForOperators);
