//! Where tenant code runs: on the guest pool, off the threads that answer
//! requests. The store plays no part here, so these run on the embedded
//! store only: on moto every request also queues behind the flood's
//! DynamoDB calls, and that wait is moto's, not the pool's.

use std::time::Duration;

use bbws_tests::guests;
use serde_json::json;

use crate::extensions::tenant_with_members;

/// Tenant policies run on the guest pool, off the threads that answer
/// requests, and a tenant holds only its share of the pool: a flood of
/// requests through another tenant's slow policy (each call runs to its
/// 25 ms deadline) does not hold up this tenant's requests. On a server
/// whose guests ran on the request threads, the flood held both of them
/// and a bystander's request waited behind most of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_slow_policies_do_not_hold_up_another_tenants_requests() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    // A budget long enough that the flood's requests wait their turn
    // rather than being refused, so the flood lasts.
    let app = Arc::new(
        crate::helpers::spawn_app_with(|c| c.guests.request_budget = Duration::from_secs(10)).await,
    );
    let (slow, slow_owner, slow_viewer) = tenant_with_members(&app, "slow").await;
    let (other, other_owner, _) = tenant_with_members(&app, "bystander").await;
    app.patch(
        &app.admin,
        &format!("/v1/tenants/{slow}"),
        json!({"tier": "premium"}),
        None,
    )
    .await
    .ok(200);
    app.activate_policy(&slow_owner, &slow, guests::INFINITE_LOOP)
        .await;

    const FLOOD: usize = 48;
    let done = Arc::new(AtomicUsize::new(0));
    let mut flood = Vec::new();
    for _ in 0..FLOOD {
        let (app, done, viewer, path) = (
            app.clone(),
            done.clone(),
            slow_viewer.clone(),
            format!("/v1/tenants/{slow}"),
        );
        flood.push(tokio::spawn(async move {
            let res = app.get(&viewer, &path).await;
            done.fetch_add(1, Ordering::SeqCst);
            res
        }));
    }
    // Until the first of the flood is answered, every one of them has had
    // time to reach its guest.
    while done.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for _ in 0..3 {
        app.get(&other_owner, &format!("/v1/tenants/{other}"))
            .await
            .ok(200);
    }
    let answered = done.load(Ordering::SeqCst);
    assert!(
        answered < FLOOD / 2,
        "the bystander waited for {answered} of the {FLOOD} slow requests"
    );
    for request in flood {
        let res = request.await.unwrap();
        res.assert_problem(403, "policy_denied");
        assert_eq!(res.body["guestError"]["code"], "guest_timeout", "{res:#?}");
    }
}
