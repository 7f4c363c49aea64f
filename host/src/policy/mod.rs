//! The one policy enforcement point. Every route builds an
//! [`AccessRequest`] (who, which roles they hold where, which action on which
//! resource) and asks [`decide`]; the answer is allow or deny with a reason.
//!
//! The rules are data ([`rules::RULES`]: an action name and what it
//! requires), not code spread over handlers, so that the WebAssembly issue can
//! move them into a guest unchanged: the request and decision here are the
//! shapes the `policy` world will carry.

pub mod rules;

use serde::Serialize;

use crate::domain::{PlatformRole, TenantRole};
pub use rules::{RULES, Requires, Rule};

/// Who is asking.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    pub user_id: String,
    pub platform_role: Option<PlatformRole>,
}

impl Principal {
    pub fn is_platform_admin(&self) -> bool {
        self.platform_role == Some(PlatformRole::Admin)
    }
}

/// A role the principal holds that bears on the request's tenant: on the
/// tenant itself, or (`inherited`) on one of its ancestors.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleBinding {
    pub tenant_id: String,
    pub role: TenantRole,
    pub inherited: bool,
}

/// What the request acts on.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// `tenant`, `user`, `invitation`, ...
    pub kind: &'static str,
    pub id: Option<String>,
    /// A role the action would grant (member assignment, invitation): the
    /// caller may not grant more than it holds.
    pub grants_role: Option<TenantRole>,
}

/// The request record the policy decides on.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRequest<'a> {
    pub principal: &'a Principal,
    /// An action name from [`RULES`], such as `tenant.update`.
    pub action: &'a str,
    /// The tenant the action is scoped to, if any.
    pub tenant_id: Option<&'a str>,
    /// The principal's roles on that tenant and its ancestors.
    pub roles: &'a [RoleBinding],
    pub resource: Resource,
}

/// The policy's answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "lowercase")]
pub enum Decision {
    Allow {
        reason: String,
    },
    Deny {
        reason: String,
        /// False when the principal has no standing on the tenant at all:
        /// the API then answers 404, so the tenant's existence is not revealed.
        visible: bool,
    },
}

impl Decision {
    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

/// The highest role among the bindings.
pub fn effective_role(roles: &[RoleBinding]) -> Option<TenantRole> {
    roles.iter().map(|b| b.role).max()
}

/// Decides a request by the rule for its action.
pub fn decide(req: &AccessRequest<'_>) -> Decision {
    let Some(rule) = rules::find(req.action) else {
        return Decision::Deny {
            reason: format!("no rule for action {}", req.action),
            visible: true,
        };
    };
    let allow = |reason: String| Decision::Allow { reason };
    let deny = |reason: String| Decision::Deny {
        reason,
        visible: req.tenant_id.is_none() || !req.roles.is_empty(),
    };
    if req.principal.is_platform_admin() {
        return allow(format!("{}: platform admin", rule.action));
    }
    let held = effective_role(req.roles);
    let outcome = match rule.requires {
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
        Requires::AncestorRole(min) => {
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
    };
    match outcome {
        Err(why) => deny(format!("{}: {why}", rule.action)),
        Ok(why) => match (req.resource.grants_role, held) {
            (Some(granted), Some(role)) if granted > role => deny(format!(
                "{}: cannot grant {} while holding {}",
                rule.action,
                granted.as_str(),
                role.as_str()
            )),
            _ => allow(format!("{}: {why}", rule.action)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Principal {
        Principal {
            user_id: "usr_1".into(),
            platform_role: None,
        }
    }

    fn ask(action: &str, roles: &[RoleBinding], grants: Option<TenantRole>) -> Decision {
        decide(&AccessRequest {
            principal: &user(),
            action,
            tenant_id: Some("ten_1"),
            roles,
            resource: Resource {
                kind: "tenant",
                id: Some("ten_1".into()),
                grants_role: grants,
            },
        })
    }

    fn bind(role: TenantRole, inherited: bool) -> RoleBinding {
        RoleBinding {
            tenant_id: "ten_0".into(),
            role,
            inherited,
        }
    }

    #[test]
    fn a_viewer_reads_but_cannot_update() {
        let roles = [bind(TenantRole::Viewer, false)];
        assert!(ask("tenant.read", &roles, None).is_allow());
        assert!(matches!(
            ask("tenant.update", &roles, None),
            Decision::Deny { visible: true, .. }
        ));
    }

    #[test]
    fn no_role_at_all_hides_the_tenant() {
        assert!(matches!(
            ask("tenant.read", &[], None),
            Decision::Deny { visible: false, .. }
        ));
    }

    #[test]
    fn an_admin_cannot_grant_owner() {
        let roles = [bind(TenantRole::Admin, false)];
        assert!(ask("tenant.user.assign", &roles, Some(TenantRole::Admin)).is_allow());
        assert!(!ask("tenant.user.assign", &roles, Some(TenantRole::Owner)).is_allow());
    }

    #[test]
    fn suspension_needs_a_role_above_the_tenant() {
        assert!(!ask("tenant.suspend", &[bind(TenantRole::Owner, false)], None).is_allow());
        assert!(ask("tenant.suspend", &[bind(TenantRole::Owner, true)], None).is_allow());
    }

    #[test]
    fn unknown_actions_are_denied() {
        assert!(!ask("tenant.explode", &[bind(TenantRole::Owner, false)], None).is_allow());
    }

    #[test]
    fn every_rule_is_named_once() {
        let mut names: Vec<_> = RULES.iter().map(|r| r.action).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), RULES.len());
    }
}
