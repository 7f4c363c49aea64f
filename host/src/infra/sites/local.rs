//! The `local` provider of sites: each site's WordPress is a
//! [`SimulatedWordPress`], one JSON document in the item store, labelled as
//! a simulation. Every change is one conditional write of that document, so
//! a clone exists whole or not at all, a restore replaces it whole, and two
//! writers never lose each other's changes (a lost race re-reads and
//! re-applies).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{InstalledPlugin, PluginChange, ProviderError, SiteProvider, WordPressSite};
use crate::domain::template::WpOperation;
use crate::infra::wordpress::WpError;
use crate::infra::wordpress::simulated::{SimulatedPlugin, SimulatedWordPress};
use crate::store::{Condition, Item, ItemStore, StoreError, keys};

/// The backup format of this provider.
const BACKUP_FORMAT: &str = "bbws-local-backup/1";

/// Rounds of a read-change-write before a change gives up (each lost round
/// had a winner, so only a crowd of writers on one site gets here).
const ROUNDS: usize = 30;

/// Sites simulated in the item store.
#[derive(Clone)]
pub struct LocalSites {
    store: Arc<dyn ItemStore>,
}

impl LocalSites {
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    async fn state(&self, site_id: &str) -> Result<Option<(SimulatedWordPress, u64)>, StoreError> {
        match self.store.get(&keys::site_state(site_id)).await? {
            Some(item) => Ok(Some((item.decode()?, item.version))),
            None => Ok(None),
        }
    }

    /// Writes `state` unless the site has one already.
    async fn put_once(&self, site_id: &str, state: &SimulatedWordPress) -> Result<(), StoreError> {
        match self
            .store
            .put(
                Item::record(keys::site_state(site_id), state)?,
                Condition::NotExists,
            )
            .await
        {
            Ok(_) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Applies `change` to the site's document until the write wins.
    async fn change<T>(
        &self,
        site_id: &str,
        mut change: impl FnMut(&mut SimulatedWordPress) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        for round in 0..ROUNDS {
            let (mut state, version) =
                self.state(site_id)
                    .await
                    .map_err(unavailable)?
                    .ok_or_else(|| {
                        ProviderError::refused("site_state_missing", "the site has no state")
                    })?;
            let out = change(&mut state)?;
            let item = Item::record(keys::site_state(site_id), &state).map_err(unavailable)?;
            match self.store.put(item, Condition::Version(version)).await {
                Ok(_) => return Ok(out),
                Err(e) if e.is_condition() => {
                    let micros = rand::random_range(0..=(1u64 << round.min(4)) * 1250);
                    tokio::time::sleep(Duration::from_micros(micros)).await;
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(ProviderError::refused(
            "concurrent_modification",
            "the site's WordPress kept changing; retry",
        ))
    }
}

fn unavailable(e: StoreError) -> ProviderError {
    ProviderError::Unavailable(e.to_string())
}

fn installed(slug: &str, p: &SimulatedPlugin) -> InstalledPlugin {
    InstalledPlugin {
        slug: slug.to_string(),
        version: p.version.clone().unwrap_or_else(|| "latest".into()),
        status: if p.active { "active" } else { "inactive" }.into(),
    }
}

fn not_installed(slug: &str) -> ProviderError {
    ProviderError::refused(
        "plugin_not_found",
        format!("the plugin {slug} is not installed"),
    )
}

#[async_trait]
impl SiteProvider for LocalSites {
    async fn provision(&self, site_id: &str, name: &str) -> Result<(), ProviderError> {
        self.put_once(site_id, &SimulatedWordPress::installed(name))
            .await
            .map_err(unavailable)
    }

    async fn copy(&self, source_id: &str, site_id: &str, name: &str) -> Result<(), ProviderError> {
        if self.state(site_id).await.map_err(unavailable)?.is_some() {
            return Ok(());
        }
        let (mut state, _) = self
            .state(source_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                ProviderError::refused(
                    "source_gone",
                    format!("the source site {source_id} has no state"),
                )
            })?;
        state.options.insert("blogname".into(), name.to_string());
        // One conditional write: the clone's state exists whole or not at all.
        self.put_once(site_id, &state).await.map_err(unavailable)
    }

    async fn export(&self, site_id: &str, backup_id: &str) -> Result<Vec<u8>, ProviderError> {
        let (state, _) = self
            .state(site_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                ProviderError::refused("site_state_missing", "the site has no state to back up")
            })?;
        serde_json::to_vec(&serde_json::json!({
            "format": BACKUP_FORMAT,
            "siteId": site_id,
            "backupId": backup_id,
            "state": state,
        }))
        .map_err(|e| ProviderError::Unavailable(e.to_string()))
    }

    async fn import(&self, site_id: &str, bytes: &[u8]) -> Result<(), ProviderError> {
        let corrupt =
            |e: serde_json::Error| ProviderError::refused("backup_corrupt", e.to_string());
        let doc: serde_json::Value = serde_json::from_slice(bytes).map_err(corrupt)?;
        let state: SimulatedWordPress =
            serde_json::from_value(doc["state"].clone()).map_err(corrupt)?;
        // Replacing the whole document is idempotent: a second run writes
        // the same state.
        let item = Item::record(keys::site_state(site_id), &state).map_err(unavailable)?;
        self.store
            .put(item, Condition::None)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn remove(&self, site_id: &str) -> Result<(), ProviderError> {
        self.store
            .delete(&keys::site_state(site_id), Condition::None)
            .await
            .map_err(unavailable)
    }

    async fn change_plugins(
        &self,
        site_id: &str,
        change: PluginChange,
    ) -> Result<Option<InstalledPlugin>, ProviderError> {
        self.change(site_id, |state| match &change {
            PluginChange::Install {
                slug,
                version,
                activate,
            } => {
                if state.plugins.contains_key(slug) {
                    return Err(ProviderError::refused(
                        "plugin_installed",
                        format!("{slug} is already installed; update it with PATCH"),
                    ));
                }
                let plugin = SimulatedPlugin {
                    version: version.clone(),
                    active: *activate,
                };
                let answer = installed(slug, &plugin);
                state.plugins.insert(slug.clone(), plugin);
                Ok(Some(answer))
            }
            PluginChange::Update { slug, version } => {
                let p = state
                    .plugins
                    .get_mut(slug)
                    .ok_or_else(|| not_installed(slug))?;
                p.version = Some(version.clone());
                Ok(Some(installed(slug, p)))
            }
            PluginChange::Uninstall { slug } => state
                .plugins
                .remove(slug)
                .map(|_| None)
                .ok_or_else(|| not_installed(slug)),
        })
        .await
    }

    fn wordpress(&self, site_id: &str) -> Box<dyn WordPressSite> {
        Box::new(LocalSite {
            sites: self.clone(),
            site_id: site_id.to_string(),
        })
    }
}

/// One simulated site's WordPress.
struct LocalSite {
    sites: LocalSites,
    site_id: String,
}

fn wp_error(e: ProviderError) -> WpError {
    match e {
        // A store that does not answer is, to the job, a WordPress that
        // does not: worth retrying.
        ProviderError::Unavailable(m) => WpError::Unreachable(m),
        ProviderError::Refused { message, .. } => WpError::Invalid(message),
    }
}

#[async_trait]
impl WordPressSite for LocalSite {
    async fn check(&self) -> Result<(), WpError> {
        match self.sites.state(&self.site_id).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(WpError::Invalid("the site has no state".into())),
            Err(e) => Err(WpError::Unreachable(e.to_string())),
        }
    }

    async fn apply(&self, op: &WpOperation) -> Result<String, WpError> {
        self.sites
            .change(&self.site_id, |state| {
                state
                    .apply(op)
                    .map_err(|m| ProviderError::refused("template_step_failed", m))
            })
            .await
            .map_err(wp_error)
    }

    async fn plugins(&self) -> Result<Vec<InstalledPlugin>, WpError> {
        match self.sites.state(&self.site_id).await {
            Ok(Some((state, _))) => Ok(state
                .plugins
                .iter()
                .map(|(slug, p)| installed(slug, p))
                .collect()),
            Ok(None) => Ok(Vec::new()),
            Err(e) => Err(WpError::Unreachable(e.to_string())),
        }
    }
}
