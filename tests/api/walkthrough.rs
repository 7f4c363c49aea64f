//! The README's walkthrough works as printed: `examples/walkthrough.sh`
//! (the same commands) runs against a live server.

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_readme_walkthrough_runs_against_a_live_server() {
    let app = spawn_app().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/walkthrough.sh");
    let out = tokio::process::Command::new("bash")
        .arg(script)
        .env("API", &app.base)
        .env("ADMIN_TOKEN", &app.admin)
        .output()
        .await
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the walkthrough failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Bob, the invited viewer, reads the tenant but may not rename it.
    assert!(
        stdout.contains("\"organisationName\":\"Acme Hosting\""),
        "{stdout}"
    );
    assert!(stdout.contains("\"code\":\"policy_denied\""), "{stdout}");
    // Ada's site went through PROVISIONING to ACTIVE, and the scan refused
    // the vulnerable plugin version before the fixed one installed.
    assert!(stdout.contains("\"status\":\"PROVISIONING\""), "{stdout}");
    assert!(stdout.contains("\"status\":\"ACTIVE\""), "{stdout}");
    assert!(stdout.contains("CVE-2020-35489"), "{stdout}");
    assert!(stdout.contains("\"version\":\"5.3.2\""), "{stdout}");
    assert!(stdout.contains("\"desiredCount\":3"), "{stdout}");
    assert!(stdout.contains("\"overall\":\"HEALTHY\""), "{stdout}");
    let tenants = app.walk(&app.admin, "/v1/tenants", 100).await;
    assert_eq!(tenants.len(), 1);
    assert_eq!(tenants[0]["organisationName"], "Acme Hosting");
}

#[test]
fn the_readme_prints_the_same_commands_as_the_script() {
    let script = include_str!("../../examples/walkthrough.sh");
    let readme = include_str!("../../README.md");
    let steps = &script[script.find("# 1.").expect("numbered steps")..];
    assert!(
        readme.contains(steps.trim_end()),
        "README.md's walkthrough and examples/walkthrough.sh differ; keep them identical"
    );
}
