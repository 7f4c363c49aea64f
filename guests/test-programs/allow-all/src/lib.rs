//! Allows everything, with the reason `allow-all`.
#![no_std]

use bbws_guest::{Decision, Policy, Request};

struct AllowAll;

impl Policy for AllowAll {
    fn authorize(_: Request) -> Decision {
        Decision::Allow("allow-all".into())
    }
}

bbws_guest::export_policy!(AllowAll);
