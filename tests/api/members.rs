//! Members and roles: assign, list, change, remove, bulk, the last owner,
//! and what each role may do (with inheritance down the tree).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

fn member_path(tenant: &str, user: &str) -> String {
    format!("/v1/tenants/{tenant}/users/{user}")
}

/// userId -> role of a tenant's members, as the platform admin lists them.
async fn roles(app: &TestApp, tenant: &str) -> BTreeMap<String, String> {
    app.members_of(tenant)
        .await
        .iter()
        .map(|m| {
            (
                m["userId"].as_str().unwrap().to_string(),
                m["role"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(u, r)| (u.to_string(), r.to_string()))
        .collect()
}

#[tokio::test]
async fn an_assigned_member_is_listed_with_its_role() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Team", None).await;
    let (user, _) = app.user("alice@example.com").await;
    let res = app
        .put(
            &app.admin,
            &member_path(&t, &user),
            json!({"role": "operator"}),
        )
        .await;
    let m = res.ok(200);
    assert_eq!(m["userId"], user.as_str());
    assert_eq!(m["tenantId"], t.as_str());
    assert_eq!(m["role"], "operator");
    assert_eq!(m["email"], "alice@example.com");

    let listed = app.members_of(&t).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["userId"], user.as_str());
    assert_eq!(listed[0]["role"], "operator");
}

#[tokio::test]
async fn putting_a_new_role_changes_it() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Team", None).await;
    let (user, _) = app.member(&t, "bob@example.com", "viewer").await;
    app.put(
        &app.admin,
        &member_path(&t, &user),
        json!({"role": "admin"}),
    )
    .await
    .ok(200);
    assert_eq!(roles(&app, &t).await, expect(&[(&user, "admin")]));
}

#[tokio::test]
async fn a_removed_member_is_gone() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Team", None).await;
    let (owner, _) = app.member(&t, "owner@example.com", "owner").await;
    let (user, token) = app.member(&t, "carol@example.com", "viewer").await;
    // Seen once as a member (the server may now cache the caller).
    app.get(&token, &format!("/v1/tenants/{t}")).await.ok(200);
    let res = app.delete(&app.admin, &member_path(&t, &user)).await;
    assert_eq!(res.status, 204, "{res:#?}");
    assert_eq!(roles(&app, &t).await, expect(&[(&owner, "owner")]));
    // The former member no longer sees the tenant.
    app.get(&token, &format!("/v1/tenants/{t}"))
        .await
        .assert_problem(404, "tenant_not_found");
}

#[tokio::test]
async fn removing_the_last_owner_is_refused() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Team", None).await;
    let (owner, _) = app.member(&t, "owner@example.com", "owner").await;
    let (viewer, _) = app.member(&t, "viewer@example.com", "viewer").await;
    app.delete(&app.admin, &member_path(&t, &owner))
        .await
        .assert_problem(409, "last_owner");
    assert_eq!(
        roles(&app, &t).await,
        expect(&[(&owner, "owner"), (&viewer, "viewer")])
    );
}

#[tokio::test]
async fn demoting_the_last_owner_is_refused() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Team", None).await;
    let (owner, _) = app.member(&t, "owner@example.com", "owner").await;
    app.put(
        &app.admin,
        &member_path(&t, &owner),
        json!({"role": "admin"}),
    )
    .await
    .assert_problem(409, "last_owner");
    assert_eq!(roles(&app, &t).await, expect(&[(&owner, "owner")]));
}

#[tokio::test]
async fn with_two_owners_one_can_be_removed() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Team", None).await;
    let (first, _) = app.member(&t, "first@example.com", "owner").await;
    let (second, _) = app.member(&t, "second@example.com", "owner").await;
    let res = app.delete(&app.admin, &member_path(&t, &first)).await;
    assert_eq!(res.status, 204, "{res:#?}");
    assert_eq!(roles(&app, &t).await, expect(&[(&second, "owner")]));
    // Now the remaining one is the last.
    app.delete(&app.admin, &member_path(&t, &second))
        .await
        .assert_problem(409, "last_owner");
}

#[tokio::test]
async fn a_bulk_change_assigns_and_removes_and_reports_each_user() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Team", None).await;
    let (owner, _) = app.member(&t, "owner@example.com", "owner").await;
    let (leaving, _) = app.member(&t, "leaving@example.com", "viewer").await;
    let (promoted, _) = app.member(&t, "promoted@example.com", "viewer").await;
    let (newcomer, _) = app.user("newcomer@example.com").await;

    let res = app
        .post(
            &app.admin,
            &format!("/v1/tenants/{t}/users/bulk"),
            json!({
                "assign": [
                    {"userId": newcomer, "role": "operator"},
                    {"userId": promoted, "role": "admin"}
                ],
                "remove": [leaving]
            }),
        )
        .await;
    let results: BTreeMap<String, Value> = res.ok(200)["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| (r["userId"].as_str().unwrap().to_string(), r.clone()))
        .collect();
    assert_eq!(results.len(), 3, "{results:#?}");
    assert_eq!(results[&newcomer]["outcome"], "assigned");
    assert_eq!(results[&newcomer]["role"], "operator");
    assert_eq!(results[&promoted]["outcome"], "assigned");
    assert_eq!(results[&promoted]["previousRole"], "viewer");
    assert_eq!(results[&leaving]["outcome"], "removed");

    assert_eq!(
        roles(&app, &t).await,
        expect(&[
            (&owner, "owner"),
            (&promoted, "admin"),
            (&newcomer, "operator")
        ])
    );
}

#[tokio::test]
async fn a_bulk_change_with_an_unknown_user_applies_nothing() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Team", None).await;
    app.member(&t, "owner@example.com", "owner").await;
    let (viewer, _) = app.member(&t, "viewer@example.com", "viewer").await;
    let (newcomer, _) = app.user("newcomer@example.com").await;
    let before = app.members_of(&t).await;

    let res = app
        .post(
            &app.admin,
            &format!("/v1/tenants/{t}/users/bulk"),
            json!({
                "assign": [
                    {"userId": newcomer, "role": "operator"},
                    {"userId": "usr_0000000000000000000000000000dead", "role": "viewer"}
                ],
                "remove": [viewer]
            }),
        )
        .await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["assign[1].userId"]);
    assert_eq!(app.members_of(&t).await, before);
}

#[tokio::test]
async fn a_bulk_change_with_an_invalid_role_applies_nothing() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Team", None).await;
    app.member(&t, "owner@example.com", "owner").await;
    let (viewer, _) = app.member(&t, "viewer@example.com", "viewer").await;
    let (newcomer, _) = app.user("newcomer@example.com").await;
    let before = app.members_of(&t).await;

    let res = app
        .post(
            &app.admin,
            &format!("/v1/tenants/{t}/users/bulk"),
            json!({
                "assign": [
                    {"userId": newcomer, "role": "operator"},
                    {"userId": viewer, "role": "emperor"}
                ]
            }),
        )
        .await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["assign[1].role"]);
    assert_eq!(app.members_of(&t).await, before);
}

#[tokio::test]
async fn a_viewer_cannot_update_the_tenant() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Team", None).await;
    let (_, viewer) = app.member(&t, "viewer@example.com", "viewer").await;
    let before = app.admin_read(&format!("/v1/tenants/{t}")).await;
    // It can read it...
    app.get(&viewer, &format!("/v1/tenants/{t}")).await.ok(200);
    // ...but not change it.
    app.patch(
        &viewer,
        &format!("/v1/tenants/{t}"),
        json!({"organisationName": "Mine"}),
        None,
    )
    .await
    .assert_problem(403, "policy_denied");
    assert_eq!(app.admin_read(&format!("/v1/tenants/{t}")).await, before);
}

#[tokio::test]
async fn an_operator_cannot_invite() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Team", None).await;
    let (_, operator) = app.member(&t, "op@example.com", "operator").await;
    app.post(
        &operator,
        &format!("/v1/tenants/{t}/invitations"),
        json!({"email": "friend@example.com", "role": "viewer"}),
    )
    .await
    .assert_problem(403, "policy_denied");
    let invitations = app
        .walk(&app.admin, &format!("/v1/tenants/{t}/invitations"), 20)
        .await;
    assert!(invitations.is_empty(), "{invitations:#?}");
}

#[tokio::test]
async fn an_admin_cannot_grant_owner() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Team", None).await;
    let (owner, _) = app.member(&t, "owner@example.com", "owner").await;
    let (admin, admin_token) = app.member(&t, "admin@example.com", "admin").await;
    let (user, _) = app.user("hopeful@example.com").await;

    app.put(
        &admin_token,
        &member_path(&t, &user),
        json!({"role": "owner"}),
    )
    .await
    .assert_problem(403, "policy_denied");
    app.put(
        &admin_token,
        &member_path(&t, &admin),
        json!({"role": "owner"}),
    )
    .await
    .assert_problem(403, "policy_denied");
    assert_eq!(
        roles(&app, &t).await,
        expect(&[(&owner, "owner"), (&admin, "admin")])
    );
    // What it holds itself it may grant.
    app.put(
        &admin_token,
        &member_path(&t, &user),
        json!({"role": "admin"}),
    )
    .await
    .ok(200);
}

#[tokio::test]
async fn an_admin_of_a_child_cannot_see_the_parent() {
    let app = spawn_app().await;
    let parent = app.tenant(&app.admin, "Parent", None).await;
    let child = app.tenant(&app.admin, "Child", Some(&parent)).await;
    let (_, token) = app.member(&child, "childadmin@example.com", "admin").await;
    let before = app.admin_read(&format!("/v1/tenants/{parent}")).await;

    app.get(&token, &format!("/v1/tenants/{parent}"))
        .await
        .assert_problem(404, "tenant_not_found");
    app.patch(
        &token,
        &format!("/v1/tenants/{parent}"),
        json!({"organisationName": "Taken"}),
        None,
    )
    .await
    .assert_problem(404, "tenant_not_found");
    assert_eq!(
        app.admin_read(&format!("/v1/tenants/{parent}")).await,
        before
    );
    // Its own tenant it can read.
    app.get(&token, &format!("/v1/tenants/{child}"))
        .await
        .ok(200);
}

#[tokio::test]
async fn an_owner_of_the_parent_reads_and_updates_the_child() {
    let app = spawn_app().await;
    let parent = app.tenant(&app.admin, "Parent", None).await;
    let child = app.tenant(&app.admin, "Child", Some(&parent)).await;
    let (_, token) = app.member(&parent, "powner@example.com", "owner").await;

    let read = app.get(&token, &format!("/v1/tenants/{child}")).await;
    assert_eq!(read.ok(200)["tenantId"], child.as_str());
    app.patch(
        &token,
        &format!("/v1/tenants/{child}"),
        json!({"organisationName": "Renamed"}),
        None,
    )
    .await
    .ok(200);
    let stored = app.admin_read(&format!("/v1/tenants/{child}")).await;
    assert_eq!(stored["organisationName"], "Renamed");
    assert_eq!(stored["version"], 2);
}

#[tokio::test]
async fn an_owner_can_park_but_not_suspend_its_own_tenant() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Own", None).await;
    let (_, owner) = app.member(&t, "owner@example.com", "owner").await;

    let parked = app
        .post_empty(&owner, &format!("/v1/tenants/{t}/park"))
        .await;
    assert_eq!(parked.ok(200)["status"], "PARKED");
    app.post_empty(&owner, &format!("/v1/tenants/{t}/suspend"))
        .await
        .assert_problem(403, "policy_denied");
    assert_eq!(
        app.admin_read(&format!("/v1/tenants/{t}")).await["status"],
        "PARKED"
    );
}

#[tokio::test]
async fn an_owner_of_the_parent_can_suspend_the_child_but_the_child_cannot_resume() {
    let app = spawn_app().await;
    let parent = app.tenant(&app.admin, "Parent", None).await;
    let child = app.tenant(&app.admin, "Child", Some(&parent)).await;
    let (_, parent_owner) = app.member(&parent, "powner@example.com", "owner").await;
    let (_, child_owner) = app.member(&child, "cowner@example.com", "owner").await;

    app.post_empty(&parent_owner, &format!("/v1/tenants/{child}/suspend"))
        .await
        .ok(200);
    app.post_empty(&child_owner, &format!("/v1/tenants/{child}/resume"))
        .await
        .assert_problem(403, "policy_denied");
    assert_eq!(
        app.admin_read(&format!("/v1/tenants/{child}")).await["status"],
        "SUSPENDED"
    );
}

#[tokio::test]
async fn assigning_a_role_to_an_unknown_user_is_not_found() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Team", None).await;
    let before = app.members_of(&t).await;
    for user in ["usr_0000000000000000000000000000dead", "nobody"] {
        app.put(
            &app.admin,
            &member_path(&t, user),
            json!({"role": "viewer"}),
        )
        .await
        .assert_problem(404, "user_not_found");
    }
    assert_eq!(app.members_of(&t).await, before);
}

#[tokio::test]
async fn removing_someone_who_is_not_a_member_is_not_found() {
    let app = spawn_app().await;
    let t = app.tenant(&app.admin, "Team", None).await;
    let (owner, _) = app.member(&t, "owner@example.com", "owner").await;
    let (stranger, _) = app.user("stranger@example.com").await;
    app.delete(&app.admin, &member_path(&t, &stranger))
        .await
        .assert_problem(404, "member_not_found");
    assert_eq!(roles(&app, &t).await, expect(&[(&owner, "owner")]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_removals_of_the_last_two_owners_leave_one() {
    let app = spawn_app().await;
    for round in 0..5 {
        let t = app.tenant(&app.admin, &format!("Team {round}"), None).await;
        let (first, _) = app
            .member(&t, &format!("first{round}@example.com"), "owner")
            .await;
        let (second, _) = app
            .member(&t, &format!("second{round}@example.com"), "owner")
            .await;
        let (first, second) = (member_path(&t, &first), member_path(&t, &second));
        let (a, b) = tokio::join!(
            app.delete(&app.admin, &first),
            app.delete(&app.admin, &second),
        );
        let wins = [&a, &b].iter().filter(|r| r.status == 204).count();
        assert_eq!(wins, 1, "{a:#?} {b:#?}");
        for r in [&a, &b].into_iter().filter(|r| r.status != 204) {
            assert_eq!(r.status, 409, "{r:#?}");
        }
        let left = roles(&app, &t).await;
        assert_eq!(left.len(), 1, "{left:?}");
        assert!(left.values().all(|r| r == "owner"));
    }
}
