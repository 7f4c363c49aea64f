//! Builds every WebAssembly guest the end-to-end tests load (the default
//! policy, the hostile test programs, the examples) and writes their paths
//! to `$OUT_DIR/guests.rs`, which `lib.rs` includes as `bbws_tests::guests`.

use std::fmt::Write as _;
use std::path::PathBuf;

/// The constant each guest's path gets, and the package (in `guests/`) or
/// directory (a standalone example) it is built from.
const GUESTS: &[(&str, &str)] = &[
    ("DEFAULT_POLICY", "bbws-default-policy"),
    ("ALLOW_ALL", "bbws-test-allow-all"),
    ("DENY_ALL", "bbws-test-deny-all"),
    ("INFINITE_LOOP", "bbws-test-infinite-loop"),
    ("MEMORY_HOG", "bbws-test-memory-hog"),
    ("DEEP_RECURSION", "bbws-test-deep-recursion"),
    ("HUGE_OUTPUT", "bbws-test-huge-output"),
    ("PANICS", "bbws-test-panics"),
    ("WRONG_WORLD", "bbws-test-wrong-world"),
    ("STD_WASI", "bbws-test-std-wasi"),
    ("HOST_CALL_FLOOD", "bbws-test-host-call-flood"),
    ("TENANT_ECHO", "bbws-test-tenant-echo"),
    ("SITE_LOOKUP", "bbws-test-site-lookup"),
    ("EVENT_FILTER_BY_TYPE", "bbws-test-event-filter-by-type"),
    ("EVENT_FILTER_LOOP", "bbws-test-event-filter-loop"),
    ("EVENT_FILTER_TRAP", "bbws-test-event-filter-trap"),
    (
        "EXAMPLE_PLUGIN_ALLOWLIST",
        "examples/policy-plugin-allowlist",
    ),
    (
        "EXAMPLE_NO_PROD_FOR_OPERATORS",
        "examples/policy-no-prod-for-operators",
    ),
    ("EXAMPLE_INSTANCE_LIMITS", "examples/policy-instance-limits"),
    (
        "EXAMPLE_TEMPLATE_LANDING_PAGE",
        "examples/template-landing-page",
    ),
];

fn main() {
    let built = bbws_guest_build::build(GUESTS.iter().map(|(_, guest)| guest));
    let mut code = String::new();
    for ((constant, guest), (_, wasm)) in GUESTS.iter().zip(&built) {
        writeln!(code, "/// The component built from `{guest}`.").unwrap();
        writeln!(
            code,
            "pub const {constant}: &str = {:?};",
            wasm.display().to_string()
        )
        .unwrap();
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("guests.rs");
    std::fs::write(out, code).unwrap();
}
