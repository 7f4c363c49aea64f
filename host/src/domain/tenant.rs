//! Tenants: the record, its status state machine and its tiers.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An organisation hosted on the platform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub tenant_id: String,
    pub organisation_name: String,
    pub status: TenantStatus,
    /// The status to return to on `resume` (set while SUSPENDED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_from: Option<TenantStatus>,
    /// Who suspended the tenant and from which level (set while
    /// SUSPENDED): only a role at that level or above it lifts the
    /// suspension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_by: Option<SuspendedBy>,
    pub parent_tenant_id: Option<String>,
    pub contact_email: Option<String>,
    pub tier: Tier,
    /// Plugin installs with a known vulnerability at or above this severity
    /// are refused (absent: HIGH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_scan_threshold: Option<crate::domain::vulnerability::Severity>,
    /// How many direct children the tenant has.
    pub child_count: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Extensions the tenant activated, by kind (`policy`, `template`,
    /// `event-filter`). Absent kinds use the platform default.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, ExtensionSlot>,
    /// How many times an extension's active version changed: the sequence
    /// number of the latest activation record
    /// (`GET .../extensions/activations`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub activation_count: u64,
    /// The tenant's EventBridge event pattern: only its events that match
    /// are synced (`PUT .../events/pattern`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub event_pattern: Option<serde_json::Value>,
    /// Incremented on every change; the ETag is its quoted value.
    #[serde(default)]
    pub version: u64,
}

/// The level a suspension was made from, in [`SuspendedBy::tenant_id`],
/// when a platform admin made it.
pub const PLATFORM_LEVEL: &str = "platform";

/// Who suspended a tenant, and with a role on which tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuspendedBy {
    pub user_id: String,
    /// The ancestor whose `owner` role the suspension was made with (the
    /// highest one the suspender holds it on), or `platform` for a platform
    /// admin. Resuming needs `owner` on this tenant or above it; a
    /// `platform` suspension only a platform admin lifts.
    pub tenant_id: String,
}

impl SuspendedBy {
    /// The level as the policy sees it: the resource attribute
    /// `suspendedAt` of a lifecycle action on a suspended tenant.
    pub fn level(by: Option<&SuspendedBy>) -> &str {
        // A suspension recorded before levels were (none) counts as the
        // platform's: the strictest reading, which a platform admin lifts.
        by.map_or(PLATFORM_LEVEL, |b| b.tenant_id.as_str())
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The active version of one extension kind, and what was active before.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionSlot {
    /// sha256 of the active component.
    pub active: String,
    /// Earlier active versions, most recent last (rollback pops it): the
    /// last [`ROLLBACK_DEPTH`] only. Every request reads the tenant record,
    /// so the full history is kept beside it, one item per activation.
    pub history: Vec<String>,
}

/// How many earlier versions a kind's slot keeps for rollback.
pub const ROLLBACK_DEPTH: usize = 20;

impl ExtensionSlot {
    /// Drops the oldest rollback targets beyond [`ROLLBACK_DEPTH`].
    pub fn trim(&mut self) {
        let over = self.history.len().saturating_sub(ROLLBACK_DEPTH);
        self.history.drain(..over);
    }
}

impl Tenant {
    /// The tenant's own active policy component, if any.
    pub fn active_policy(&self) -> Option<&str> {
        self.extensions.get("policy").map(|s| s.active.as_str())
    }
}

/// Where a tenant is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum TenantStatus {
    /// Serving normally.
    Active,
    /// Paused by its owner: sites stop serving, data is kept.
    Parked,
    /// Stopped by the platform or a parent (billing, abuse).
    Suspended,
    /// Being removed; invisible to the API.
    Deleted,
}

/// A lifecycle action on a tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusAction {
    Park,
    Unpark,
    Suspend,
    Resume,
}

impl StatusAction {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusAction::Park => "park",
            StatusAction::Unpark => "unpark",
            StatusAction::Suspend => "suspend",
            StatusAction::Resume => "resume",
        }
    }
}

/// An action that is not allowed from the tenant's current status.
#[derive(Debug, PartialEq, Eq)]
pub struct InvalidTransition {
    pub from: TenantStatus,
    pub action: StatusAction,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "ACTIVE",
            TenantStatus::Parked => "PARKED",
            TenantStatus::Suspended => "SUSPENDED",
            TenantStatus::Deleted => "DELETED",
        }
    }

    /// The state machine:
    ///
    /// ```text
    /// ACTIVE --park--> PARKED --unpark--> ACTIVE
    /// ACTIVE | PARKED --suspend--> SUSPENDED --resume--> (the status it was suspended from)
    /// ```
    pub fn apply(
        self,
        action: StatusAction,
        suspended_from: Option<TenantStatus>,
    ) -> Result<(TenantStatus, Option<TenantStatus>), InvalidTransition> {
        use StatusAction::*;
        use TenantStatus::*;
        match (self, action) {
            (Active, Park) => Ok((Parked, None)),
            (Parked, Unpark) => Ok((Active, None)),
            (Active | Parked, Suspend) => Ok((Suspended, Some(self))),
            (Suspended, Resume) => Ok((suspended_from.unwrap_or(Active), None)),
            (from, action) => Err(InvalidTransition { from, action }),
        }
    }
}

/// A commercial plan; the sandbox limits hang on it. Ordered: `free` <
/// `standard` < `premium` < `enterprise`. Only a platform admin sets one
/// (`tenant.tier.set`); a child gets its parent's, or a lower one.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Free,
    #[default]
    Standard,
    Premium,
    Enterprise,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Standard => "standard",
            Tier::Premium => "premium",
            Tier::Enterprise => "enterprise",
        }
    }

    /// How many uploaded versions a tenant of this tier keeps per extension
    /// kind.
    pub fn max_extension_versions(self) -> usize {
        match self {
            Tier::Free => 10,
            Tier::Standard => 50,
            Tier::Premium | Tier::Enterprise => 200,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StatusAction::*;
    use super::TenantStatus::*;

    #[test]
    fn park_and_suspend_round_trip_to_where_they_started() {
        assert_eq!(Active.apply(Park, None), Ok((Parked, None)));
        assert_eq!(Parked.apply(Unpark, None), Ok((Active, None)));
        assert_eq!(Parked.apply(Suspend, None), Ok((Suspended, Some(Parked))));
        assert_eq!(Suspended.apply(Resume, Some(Parked)), Ok((Parked, None)));
    }

    #[test]
    fn tiers_are_ordered_from_free_to_enterprise() {
        use super::Tier::*;
        assert!(Free < Standard && Standard < Premium && Premium < Enterprise);
        for t in [Free, Standard, Premium, Enterprise] {
            let json = serde_json::to_value(t).unwrap();
            assert_eq!(json, t.as_str());
        }
    }

    #[test]
    fn a_slot_keeps_the_latest_rollback_targets() {
        let mut slot = super::ExtensionSlot {
            active: "now".into(),
            history: (0..25).map(|i| i.to_string()).collect(),
        };
        slot.trim();
        assert_eq!(slot.history.len(), super::ROLLBACK_DEPTH);
        assert_eq!(slot.history.first().map(String::as_str), Some("5"));
        assert_eq!(slot.history.last().map(String::as_str), Some("24"));
    }

    #[test]
    fn illegal_transitions_are_refused() {
        for (from, action) in [
            (Active, Unpark),
            (Active, Resume),
            (Parked, Park),
            (Suspended, Park),
            (Suspended, Unpark),
            (Suspended, Suspend),
            (Deleted, Resume),
        ] {
            assert!(from.apply(action, None).is_err(), "{from:?} {action:?}");
        }
    }
}
