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
    /// Removes the blob at `key`; a missing one is not an error.
    async fn delete(&self, key: &str) -> anyhow::Result<()>;
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

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// Blobs as objects in an S3 bucket under a prefix (the deployment at
/// scale: every replica reads what any replica wrote).
pub struct S3Blobs {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl S3Blobs {
    /// A store on `bucket` under `prefix` (empty, or ending without `/`).
    /// Against a custom endpoint (moto, LocalStack, MinIO) it addresses
    /// buckets by path, which those understand; on AWS by host name.
    pub fn new(config: &aws_config::SdkConfig, bucket: &str, prefix: &str) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Self {
            client: aws_sdk_s3::Client::from_conf(s3),
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        }
    }

    /// Parses `s3://BUCKET[/PREFIX]` into the bucket and the prefix.
    pub fn parse_url(url: &str) -> anyhow::Result<(String, String)> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| anyhow::anyhow!("{url:?} is not an s3://BUCKET/PREFIX URL"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        anyhow::ensure!(!bucket.is_empty(), "{url:?} names no bucket");
        Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
    }

    /// Creates the bucket unless it exists (development and tests).
    pub async fn create_bucket(&self) -> anyhow::Result<()> {
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
                }) =>
            {
                Ok(())
            }
            Err(e) => Err(anyhow::anyhow!(
                "creating bucket {}: {}",
                self.bucket,
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )),
        }
    }

    fn object(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.object(key))
            .send()
            .await;
        match out {
            Ok(out) => Ok(Some(out.body.collect().await?.into_bytes().to_vec())),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(anyhow::anyhow!(
                "reading s3://{}/{}: {}",
                self.bucket,
                self.object(key),
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )),
        }
    }

    async fn put(&self, key: &str, bytes: &[u8]) -> anyhow::Result<()> {
        // A PUT replaces the object atomically: readers see the old or the
        // new bytes, never a part.
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.object(key))
            .body(aws_sdk_s3::primitives::ByteStream::from(bytes.to_vec()))
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "writing s3://{}/{}: {}",
                    self.bucket,
                    self.object(key),
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        // S3 answers success for a missing key.
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.object(key))
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "deleting s3://{}/{}: {}",
                    self.bucket,
                    self.object(key),
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
        Ok(())
    }
}
