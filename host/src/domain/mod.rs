//! Pure types and rules: no I/O. State machines, roles, validation.

pub mod event;
pub mod ids;
pub mod instance;
pub mod invitation;
pub mod operation;
pub mod role;
pub mod site;
pub mod template;
pub mod tenant;
pub mod user;
pub mod validate;
pub mod vulnerability;

pub use invitation::{Invitation, InvitationStatus};
pub use role::{PlatformRole, TenantRole};
pub use tenant::{Tenant, TenantStatus, Tier};
pub use user::{Membership, User};
pub use validate::FieldError;
