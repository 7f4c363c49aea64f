//! Roles: one platform role, and four tenant roles ordered by power.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A role on a tenant. It applies to the tenant and all its descendants.
/// Ordered: `viewer < operator < admin < owner`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TenantRole {
    /// Reads everything of the tenant.
    Viewer,
    /// Operates sites and instances (deploy, scale, back up).
    Operator,
    /// Manages the tenant: settings, members, invitations, child tenants.
    Admin,
    /// Everything, including owners and the tenant's lifecycle.
    Owner,
}

impl TenantRole {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantRole::Viewer => "viewer",
            TenantRole::Operator => "operator",
            TenantRole::Admin => "admin",
            TenantRole::Owner => "owner",
        }
    }
}

/// A role on the whole platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlatformRole {
    /// May do anything on every tenant.
    Admin,
}
