//! Invitations: the mail in the outbox, accept, decline, cancel, resend,
//! expiry, and the refusals.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

/// A tenant with an owner; returns the tenant id and the owner's token.
async fn team(app: &TestApp) -> (String, String) {
    let t = app.tenant(&app.admin, "Inviting Co", None).await;
    let (_, owner) = app.member(&t, "owner@example.com", "owner").await;
    (t, owner)
}

/// The invitations of `tenant` with `status`, as the platform admin lists them.
async fn listed(app: &TestApp, tenant: &str, status: &str) -> Vec<Value> {
    app.walk(
        &app.admin,
        &format!("/v1/tenants/{tenant}/invitations?status={status}"),
        20,
    )
    .await
}

fn ids(items: &[Value]) -> Vec<&str> {
    items
        .iter()
        .map(|i| i["invitationId"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn an_invitation_is_pending_and_its_token_is_mailed() {
    let app = spawn_app().await;
    let (t, owner) = team(&app).await;
    let inv = app
        .invite(&owner, &t, "guest@example.com", "operator")
        .await;
    assert_eq!(inv["status"], "PENDING");
    assert_eq!(inv["email"], "guest@example.com");
    assert_eq!(inv["role"], "operator");
    assert!(inv["invitationId"].as_str().unwrap().starts_with("inv_"));
    assert!(
        inv["expiresAt"].as_str().is_some_and(|e| e.ends_with('Z')),
        "{inv}"
    );
    assert!(
        inv.get("token").is_none() && inv.get("tokenHash").is_none(),
        "{inv}"
    );

    let mail = app.last_mail("guest@example.com").await;
    assert_eq!(mail["to"], "guest@example.com");
    assert_eq!(mail["data"]["invitationId"], inv["invitationId"]);
    let token = mail["data"]["token"].as_str().expect("a token");
    assert!(!token.is_empty());
    assert!(mail["body"].as_str().unwrap().contains(token), "{mail}");

    let pending = listed(&app, &t, "PENDING").await;
    assert_eq!(ids(&pending), [inv["invitationId"].as_str().unwrap()]);
    assert!(listed(&app, &t, "ACCEPTED").await.is_empty());
}

#[tokio::test]
async fn accepting_an_invitation_makes_a_member_with_a_working_token() {
    let app = spawn_app().await;
    let (t, owner) = team(&app).await;
    let inv = app
        .invite(&owner, &t, "guest@example.com", "operator")
        .await;
    let token = app.invitation_token("guest@example.com").await;

    let res = app.answer_invitation("accept", &token).await;
    let accepted = res.ok(200).clone();
    assert_eq!(accepted["role"], "operator");
    assert_eq!(accepted["tenantId"], t.as_str());
    let user_id = accepted["userId"].as_str().expect("userId");
    let api_token = accepted["token"].as_str().expect("token");

    let me = app.get(api_token, "/v1/me").await.ok(200).clone();
    assert_eq!(me["user"]["userId"], user_id);
    assert_eq!(me["user"]["email"], "guest@example.com");
    let memberships = me["memberships"].as_array().unwrap();
    assert_eq!(memberships.len(), 1, "{me}");
    assert_eq!(memberships[0]["tenantId"], t.as_str());
    assert_eq!(memberships[0]["role"], "operator");

    // The new member reads its tenant; the invitation reads as accepted.
    app.get(api_token, &format!("/v1/tenants/{t}"))
        .await
        .ok(200);
    assert_eq!(
        ids(&listed(&app, &t, "ACCEPTED").await),
        [inv["invitationId"].as_str().unwrap()]
    );
    assert!(listed(&app, &t, "PENDING").await.is_empty());
}

#[tokio::test]
async fn an_invitation_cannot_be_accepted_twice() {
    let app = spawn_app().await;
    let (t, owner) = team(&app).await;
    app.invite(&owner, &t, "guest@example.com", "viewer").await;
    let token = app.invitation_token("guest@example.com").await;
    app.answer_invitation("accept", &token).await.ok(200);
    let members = app.members_of(&t).await;

    app.answer_invitation("accept", &token)
        .await
        .assert_problem(409, "invitation_used");
    assert_eq!(app.members_of(&t).await, members);
}

#[tokio::test]
async fn a_declined_invitation_reads_as_declined() {
    let app = spawn_app().await;
    let (t, owner) = team(&app).await;
    let inv = app.invite(&owner, &t, "guest@example.com", "viewer").await;
    let token = app.invitation_token("guest@example.com").await;
    let res = app.answer_invitation("decline", &token).await;
    assert_eq!(res.ok(200)["status"], "DECLINED");

    assert_eq!(
        ids(&listed(&app, &t, "DECLINED").await),
        [inv["invitationId"].as_str().unwrap()]
    );
    assert_eq!(app.members_of(&t).await.len(), 1, "only the owner");
    app.answer_invitation("accept", &token)
        .await
        .assert_problem(409, "invitation_used");
}

#[tokio::test]
async fn a_cancelled_invitation_cannot_be_accepted() {
    let app = spawn_app().await;
    let (t, owner) = team(&app).await;
    let inv = app.invite(&owner, &t, "guest@example.com", "viewer").await;
    let id = inv["invitationId"].as_str().unwrap();
    let token = app.invitation_token("guest@example.com").await;

    let res = app
        .post_empty(&owner, &format!("/v1/tenants/{t}/invitations/{id}/cancel"))
        .await;
    assert_eq!(res.ok(200)["status"], "CANCELLED");
    assert_eq!(ids(&listed(&app, &t, "CANCELLED").await), [id]);

    app.answer_invitation("accept", &token)
        .await
        .assert_problem(409, "invitation_cancelled");
    assert_eq!(app.members_of(&t).await.len(), 1, "only the owner");
}

#[tokio::test]
async fn a_resent_invitation_has_a_new_token_and_the_old_one_stops_working() {
    let app = spawn_app().await;
    let (t, owner) = team(&app).await;
    let inv = app.invite(&owner, &t, "guest@example.com", "viewer").await;
    let id = inv["invitationId"].as_str().unwrap();
    let old = app.invitation_token("guest@example.com").await;

    app.clock.advance(Duration::from_secs(3600));
    let res = app
        .post_empty(&owner, &format!("/v1/tenants/{t}/invitations/{id}/resend"))
        .await;
    let resent = res.ok(200).clone();
    assert_eq!(resent["status"], "PENDING");
    assert!(
        resent["expiresAt"].as_str() > inv["expiresAt"].as_str(),
        "a new expiry: {resent}"
    );
    let mails = app
        .walk(&app.admin, "/v1/outbox?to=guest@example.com", 20)
        .await;
    assert_eq!(mails.len(), 2, "{mails:#?}");
    let new = app.invitation_token("guest@example.com").await;
    assert_ne!(new, old);

    app.answer_invitation("accept", &old)
        .await
        .assert_problem(404, "invitation_not_found");
    let accepted = app.answer_invitation("accept", &new).await;
    assert_eq!(accepted.ok(200)["role"], "viewer");
}

#[tokio::test]
async fn an_invitation_expires_after_its_ttl() {
    let app = spawn_app().await;
    let (t, owner) = team(&app).await;
    let inv = app.invite(&owner, &t, "guest@example.com", "viewer").await;
    let token = app.invitation_token("guest@example.com").await;

    app.clock.advance(Duration::from_secs(8 * 24 * 3600));
    app.answer_invitation("accept", &token)
        .await
        .assert_problem(410, "invitation_expired");
    assert_eq!(
        ids(&listed(&app, &t, "EXPIRED").await),
        [inv["invitationId"].as_str().unwrap()]
    );
    assert!(listed(&app, &t, "PENDING").await.is_empty());
    assert_eq!(app.members_of(&t).await.len(), 1, "only the owner");
}

#[tokio::test]
async fn an_invitation_is_still_valid_just_before_its_ttl() {
    let app = spawn_app().await;
    let (t, owner) = team(&app).await;
    app.invite(&owner, &t, "guest@example.com", "viewer").await;
    let token = app.invitation_token("guest@example.com").await;
    app.clock.advance(Duration::from_secs(7 * 24 * 3600 - 60));
    app.answer_invitation("accept", &token).await.ok(200);
}

#[tokio::test]
async fn inviting_an_existing_member_is_refused() {
    let app = spawn_app().await;
    let (t, owner) = team(&app).await;
    app.member(&t, "already@example.com", "viewer").await;
    app.post(
        &owner,
        &format!("/v1/tenants/{t}/invitations"),
        serde_json::json!({"email": "Already@Example.com", "role": "admin"}),
    )
    .await
    .assert_problem(409, "already_member");
    assert!(listed(&app, &t, "PENDING").await.is_empty());
}

#[tokio::test]
async fn a_second_pending_invitation_for_an_address_is_refused() {
    let app = spawn_app().await;
    let (t, owner) = team(&app).await;
    let first = app.invite(&owner, &t, "guest@example.com", "viewer").await;
    app.post(
        &owner,
        &format!("/v1/tenants/{t}/invitations"),
        serde_json::json!({"email": "guest@example.com", "role": "admin"}),
    )
    .await
    .assert_problem(409, "invitation_exists");
    assert_eq!(
        ids(&listed(&app, &t, "PENDING").await),
        [first["invitationId"].as_str().unwrap()]
    );
    let mails = app
        .walk(&app.admin, "/v1/outbox?to=guest@example.com", 20)
        .await;
    assert_eq!(mails.len(), 1);
}

#[tokio::test]
async fn an_address_can_be_invited_again_after_a_cancellation() {
    let app = spawn_app().await;
    let (t, owner) = team(&app).await;
    let first = app.invite(&owner, &t, "guest@example.com", "viewer").await;
    let id = first["invitationId"].as_str().unwrap();
    app.post_empty(&owner, &format!("/v1/tenants/{t}/invitations/{id}/cancel"))
        .await
        .ok(200);
    let second = app
        .invite(&owner, &t, "guest@example.com", "operator")
        .await;
    assert_ne!(second["invitationId"], first["invitationId"]);
}

#[tokio::test]
async fn an_admin_cannot_invite_an_owner() {
    let app = spawn_app().await;
    let (t, _) = team(&app).await;
    let (_, admin) = app.member(&t, "admin@example.com", "admin").await;
    app.post(
        &admin,
        &format!("/v1/tenants/{t}/invitations"),
        serde_json::json!({"email": "boss@example.com", "role": "owner"}),
    )
    .await
    .assert_problem(403, "policy_denied");
    assert!(
        app.walk(&app.admin, &format!("/v1/tenants/{t}/invitations"), 20)
            .await
            .is_empty()
    );
    assert!(
        app.walk(&app.admin, "/v1/outbox?to=boss@example.com", 20)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn an_accepted_invitation_cannot_be_resent_or_cancelled() {
    let app = spawn_app().await;
    let (t, owner) = team(&app).await;
    let inv = app.invite(&owner, &t, "guest@example.com", "viewer").await;
    let id = inv["invitationId"].as_str().unwrap();
    let token = app.invitation_token("guest@example.com").await;
    app.answer_invitation("accept", &token).await.ok(200);

    for action in ["resend", "cancel"] {
        app.post_empty(
            &owner,
            &format!("/v1/tenants/{t}/invitations/{id}/{action}"),
        )
        .await
        .assert_problem(409, "invitation_used");
    }
    assert_eq!(ids(&listed(&app, &t, "ACCEPTED").await), [id]);
    assert_eq!(
        app.walk(&app.admin, "/v1/outbox?to=guest@example.com", 20)
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn an_expired_invitation_can_be_resent_and_then_accepted() {
    let app = spawn_app().await;
    let (t, owner) = team(&app).await;
    let inv = app.invite(&owner, &t, "guest@example.com", "viewer").await;
    let id = inv["invitationId"].as_str().unwrap();
    app.clock.advance(Duration::from_secs(8 * 24 * 3600));

    let resent = app
        .post_empty(&owner, &format!("/v1/tenants/{t}/invitations/{id}/resend"))
        .await;
    assert_eq!(resent.ok(200)["status"], "PENDING");
    let token = app.invitation_token("guest@example.com").await;
    app.answer_invitation("accept", &token).await.ok(200);
}

#[tokio::test]
async fn an_expired_invitation_does_not_block_a_new_one() {
    let app = spawn_app().await;
    let (t, owner) = team(&app).await;
    let old = app.invite(&owner, &t, "guest@example.com", "viewer").await;
    app.clock.advance(Duration::from_secs(8 * 24 * 3600));
    let new = app
        .invite(&owner, &t, "guest@example.com", "operator")
        .await;
    assert_ne!(new["invitationId"], old["invitationId"]);
    assert_eq!(
        ids(&listed(&app, &t, "PENDING").await),
        [new["invitationId"].as_str().unwrap()]
    );
}

#[tokio::test]
async fn resending_an_expired_invitation_that_a_newer_one_replaced_is_refused() {
    let app = spawn_app().await;
    let (t, owner) = team(&app).await;
    let old = app.invite(&owner, &t, "guest@example.com", "viewer").await;
    let old_id = old["invitationId"].as_str().unwrap();
    app.clock.advance(Duration::from_secs(8 * 24 * 3600));
    let new = app
        .invite(&owner, &t, "guest@example.com", "operator")
        .await;

    app.post_empty(
        &owner,
        &format!("/v1/tenants/{t}/invitations/{old_id}/resend"),
    )
    .await
    .assert_problem(409, "invitation_exists");
    assert_eq!(
        ids(&listed(&app, &t, "PENDING").await),
        [new["invitationId"].as_str().unwrap()]
    );
}

#[tokio::test]
async fn cancelling_an_expired_invitation_does_not_free_the_address_of_a_newer_one() {
    let app = spawn_app().await;
    let (t, owner) = team(&app).await;
    let old = app.invite(&owner, &t, "guest@example.com", "viewer").await;
    let old_id = old["invitationId"].as_str().unwrap();
    app.clock.advance(Duration::from_secs(8 * 24 * 3600));
    let new = app
        .invite(&owner, &t, "guest@example.com", "operator")
        .await;

    app.post_empty(
        &owner,
        &format!("/v1/tenants/{t}/invitations/{old_id}/cancel"),
    )
    .await
    .ok(200);
    // The newer invitation is still the address's one pending invitation.
    app.post(
        &owner,
        &format!("/v1/tenants/{t}/invitations"),
        serde_json::json!({"email": "guest@example.com", "role": "admin"}),
    )
    .await
    .assert_problem(409, "invitation_exists");
    assert_eq!(
        ids(&listed(&app, &t, "PENDING").await),
        [new["invitationId"].as_str().unwrap()]
    );
}

#[tokio::test]
async fn an_existing_user_accepting_keeps_its_account_and_other_memberships() {
    let app = spawn_app().await;
    let (t, owner) = team(&app).await;
    let other = app.tenant(&app.admin, "Other", None).await;
    let (user, old_token) = app.member(&other, "known@example.com", "admin").await;
    app.invite(&owner, &t, "known@example.com", "operator")
        .await;
    let token = app.invitation_token("known@example.com").await;

    let accepted = app
        .answer_invitation("accept", &token)
        .await
        .ok(200)
        .clone();
    assert_eq!(accepted["userId"], user.as_str());
    assert_eq!(accepted["userCreated"], false);
    // No new credential for an account that has its own: it goes on with
    // its own token, which now sees both tenants.
    assert!(accepted.get("token").is_none(), "{accepted}");
    assert!(accepted.get("tokenId").is_none(), "{accepted}");
    let tokens = app
        .walk(&app.admin, &format!("/v1/users/{user}/tokens"), 100)
        .await;
    assert_eq!(tokens.len(), 1, "{tokens:#?}");
    {
        let token = old_token.as_str();
        let me = app.get(token, "/v1/me").await.ok(200).clone();
        assert_eq!(me["user"]["userId"], user.as_str());
        let mut tenants: Vec<_> = me["memberships"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["tenantId"].as_str().unwrap().to_string())
            .collect();
        tenants.sort();
        let mut want = vec![t.clone(), other.clone()];
        want.sort();
        assert_eq!(tenants, want);
    }
}
