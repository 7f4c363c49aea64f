//! Instances sized by what the tenant pays for: the most tasks an instance
//! may ask for depends on the tenant's tier (`free` 2, `standard` 4,
//! `premium` 8, `enterprise` 10), and a PROD instance is never scaled below
//! 3 tasks (two would leave one during a deployment). The tier also caps
//! how many instances a tenant has (`free` 1, `standard` 2, `premium` 5,
//! `enterprise` 20), counted from the tenant's instances as bbws records
//! them (`instances::list`). Everything else is allowed: the platform's own
//! rules run first, so a tenant policy can only narrow them. The tenant and
//! its instances are looked up, so the decision log records what the
//! policy saw and a replay decides the same.
#![no_std]

use bbws_guest::{Decision, Policy, Request, format, instances, tenants};

struct InstanceLimits;

/// The most instances a tenant of `tier` may have.
fn most_instances(tier: &str) -> usize {
    match tier {
        "free" => 1,
        "standard" => 2,
        "premium" => 5,
        _ => 20,
    }
}

/// The most tasks an instance of a tenant of `tier` may run.
fn cap(tier: &str) -> u32 {
    match tier {
        "free" => 2,
        "standard" => 4,
        "premium" => 8,
        _ => 10,
    }
}

impl Policy for InstanceLimits {
    fn authorize(request: Request) -> Decision {
        if request.action != "instance.create" && request.action != "instance.scale" {
            return Decision::Allow(format!("{}: not an instance's size", request.action));
        }
        let Some(count) = request
            .attribute("desiredCount")
            .and_then(|c| c.parse::<u32>().ok())
        else {
            return Decision::Deny(format!("{}: no desired count to decide on", request.action));
        };
        if request.action == "instance.scale"
            && request.attribute("environment") == Some("PROD")
            && count < 3
        {
            return Decision::Deny(format!(
                "instance.scale: a PROD instance runs at least 3 tasks, not {count}"
            ));
        }
        let tier = request
            .tenant_id
            .as_deref()
            .and_then(tenants::get)
            .map(|t| t.tier)
            .unwrap_or_default();
        if request.action == "instance.create"
            && let Some(tenant_id) = request.tenant_id.as_deref()
        {
            let have = instances::list(tenant_id).len();
            let most = most_instances(&tier);
            if have >= most {
                return Decision::Deny(format!(
                    "instance.create: the {tier} tier has at most {most} instances, and the tenant has {have}"
                ));
            }
        }
        let most = cap(&tier);
        if count > most {
            return Decision::Deny(format!(
                "{}: the {tier} tier runs at most {most} tasks per instance, not {count}",
                request.action
            ));
        }
        Decision::Allow(format!(
            "{}: {count} tasks within the {tier} tier's {most}",
            request.action
        ))
    }
}

bbws_guest::export_policy!(InstanceLimits);
