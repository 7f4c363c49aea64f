//! A well-formed component of the `event-filter` world, not `policy`: it
//! exports `filter` and no `authorize`. The host must refuse it as a policy
//! at upload. It borrows the SDK's no_std runtime (allocator, panic
//! handler) but generates its own bindings.
#![no_std]

// Linked for its runtime only.
use bbws_guest as _;

// The generated export glue takes the event's fields flattened.
#[allow(clippy::too_many_arguments)]
mod wit {
    wit_bindgen::generate!({
        world: "event-filter",
        path: "../../../wit",
    });
}

use bbws_guest::{String, Vec};
use wit::bbws::platform::types::{EcsEvent, FilterOutcome};

struct WrongWorld;

impl wit::Guest for WrongWorld {
    fn filter(_tenant_id: String, _event: EcsEvent) -> FilterOutcome {
        FilterOutcome::Annotate(Vec::from([("wrong-world".into(), "yes".into())]))
    }
}

wit::export!(WrongWorld with_types_in wit);
