//! Identifiers: a type prefix and a UUIDv7, so ids sort by creation time and
//! say what they name (`ten_…`, `usr_…`).

/// A new identifier with the given prefix.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// Whether `id` is shaped like an id of this prefix (cheap guard before a
/// store look-up, so junk never reaches a key).
pub fn looks_like(prefix: &str, id: &str) -> bool {
    id.len() == prefix.len() + 33
        && id.starts_with(prefix)
        && id.as_bytes()[prefix.len()] == b'_'
        && id[prefix.len() + 1..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A secret for a bearer or invitation token: 32 random bytes, URL-safe.
pub fn new_secret(prefix: &str) -> String {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    format!(
        "{prefix}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// How secrets are stored: SHA-256, hex. The secrets carry 256 random bits,
/// so a fast hash is enough (no password stretching needed).
pub fn hash_secret(secret: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_recognised_by_their_prefix() {
        let id = new_id("ten");
        assert!(looks_like("ten", &id), "{id}");
        assert!(!looks_like("usr", &id));
        assert!(!looks_like("ten", "ten_nothex"));
    }
}
