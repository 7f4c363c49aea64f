//! Where sites' WordPress comes from. A site is either provisioned by
//! bbws, through a [`SiteProvider`] (the embedded deployment's is
//! [`local`], a labelled simulation), or attached: an existing WordPress
//! reached through its REST API ([`crate::infra::wordpress::WordPress`]).
//! Either way the services drive it through [`WordPressSite`], so no
//! service calls a concrete simulation. Instances will plug in beside this
//! the same way: a trait, a `local` and an `aws` implementation.

pub mod local;

use async_trait::async_trait;

use crate::domain::template::WpOperation;
use crate::infra::wordpress::WpError;

/// A plugin as a site reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledPlugin {
    pub slug: String,
    /// `latest` for a provisioned site's plugin installed without a version.
    pub version: String,
    /// `active`, `inactive` (or `network-active` on a multisite).
    pub status: String,
}

/// What bbws does to a site's WordPress, provisioned or attached.
#[async_trait]
pub trait WordPressSite: Send + Sync {
    /// Proves it answers, with credentials that work.
    async fn check(&self) -> Result<(), WpError>;

    /// Runs one operation of a template's plan; answers what it did.
    async fn apply(&self, op: &WpOperation) -> Result<String, WpError>;

    /// The installed plugins.
    async fn plugins(&self) -> Result<Vec<InstalledPlugin>, WpError>;
}

/// Why a provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// A fault that may pass (the store did not answer): retry.
    #[error("{0}")]
    Unavailable(String),
    /// The request cannot succeed as it is; `code` is stable.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
}

impl ProviderError {
    pub fn refused(code: &'static str, message: impl Into<String>) -> Self {
        ProviderError::Refused {
            code,
            message: message.into(),
        }
    }
}

/// A change to a provisioned site's plugins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginChange {
    /// Fails with `plugin_installed` if it is there already.
    Install {
        slug: String,
        version: Option<String>,
        activate: bool,
    },
    /// Fails with `plugin_not_found` if it is not installed.
    Update { slug: String, version: String },
    /// Fails with `plugin_not_found` if it is not installed.
    Uninstall { slug: String },
}

/// Provisions sites' WordPress and keeps them: every call is idempotent,
/// so a job delivered twice has the effect of one run.
#[async_trait]
pub trait SiteProvider: Send + Sync {
    /// Installs a fresh WordPress for the site, unless it has one.
    async fn provision(&self, site_id: &str, name: &str) -> Result<(), ProviderError>;

    /// Gives the site a copy of `source_id`'s WordPress (renamed `name`),
    /// whole or not at all, unless it has one.
    async fn copy(&self, source_id: &str, site_id: &str, name: &str) -> Result<(), ProviderError>;

    /// The site's WordPress as the bytes of a backup.
    async fn export(&self, site_id: &str, backup_id: &str) -> Result<Vec<u8>, ProviderError>;

    /// Replaces the site's WordPress with a backup's; `backup_corrupt` if
    /// the bytes are not one of this provider's backups.
    async fn import(&self, site_id: &str, bytes: &[u8]) -> Result<(), ProviderError>;

    /// Removes the site's WordPress, if it has one.
    async fn remove(&self, site_id: &str) -> Result<(), ProviderError>;

    /// Changes the site's plugins; answers the plugin as it is after.
    async fn change_plugins(
        &self,
        site_id: &str,
        change: PluginChange,
    ) -> Result<Option<InstalledPlugin>, ProviderError>;

    /// The site's WordPress, to run plans on and list plugins of.
    fn wordpress(&self, site_id: &str) -> Box<dyn WordPressSite>;
}
