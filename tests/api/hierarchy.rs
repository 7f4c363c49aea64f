//! The tenant tree: children, child counts, moves, cycles and deletion.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

async fn child_count(app: &TestApp, id: &str) -> Value {
    app.admin_read(&format!("/v1/tenants/{id}")).await["childCount"].clone()
}

async fn children(app: &TestApp, id: &str) -> HashSet<String> {
    app.walk(&app.admin, &format!("/v1/tenants/{id}/children"), 20)
        .await
        .iter()
        .map(|t| t["tenantId"].as_str().unwrap().to_string())
        .collect()
}

/// The stored records of `ids`.
async fn snapshot(app: &TestApp, ids: &[&str]) -> Vec<Value> {
    let mut out = Vec::new();
    for id in ids {
        out.push(app.admin_read(&format!("/v1/tenants/{id}")).await);
    }
    out
}

async fn move_to(app: &TestApp, id: &str, parent: &str) -> crate::helpers::Resp {
    move_by(app, &app.admin, id, json!(parent)).await
}

/// `token` moves `id` under `parent` (a tenant id, or `null` for the top).
async fn move_by(app: &TestApp, token: &str, id: &str, parent: Value) -> crate::helpers::Resp {
    app.post(
        token,
        &format!("/v1/tenants/{id}/move"),
        json!({"newParentTenantId": parent}),
    )
    .await
}

#[tokio::test]
async fn the_platform_admin_creates_a_child_tenant() {
    let app = spawn_app().await;
    let parent = app.tenant(&app.admin, "Parent", None).await;
    let child = app.tenant(&app.admin, "Child", Some(&parent)).await;

    let c = app.admin_read(&format!("/v1/tenants/{child}")).await;
    assert_eq!(c["parentTenantId"], parent.as_str());
    assert_eq!(c["status"], "ACTIVE");
    assert_eq!(child_count(&app, &parent).await, 1);
    assert_eq!(children(&app, &parent).await, HashSet::from([child]));
}

#[tokio::test]
async fn an_admin_of_the_parent_creates_a_child_tenant() {
    let app = spawn_app().await;
    let parent = app.tenant(&app.admin, "Parent", None).await;
    let (_, admin) = app.member(&parent, "padmin@example.com", "admin").await;
    let first = app.tenant(&admin, "First", Some(&parent)).await;
    let second = app.tenant(&admin, "Second", Some(&parent)).await;

    assert_eq!(child_count(&app, &parent).await, 2);
    assert_eq!(
        children(&app, &parent).await,
        HashSet::from([first.clone(), second])
    );
    // The parent's admin sees the child it made (its role is inherited).
    let c = app.get(&admin, &format!("/v1/tenants/{first}")).await;
    assert_eq!(c.ok(200)["parentTenantId"], parent.as_str());
}

#[tokio::test]
async fn an_operator_of_the_parent_cannot_create_a_child() {
    let app = spawn_app().await;
    let parent = app.tenant(&app.admin, "Parent", None).await;
    let (_, operator) = app.member(&parent, "pop@example.com", "operator").await;
    app.post(
        &operator,
        "/v1/tenants",
        json!({"organisationName": "No", "parentTenantId": parent}),
    )
    .await
    .assert_problem(403, "policy_denied");
    assert_eq!(child_count(&app, &parent).await, 0);
    assert_eq!(app.all_tenants().await.len(), 1);
}

#[tokio::test]
async fn moving_a_tenant_updates_both_parents() {
    let app = spawn_app().await;
    let old = app.tenant(&app.admin, "Old parent", None).await;
    let new = app.tenant(&app.admin, "New parent", None).await;
    let t = app.tenant(&app.admin, "Mover", Some(&old)).await;

    let moved = move_to(&app, &t, &new).await;
    assert_eq!(moved.ok(200)["parentTenantId"], new.as_str());

    let stored = app.admin_read(&format!("/v1/tenants/{t}")).await;
    assert_eq!(stored["parentTenantId"], new.as_str());
    assert_eq!(stored["version"], 2);
    assert_eq!(child_count(&app, &old).await, 0);
    assert_eq!(child_count(&app, &new).await, 1);
    assert!(children(&app, &old).await.is_empty());
    assert_eq!(children(&app, &new).await, HashSet::from([t]));
}

#[tokio::test]
async fn moving_a_tenant_under_itself_is_a_cycle() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Self", None).await;
    let before = app.admin_read(&format!("/v1/tenants/{t}")).await;
    move_to(&app, &t, &t)
        .await
        .assert_problem(409, "hierarchy_cycle");
    assert_eq!(app.admin_read(&format!("/v1/tenants/{t}")).await, before);
}

#[tokio::test]
async fn moving_a_tenant_under_its_own_descendant_is_a_cycle() {
    let app = spawn_app().await;
    let top = app.tenant(&app.admin, "Top", None).await;
    let mid = app.tenant(&app.admin, "Mid", Some(&top)).await;
    let low = app.tenant(&app.admin, "Low", Some(&mid)).await;
    let was = snapshot(&app, &[&top, &mid, &low]).await;
    move_to(&app, &top, &low)
        .await
        .assert_problem(409, "hierarchy_cycle");
    move_to(&app, &top, &mid)
        .await
        .assert_problem(409, "hierarchy_cycle");
    assert_eq!(snapshot(&app, &[&top, &mid, &low]).await, was);
}

#[tokio::test]
async fn deleting_a_tenant_with_children_is_refused() {
    let app = spawn_app().await;
    let parent = app.tenant(&app.admin, "Parent", None).await;
    let child = app.tenant(&app.admin, "Child", Some(&parent)).await;
    app.delete(&app.admin, &format!("/v1/tenants/{parent}"))
        .await
        .assert_problem(409, "has_children");
    let p = app.admin_read(&format!("/v1/tenants/{parent}")).await;
    assert_eq!(p["status"], "ACTIVE");
    assert_eq!(p["childCount"], 1);
    app.admin_read(&format!("/v1/tenants/{child}")).await;
}

#[tokio::test]
async fn deleting_a_leaf_tenant_removes_it_and_decrements_its_parent() {
    let app = spawn_app().await;
    let parent = app.tenant(&app.admin, "Parent", None).await;
    let child = app.tenant(&app.admin, "Child", Some(&parent)).await;
    let (_, token) = app.member(&child, "leaf@example.com", "owner").await;
    // The child's own owner deletes it.
    let res = app.delete(&token, &format!("/v1/tenants/{child}")).await;
    assert_eq!(res.status, 204, "{res:#?}");
    app.get(&app.admin, &format!("/v1/tenants/{child}"))
        .await
        .assert_problem(404, "tenant_not_found");
    assert_eq!(child_count(&app, &parent).await, 0);
    assert!(children(&app, &parent).await.is_empty());
    let me = app.get(&token, "/v1/me").await.ok(200).clone();
    assert_eq!(me["memberships"], json!([]));
}

#[tokio::test]
async fn a_cascading_delete_removes_the_whole_subtree_and_its_members() {
    let app = spawn_app().await;
    let grandparent = app.tenant(&app.admin, "Grandparent", None).await;
    let parent = app.tenant(&app.admin, "Parent", Some(&grandparent)).await;
    let child = app.tenant(&app.admin, "Child", Some(&parent)).await;
    let grandchild = app.tenant(&app.admin, "Grandchild", Some(&child)).await;
    let sibling = app.tenant(&app.admin, "Sibling", Some(&grandparent)).await;
    let (member, token) = app.member(&grandchild, "deep@example.com", "admin").await;
    app.assign(&child, &member, "viewer").await;
    app.assign(&sibling, &member, "operator").await;
    assert_eq!(child_count(&app, &grandparent).await, 2);

    let res = app
        .delete(&app.admin, &format!("/v1/tenants/{parent}?cascade=true"))
        .await;
    assert_eq!(res.status, 204, "{res:#?}");

    for gone in [&parent, &child, &grandchild] {
        app.get(&app.admin, &format!("/v1/tenants/{gone}"))
            .await
            .assert_problem(404, "tenant_not_found");
    }
    assert_eq!(child_count(&app, &grandparent).await, 1);
    assert_eq!(
        children(&app, &grandparent).await,
        HashSet::from([sibling.clone()])
    );
    let left: HashSet<_> = app
        .all_tenants()
        .await
        .iter()
        .map(|t| t["tenantId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left, HashSet::from([grandparent, sibling.clone()]));

    let me = app.get(&token, "/v1/me").await.ok(200).clone();
    let memberships: Vec<_> = me["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["tenantId"].as_str().unwrap().to_string(),
                m["role"].clone(),
            )
        })
        .collect();
    assert_eq!(memberships, [(sibling, json!("operator"))]);
}

#[tokio::test]
async fn an_invitation_to_a_deleted_tenant_can_no_longer_be_accepted() {
    let app = spawn_app().await;
    let parent = app.tenant(&app.admin, "Parent", None).await;
    let child = app.tenant(&app.admin, "Child", Some(&parent)).await;
    app.invite(&app.admin, &child, "late@example.com", "viewer")
        .await;
    let token = app.invitation_token("late@example.com").await;

    let res = app
        .delete(&app.admin, &format!("/v1/tenants/{parent}?cascade=true"))
        .await;
    assert_eq!(res.status, 204, "{res:#?}");
    app.answer_invitation("accept", &token)
        .await
        .assert_problem(404, "invitation_not_found");
    let users = app.walk(&app.admin, "/v1/users", 100).await;
    assert!(
        users.iter().all(|u| u["email"] != "late@example.com"),
        "{users:#?}"
    );
}

#[tokio::test]
async fn moving_needs_a_right_on_the_new_parent() {
    let app = spawn_app().await;
    let home = app.tenant(&app.admin, "Home", None).await;
    let elsewhere = app.tenant(&app.admin, "Elsewhere", None).await;
    let t = app.tenant(&app.admin, "Mover", Some(&home)).await;
    let (owner_id, owner) = app.member(&home, "homeowner@example.com", "owner").await;
    let before = snapshot(&app, &[&home, &elsewhere, &t]).await;

    let res = app
        .post(
            &owner,
            &format!("/v1/tenants/{t}/move"),
            json!({"newParentTenantId": elsewhere}),
        )
        .await;
    assert!(
        [403, 404, 422].contains(&res.status) && res.body["code"].is_string(),
        "{res:#?}"
    );
    assert!(!res.body.to_string().contains("Elsewhere"), "{res:#?}");
    assert_eq!(snapshot(&app, &[&home, &elsewhere, &t]).await, before);

    // With admin on the new parent too, the same move works.
    app.assign(&elsewhere, &owner_id, "admin").await;
    app.post(
        &owner,
        &format!("/v1/tenants/{t}/move"),
        json!({"newParentTenantId": elsewhere}),
    )
    .await
    .ok(200);
    assert_eq!(child_count(&app, &elsewhere).await, 1);
    assert_eq!(child_count(&app, &home).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn children_created_concurrently_are_all_counted() {
    let app = spawn_app().await;
    let parent = app.tenant(&app.admin, "Busy parent", None).await;
    let answers = futures::future::join_all((0..20).map(|i| {
        app.post(
            &app.admin,
            "/v1/tenants",
            json!({"organisationName": format!("Child {i}"), "parentTenantId": parent}),
        )
    }))
    .await;
    let created: HashSet<String> = answers
        .iter()
        .map(|r| r.ok(201)["tenantId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(created.len(), 20);
    assert_eq!(child_count(&app, &parent).await, 20);
    assert_eq!(children(&app, &parent).await, created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_crossing_moves_cannot_make_a_cycle() {
    let app = spawn_app().await;
    for round in 0..5 {
        let root = app.tenant(&app.admin, &format!("Root {round}"), None).await;
        let a = app.tenant(&app.admin, "A", Some(&root)).await;
        let b = app.tenant(&app.admin, "B", Some(&root)).await;
        let (x, y) = tokio::join!(move_to(&app, &a, &b), move_to(&app, &b, &a));
        assert!(
            x.status != 200 || y.status != 200,
            "both moves succeeded: {x:#?} {y:#?}"
        );
        let ta = app.admin_read(&format!("/v1/tenants/{a}")).await;
        let tb = app.admin_read(&format!("/v1/tenants/{b}")).await;
        assert!(
            !(ta["parentTenantId"] == b.as_str() && tb["parentTenantId"] == a.as_str()),
            "a cycle: {ta} {tb}"
        );
        let under_root = usize::from(ta["parentTenantId"] == root.as_str())
            + usize::from(tb["parentTenantId"] == root.as_str());
        assert_eq!(child_count(&app, &root).await, under_root);
    }
}

async fn act(app: &TestApp, token: &str, id: &str, action: &str) -> crate::helpers::Resp {
    app.post_empty(token, &format!("/v1/tenants/{id}/{action}"))
        .await
}

/// Issue 13: an owner of two siblings, one suspended by the platform, moved
/// it under the other and then held an inherited owner role on it, which
/// was enough to resume it. The move is refused now, and so is the resume.
#[tokio::test]
async fn a_suspended_tenants_owner_cannot_lift_the_suspension_by_moving_it() {
    let app = spawn_app().await;
    let p = app.tenant(&app.admin, "P", None).await;
    let c1 = app.tenant(&app.admin, "C1", Some(&p)).await;
    let c2 = app.tenant(&app.admin, "C2", Some(&p)).await;
    let (o, owner) = app.member(&c1, "o@example.com", "owner").await;
    app.assign(&c2, &o, "owner").await;
    act(&app, &app.admin, &c1, "suspend").await.ok(200);
    let before = snapshot(&app, &[&p, &c1, &c2]).await;

    let res = move_by(&app, &owner, &c1, json!(c2)).await;
    res.assert_problem(409, "tenant_not_active");
    act(&app, &owner, &c1, "resume")
        .await
        .assert_problem(403, "policy_denied");

    assert_eq!(snapshot(&app, &[&p, &c1, &c2]).await, before);
    assert_eq!(before[1]["status"], "SUSPENDED");
    assert_eq!(before[1]["parentTenantId"], p.as_str());
    // The suspension is recorded with who made it, from which level.
    let admin_id = app.get(&app.admin, "/v1/me").await.ok(200)["user"]["userId"].clone();
    assert_eq!(
        before[1]["suspendedBy"],
        json!({"userId": admin_id, "tenantId": "platform"})
    );
    // The platform lifts it.
    let resumed = act(&app, &app.admin, &c1, "resume").await;
    assert_eq!(resumed.ok(200)["status"], "ACTIVE");
    assert!(resumed.body.get("suspendedBy").is_none(), "{resumed:#?}");
}

#[tokio::test]
async fn nothing_moves_into_out_of_or_as_a_held_tenant() {
    let app = spawn_app().await;
    let home = app.tenant(&app.admin, "Home", None).await;
    let mover = app.tenant(&app.admin, "Mover", Some(&home)).await;
    let parked = app.tenant(&app.admin, "Parked", None).await;
    let suspended = app.tenant(&app.admin, "Suspended", None).await;
    let under_suspended = app
        .tenant(
            &app.admin,
            "Active, under a suspended one",
            Some(&suspended),
        )
        .await;
    let parked_mover = app.tenant(&app.admin, "Parked mover", Some(&home)).await;
    let other = app.tenant(&app.admin, "Other", None).await;
    act(&app, &app.admin, &parked, "park").await.ok(200);
    act(&app, &app.admin, &suspended, "suspend").await.ok(200);
    act(&app, &app.admin, &parked_mover, "park").await.ok(200);
    let all = [
        home.as_str(),
        &mover,
        &parked,
        &suspended,
        &under_suspended,
        &parked_mover,
        &other,
    ];
    let before = snapshot(&app, &all).await;

    for (id, to) in [
        // Under a parked tenant, a suspended one, or an active one below a suspended one.
        (&mover, &parked),
        (&mover, &suspended),
        (&mover, &under_suspended),
        // A parked tenant, and one out of a suspended subtree.
        (&parked_mover, &other),
        (&under_suspended, &other),
    ] {
        let res = move_to(&app, id, to).await;
        res.assert_problem(409, "tenant_not_active");
    }
    // A suspended tenant, even by the platform admin, and even to the top.
    move_by(&app, &app.admin, &suspended, json!(home))
        .await
        .assert_problem(409, "tenant_not_active");
    move_by(&app, &app.admin, &parked_mover, Value::Null)
        .await
        .assert_problem(409, "tenant_not_active");
    assert_eq!(snapshot(&app, &all).await, before);

    // Once the parked tenant is back, the move goes through.
    act(&app, &app.admin, &parked, "unpark").await.ok(200);
    assert_eq!(
        move_to(&app, &mover, &parked).await.ok(200)["parentTenantId"],
        parked.as_str()
    );
}

/// Who may lift a suspension depends on where it came from: a suspension
/// made with an owner role on an ancestor is lifted from there or above,
/// never by an owner between that ancestor and the tenant (who could be the
/// suspended tenant's own owner, holding a role on a tenant above it).
#[tokio::test]
async fn a_suspension_is_lifted_only_from_the_level_it_came_from_or_above() {
    let app = spawn_app().await;
    let g = app.tenant(&app.admin, "Grandparent", None).await;
    let p = app.tenant(&app.admin, "Parent", Some(&g)).await;
    let c = app.tenant(&app.admin, "Child", Some(&p)).await;
    let (g_owner_id, g_owner) = app.member(&g, "g@example.com", "owner").await;
    let (_, p_owner) = app.member(&p, "p@example.com", "owner").await;
    let (_, c_owner) = app.member(&c, "c@example.com", "owner").await;

    // The grandparent's owner suspends the child: the parent's owner, below, cannot resume.
    let suspended = act(&app, &g_owner, &c, "suspend").await;
    assert_eq!(
        suspended.ok(200)["suspendedBy"],
        json!({"userId": g_owner_id, "tenantId": g})
    );
    for token in [&p_owner, &c_owner] {
        act(&app, token, &c, "resume")
            .await
            .assert_problem(403, "policy_denied");
    }
    assert_eq!(
        app.admin_read(&format!("/v1/tenants/{c}")).await["status"],
        "SUSPENDED"
    );
    assert_eq!(
        act(&app, &g_owner, &c, "resume").await.ok(200)["status"],
        "ACTIVE"
    );

    // The parent's owner suspends it: the parent's owner, and the grandparent's, resume.
    act(&app, &p_owner, &c, "suspend").await.ok(200);
    assert_eq!(
        act(&app, &g_owner, &c, "resume").await.ok(200)["status"],
        "ACTIVE"
    );
    act(&app, &p_owner, &c, "suspend").await.ok(200);
    assert_eq!(
        act(&app, &p_owner, &c, "resume").await.ok(200)["status"],
        "ACTIVE"
    );

    // The platform's suspension: no owner anywhere lifts it.
    act(&app, &app.admin, &c, "suspend").await.ok(200);
    for token in [&g_owner, &p_owner, &c_owner] {
        act(&app, token, &c, "resume")
            .await
            .assert_problem(403, "policy_denied");
    }
    assert_eq!(
        app.admin_read(&format!("/v1/tenants/{c}")).await["status"],
        "SUSPENDED"
    );
}

/// A suspended tenant's ancestors may still move, carrying it: that never
/// brings it under someone who may lift the suspension from below.
#[tokio::test]
async fn moving_a_suspended_tenants_parent_gives_no_one_below_the_suspension_the_resume() {
    let app = spawn_app().await;
    let p = app.tenant(&app.admin, "P", None).await;
    let c1 = app.tenant(&app.admin, "C1", Some(&p)).await;
    let c2 = app.tenant(&app.admin, "C2", Some(&p)).await;
    let d = app.tenant(&app.admin, "D", Some(&c1)).await;
    let (_, p_owner) = app.member(&p, "p@example.com", "owner").await;
    let (o, owner) = app.member(&c1, "o@example.com", "owner").await;
    app.assign(&c2, &o, "owner").await;
    let elsewhere = app.tenant(&app.admin, "Elsewhere", None).await;
    app.assign(&elsewhere, &o, "owner").await;

    act(&app, &p_owner, &d, "suspend").await.ok(200);
    // O owns C1, D's parent, but the suspension came from P, above it.
    act(&app, &owner, &d, "resume")
        .await
        .assert_problem(403, "policy_denied");
    // Carrying D under C2 (still below P), or out of P's tree altogether, changes nothing.
    move_to(&app, &c1, &c2).await.ok(200);
    act(&app, &owner, &d, "resume")
        .await
        .assert_problem(403, "policy_denied");
    move_by(&app, &owner, &c1, json!(elsewhere)).await.ok(200);
    let res = act(&app, &owner, &d, "resume").await;
    res.assert_problem(403, "policy_denied");
    assert!(
        res.body["detail"]
            .as_str()
            .unwrap()
            .contains("no longer above"),
        "{res:#?}"
    );
    let stored = app.admin_read(&format!("/v1/tenants/{d}")).await;
    assert_eq!(stored["status"], "SUSPENDED");
    assert_eq!(
        act(&app, &app.admin, &d, "resume").await.ok(200)["status"],
        "ACTIVE"
    );
}

/// A move and a suspension of its new parent, raced: the move checks the
/// parent's status in its conditional write, so a move that wins was
/// written before the suspension (whose answer then counts the child).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_move_racing_a_suspension_of_its_new_parent_never_lands_under_it_after() {
    let app = spawn_app().await;
    for round in 0..8 {
        let home = app.tenant(&app.admin, &format!("Home {round}"), None).await;
        let target = app
            .tenant(&app.admin, &format!("Target {round}"), None)
            .await;
        let t = app.tenant(&app.admin, "Mover", Some(&home)).await;
        let (moved, suspended) = tokio::join!(
            move_to(&app, &t, &target),
            act(&app, &app.admin, &target, "suspend")
        );
        let suspended = suspended.ok(200).clone();
        let stored = app.admin_read(&format!("/v1/tenants/{t}")).await;
        if moved.status == 200 {
            assert_eq!(
                suspended["childCount"], 1,
                "moved in after the suspension: {suspended}"
            );
            assert_eq!(stored["parentTenantId"], target.as_str());
        } else {
            moved.assert_problem(409, "tenant_not_active");
            assert_eq!(stored["parentTenantId"], home.as_str());
            assert_eq!(child_count(&app, &target).await, 0);
        }
    }
}

/// A move keeps the tree within 10 levels, counting the whole subtree that
/// moves: a 5-level subtree fits under a tenant at level 5, a 6-level one
/// does not (409 `hierarchy_too_deep`, and it stays where it was).
#[tokio::test]
async fn a_move_counts_the_whole_subtree_against_the_depth_limit() {
    let app = spawn_app().await;
    async fn chain(app: &TestApp, name: &str, levels: usize) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for i in 0..levels {
            let parent = ids.last().cloned();
            ids.push(
                app.tenant(&app.admin, &format!("{name} {i}"), parent.as_deref())
                    .await,
            );
        }
        ids
    }
    let host = chain(&app, "Host", 5).await;
    let fits = chain(&app, "Fits", 5).await;
    let too_tall = chain(&app, "Too tall", 6).await;

    move_to(&app, &fits[0], &host[4]).await.ok(200);
    let deepest = app.admin_read(&format!("/v1/tenants/{}", fits[4])).await;
    assert_eq!(deepest["parentTenantId"], fits[3].as_str());

    move_to(&app, &too_tall[0], &host[4])
        .await
        .assert_problem(409, "hierarchy_too_deep");
    let unmoved = app
        .admin_read(&format!("/v1/tenants/{}", too_tall[0]))
        .await;
    assert_eq!(unmoved["parentTenantId"], Value::Null);
}
