//! Allows with a reason of exactly 4 MiB (`x` repeated): the host must
//! bound what it copies out, logs and stores.
#![no_std]

use bbws_guest::{Decision, Policy, Request, String, Vec};

struct HugeOutput;

impl Policy for HugeOutput {
    fn authorize(_: Request) -> Decision {
        let mut reason = Vec::new();
        reason.resize(4 << 20, b'x');
        Decision::Allow(String::from_utf8(reason).unwrap_or_default())
    }
}

bbws_guest::export_policy!(HugeOutput);
