//! Only allow-listed WordPress plugins may be installed, updated or removed
//! on the tenant's sites. Everything else is allowed: the platform's own
//! access rules run first, so a tenant policy can only narrow them.
#![no_std]

use bbws_guest::{Decision, Policy, Request, format};

/// The plugins the tenant's sites may run.
const ALLOWED: &[&str] = &["akismet", "wordpress-seo", "jetpack", "contact-form-7"];

struct PluginAllowlist;

impl Policy for PluginAllowlist {
    fn authorize(request: Request) -> Decision {
        if request.action != "site.plugin.manage" {
            return Decision::Allow(format!("{}: not a plugin change", request.action));
        }
        match request.attribute("plugin") {
            Some(plugin) if ALLOWED.contains(&plugin) => {
                Decision::Allow(format!("site.plugin.manage: {plugin} is on the allow-list"))
            }
            Some(plugin) => Decision::Deny(format!(
                "site.plugin.manage: {plugin} is not on the allow-list ({})",
                ALLOWED.join(", ")
            )),
            None => Decision::Deny("site.plugin.manage: the request names no plugin".into()),
        }
    }
}

bbws_guest::export_policy!(PluginAllowlist);
