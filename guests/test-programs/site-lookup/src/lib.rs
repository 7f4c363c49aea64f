//! Looks up the site the request's resource id names (`sites::get`, nothing
//! else) and decides on it: denies a `PROD` site, allows any other, and
//! denies when the look-up finds nothing. The reasons read
//!
//! `site-lookup: <site name> is PROD`, `site-lookup: <site name> is <DEV|SIT>`,
//! `site-lookup: no site <id>`
//!
//! so tests can check what the host's `sites` interface answered, and that
//! a replay on the recorded scope answers the same.
#![no_std]

use bbws_guest::{Decision, Environment, Policy, Request, format, sites};

struct SiteLookup;

impl Policy for SiteLookup {
    fn authorize(request: Request) -> Decision {
        let id = request.resource.id.unwrap_or_default();
        match sites::get(&id) {
            None => Decision::Deny(format!("site-lookup: no site {id}")),
            Some(site) if site.environment == Environment::Prod => {
                Decision::Deny(format!("site-lookup: {} is PROD", site.name))
            }
            Some(site) => Decision::Allow(format!(
                "site-lookup: {} is {}",
                site.name,
                site.environment.as_str()
            )),
        }
    }
}

bbws_guest::export_policy!(SiteLookup);
