//! Never returns from `filter`: the host must stop it at its deadline and
//! fail closed, as for the `infinite-loop` policy.
#![no_std]

use bbws_guest::{EcsEvent, EventFilter, FilterOutcome};
use core::hint::black_box;

struct Loop;

impl EventFilter for Loop {
    fn filter(_tenant_id: &str, _event: &EcsEvent) -> FilterOutcome {
        let mut spins = 0u64;
        loop {
            // Opaque to the optimiser, so the loop stays a real, busy loop.
            spins = black_box(spins.wrapping_add(1));
        }
    }
}

bbws_guest::export_event_filter!(Loop);
