//! Traps in `filter` (an unreachable instruction, as a panic in a guest
//! becomes): the host must fail closed, dropping the event with the trap
//! as its reason.
#![no_std]

use bbws_guest::{EcsEvent, EventFilter, FilterOutcome};

struct Trap;

impl EventFilter for Trap {
    fn filter(_tenant_id: &str, _event: &EcsEvent) -> FilterOutcome {
        core::arch::wasm32::unreachable()
    }
}

bbws_guest::export_event_filter!(Trap);
