//! Panics in `authorize`; the SDK's panic handler turns that into a trap.
#![no_std]

use bbws_guest::{Decision, Policy, Request};

struct Panics;

impl Policy for Panics {
    fn authorize(request: Request) -> Decision {
        panic!("the panics test program panics on {}", request.action)
    }
}

bbws_guest::export_policy!(Panics);
