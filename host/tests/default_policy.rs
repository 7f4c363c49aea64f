//! The platform's RBAC rules run as WebAssembly (`guests/default-policy`).
//! This checks the guest against the rules table for every action and a
//! spread of callers: the table is the oracle. Guest and host compile the
//! same table (`guests/default-policy/rules.in`), so what can differ, and
//! is checked here, is what the guest makes of a requirement.

use std::sync::Arc;

use bbws_host::blobs::FsBlobs;
use bbws_host::domain::TenantRole::{self, *};
use bbws_host::policy::{
    Principal as PrincipalInput, Request as PolicyRequest, Resource as ResourceInput,
    RoleBinding as BindingInput,
};
use bbws_host::policy::{RULES, Requires, Rule};
use bbws_host::runtime::HostState;
use bbws_host::runtime::bindings::PolicyPre;
use bbws_host::runtime::bindings::types::{self, Decision};
use bbws_host::runtime::{Limits, Runtime, RuntimeConfig, Scope, content_hash};
use bbws_host::service::decisions::DEFAULT_POLICY;

const ME: &str = "usr_00000000000000000000000000000001";
const OTHER: &str = "usr_00000000000000000000000000000002";

struct Caller {
    platform_admin: bool,
    roles: Vec<(TenantRole, bool)>,
}

/// What the table says.
fn expected(rule: &Rule, caller: &Caller, resource_user: &str, grants: Option<TenantRole>) -> bool {
    if caller.platform_admin {
        return true;
    }
    let held = caller.roles.iter().map(|(r, _)| *r).max();
    let allowed = match rule.requires {
        Requires::Authenticated => true,
        Requires::PlatformAdmin => false,
        Requires::SelfOrPlatformAdmin => resource_user == ME,
        Requires::Role(min) => held.is_some_and(|h| h >= min),
        Requires::AncestorRole(min) => caller
            .roles
            .iter()
            .filter(|(_, inherited)| *inherited)
            .any(|(r, _)| *r >= min),
    };
    allowed && !matches!((grants, held), (Some(g), Some(h)) if g > h)
}

fn request(
    action: &str,
    caller: &Caller,
    resource_user: &str,
    grants: Option<TenantRole>,
) -> PolicyRequest {
    PolicyRequest {
        principal: PrincipalInput {
            user_id: ME.into(),
            platform_admin: caller.platform_admin,
        },
        action: action.into(),
        tenant_id: Some("ten_00000000000000000000000000000001".into()),
        roles: caller
            .roles
            .iter()
            .enumerate()
            .map(|(i, (role, inherited))| BindingInput {
                tenant_id: format!("ten_0000000000000000000000000000000{i}"),
                role: *role,
                inherited: *inherited,
            })
            .collect(),
        resource: ResourceInput {
            kind: "tenant".into(),
            id: Some(resource_user.into()),
            grants_role: grants,
            attributes: vec![],
        },
        now_ms: 0,
    }
}

/// The default policy, prepared on a runtime of its own.
struct Guest {
    runtime: Arc<Runtime>,
    pre: PolicyPre<HostState>,
    _dir: tempfile::TempDir,
}

impl Guest {
    async fn load() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let runtime =
            Runtime::new(RuntimeConfig::default(), Arc::new(FsBlobs::new(dir.path()))).unwrap();
        let pre = runtime
            .prepare(&content_hash(DEFAULT_POLICY), DEFAULT_POLICY)
            .await
            .unwrap();
        Self {
            runtime,
            pre,
            _dir: dir,
        }
    }
}

#[tokio::test]
async fn the_default_policy_guest_enforces_the_rules_table() {
    let guest = Guest::load().await;
    let callers = [
        Caller {
            platform_admin: true,
            roles: vec![],
        },
        Caller {
            platform_admin: false,
            roles: vec![],
        },
        Caller {
            platform_admin: false,
            roles: vec![(Viewer, false)],
        },
        Caller {
            platform_admin: false,
            roles: vec![(Operator, false)],
        },
        Caller {
            platform_admin: false,
            roles: vec![(Admin, false)],
        },
        Caller {
            platform_admin: false,
            roles: vec![(Owner, false)],
        },
        Caller {
            platform_admin: false,
            roles: vec![(Owner, true)],
        },
        Caller {
            platform_admin: false,
            roles: vec![(Viewer, false), (Admin, true)],
        },
    ];
    let mut checked = 0;
    for rule in RULES {
        for caller in &callers {
            for user in [ME, OTHER] {
                for grants in [None, Some(Admin), Some(Owner)] {
                    let req = request(rule.action, caller, user, grants);
                    let decision = guest
                        .runtime
                        .authorize(
                            &guest.pre,
                            &types::Request::from(&req),
                            Arc::new(Scope::default()),
                            Limits::default(),
                        )
                        .unwrap();
                    let allowed = matches!(decision, Decision::Allow(_));
                    assert_eq!(
                        allowed,
                        expected(rule, caller, user, grants),
                        "{} for admin={} roles={:?} user={user} grants={grants:?}: {decision:?}",
                        rule.action,
                        caller.platform_admin,
                        caller.roles
                    );
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, RULES.len() * callers.len() * 6);
}

#[tokio::test]
async fn the_default_policy_denies_actions_it_does_not_know() {
    let guest = Guest::load().await;
    let owner = Caller {
        platform_admin: false,
        roles: vec![(Owner, false)],
    };
    let decision = guest
        .runtime
        .authorize(
            &guest.pre,
            &types::Request::from(&request("tenant.explode", &owner, ME, None)),
            Arc::new(Scope::default()),
            Limits::default(),
        )
        .unwrap();
    assert!(
        matches!(&decision, Decision::Deny(r) if r.contains("tenant.explode")),
        "{decision:?}"
    );
}
