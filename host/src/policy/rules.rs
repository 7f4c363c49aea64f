//! The platform's access rules: every action the API knows, and what it
//! requires. The table is `guests/default-policy/rules.in`, which the guest
//! that enforces it includes too: here it is the documented list of action
//! names, with their descriptions (the README and `GET /v1/policy/actions`
//! show it), and the oracle `host/tests/default_policy.rs` checks the
//! guest's decisions against.

use crate::domain::TenantRole::{self, *};

/// What an action requires of the principal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requires {
    /// Any valid token.
    Authenticated,
    /// The platform `admin` role.
    PlatformAdmin,
    /// The user the resource names, or a platform admin.
    SelfOrPlatformAdmin,
    /// At least this role on the tenant or one of its ancestors.
    Role(TenantRole),
    /// At least this role on a strict ancestor of the tenant: what a tenant
    /// may not do to itself (suspending itself).
    AncestorRole(TenantRole),
    /// At least this role on the ancestor a suspension was made from (the
    /// resource attribute `suspendedAt`), or on one above it; `platform`
    /// there leaves it to platform admins. Without the attribute (the
    /// tenant is not suspended, so the transition is refused anyway) it is
    /// [`Requires::AncestorRole`].
    SuspensionLevel(TenantRole),
}

/// One rule.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub action: &'static str,
    pub requires: Requires,
    pub description: &'static str,
}

use Requires::*;

/// One table entry, with its description.
macro_rules! rule {
    ($action:literal, $requires:expr, $description:literal) => {
        Rule {
            action: $action,
            requires: $requires,
            description: $description,
        }
    };
}

/// Every action, in the order the API documents them. Platform admins may do
/// everything; a role on a tenant applies to all its descendants.
pub const RULES: &[Rule] = &include!("../../../guests/default-policy/rules.in");

/// The rule for an action name.
pub fn find(action: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.action == action)
}
