//! The single-table layout: every key bbws writes, in one place. The
//! services, the job worker, the store queue and the decision log all write
//! the same table (on DynamoDB; embedded, the decision log is a file of its
//! own with the same layout), so the layout lives with the store rather
//! than with any one of them.
//!
//! | item | pk | sk | gsi1 | gsi2 |
//! |---|---|---|---|---|
//! | tenant | `TENANT#{id}` | `TENANT` | `TENANTS` / id | `CHILDREN#{parent}` / id |
//! | membership | `TENANT#{tid}` | `MEMBER#{uid}` | `MEMBERSHIPS#{uid}` / tid | |
//! | invitation | `TENANT#{tid}` | `INVITATION#{iid}` | | |
//! | pending invitee | `TENANT#{tid}` | `INVITEE#{email}` | | |
//! | invitation token | `INVITETOKEN#{sha256}` | `INVITETOKEN` | | |
//! | user | `USER#{uid}` | `USER` | `USERS` / uid | |
//! | e-mail claim | `EMAIL#{email}` | `EMAIL` | | |
//! | API token | `TOKEN#{sha256}` | `TOKEN` | `TOKENS#{uid}` / tokenId | |
//! | outbox message | `OUTBOX` | message id | `OUTBOX#{to}` / message id | |
//! | cascade intent | `CASCADE` | tenant id | | |
//! | follow intent (a tenant's resources follow its new status) | `FOLLOW` | tenant id | | |
//! | extension version | `TENANT#{tid}` | `EXTVER#{kind}#{sha256}` | | |
//! | extension activation (newest first) | `TENANT#{tid}` | `EXTACT#{u64::MAX - sequence, 20 digits}` | | |
//! | count of a capped set (extension versions of a kind, templates) | `TENANT#{tid}` | `COUNT#{set}` | | |
//! | decision record | `DECISIONS#{tid}` (or `#platform`) | decision id | `DECISIONS` / decision id | |
//! | idempotency record | `IDEMPOTENCY#{sha256}` | `IDEMPOTENCY` | | |
//! | bootstrap marker | `PLATFORM` | `BOOTSTRAP` | | |
//! | site | `SITES#{tid}` | site id | | |
//! | site's local WordPress | `SITE#{sid}` | `STATE` | | |
//! | instance | `INSTANCES#{tid}` | instance id | `INSTANCEIDS` / instance id | |
//! | local provider's simulated infrastructure | `LOCALINFRA` | instance id | | |
//! | site's sealed credentials | `SITE#{sid}` | `CREDENTIALS` | | |
//! | backup | `SITE#{sid}` | `BACKUP#{bid}` | | |
//! | operation | `OP#{oid}` | `OP` | | `OPS#OPEN` / created-at (while not final) |
//! | tenant template | `TEMPLATES#{tid}` | template id | `TEMPLATEIDS` / template id | |
//! | queue message (queue `N`) | `queue#N` | message id | `queue#N#ready` / visible-at | |
//! | dead letter (queue `N`) | `queue#N#dead` | dead-at#message id | | |

use super::Key;

pub fn tenant_pk(id: &str) -> String {
    format!("TENANT#{id}")
}
pub fn tenant(id: &str) -> Key {
    Key::new(tenant_pk(id), "TENANT")
}
pub const ALL_TENANTS: &str = "TENANTS";
pub fn children(parent: &str) -> String {
    format!("CHILDREN#{parent}")
}

pub const MEMBER_PREFIX: &str = "MEMBER#";
pub fn member(tenant_id: &str, user_id: &str) -> Key {
    Key::new(tenant_pk(tenant_id), format!("{MEMBER_PREFIX}{user_id}"))
}
pub fn memberships_of(user_id: &str) -> String {
    format!("MEMBERSHIPS#{user_id}")
}

pub const INVITATION_PREFIX: &str = "INVITATION#";
pub fn invitation(tenant_id: &str, invitation_id: &str) -> Key {
    Key::new(
        tenant_pk(tenant_id),
        format!("{INVITATION_PREFIX}{invitation_id}"),
    )
}
pub fn invitee(tenant_id: &str, email: &str) -> Key {
    Key::new(tenant_pk(tenant_id), format!("INVITEE#{email}"))
}
pub fn invitation_token(hash: &str) -> Key {
    Key::new(format!("INVITETOKEN#{hash}"), "INVITETOKEN")
}

pub fn user(id: &str) -> Key {
    Key::new(format!("USER#{id}"), "USER")
}
pub const ALL_USERS: &str = "USERS";
pub fn email(email: &str) -> Key {
    Key::new(format!("EMAIL#{email}"), "EMAIL")
}

pub fn token(hash: &str) -> Key {
    Key::new(format!("TOKEN#{hash}"), "TOKEN")
}
/// The secret hash a token item's key carries.
pub fn token_hash(key: &Key) -> Option<&str> {
    key.pk.strip_prefix("TOKEN#")
}
pub fn tokens_of(user_id: &str) -> String {
    format!("TOKENS#{user_id}")
}

pub const OUTBOX: &str = "OUTBOX";
pub fn outbox_message(message_id: &str) -> Key {
    Key::new(OUTBOX, message_id)
}
pub fn outbox_to(to: &str) -> String {
    format!("OUTBOX#{to}")
}

pub const CASCADE: &str = "CASCADE";
pub fn cascade(tenant_id: &str) -> Key {
    Key::new(CASCADE, tenant_id)
}

pub fn idempotency(hash: &str) -> Key {
    Key::new(format!("IDEMPOTENCY#{hash}"), "IDEMPOTENCY")
}

pub fn bootstrap() -> Key {
    Key::new("PLATFORM", "BOOTSTRAP")
}

pub fn sites_of(tenant_id: &str) -> String {
    format!("SITES#{tenant_id}")
}
pub fn site(tenant_id: &str, site_id: &str) -> Key {
    Key::new(sites_of(tenant_id), site_id)
}
pub fn instances_of(tenant_id: &str) -> String {
    format!("INSTANCES#{tenant_id}")
}
pub fn instance(tenant_id: &str, instance_id: &str) -> Key {
    Key::new(instances_of(tenant_id), instance_id)
}
/// Every instance by id (for the GitOps sync, which reads manifests by path).
pub const INSTANCE_IDS: &str = "INSTANCEIDS";
pub const LOCAL_INFRA: &str = "LOCALINFRA";
pub fn local_infra(instance_id: &str) -> Key {
    Key::new(LOCAL_INFRA, instance_id)
}
fn site_pk(site_id: &str) -> String {
    format!("SITE#{site_id}")
}
pub fn site_state(site_id: &str) -> Key {
    Key::new(site_pk(site_id), "STATE")
}
pub fn site_credentials(site_id: &str) -> Key {
    Key::new(site_pk(site_id), "CREDENTIALS")
}
pub const BACKUP_PREFIX: &str = "BACKUP#";
pub fn backups_of(site_id: &str) -> String {
    site_pk(site_id)
}
pub fn backup(site_id: &str, backup_id: &str) -> Key {
    Key::new(site_pk(site_id), format!("{BACKUP_PREFIX}{backup_id}"))
}
/// Where a backup's bytes live in the blob store.
pub fn backup_blob(site_id: &str, backup_id: &str) -> String {
    format!("backups/{site_id}/{backup_id}.json")
}

pub fn operation(id: &str) -> Key {
    Key::new(format!("OP#{id}"), "OP")
}
/// The index of operations that have not ended (for the recovery sweep).
pub const OPEN_OPERATIONS: &str = "OPS#OPEN";

pub fn templates_of(tenant_id: &str) -> String {
    format!("TEMPLATES#{tenant_id}")
}
pub fn template(tenant_id: &str, template_id: &str) -> Key {
    Key::new(templates_of(tenant_id), template_id)
}
/// Tenant templates by id alone (`/v1/templates/{id}/validate`).
pub const TEMPLATE_IDS: &str = "TEMPLATEIDS";

/// Tenants whose resources have yet to follow a status change.
pub const FOLLOW: &str = "FOLLOW";
pub fn follow(tenant_id: &str) -> Key {
    Key::new(FOLLOW, tenant_id)
}

/// The sort-key prefix of a tenant's uploaded versions of one extension kind.
pub fn extension_versions(kind: &str) -> String {
    format!("EXTVER#{kind}#")
}
pub fn extension_version(tenant_id: &str, kind: &str, hash: &str) -> Key {
    Key::new(
        tenant_pk(tenant_id),
        format!("{}{hash}", extension_versions(kind)),
    )
}
/// The sort-key prefix of a tenant's activation records.
pub const ACTIVATION_PREFIX: &str = "EXTACT#";
/// Activation record `sequence` of a tenant: sorted newest first.
pub fn activation(tenant_id: &str, sequence: u64) -> Key {
    Key::new(
        tenant_pk(tenant_id),
        format!("{ACTIVATION_PREFIX}{:020}", u64::MAX - sequence),
    )
}
/// The count of a tenant's capped set `set` (`extver#policy`, `templates`).
pub fn count(tenant_id: &str, set: &str) -> Key {
    Key::new(tenant_pk(tenant_id), format!("COUNT#{set}"))
}
/// Where a component's bytes live in the blob store.
pub fn component_blob(hash: &str) -> String {
    format!("components/{hash}.wasm")
}

/// A tenant's decision log (`None`: untenanted decisions).
pub fn decisions_of(tenant_id: Option<&str>) -> String {
    format!("DECISIONS#{}", tenant_id.unwrap_or("platform"))
}
pub fn decision(tenant_id: Option<&str>, decision_id: &str) -> Key {
    Key::new(decisions_of(tenant_id), decision_id)
}
/// The index partition that finds a decision by id alone.
pub const DECISION_IDS: &str = "DECISIONS";

/// A queue's messages, its visibility index and its dead letters.
pub fn queue_messages(name: &str) -> String {
    format!("queue#{name}")
}
pub fn queue_ready(name: &str) -> String {
    format!("queue#{name}#ready")
}
pub fn queue_dead(name: &str) -> String {
    format!("queue#{name}#dead")
}
