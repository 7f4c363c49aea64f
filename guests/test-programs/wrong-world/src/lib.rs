//! A well-formed component of the `event-filter` world, not `policy`: it
//! exports `filter` and no `authorize`. The host must refuse it as a policy
//! at upload. It annotates every event with `wrong-world` = `yes`.
#![no_std]

use bbws_guest::{EcsEvent, EventFilter, FilterOutcome, vec};

struct WrongWorld;

impl EventFilter for WrongWorld {
    fn filter(_tenant_id: &str, _event: &EcsEvent) -> FilterOutcome {
        FilterOutcome::Annotate(vec![("wrong-world".into(), "yes".into())])
    }
}

bbws_guest::export_event_filter!(WrongWorld);
