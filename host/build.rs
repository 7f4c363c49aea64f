//! Builds the platform's default guests (`guests/default-policy`,
//! `guests/default-template`, and the event gate
//! `guests/default-event-filter`) so the host embeds them:
//! `include_bytes!(env!("BBWS_GUEST_DEFAULT_POLICY"))`. Also builds guests
//! the host's own tests load: the deny-all test guest, which
//! `host/tests/replicas.rs` uploads (`BBWS_GUEST_DENY_ALL`); the template
//! example `examples/template-landing-page`, which
//! `host/tests/template_runtime.rs` runs (`BBWS_GUEST_EXAMPLE_LANDING_PAGE`);
//! the site-lookup policy of `host/tests/scope_lookups.rs`; and the event
//! filters of `host/tests/event_filter_runtime.rs`.

const GUESTS: &[(&str, &str)] = &[
    ("BBWS_GUEST_DEFAULT_POLICY", "bbws-default-policy"),
    ("BBWS_GUEST_DEFAULT_TEMPLATE", "bbws-default-template"),
    (
        "BBWS_GUEST_DEFAULT_EVENT_FILTER",
        "bbws-default-event-filter",
    ),
    ("BBWS_GUEST_DENY_ALL", "bbws-test-deny-all"),
    (
        "BBWS_GUEST_EXAMPLE_LANDING_PAGE",
        "examples/template-landing-page",
    ),
    ("BBWS_GUEST_SITE_LOOKUP", "bbws-test-site-lookup"),
    (
        "BBWS_GUEST_EVENT_FILTER_BY_TYPE",
        "bbws-test-event-filter-by-type",
    ),
    (
        "BBWS_GUEST_EVENT_FILTER_LOOP",
        "bbws-test-event-filter-loop",
    ),
];

fn main() {
    let built = bbws_guest_build::build(GUESTS.iter().map(|(_, guest)| guest));
    for ((var, _), (_, wasm)) in GUESTS.iter().zip(&built) {
        println!("cargo:rustc-env={var}={}", wasm.display());
    }
}
