//! Records as items: a record's document is its JSON without `version`
//! (the store keeps the version beside the document), and decoding puts
//! the item's version back.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Item, StoreError};

/// A stored record that carries the item's version.
pub trait Versioned {
    fn set_version(&mut self, version: u64);
}

/// Implements [`Versioned`] for records with a `version: u64` field.
#[macro_export]
macro_rules! versioned {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::store::record::Versioned for $t {
            fn set_version(&mut self, version: u64) {
                self.version = version;
            }
        }
    )*};
}

versioned!(
    crate::domain::Tenant,
    crate::domain::User,
    crate::domain::Membership,
    crate::domain::Invitation,
    crate::domain::site::Site,
    crate::domain::instance::Instance,
    crate::domain::operation::Operation,
);

/// Decodes an item into a record, with its version.
pub fn decode<T: DeserializeOwned + Versioned>(item: &Item) -> Result<T, StoreError> {
    let mut value: T = item.decode()?;
    value.set_version(item.version);
    Ok(value)
}

/// A record as a document (its `version` field is dropped: the store keeps it).
pub fn encode<T: Serialize>(value: &T) -> Result<serde_json::Value, StoreError> {
    let mut v = serde_json::to_value(value)
        .map_err(|e| StoreError::Invalid(format!("a record does not serialise: {e}")))?;
    if let Some(map) = v.as_object_mut() {
        map.remove("version");
    }
    Ok(v)
}
