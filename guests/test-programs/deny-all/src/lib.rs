//! Denies everything, with the reason `deny-all`.
#![no_std]

use bbws_guest::{Decision, Policy, Request};

struct DenyAll;

impl Policy for DenyAll {
    fn authorize(_: Request) -> Decision {
        Decision::Deny("deny-all".into())
    }
}

bbws_guest::export_policy!(DenyAll);
