//! Builds the platform's default policy guest (`guests/default-policy`) so
//! the host embeds it: `include_bytes!(env!("BBWS_GUEST_DEFAULT_POLICY"))`.
//! Also builds the deny-all test guest, which `host/tests/replicas.rs`
//! uploads (`BBWS_GUEST_DENY_ALL`).

fn main() {
    for (name, wasm) in bbws_guest_build::build(["bbws-default-policy", "bbws-test-deny-all"]) {
        let var = match name.as_str() {
            "bbws-default-policy" => "BBWS_GUEST_DEFAULT_POLICY",
            _ => "BBWS_GUEST_DENY_ALL",
        };
        println!("cargo:rustc-env={var}={}", wasm.display());
    }
}
