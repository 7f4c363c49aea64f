//! Blobs: component bytes and precompiled artifacts, by key. Files under
//! the data directory in the embedded deployment.

use std::path::PathBuf;

use async_trait::async_trait;

/// A store of immutable byte blobs.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// The blob at `key`, or `None`.
    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Writes the blob at `key` (replacing any).
    async fn put(&self, key: &str, bytes: &[u8]) -> anyhow::Result<()>;
}

/// Blobs as files under a directory.
pub struct FsBlobs {
    root: PathBuf,
}

impl FsBlobs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, key: &str) -> anyhow::Result<PathBuf> {
        // Keys are ours (hashes and fixed prefixes), but never let one escape.
        anyhow::ensure!(
            !key.split('/')
                .any(|part| part.is_empty() || part == "." || part == ".."),
            "invalid blob key {key}"
        );
        Ok(self.root.join(key))
    }
}

#[async_trait]
impl BlobStore for FsBlobs {
    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match tokio::fs::read(self.path(key)?).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn put(&self, key: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let path = self.path(key)?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        // Write then rename, so a reader never sees half a blob.
        let tmp = path.with_extension(format!("tmp{}", uuid::Uuid::now_v7().simple()));
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(())
    }
}
