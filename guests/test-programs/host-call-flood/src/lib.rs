//! Calls `tenants::get` 100,000 times in one decision: the host must bound
//! host calls per decision (or its time limit must end it). If the host lets
//! every call through it allows, saying how many calls it made.
#![no_std]

use bbws_guest::{Decision, Policy, Request, format, tenants};
use core::hint::black_box;

struct HostCallFlood;

const CALLS: u32 = 100_000;

impl Policy for HostCallFlood {
    fn authorize(request: Request) -> Decision {
        let id = request.tenant_id.unwrap_or_default();
        let mut found = 0u32;
        for _ in 0..CALLS {
            if black_box(tenants::get(&id)).is_some() {
                found += 1;
            }
        }
        Decision::Allow(format!("host-call-flood: {CALLS} calls, {found} found"))
    }
}

bbws_guest::export_policy!(HostCallFlood);
