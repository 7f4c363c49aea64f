//! A policy that uses `std` and reads a file with `std::fs::read`, so the
//! component imports `wasi:filesystem` (and the rest of WASI that `std`
//! brings). The host gives guests no WASI at all and must refuse it at
//! upload, naming the import. It cannot use the no_std SDK, so it generates
//! the `policy` bindings itself.

mod wit {
    wit_bindgen::generate!({
        world: "policy",
        path: "../../../wit",
    });
}

use wit::bbws::platform::types::{Decision, Request};

struct ForbiddenImport;

impl wit::Guest for ForbiddenImport {
    fn authorize(_: Request) -> Decision {
        match std::fs::read("/etc/passwd") {
            Ok(bytes) => Decision::Allow(format!("forbidden-import: read {} bytes", bytes.len())),
            Err(e) => Decision::Deny(format!("forbidden-import: {e}")),
        }
    }
}

wit::export!(ForbiddenImport with_types_in wit);
