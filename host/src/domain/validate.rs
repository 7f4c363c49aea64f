//! Field validation that collects every problem before answering, so a
//! client sees all of them at once (`errors[]` of a 422).

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// An optional field that, when sent, is a `T`: with `#[serde(default,
/// deserialize_with = "present")]`, leaving it out is `None` and `null`
/// is read as a `T` (refused as a wrong type unless `T` takes it), not
/// as "left out". For fields whose schema says they are an object.
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// One invalid field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The JSON path of the field (`organisationName`, `assign[2].role`).
    pub field: String,
    pub message: String,
}

/// Collects field errors.
#[derive(Default, Debug)]
pub struct Validator {
    errors: Vec<FieldError>,
}

pub const MAX_NAME: usize = 200;
pub const MAX_EMAIL: usize = 254;

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// A required human-readable text: trimmed, 1..=max characters, no
    /// control characters.
    pub fn text(&mut self, field: &str, value: &str, max: usize) {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            self.error(field, "must not be empty");
        } else if value.chars().count() > max {
            self.error(field, format!("must be at most {max} characters"));
        } else if value.chars().any(char::is_control) {
            self.error(field, "must not contain control characters");
        } else if trimmed.len() != value.len() {
            self.error(field, "must not start or end with white space");
        }
    }

    /// An e-mail address: one `@`, a non-empty local part, a dotted domain.
    pub fn email(&mut self, field: &str, value: &str) {
        if value.len() > MAX_EMAIL {
            self.error(field, format!("must be at most {MAX_EMAIL} characters"));
            return;
        }
        if !is_email(value) {
            self.error(field, "must be an e-mail address like name@example.com");
        }
    }

    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    let ok_chars = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c))
    };
    !local.is_empty()
        && local.len() <= 64
        && ok_chars(local)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// E-mail addresses compare case-insensitively.
pub fn normalise_email(value: &str) -> String {
    value.trim().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses_and_refuses_the_rest() {
        for ok in ["a@b.co", "first.last+tag@example.com"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "@b.co", "a@.co", "a@b..co", "a b@c.co", "a@b@c.co",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn text_rules_collect_every_error() {
        let mut v = Validator::new();
        v.text("a", "", 10);
        v.text("b", "12345678901", 10);
        v.text("c", " x", 10);
        v.text("d", "fine", 10);
        let errors = v.finish().unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["a", "b", "c"]);
    }
}
