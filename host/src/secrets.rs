//! Secrets at rest: ChaCha20-Poly1305 with a key from configuration.
//!
//! Attached WordPress sites' Application Passwords are sealed with it
//! before they reach the store, bound to the record they belong to (the
//! associated data), so a sealed value copied onto another site does not
//! open. The key comes from `--secrets-key` / `BBWS_SECRETS_KEY` (32 bytes,
//! base64); the embedded deployment without one generates
//! `secrets.key` (mode 0600) in its data directory on first start.

use std::path::Path;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const PREFIX: &str = "v1:";

/// Seals and opens secrets with one key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// From a base64 key of 32 bytes.
    pub fn from_base64(text: &str) -> anyhow::Result<Self> {
        let bytes = B64
            .decode(text.trim())
            .map_err(|e| anyhow::anyhow!("the secrets key is not base64: {e}"))?;
        anyhow::ensure!(
            bytes.len() == 32,
            "the secrets key must be 32 bytes (base64 of 32 random bytes), not {}",
            bytes.len()
        );
        Ok(Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&bytes)),
        })
    }

    /// A new random key, base64.
    pub fn generate_key() -> String {
        let key: [u8; 32] = rand::random();
        B64.encode(key)
    }

    /// The key in `dir/secrets.key`, created (0600) if absent.
    pub fn in_dir(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("secrets.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_base64(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate_key();
                write_private(&path, &key)?;
                tracing::info!(path = %path.display(), "generated a secrets key");
                Self::from_base64(&key)
            }
            Err(e) => Err(anyhow::anyhow!("reading {}: {e}", path.display())),
        }
    }

    /// Seals `plaintext` for the record named by `context`.
    pub fn seal(&self, plaintext: &str, context: &str) -> String {
        let nonce: [u8; 12] = rand::random();
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 seals any length we store");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", B64.encode(out))
    }

    /// Opens what [`SecretBox::seal`] sealed for the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> anyhow::Result<String> {
        let bytes = sealed
            .strip_prefix(PREFIX)
            .and_then(|b| B64.decode(b).ok())
            .filter(|b| b.len() > 12)
            .ok_or_else(|| anyhow::anyhow!("a sealed secret is malformed"))?;
        let (nonce, body) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| {
                anyhow::anyhow!(
                    "a sealed secret does not open with this key (was the key changed?)"
                )
            })?;
        String::from_utf8(plain).map_err(|_| anyhow::anyhow!("a sealed secret is not text"))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).map_err(|e| anyhow::anyhow!("creating {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_record_and_key() {
        let a = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        let b = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        let sealed = a.seal("abcd efgh ijkl", "site_1");
        assert!(!sealed.contains("abcd"));
        assert_eq!(a.open(&sealed, "site_1").unwrap(), "abcd efgh ijkl");
        assert!(a.open(&sealed, "site_2").is_err());
        assert!(b.open(&sealed, "site_1").is_err());
        assert_ne!(sealed, a.seal("abcd efgh ijkl", "site_1"), "fresh nonce");
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(SecretBox::from_base64("not base64!").is_err());
        assert!(SecretBox::from_base64(&B64.encode([0u8; 16])).is_err());
    }
}
