//! End-to-end tests live in `api/`. The library holds what they share
//! beyond `api/helpers.rs`: the paths of the WebAssembly guests that
//! `build.rs` compiles.

/// Paths of the built guests' `.wasm` files (`DEFAULT_POLICY`, `ALLOW_ALL`,
/// `INFINITE_LOOP`, `STD_WASI`, `EXAMPLE_PLUGIN_ALLOWLIST`, ...),
/// built by `build.rs` from `guests/` and `examples/`.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}
