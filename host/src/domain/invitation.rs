//! Invitations: an e-mail address asked to join a tenant with a role.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::TenantRole;

/// An invitation to a tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    pub invitation_id: String,
    pub tenant_id: String,
    pub email: String,
    pub role: TenantRole,
    /// As stored; see [`Invitation::status_at`] for what clients see.
    pub status: InvitationStatus,
    pub expires_at: DateTime<Utc>,
    pub invited_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set on acceptance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<String>,
    /// Hash of the current token; internal.
    #[serde(skip_serializing, default)]
    pub token_hash: String,
    #[serde(default)]
    pub version: u64,
}

/// Where an invitation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Declined,
    Cancelled,
    /// Never stored: a pending invitation past its expiry reads as EXPIRED.
    Expired,
}

impl Invitation {
    /// The status as of `now`: a pending invitation past `expires_at` is expired.
    pub fn status_at(&self, now: DateTime<Utc>) -> InvitationStatus {
        if self.status == InvitationStatus::Pending && now >= self.expires_at {
            InvitationStatus::Expired
        } else {
            self.status
        }
    }
}
