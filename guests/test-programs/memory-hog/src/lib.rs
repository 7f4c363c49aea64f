//! Allocates memory without end, writing one byte of each mebibyte (so the
//! hog is quick to reach the limit, not slowed by page faults): the host's
//! memory limit must refuse `memory.grow`, and the guest then traps.
#![no_std]

use bbws_guest::{Decision, Policy, Request, Vec};
use core::hint::black_box;

struct MemoryHog;

impl Policy for MemoryHog {
    fn authorize(_: Request) -> Decision {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut chunk = Vec::with_capacity(1 << 20);
            chunk.push(0xa5u8);
            hoard.push(black_box(chunk));
        }
    }
}

bbws_guest::export_policy!(MemoryHog);
