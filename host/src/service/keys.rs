//! The single-table layout: every key the services write, in one place.
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
//! | idempotency record | `IDEMPOTENCY#{sha256}` | `IDEMPOTENCY` | | |
//! | bootstrap marker | `PLATFORM` | `BOOTSTRAP` | | |

use crate::store::Key;

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
