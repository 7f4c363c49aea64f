//! Users and their memberships of tenants.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{PlatformRole, TenantRole};

/// A person (or robot) who can hold tokens and roles.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub platform_role: Option<PlatformRole>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

/// A user's role on one tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    pub tenant_id: String,
    pub user_id: String,
    /// The member's e-mail address (copied from the user; it never changes).
    pub email: String,
    pub role: TenantRole,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

/// Metadata of an API token (never the secret itself).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    pub token_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
}
