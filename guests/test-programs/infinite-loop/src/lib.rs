//! Never returns from `authorize`: the host must interrupt it (fuel or
//! epoch deadline) and answer without it.
#![no_std]

use bbws_guest::{Decision, Policy, Request};
use core::hint::black_box;

struct InfiniteLoop;

impl Policy for InfiniteLoop {
    fn authorize(_: Request) -> Decision {
        let mut spins = 0u64;
        loop {
            // Opaque to the optimiser, so the loop stays a real, busy loop.
            spins = black_box(spins.wrapping_add(1));
        }
    }
}

bbws_guest::export_policy!(InfiniteLoop);
