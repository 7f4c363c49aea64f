//! An event filter that decides by detail type: it drops `ECS Task State
//! Change` (reason `event-filter-by-type: task changes are not synced`),
//! annotates `ECS Deployment State Change` with `tenant` = the tenant id and
//! `resources` = how many resources the event names, and accepts the rest.
#![no_std]

use bbws_guest::{EcsEvent, EventFilter, FilterOutcome, ToString, vec};

struct ByType;

impl EventFilter for ByType {
    fn filter(tenant_id: &str, event: &EcsEvent) -> FilterOutcome {
        match event.detail_type.as_str() {
            "ECS Task State Change" => {
                FilterOutcome::Drop("event-filter-by-type: task changes are not synced".into())
            }
            "ECS Deployment State Change" => FilterOutcome::Annotate(vec![
                ("tenant".into(), tenant_id.into()),
                ("resources".into(), event.resources.len().to_string()),
            ]),
            _ => FilterOutcome::Accept,
        }
    }
}

bbws_guest::export_event_filter!(ByType);
