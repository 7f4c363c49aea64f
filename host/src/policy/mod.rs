//! The vocabulary of access decisions: who asks ([`Principal`]), which
//! roles it holds on the tenant's path ([`RoleBinding`]), what it acts on
//! ([`Resource`]), and the documented list of actions ([`rules::RULES`]).
//!
//! The decisions themselves run as WebAssembly: the platform's RBAC rules
//! are the `guests/default-policy` component, composed with tenants' own
//! policies by `service::policies`. Every route asks through one function,
//! `Services::authorize_on` (or `authorize_global` for untenanted actions).

pub mod rules;

use serde::Serialize;

use crate::domain::{PlatformRole, TenantRole};
pub use rules::{RULES, Requires, Rule};

/// Who is asking.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    pub user_id: String,
    pub platform_role: Option<PlatformRole>,
}

impl Principal {
    pub fn is_platform_admin(&self) -> bool {
        self.platform_role == Some(PlatformRole::Admin)
    }
}

/// A role the principal holds that bears on the request's tenant: on the
/// tenant itself, or (`inherited`) on one of its ancestors.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleBinding {
    pub tenant_id: String,
    pub role: TenantRole,
    pub inherited: bool,
}

/// What the request acts on.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// `tenant`, `user`, `invitation`, ...
    pub kind: &'static str,
    pub id: Option<String>,
    /// A role the action would grant (member assignment, invitation): the
    /// caller may not grant more than it holds.
    pub grants_role: Option<TenantRole>,
    /// Further facts for admission decisions (`plugin`, `targetEnvironment`).
    pub attributes: Vec<(String, String)>,
}
