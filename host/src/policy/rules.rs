//! The platform's access rules: every action the API knows, and what it
//! requires. This table is the documented list of action names (the README
//! and `GET /v1/policy/actions` show it); `guests/default-policy` enforces
//! the same table as WebAssembly, and a test checks the two agree.

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
    /// may not do to itself (lifting its own suspension).
    AncestorRole(TenantRole),
}

/// One rule.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub action: &'static str,
    pub requires: Requires,
    pub description: &'static str,
}

const fn rule(action: &'static str, requires: Requires, description: &'static str) -> Rule {
    Rule {
        action,
        requires,
        description,
    }
}

use Requires::*;

/// Every action, in the order the API documents them. Platform admins may do
/// everything; a role on a tenant applies to all its descendants.
pub const RULES: &[Rule] = &[
    rule("tenant.create", PlatformAdmin, "create a top-level tenant"),
    rule(
        "tenant.child.create",
        Role(Admin),
        "create a child under a tenant",
    ),
    rule(
        "tenant.read",
        Role(Viewer),
        "read a tenant and list its children",
    ),
    rule("tenant.update", Role(Admin), "change a tenant's settings"),
    rule("tenant.park", Role(Owner), "park a tenant"),
    rule("tenant.unpark", Role(Owner), "unpark a tenant"),
    rule(
        "tenant.suspend",
        AncestorRole(Owner),
        "suspend a tenant (from above)",
    ),
    rule(
        "tenant.resume",
        AncestorRole(Owner),
        "resume a tenant (from above)",
    ),
    rule(
        "tenant.delete",
        Role(Owner),
        "delete a tenant (and with cascade its subtree)",
    ),
    rule(
        "tenant.move",
        Role(Owner),
        "move a tenant (also needs tenant.child.create on the new parent)",
    ),
    rule("tenant.user.list", Role(Viewer), "list a tenant's members"),
    rule(
        "tenant.user.assign",
        Role(Admin),
        "assign or change a member's role (at most one's own)",
    ),
    rule("tenant.user.remove", Role(Admin), "remove a member"),
    rule("tenant.invitation.list", Role(Admin), "list invitations"),
    rule(
        "tenant.invitation.create",
        Role(Admin),
        "invite someone (with at most one's own role)",
    ),
    rule(
        "tenant.invitation.resend",
        Role(Admin),
        "resend an invitation with a new token",
    ),
    rule(
        "tenant.invitation.cancel",
        Role(Admin),
        "cancel an invitation",
    ),
    rule("user.create", PlatformAdmin, "create a user"),
    rule("user.list", PlatformAdmin, "list users"),
    rule("user.read", SelfOrPlatformAdmin, "read a user"),
    rule(
        "user.token.create",
        SelfOrPlatformAdmin,
        "issue an API token",
    ),
    rule(
        "user.token.list",
        SelfOrPlatformAdmin,
        "list a user's tokens",
    ),
    rule(
        "user.token.revoke",
        SelfOrPlatformAdmin,
        "revoke an API token",
    ),
    rule("outbox.read", PlatformAdmin, "read the outgoing mail"),
    rule(
        "jobs.read",
        PlatformAdmin,
        "read the job queue's dead letters",
    ),
    rule("site.create", Role(Operator), "create a site"),
    rule("site.read", Role(Viewer), "read sites"),
    rule("site.update", Role(Operator), "change a site"),
    rule("site.delete", Role(Admin), "delete a site"),
    rule(
        "site.promote",
        Role(Operator),
        "promote a site DEV -> SIT -> PROD",
    ),
    rule("site.backup", Role(Operator), "back up or restore a site"),
    rule(
        "site.plugin.manage",
        Role(Operator),
        "install, update or remove plugins",
    ),
    rule(
        "site.template.apply",
        Role(Operator),
        "apply a template to a site",
    ),
    rule("instance.create", Role(Admin), "create an instance"),
    rule(
        "instance.read",
        Role(Viewer),
        "read instances and their health",
    ),
    rule("instance.scale", Role(Operator), "scale an instance"),
    rule("instance.delete", Role(Admin), "delete an instance"),
    rule(
        "extension.manage",
        Role(Admin),
        "upload, activate or roll back extensions",
    ),
    rule(
        "extension.read",
        Role(Viewer),
        "read extensions and the decision log",
    ),
];

/// The rule for an action name.
pub fn find(action: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.action == action)
}
