//! `bbws decisions replay <id>` reruns a recorded decision from the data
//! directory and shows the same answer.

use std::time::Duration;

use bbws_host::server::{self, ServerConfig};
use bbws_host::service::tenants::CreateTenant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_replays_a_recorded_decision_with_the_same_answer() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::ephemeral(dir.path());
    config.bootstrap_token = Some("admin".into());
    let running = server::start(config).await.unwrap();
    let s = running.services.clone();
    let admin = s.identity().authenticate("admin").await.unwrap();
    let tenant = s
        .tenants()
        .create(
            &admin,
            CreateTenant {
                organisation_name: "Acme".into(),
                parent_tenant_id: None,
                contact_email: None,
                tier: None,
                provision_instance: None,
            },
        )
        .await
        .unwrap();
    let mut decision = None;
    for _ in 0..100 {
        let page = s
            .decisions()
            .list(&admin, &tenant.tenant_id, &Default::default())
            .await
            .unwrap();
        if let Some(d) = page.items.into_iter().next() {
            decision = Some(d);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let decision = decision.expect("a logged decision");
    running.stop().await.unwrap();

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_bbws"))
        .args(["decisions", "replay", &decision.decision_id, "--data-dir"])
        .arg(dir.path())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replay: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(replay["same"], true, "{replay}");
    assert_eq!(replay["decisionId"], decision.decision_id.as_str());
    assert_eq!(
        replay["replayed"][0]["decision"],
        decision.decision.as_str()
    );
}
