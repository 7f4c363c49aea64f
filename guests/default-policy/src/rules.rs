//! Every action the API knows, and what it requires: the table of
//! `host/src/policy/rules.rs` without the descriptions (the host keeps those
//! for `GET /v1/policy/actions`). Keep the two in step: same names, same
//! requirements, same order.

use bbws_guest::TenantRole::{self, *};

/// What an action requires of the principal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requires {
    /// Any valid token. (No action needs only this today; kept so the
    /// table reads like the host's.)
    #[allow(dead_code)]
    Authenticated,
    /// The platform `admin` role.
    PlatformAdmin,
    /// The user the resource names, or a platform admin.
    SelfOrPlatformAdmin,
    /// At least this role on the tenant or one of its ancestors.
    Role(TenantRole),
    /// At least this role on a strict ancestor of the tenant: what a tenant
    /// may not do to itself (lifting its own suspension).
    AncestorRole(TenantRole),
}

use Requires::*;

/// One rule: an action name and what it requires.
pub type Rule = (&'static str, Requires);

/// Every action, in the order the API documents them. Platform admins may do
/// everything; a role on a tenant applies to all its descendants.
pub const RULES: &[Rule] = &[
    ("tenant.create", PlatformAdmin),
    ("tenant.child.create", Role(Admin)),
    ("tenant.read", Role(Viewer)),
    ("tenant.update", Role(Admin)),
    ("tenant.park", Role(Owner)),
    ("tenant.unpark", Role(Owner)),
    ("tenant.suspend", AncestorRole(Owner)),
    ("tenant.resume", AncestorRole(Owner)),
    ("tenant.delete", Role(Owner)),
    ("tenant.move", Role(Owner)),
    ("tenant.user.list", Role(Viewer)),
    ("tenant.user.assign", Role(Admin)),
    ("tenant.user.remove", Role(Admin)),
    ("tenant.invitation.list", Role(Admin)),
    ("tenant.invitation.create", Role(Admin)),
    ("tenant.invitation.resend", Role(Admin)),
    ("tenant.invitation.cancel", Role(Admin)),
    ("user.create", PlatformAdmin),
    ("user.list", PlatformAdmin),
    ("user.read", SelfOrPlatformAdmin),
    ("user.token.create", SelfOrPlatformAdmin),
    ("user.token.list", SelfOrPlatformAdmin),
    ("user.token.revoke", SelfOrPlatformAdmin),
    ("outbox.read", PlatformAdmin),
    ("jobs.read", PlatformAdmin),
    ("site.create", Role(Operator)),
    ("site.read", Role(Viewer)),
    ("site.update", Role(Operator)),
    ("site.delete", Role(Admin)),
    ("site.promote", Role(Operator)),
    ("site.backup", Role(Operator)),
    ("site.plugin.manage", Role(Operator)),
    ("site.template.apply", Role(Operator)),
    ("instance.create", Role(Admin)),
    ("instance.read", Role(Viewer)),
    ("instance.scale", Role(Operator)),
    ("instance.delete", Role(Admin)),
    ("extension.manage", Role(Admin)),
    ("extension.read", Role(Viewer)),
];

/// What an action requires, if the action exists.
pub fn find(action: &str) -> Option<Requires> {
    RULES
        .iter()
        .find(|(name, _)| *name == action)
        .map(|&(_, requires)| requires)
}
