//! What this workspace's tests share, kept out of the production library
//! (a dev-dependency of `bbws-host`'s and `bbws-tests`' test targets): the
//! conformance suites every store backend ([`store_conformance`]) and every
//! job queue ([`queue_conformance`]) must pass, and the test environment:
//! the AWS endpoint the DynamoDB, S3 and SQS runs use (moto, started by
//! `scripts/with-moto.sh`), the WordPress of the WordPress tests
//! (`scripts/with-wordpress.sh`), and the rule that a test without its
//! service skips, except under `CI=true`.

pub mod queue_conformance;
pub mod store_conformance;

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// The variable naming the endpoint.
pub const ENDPOINT_VAR: &str = "BBWS_TEST_AWS_ENDPOINT";

/// The endpoint, or `None` with a line on stderr saying what was skipped
/// and how to run it. Under `CI=true` a missing endpoint is a failure.
pub fn aws_endpoint(what: &str) -> Option<String> {
    if let Ok(endpoint) = std::env::var(ENDPOINT_VAR)
        && !endpoint.is_empty()
    {
        return Some(endpoint);
    }
    skipped(what, ENDPOINT_VAR, "scripts/with-moto.sh")
}

/// A test's service is missing (`var` is not set): under `CI=true` a
/// failure; else a line on stderr saying what was skipped and which script
/// runs it, and `None`.
fn skipped<T>(what: &str, var: &str, script: &str) -> Option<T> {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but {var} is not set: {what} must run in CI (see {script})"
    );
    // Written past the test harness's capture, so `cargo test` shows it.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {what}: {var} is not set. Run `{script} cargo test --workspace` to include it."
    );
    None
}

/// The variable naming the directory of the Python and JavaScript guests
/// (set by `scripts/with-language-guests.sh`).
pub const LANGUAGE_GUESTS_VAR: &str = "BBWS_TEST_LANGUAGE_GUESTS";

/// The built Python and JavaScript guests' directory, or `None` (skipped,
/// and said; a failure under `CI=true`).
pub fn language_guests(what: &str) -> Option<std::path::PathBuf> {
    match std::env::var(LANGUAGE_GUESTS_VAR) {
        Ok(dir) if !dir.is_empty() => Some(dir.into()),
        _ => skipped(what, LANGUAGE_GUESTS_VAR, "scripts/with-language-guests.sh"),
    }
}

/// Settings for a local endpoint: fixed test credentials, `us-east-1`.
pub async fn local_aws(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "bbws-tests",
        ))
        .load()
        .await
}

/// A name no other test run uses (tables, buckets).
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// The variables naming the WordPress the WordPress tests run against
/// (set by `scripts/with-wordpress.sh`).
pub const WP_URL_VAR: &str = "BBWS_TEST_WP_URL";
pub const WP_USER_VAR: &str = "BBWS_TEST_WP_USER";
pub const WP_APP_PASSWORD_VAR: &str = "BBWS_TEST_WP_APP_PASSWORD";

/// The test WordPress as `(url, username, application password)`, or `None`
/// with a line on stderr saying what was skipped and how to run it. Under
/// `CI=true` a missing WordPress is a failure.
pub fn wordpress(what: &str) -> Option<(String, String, String)> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(url) = var(WP_URL_VAR) {
        let user = var(WP_USER_VAR)
            .unwrap_or_else(|| panic!("{WP_URL_VAR} is set but {WP_USER_VAR} is not"));
        let password = var(WP_APP_PASSWORD_VAR)
            .unwrap_or_else(|| panic!("{WP_URL_VAR} is set but {WP_APP_PASSWORD_VAR} is not"));
        return Some((url, user, password));
    }
    skipped(what, WP_URL_VAR, "scripts/with-wordpress.sh")
}
