//! Builds the platform's default guests (`guests/default-policy`,
//! `guests/default-template`) so the host embeds them:
//! `include_bytes!(env!("BBWS_GUEST_DEFAULT_POLICY"))`. Also builds guests
//! the host's own tests load: the deny-all test guest, which
//! `host/tests/replicas.rs` uploads (`BBWS_GUEST_DENY_ALL`), and the
//! template example `examples/template-landing-page`, which
//! `host/tests/template_runtime.rs` runs (`BBWS_GUEST_EXAMPLE_LANDING_PAGE`).

const GUESTS: &[(&str, &str)] = &[
    ("BBWS_GUEST_DEFAULT_POLICY", "bbws-default-policy"),
    ("BBWS_GUEST_DEFAULT_TEMPLATE", "bbws-default-template"),
    ("BBWS_GUEST_DENY_ALL", "bbws-test-deny-all"),
    (
        "BBWS_GUEST_EXAMPLE_LANDING_PAGE",
        "examples/template-landing-page",
    ),
];

fn main() {
    let built = bbws_guest_build::build(GUESTS.iter().map(|(_, guest)| guest));
    for ((var, _), (_, wasm)) in GUESTS.iter().zip(&built) {
        println!("cargo:rustc-env={var}={}", wasm.display());
    }
}
