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
    app.post(
        &app.admin,
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
