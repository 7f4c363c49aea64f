//! Tenant deletion is resumable: a process that dies midway leaves no
//! orphan, and the next start finishes the job.

use std::sync::Arc;

use bbws_host::clock::SystemClock;
use bbws_host::domain::Tenant;
use bbws_host::service::tenants::CreateTenant;
use bbws_host::service::{Caller, ServiceConfig, Services};
use bbws_host::store::{Index, ItemStore, Query, keys};

/// The services over the embedded store in `dir`, and that store, which
/// the scenarios read and write behind the services' back (as a crash
/// leaves it).
async fn services(dir: &std::path::Path) -> (Services, Arc<dyn ItemStore>) {
    let backends = bbws_host::server::Backends::embedded(dir).unwrap();
    let store = backends.items.clone();
    let services =
        bbws_host::server::services(backends, Arc::new(SystemClock), ServiceConfig::default())
            .await
            .unwrap();
    (services, store)
}

async fn admin(s: &Services) -> Arc<Caller> {
    let identity = s.identity();
    let token = identity.bootstrap(Some("admin".into())).await.unwrap();
    identity
        .authenticate(token.as_deref().unwrap_or("admin"))
        .await
        .unwrap()
}

async fn create(s: &Services, caller: &Caller, parent: Option<&str>) -> String {
    s.tenants()
        .create(
            caller,
            CreateTenant {
                organisation_name: "t".into(),
                parent_tenant_id: parent.map(str::to_string),
                contact_email: None,
                tier: None,
                provision_instance: None,
            },
        )
        .await
        .unwrap()
        .tenant_id
}

/// Every stored tenant, deleted-marked ones included.
async fn all_tenants(store: &dyn ItemStore) -> Vec<Tenant> {
    let page = store
        .query(Query::new(Index::Gsi1, keys::ALL_TENANTS).limit(1000))
        .await
        .unwrap();
    page.items.iter().map(|i| i.decode().unwrap()).collect()
}

async fn assert_no_orphans(store: &dyn ItemStore) {
    let tenants = all_tenants(store).await;
    for t in &tenants {
        if let Some(p) = &t.parent_tenant_id {
            assert!(
                tenants.iter().any(|x| &x.tenant_id == p),
                "tenant {} lost its parent {p}",
                t.tenant_id
            );
        }
    }
}

#[tokio::test]
async fn a_deletion_cut_short_leaves_no_orphan_and_finishes_on_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let (s, store) = services(dir.path()).await;
    let caller = admin(&s).await;
    let keep = create(&s, &caller, None).await;
    let root = create(&s, &caller, None).await;
    let mut parents = vec![root.clone()];
    for _ in 0..2 {
        let mut next = Vec::new();
        for p in &parents {
            for _ in 0..2 {
                next.push(create(&s, &caller, Some(p)).await);
            }
        }
        parents = next;
    }
    assert_eq!(
        all_tenants(store.as_ref()).await.len(),
        8,
        "keep + a root with 2 children and 4 grandchildren"
    );

    // The interrupted deletion: intent recorded, three tenants removed one
    // step at a time, then the process "dies".
    let root_tenant = s.tenants().get(&caller, &root).await.unwrap();
    s.tenants()
        .start_deletion(&root_tenant, true)
        .await
        .unwrap();
    for _ in 0..3 {
        s.tenants().run_deletion(&root, 1).await.unwrap();
        assert_no_orphans(store.as_ref()).await;
    }
    assert_eq!(
        all_tenants(store.as_ref()).await.len(),
        5,
        "the deletion was cut short"
    );

    // A new process over the same store resumes it.
    drop((s, store));
    let (s, store) = services(dir.path()).await;
    assert_eq!(s.tenants().resume_deletions().await.unwrap(), 1);
    let left: Vec<_> = all_tenants(store.as_ref())
        .await
        .into_iter()
        .map(|t| t.tenant_id)
        .collect();
    assert_eq!(
        left,
        [keep],
        "the whole subtree is gone, the other tenant stays"
    );
    assert!(
        store.get(&keys::cascade(&root)).await.unwrap().is_none(),
        "the intent is removed once done"
    );
    assert_eq!(s.tenants().resume_deletions().await.unwrap(), 0);
}

/// Parking a tenant writes an intent with the status; its sites follow in a
/// second step. A process that dies between the two leaves the intent, and
/// the next start (or any sweep of the job worker) brings the sites in line.
#[tokio::test]
async fn sites_follow_their_parked_tenant_even_across_a_crash() {
    use bbws_host::domain::site::{Site, SiteStatus};
    use bbws_host::domain::tenant::StatusAction;
    use bbws_host::service::sites::CreateSite;
    use bbws_host::store::{Condition, Item};

    let dir = tempfile::tempdir().unwrap();
    let (s, store) = services(dir.path()).await;
    let caller = admin(&s).await;
    let t = create(&s, &caller, None).await;
    let site = s
        .sites()
        .create(
            &caller,
            &t,
            CreateSite {
                name: "held".into(),
                environment: None,
                instance_id: None,
                template_id: None,
                template_parameters: None,
                wordpress: None,
            },
        )
        .await
        .unwrap()
        .resource;
    let key = keys::site(&t, &site.site_id);
    let status = |store: Arc<dyn ItemStore>| {
        let key = key.clone();
        async move {
            let item = store.get(&key).await.unwrap().unwrap();
            item.decode::<Site>().unwrap().status
        }
    };
    s.tenants()
        .transition(&caller, &t, StatusAction::Park, None)
        .await
        .unwrap();
    assert_eq!(status(store.clone()).await, SiteStatus::Suspended);
    assert!(store.get(&keys::follow(&t)).await.unwrap().is_none());

    // The state a crash right after the status change leaves: the tenant
    // parked, its site not yet held, the intent still there.
    let mut item = store.get(&key).await.unwrap().unwrap();
    let mut stale: Site = item.decode().unwrap();
    stale.status = stale.previous_status.take().unwrap();
    item = Item::record(key.clone(), &stale).unwrap();
    store.put(item, Condition::Exists).await.unwrap();
    store
        .put(
            Item::new(keys::follow(&t), serde_json::json!({})),
            Condition::None,
        )
        .await
        .unwrap();
    drop((s, store));

    let (next, store) = services(dir.path()).await;
    assert_eq!(next.resume().await.unwrap(), 1);
    assert_eq!(status(store.clone()).await, SiteStatus::Suspended);
    assert!(store.get(&keys::follow(&t)).await.unwrap().is_none());
}
