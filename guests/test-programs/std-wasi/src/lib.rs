//! A policy on Rust's `std` (not the SDK), so the component imports WASI:
//! the file system, clocks, random, the environment, stdout. Its reason
//! reports what each gave it, so a test sees what a guest gets: no file
//! (nothing is preopened), the decision's `nowMs`, random bytes that a
//! replay reads again, no variables or arguments. The action
//! `std-wasi.sleep` sleeps an hour first (the clock does not advance, so
//! the sleep is over at once). It generates the `policy` bindings itself.

use std::hash::BuildHasher as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod wit {
    wit_bindgen::generate!({
        world: "policy",
        path: "../../../wit",
    });
}

use wit::bbws::platform::types::{Decision, Request};

struct StdWasi;

impl wit::Guest for StdWasi {
    fn authorize(request: Request) -> Decision {
        if request.action == "std-wasi.sleep" {
            std::thread::sleep(Duration::from_secs(3600));
        }
        let file = match std::fs::read("/etc/passwd") {
            Ok(bytes) => format!("read {} bytes", bytes.len()),
            Err(e) => format!("{:?}", e.kind()),
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        // The keys of a RandomState come from wasi:random.
        let random = std::collections::hash_map::RandomState::new().hash_one(1u8);
        let vars = std::env::vars().count();
        let args = std::env::args().count();
        println!("std-wasi: deciding {}", request.action);
        eprintln!("std-wasi: a line on stderr");
        Decision::Allow(format!(
            "std-wasi: file {file}; now {now}; random {random:016x}; vars {vars}; args {args}"
        ))
    }
}

wit::export!(StdWasi with_types_in wit);
