//! Recurses without end: the host's stack limit (or the guest's own shadow
//! stack running out of linear memory) must end it with a trap.
#![no_std]

use bbws_guest::{Decision, Policy, Request, format};
use core::hint::black_box;

struct DeepRecursion;

/// Each frame keeps a buffer on the shadow stack and uses its callee's
/// result, so neither the native nor the linear-memory stack is optimised
/// away, and the call is not in tail position.
#[inline(never)]
#[allow(unconditional_recursion)]
fn descend(depth: u64) -> u64 {
    let mut frame = [0u8; 64];
    frame[(depth % 64) as usize] = depth as u8;
    let below = descend(black_box(depth + 1));
    black_box(&mut frame);
    black_box(below).wrapping_add(u64::from(frame[0]))
}

impl Policy for DeepRecursion {
    fn authorize(_: Request) -> Decision {
        Decision::Allow(format!("deep-recursion: {}", descend(black_box(0))))
    }
}

bbws_guest::export_policy!(DeepRecursion);
