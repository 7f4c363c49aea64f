//! A policy that decides on a site it looked up: the `sites` interface
//! answers from the scope, the runtime tells what the guest looked up, and
//! a replay on only that part of the scope decides the same.

use std::sync::Arc;

use bbws_host::blobs::FsBlobs;
use bbws_host::domain::TenantStatus;
use bbws_host::domain::site::{Environment, SiteStatus};
use bbws_host::policy::Request as PolicyRequest;
use bbws_host::runtime::Origin;
use bbws_host::runtime::bindings::types;
use bbws_host::runtime::bindings::{PolicyPre, types::Decision};
use bbws_host::runtime::{
    HostState, Limits, Lookups, Runtime, RuntimeConfig, Scope, ScopeSite, ScopeTenant, content_hash,
};

const SITE_LOOKUP: &[u8] = include_bytes!(env!("BBWS_GUEST_SITE_LOOKUP"));

const TENANT: &str = "ten_00000000000000000000000000000001";
const SHOP: &str = "site_00000000000000000000000000000001";
const BLOG: &str = "site_00000000000000000000000000000002";

async fn prepared() -> (Arc<Runtime>, PolicyPre<HostState>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeConfig::default(), Arc::new(FsBlobs::new(dir.path()))).unwrap();
    let pre = rt
        .prepare(&content_hash(SITE_LOOKUP), SITE_LOOKUP)
        .await
        .unwrap();
    (rt, pre, dir)
}

fn site(id: &str, name: &str, environment: Environment) -> ScopeSite {
    ScopeSite {
        id: id.into(),
        tenant_id: TENANT.into(),
        name: name.into(),
        environment,
        status: SiteStatus::Active,
    }
}

/// The tenant with two sites: `shop` on PROD, `blog` on SIT.
fn scope() -> Scope {
    Scope {
        tenants: vec![ScopeTenant {
            id: TENANT.into(),
            organisation_name: "Acme".into(),
            status: TenantStatus::Active,
            parent_id: None,
            tier: "standard".into(),
        }],
        sites: vec![
            site(SHOP, "shop", Environment::Prod),
            site(BLOG, "blog", Environment::Sit),
        ],
        ..Scope::default()
    }
}

/// `site.update` on the site `site_id`.
fn request(site_id: &str) -> PolicyRequest {
    serde_json::from_value(serde_json::json!({
        "principal": {"userId": "usr_00000000000000000000000000000001", "platformAdmin": false},
        "action": "site.update",
        "tenantId": TENANT,
        "resource": {"kind": "site", "id": site_id}
    }))
    .unwrap()
}

/// Runs the guest on `scope`; answers the decision and what it looked up.
fn decide(
    rt: &Runtime,
    pre: &PolicyPre<HostState>,
    site_id: &str,
    scope: Scope,
) -> (Decision, Lookups) {
    let mut lookups = Lookups::default();
    let decision = rt
        .authorize_recording(
            pre,
            &types::Request::from(&request(site_id)),
            "dec_test",
            Arc::new(scope),
            Limits::default(),
            &Origin::new("test", "test"),
            &mut lookups,
        )
        .unwrap();
    (decision, lookups)
}

#[tokio::test]
async fn a_policy_decides_on_the_site_it_looked_up_and_replays_on_what_it_saw() {
    let (rt, pre, _dir) = prepared().await;
    let whole = scope();

    let (decision, lookups) = decide(&rt, &pre, BLOG, whole.clone());
    assert_eq!(decision, Decision::Allow("site-lookup: blog is SIT".into()));
    let seen = whole.seen(&lookups);
    assert_eq!(seen.tenants, whole.tenants);
    assert_eq!(seen.sites, [site(BLOG, "blog", Environment::Sit)]);
    let (replayed, again) = decide(&rt, &pre, BLOG, seen);
    assert_eq!(replayed, decision);
    assert_eq!(again, lookups);

    let (decision, lookups) = decide(&rt, &pre, SHOP, whole.clone());
    assert_eq!(decision, Decision::Deny("site-lookup: shop is PROD".into()));
    let seen = whole.seen(&lookups);
    assert_eq!(seen.sites, [site(SHOP, "shop", Environment::Prod)]);
    assert_eq!(decide(&rt, &pre, SHOP, seen).0, decision);
}

#[tokio::test]
async fn a_site_outside_the_scope_reads_as_absent_and_is_not_recorded() {
    let (rt, pre, _dir) = prepared().await;
    let mut stray = scope();
    // A site whose tenant is not in the scope: the host never answers it.
    stray.sites[1].tenant_id = "ten_00000000000000000000000000000002".into();

    let missing = "site_00000000000000000000000000000009";
    for id in [missing, BLOG] {
        let (decision, lookups) = decide(&rt, &pre, id, stray.clone());
        assert_eq!(
            decision,
            Decision::Deny(format!("site-lookup: no site {id}"))
        );
        assert!(stray.seen(&lookups).sites.is_empty(), "{lookups:?}");
    }
}

#[tokio::test]
async fn the_look_ups_of_every_guest_of_a_decision_add_up() {
    let (rt, pre, _dir) = prepared().await;
    let whole = scope();
    let mut lookups = Lookups::default();
    lookups.absorb(decide(&rt, &pre, BLOG, whole.clone()).1);
    assert_eq!(whole.seen(&lookups).sites.len(), 1);
    lookups.absorb(decide(&rt, &pre, SHOP, whole.clone()).1);
    assert_eq!(whole.seen(&lookups).sites, whole.sites);
}
