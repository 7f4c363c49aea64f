//! Every action the API knows, and what it requires: the table
//! `rules.in` beside this crate's `src/`, which the host includes too (and
//! serves with its descriptions at `GET /v1/policy/actions`). Only the names
//! and requirements are compiled in here.

use bbws_guest::TenantRole::{self, *};

/// What an action requires of the principal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requires {
    /// Any valid token. (No action needs only this today; kept so the
    /// table may use every requirement the host knows.)
    #[allow(dead_code)]
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

use Requires::*;

/// One rule: an action name and what it requires.
pub type Rule = (&'static str, Requires);

/// One table entry; the description stays with the host.
macro_rules! rule {
    ($action:literal, $requires:expr, $description:literal) => {
        ($action, $requires)
    };
}

/// Every action, in the order the API documents them. Platform admins may do
/// everything; a role on a tenant applies to all its descendants.
pub const RULES: &[Rule] = &include!("../rules.in");

/// What an action requires, if the action exists.
pub fn find(action: &str) -> Option<Requires> {
    RULES
        .iter()
        .find(|(name, _)| *name == action)
        .map(|&(_, requires)| requires)
}
