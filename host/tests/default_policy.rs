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
use bbws_host::runtime::Origin;
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
        // No request here carries `suspendedAt`: a suspension level reads
        // as an ancestor role (the level itself is checked below).
        Requires::AncestorRole(min) | Requires::SuspensionLevel(min) => caller
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
                            "dec_test",
                            Arc::new(Scope::default()),
                            roomy(),
                            &Origin::new("test", "test"),
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
            "dec_test",
            Arc::new(Scope::default()),
            roomy(),
            &Origin::new("test", "test"),
        )
        .unwrap();
    assert!(
        matches!(&decision, Decision::Deny(r) if r.contains("tenant.explode")),
        "{decision:?}"
    );
}

/// A resume of `ten_…1` (under `ten_…c2`, under `ten_…0p`, under `ten_…0g`)
/// suspended from `suspended_at`, by a caller holding `roles`, decided by the
/// guest over that tree.
async fn resume(guest: &Guest, suspended_at: &str, roles: &[(&str, TenantRole)]) -> Decision {
    use bbws_host::domain::TenantStatus;
    use bbws_host::runtime::ScopeTenant;
    const CHAIN: [&str; 4] = [
        "ten_00000000000000000000000000000001",
        "ten_000000000000000000000000000000c2",
        "ten_000000000000000000000000000000ab",
        "ten_000000000000000000000000000000ff",
    ];
    let tenants = CHAIN
        .iter()
        .enumerate()
        .map(|(i, id)| ScopeTenant {
            id: (*id).into(),
            organisation_name: format!("T{i}"),
            status: if i == 0 {
                TenantStatus::Suspended
            } else {
                TenantStatus::Active
            },
            parent_id: CHAIN.get(i + 1).map(|p| (*p).into()),
            tier: "standard".into(),
        })
        .collect();
    let mut req = request(
        "tenant.resume",
        &Caller {
            platform_admin: false,
            roles: vec![],
        },
        CHAIN[0],
        None,
    );
    req.roles = roles
        .iter()
        .map(|&(tenant, role)| BindingInput {
            tenant_id: tenant.into(),
            role,
            inherited: tenant != CHAIN[0],
        })
        .collect();
    req.resource.attributes = vec![("suspendedAt".into(), suspended_at.into())];
    guest
        .runtime
        .authorize(
            &guest.pre,
            &types::Request::from(&req),
            "dec_test",
            Arc::new(Scope {
                tenants,
                ..Scope::default()
            }),
            roomy(),
            &Origin::new("test", "test"),
        )
        .unwrap()
}

#[tokio::test]
async fn a_resume_needs_owner_at_the_level_the_suspension_came_from_or_above() {
    let guest = Guest::load().await;
    let (tenant, between, level, top) = (
        "ten_00000000000000000000000000000001",
        "ten_000000000000000000000000000000c2",
        "ten_000000000000000000000000000000ab",
        "ten_000000000000000000000000000000ff",
    );
    for (at, roles, allowed) in [
        (level, vec![(level, Owner)], true),
        (level, vec![(top, Owner)], true),
        (level, vec![(level, Admin)], false),
        // Owner of a tenant between, or of the tenant itself: below the suspension.
        (level, vec![(between, Owner), (tenant, Owner)], false),
        // The platform's suspension, and one from a tenant no longer above.
        ("platform", vec![(top, Owner)], false),
        (
            "ten_0000000000000000000000000000dead",
            vec![(top, Owner)],
            false,
        ),
    ] {
        let decision = resume(&guest, at, &roles).await;
        assert_eq!(
            matches!(decision, Decision::Allow(_)),
            allowed,
            "suspended at {at}, roles {roles:?}: {decision:?}"
        );
    }
}

/// Limits whose deadline no decision nears, even in a debug build on a
/// loaded machine: these tests check the rules, not the deadline (the
/// sandbox's tests do that).
fn roomy() -> Limits {
    Limits {
        deadline: std::time::Duration::from_secs(5),
        ..Limits::default()
    }
}
