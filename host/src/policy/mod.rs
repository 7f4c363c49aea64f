//! The vocabulary of access decisions: one [`Request`], made of who asks
//! ([`Principal`]), which roles it holds on the tenant's path
//! ([`RoleBinding`]) and what it acts on ([`Resource`]); and the documented
//! list of actions ([`rules::RULES`]).
//!
//! The same request is what the services ask, what the decision log
//! records, what a dry run takes and what replay reruns; the runtime turns
//! it into the WIT `request` a policy guest receives. The decisions
//! themselves run as WebAssembly: the platform's RBAC rules are the
//! `guests/default-policy` component, composed with tenants' own policies
//! by `service::decisions`. Every route asks through one function,
//! `Services::authorize_on` (or `authorize_global` for untenanted actions).

pub mod rules;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::TenantRole;
pub use rules::{RULES, Requires, Rule};

/// A policy request as JSON (the decision log, dry-run and replay use it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = PolicyRequest)]
pub struct Request {
    // No doc comments on these request types' fields: they would become
    // descriptions in the OpenAPI document; `wit/types.wit` documents each.
    pub principal: Principal,
    pub action: String,
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub roles: Vec<RoleBinding>,
    pub resource: Resource,
    #[serde(default)]
    pub now_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = PrincipalInput)]
// Who is asking. (No doc comment: it would change the OpenAPI schema.)
pub struct Principal {
    pub user_id: String,
    #[serde(default)]
    pub platform_admin: bool,
}

impl Principal {
    pub fn is_platform_admin(&self) -> bool {
        self.platform_admin
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = BindingInput)]
// A role the principal holds that bears on the request's tenant: on the
// tenant itself, or (`inherited`) on one of its ancestors.
pub struct RoleBinding {
    pub tenant_id: String,
    pub role: TenantRole,
    #[serde(default)]
    pub inherited: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = ResourceInput)]
// What the request acts on.
pub struct Resource {
    // `kind`: `tenant`, `user`, `invitation`, `site`, ...; `grantsRole`: a
    // role the action would grant (member assignment, invitation), which
    // the caller must hold itself; `attributes`: further facts for
    // admission decisions (`plugin`, `targetEnvironment`).
    #[schema(value_type = String)]
    pub kind: Cow<'static, str>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub grants_role: Option<TenantRole>,
    #[serde(default)]
    pub attributes: Vec<(String, String)>,
}

/// The attribute a lifecycle action on a suspended tenant carries: the
/// level the suspension was made from (an ancestor's id, or `platform`),
/// which `tenant.resume` requires a role at or above.
pub const SUSPENDED_AT: &str = "suspendedAt";

impl Resource {
    /// A resource of `kind`, named by `id` when it has one yet.
    pub fn new(kind: &'static str, id: Option<&str>) -> Self {
        Self {
            kind: Cow::Borrowed(kind),
            id: id.map(str::to_string),
            grants_role: None,
            attributes: Vec::new(),
        }
    }

    /// The same resource with facts for admission decisions.
    pub fn with_attributes(mut self, attributes: Vec<(String, String)>) -> Self {
        self.attributes = attributes;
        self
    }

    /// The same resource, saying which role the action would grant.
    pub fn granting(mut self, role: Option<TenantRole>) -> Self {
        self.grants_role = role;
        self
    }
}
