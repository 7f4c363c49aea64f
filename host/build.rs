//! Builds the platform's default policy guest (`guests/default-policy`) so
//! the host embeds it: `include_bytes!(env!("BBWS_GUEST_DEFAULT_POLICY"))`.

fn main() {
    for (_, wasm) in bbws_guest_build::build(["bbws-default-policy"]) {
        println!(
            "cargo:rustc-env=BBWS_GUEST_DEFAULT_POLICY={}",
            wasm.display()
        );
    }
}
