//! The platform's default policy: the access rules every request must pass
//! (role-based, per action), moved out of the host into a guest so that the
//! platform's own rules and a tenant's narrowing policy run the same way.
//! It enforces the table `rules.in`, the one the host documents (it
//! includes the same file), so the two cannot name different actions or
//! requirements.
//!
//! The WIT `decision` has no visibility flag: the host decides that itself
//! (a tenant-scoped request from a principal with no binding at all answers
//! 404, so a tenant's existence is not revealed).

#![cfg_attr(not(test), no_std)]

mod rules;

use bbws_guest::{Decision, Policy, Request, String, TenantRole, ToString, Vec, format};
use rules::Requires;

struct DefaultPolicy;

impl Policy for DefaultPolicy {
    fn authorize(request: Request) -> Decision {
        decide(&request, &|id| {
            bbws_guest::tenants::ancestors(id)
                .into_iter()
                .map(|t| t.id)
                .collect()
        })
    }
}

/// The ids of a tenant's ancestors, parent first, as the tenant tree holds
/// them (the host's `tenants::ancestors`; the unit tests give their own).
type Ancestors<'a> = &'a dyn Fn(&str) -> Vec<String>;

/// The resource attribute naming the level a suspension was made from: the
/// ancestor whose role made it, or `platform`.
const SUSPENDED_AT: &str = "suspendedAt";

bbws_guest::export_policy!(DefaultPolicy);

/// Decides a request by the rule for its action.
fn decide(req: &Request, ancestors: Ancestors) -> Decision {
    let Some(requires) = rules::find(&req.action) else {
        return Decision::Deny(format!("no rule for action {}", req.action));
    };
    let action = &req.action;
    if req.principal.platform_admin {
        return Decision::Allow(format!("{action}: platform admin"));
    }
    let held = req.highest_role();
    let outcome: Result<String, String> = match requires {
        Requires::Authenticated => Ok("any authenticated user".to_string()),
        Requires::PlatformAdmin => Err("requires the platform admin role".to_string()),
        Requires::SelfOrPlatformAdmin => {
            if req.resource.id.as_deref() == Some(req.principal.user_id.as_str()) {
                Ok("acting on oneself".to_string())
            } else {
                Err("only the user themself or a platform admin".to_string())
            }
        }
        Requires::Role(min) => match held {
            Some(role) if role >= min => Ok(format!("holds {}", role.as_str())),
            Some(role) => Err(format!(
                "requires {} on the tenant; holds {}",
                min.as_str(),
                role.as_str()
            )),
            None => Err(format!("requires {} on the tenant", min.as_str())),
        },
        Requires::AncestorRole(min) => ancestor_role(req, min),
        Requires::SuspensionLevel(min) => match req.attribute(SUSPENDED_AT) {
            None => ancestor_role(req, min),
            Some(level) => suspension_level(req, min, level, ancestors),
        },
    };
    match outcome {
        Err(why) => Decision::Deny(format!("{action}: {why}")),
        Ok(why) => match (req.resource.grants_role, held) {
            (Some(granted), Some(role)) if granted > role => Decision::Deny(format!(
                "{action}: cannot grant {} while holding {}",
                granted.as_str(),
                role.as_str()
            )),
            _ => Decision::Allow(format!("{action}: {why}")),
        },
    }
}

/// `min` or more on a strict ancestor of the tenant.
fn ancestor_role(req: &Request, min: TenantRole) -> Result<String, String> {
    let above = req
        .roles
        .iter()
        .filter(|b| b.inherited)
        .map(|b| b.role)
        .max();
    match above {
        Some(role) if role >= min => Ok(format!("holds {} on an ancestor", role.as_str())),
        _ => Err(format!(
            "requires {} on a parent tenant (a tenant cannot do this to itself)",
            min.as_str()
        )),
    }
}

/// `min` or more on `level`, the ancestor a suspension was made from, or on
/// a tenant above it, in the tree as it is now. A role between the tenant
/// and that level does not count: whoever holds only such a role (or gained
/// one by moving the tenant under a tenant of theirs) is below the
/// suspension. A `platform` suspension, or one made from a tenant that is
/// no longer above this one, is left to platform admins.
fn suspension_level(
    req: &Request,
    min: TenantRole,
    level: &str,
    ancestors: Ancestors,
) -> Result<String, String> {
    if level == "platform" {
        return Err(
            "the platform suspended the tenant; only a platform admin resumes it".to_string(),
        );
    }
    let path = ancestors(req.tenant_id.as_deref().unwrap_or_default());
    let Some(at) = path.iter().position(|id| id == level) else {
        return Err(format!(
            "the suspension was made from {level}, which is no longer above the tenant; only a platform admin resumes it"
        ));
    };
    let levels = &path[at..];
    let held = req
        .roles
        .iter()
        .filter(|b| levels.contains(&b.tenant_id))
        .map(|b| b.role)
        .max();
    match held {
        Some(role) if role >= min => Ok(format!(
            "holds {} on {level}, where the suspension was made, or above it",
            role.as_str()
        )),
        _ => Err(format!(
            "requires {} on {level}, where the suspension was made, or above it",
            min.as_str()
        )),
    }
}

#[cfg(test)]
mod tests {
    //! The host's `policy::tests`, against the guest's logic (run on the
    //! build machine: `cargo test -p bbws-default-policy` in `guests/`).

    use super::*;
    use bbws_guest::{Principal, Resource, RoleBinding, TenantRole, TenantRole::*, Vec};

    /// A tree the tests do not look up.
    fn no_tree(_: &str) -> Vec<String> {
        Vec::new()
    }

    fn ask(action: &str, roles: &[RoleBinding], grants: Option<TenantRole>) -> Decision {
        decide(
            &Request {
                principal: Principal {
                    user_id: "usr_1".into(),
                    platform_admin: false,
                },
                action: action.into(),
                tenant_id: Some("ten_1".into()),
                roles: roles.to_vec(),
                resource: Resource {
                    kind: "tenant".into(),
                    id: Some("ten_1".into()),
                    grants_role: grants,
                    attributes: Vec::new(),
                },
                now_ms: 0,
            },
            &no_tree,
        )
    }

    fn bind(role: TenantRole, inherited: bool) -> RoleBinding {
        RoleBinding {
            tenant_id: "ten_0".into(),
            role,
            inherited,
        }
    }

    fn reason(d: Decision) -> String {
        d.reason().to_string()
    }

    #[test]
    fn a_viewer_reads_but_cannot_update() {
        let roles = [bind(Viewer, false)];
        assert_eq!(
            ask("tenant.read", &roles, None),
            Decision::Allow("tenant.read: holds viewer".into())
        );
        assert_eq!(
            ask("tenant.update", &roles, None),
            Decision::Deny("tenant.update: requires admin on the tenant; holds viewer".into())
        );
    }

    #[test]
    fn no_role_at_all_is_denied() {
        assert_eq!(
            ask("tenant.read", &[], None),
            Decision::Deny("tenant.read: requires viewer on the tenant".into())
        );
    }

    #[test]
    fn an_admin_cannot_grant_owner() {
        let roles = [bind(Admin, false)];
        assert!(ask("tenant.user.assign", &roles, Some(Admin)).is_allow());
        assert_eq!(
            reason(ask("tenant.user.assign", &roles, Some(Owner))),
            "tenant.user.assign: cannot grant owner while holding admin"
        );
    }

    #[test]
    fn suspension_needs_a_role_above_the_tenant() {
        assert_eq!(
            reason(ask("tenant.suspend", &[bind(Owner, false)], None)),
            "tenant.suspend: requires owner on a parent tenant (a tenant cannot do this to itself)"
        );
        assert_eq!(
            ask("tenant.suspend", &[bind(Owner, true)], None),
            Decision::Allow("tenant.suspend: holds owner on an ancestor".into())
        );
    }

    /// `ten_1` under `ten_c2`, under `ten_p`, under `ten_g`: a resume of
    /// `ten_1` suspended from `suspended_at`, asked with `roles`.
    fn resume(suspended_at: &str, roles: &[(&str, TenantRole)]) -> Decision {
        let tree = |id: &str| -> Vec<String> {
            match id {
                "ten_1" => ["ten_c2", "ten_p", "ten_g"].map(String::from).to_vec(),
                _ => Vec::new(),
            }
        };
        decide(
            &Request {
                principal: Principal {
                    user_id: "usr_1".into(),
                    platform_admin: false,
                },
                action: "tenant.resume".into(),
                tenant_id: Some("ten_1".into()),
                roles: roles
                    .iter()
                    .map(|&(tenant, role)| RoleBinding {
                        tenant_id: tenant.into(),
                        role,
                        inherited: tenant != "ten_1",
                    })
                    .collect(),
                resource: Resource {
                    kind: "tenant".into(),
                    id: Some("ten_1".into()),
                    grants_role: None,
                    attributes: Vec::from([("suspendedAt".into(), suspended_at.into())]),
                },
                now_ms: 0,
            },
            &tree,
        )
    }

    #[test]
    fn a_resume_needs_owner_where_the_suspension_was_made_or_above() {
        assert_eq!(
            resume("ten_p", &[("ten_p", Owner)]),
            Decision::Allow(
                "tenant.resume: holds owner on ten_p, where the suspension was made, or above it"
                    .into()
            )
        );
        assert!(resume("ten_p", &[("ten_g", Owner)]).is_allow());
        // Owner on a tenant between the tenant and the level: below the suspension.
        assert_eq!(
            reason(resume("ten_p", &[("ten_c2", Owner), ("ten_1", Owner)])),
            "tenant.resume: requires owner on ten_p, where the suspension was made, or above it"
        );
        assert!(!resume("ten_p", &[("ten_p", Admin)]).is_allow());
    }

    #[test]
    fn a_platform_suspension_is_lifted_by_platform_admins_only() {
        assert_eq!(
            reason(resume("platform", &[("ten_g", Owner), ("ten_c2", Owner)])),
            "tenant.resume: the platform suspended the tenant; only a platform admin resumes it"
        );
    }

    #[test]
    fn a_suspension_from_a_tenant_no_longer_above_is_left_to_platform_admins() {
        assert_eq!(
            reason(resume("ten_x", &[("ten_x", Owner), ("ten_g", Owner)])),
            "tenant.resume: the suspension was made from ten_x, which is no longer above the tenant; only a platform admin resumes it"
        );
    }

    #[test]
    fn without_a_suspension_a_resume_needs_owner_on_an_ancestor() {
        assert!(ask("tenant.resume", &[bind(Owner, true)], None).is_allow());
        assert!(!ask("tenant.resume", &[bind(Owner, false)], None).is_allow());
    }

    #[test]
    fn the_highest_binding_counts() {
        let roles = [bind(Viewer, false), bind(Owner, true)];
        assert!(ask("tenant.delete", &roles, None).is_allow());
    }

    #[test]
    fn unknown_actions_are_denied() {
        assert_eq!(
            ask("tenant.explode", &[bind(Owner, false)], None),
            Decision::Deny("no rule for action tenant.explode".into())
        );
    }

    #[test]
    fn platform_admins_may_do_everything_known() {
        let mut req = Request {
            principal: Principal {
                user_id: "usr_admin".into(),
                platform_admin: true,
            },
            action: "user.create".into(),
            tenant_id: None,
            roles: Vec::new(),
            resource: Resource {
                kind: "user".into(),
                id: None,
                grants_role: None,
                attributes: Vec::new(),
            },
            now_ms: 0,
        };
        assert_eq!(
            decide(&req, &no_tree),
            Decision::Allow("user.create: platform admin".into())
        );
        req.principal.platform_admin = false;
        assert_eq!(
            reason(decide(&req, &no_tree)),
            "user.create: requires the platform admin role"
        );
    }

    #[test]
    fn users_act_on_themselves() {
        let mut req = Request {
            principal: Principal {
                user_id: "usr_1".into(),
                platform_admin: false,
            },
            action: "user.token.create".into(),
            tenant_id: None,
            roles: Vec::new(),
            resource: Resource {
                kind: "user".into(),
                id: Some("usr_1".into()),
                grants_role: None,
                attributes: Vec::new(),
            },
            now_ms: 0,
        };
        assert_eq!(
            reason(decide(&req, &no_tree)),
            "user.token.create: acting on oneself"
        );
        req.resource.id = Some("usr_2".into());
        assert_eq!(
            reason(decide(&req, &no_tree)),
            "user.token.create: only the user themself or a platform admin"
        );
    }

    #[test]
    fn every_rule_is_named_once() {
        let mut names: Vec<_> = rules::RULES.iter().map(|r| r.0).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), rules::RULES.len());
    }
}
