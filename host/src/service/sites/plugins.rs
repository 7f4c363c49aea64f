//! Plugins of a site: list, install, update, uninstall, bulk.
//!
//! An install or update is scanned first against the vulnerability feed:
//! a finding at or above the tenant's threshold (`securityScanThreshold`,
//! default HIGH) refuses it with 422 `security_scan_failed` and the
//! findings; findings below it are answered with the plugin. Then the
//! tenant's policy has the final word (`site.plugin.manage`, with the
//! plugin, version and operation as attributes).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::Tenant;
use crate::domain::site::{Site, SiteStatus};
use crate::domain::validate::Validator;
use crate::domain::vulnerability::{Finding, Severity};
use crate::infra::sites::{InstalledPlugin, PluginChange, ProviderError};

use super::super::paging::Page;
use super::super::{Caller, Error, PageRequest, Result, Services};
use super::require_active;

/// The plugins of sites.
pub struct Plugins<'a> {
    pub(in crate::service) cx: &'a Services,
}

/// The threshold when a tenant has not set one.
pub const DEFAULT_THRESHOLD: Severity = Severity::High;

/// A plugin on a site.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plugin {
    pub slug: String,
    /// `latest` when installed without a version.
    pub version: String,
    /// `active` or `inactive`.
    pub status: String,
    /// What the scan found below the tenant's threshold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

/// `POST .../plugins`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstallPlugin {
    /// The wordpress.org slug (`contact-form-7`).
    pub slug: String,
    /// Default: the latest release.
    pub version: Option<String>,
    /// Activate it too (default true).
    pub activate: Option<bool>,
}

/// `PATCH .../plugins/{slug}`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePlugin {
    pub version: String,
}

/// One update of a bulk request.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkUpdate {
    pub slug: String,
    pub version: String,
}

/// `POST .../plugins/bulk`: each item is done on its own and reported.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkPlugins {
    #[serde(default)]
    pub install: Vec<InstallPlugin>,
    #[serde(default)]
    pub update: Vec<BulkUpdate>,
    #[serde(default)]
    pub uninstall: Vec<String>,
}

/// What one item of a bulk request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkAction {
    Install,
    Update,
    Uninstall,
}

impl BulkAction {
    pub fn as_str(self) -> &'static str {
        match self {
            BulkAction::Install => "install",
            BulkAction::Update => "update",
            BulkAction::Uninstall => "uninstall",
        }
    }
}

/// The outcome of one bulk item: what the single request would have
/// answered (the plugin, nothing for an uninstall, or its error).
#[derive(Debug)]
pub struct BulkOutcome {
    pub action: BulkAction,
    pub slug: String,
    pub outcome: Result<Option<Plugin>>,
}

/// The most items one bulk request may carry.
pub const MAX_BULK: usize = 50;

fn check_slug(v: &mut Validator, field: &str, slug: &str) {
    let ok = !slug.is_empty()
        && slug.len() <= 100
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !ok {
        v.error(
            field,
            "must be a wordpress.org plugin slug: 1 to 100 lowercase letters, digits, - and _",
        );
    }
}

fn check_version(v: &mut Validator, field: &str, version: &str) {
    let ok = !version.is_empty()
        && version.len() <= 40
        && version.as_bytes()[0].is_ascii_digit()
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if !ok {
        v.error(field, "must be a version such as 5.3.2");
    }
}

fn plugin_view(p: InstalledPlugin, findings: Vec<Finding>) -> Plugin {
    Plugin {
        slug: p.slug,
        version: p.version,
        status: p.status,
        findings,
    }
}

/// A provider's refusal as the error the API answers.
fn change_error(e: ProviderError) -> Error {
    match e {
        ProviderError::Refused {
            code: code @ "plugin_not_found",
            message,
        } => Error::not_found(code, message),
        ProviderError::Refused {
            code: code @ ("plugin_installed" | "concurrent_modification"),
            message,
        } => Error::conflict(code, message),
        other => Error::Internal(other.into()),
    }
}

impl Plugins<'_> {
    /// Authorizes a plugin change and loads what it needs.
    async fn plugin_target(
        &self,
        caller: &Caller,
        tenant_id: &str,
        site_id: &str,
        operation: &str,
        slug: &str,
        version: Option<&str>,
    ) -> Result<(Tenant, Site)> {
        let mut attributes = vec![
            ("plugin".to_string(), slug.to_string()),
            ("operation".to_string(), operation.to_string()),
        ];
        if let Some(version) = version {
            attributes.push(("version".into(), version.into()));
        }
        let (tenant, site) = self
            .cx
            .sites()
            .site_for(caller, "site.plugin.manage", tenant_id, site_id, attributes)
            .await?;
        require_active(&tenant)?;
        if site.provider != "local" {
            return Err(Error::Unprocessable {
                code: "unsupported_for_attached_site",
                detail: "plugins of an attached WordPress are managed in WordPress itself; bbws lists them"
                    .into(),
            });
        }
        if site.status != SiteStatus::Active {
            return Err(Error::conflict(
                "invalid_site_status",
                format!("the site is {}; it must be ACTIVE", site.status.as_str()),
            ));
        }
        Ok((tenant, site))
    }

    /// The scan: findings at or above the threshold refuse; the rest are
    /// answered.
    fn scan(&self, tenant: &Tenant, slug: &str, version: Option<&str>) -> Result<Vec<Finding>> {
        let threshold = tenant.security_scan_threshold.unwrap_or(DEFAULT_THRESHOLD);
        let findings = self.cx.site_settings.feed.scan(slug, version);
        let (blocking, below): (Vec<_>, Vec<_>) =
            findings.into_iter().partition(|f| f.severity >= threshold);
        if blocking.is_empty() {
            return Ok(below);
        }
        let what = match version {
            Some(v) => format!("{slug} {v}"),
            None => format!("{slug} (latest)"),
        };
        Err(Error::ScanFailed {
            detail: format!(
                "{what} has {} known vulnerabilit{} at or above the tenant's threshold {}: {}",
                blocking.len(),
                if blocking.len() == 1 { "y" } else { "ies" },
                format!("{threshold:?}").to_uppercase(),
                blocking
                    .iter()
                    .map(|f| f.cve.clone().unwrap_or_else(|| f.id.clone()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            findings: blocking,
        })
    }

    /// Changes the plugins of a provisioned site.
    async fn change(&self, site_id: &str, change: PluginChange) -> Result<Option<InstalledPlugin>> {
        self.cx
            .site_settings
            .provider
            .change_plugins(site_id, change)
            .await
            .map_err(change_error)
    }

    /// An install or update, and the plugin as it is after it.
    async fn change_to(&self, site_id: &str, change: PluginChange) -> Result<InstalledPlugin> {
        Ok(self
            .change(site_id, change)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the provider answered no plugin"))?)
    }

    pub async fn list(
        &self,
        caller: &Caller,
        tenant_id: &str,
        site_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Plugin>> {
        let (_, site) = self
            .cx
            .sites()
            .site_for(caller, "site.read", tenant_id, site_id, Vec::new())
            .await?;
        let wp = self
            .cx
            .sites()
            .wordpress(&site)
            .await
            .map_err(|e| match e {
                crate::jobs::worker::JobError::Fail(e) => Error::Unprocessable {
                    code: "wordpress_unavailable",
                    detail: e.message,
                },
                crate::jobs::worker::JobError::Retry(m) => Error::Internal(anyhow::anyhow!(m)),
            })?;
        let mut all: Vec<Plugin> = wp
            .plugins()
            .await
            .map_err(|e| match e {
                crate::infra::wordpress::WpError::NotAllowed(detail) => Error::Unprocessable {
                    code: "url_not_allowed",
                    detail,
                },
                e => Error::Unprocessable {
                    code: "wordpress_unavailable",
                    detail: e.to_string(),
                },
            })?
            .into_iter()
            .map(|p| plugin_view(p, Vec::new()))
            .collect();
        all.sort_by(|a, b| a.slug.cmp(&b.slug));
        // Keyset paging over slugs: the cursor is the last slug answered.
        let after = match &page.cursor {
            None => String::new(),
            Some(c) if c.table_key.pk == site_id => c.table_key.sk.clone(),
            Some(_) => return Err(crate::service::paging::invalid_cursor()),
        };
        let mut items: Vec<Plugin> = all.into_iter().filter(|p| p.slug > after).collect();
        let next_cursor = if items.len() > page.limit {
            items.truncate(page.limit);
            items.last().map(|p| {
                crate::store::Cursor {
                    index_key: crate::store::Key::new(site_id, &p.slug),
                    table_key: crate::store::Key::new(site_id, &p.slug),
                }
                .encode()
            })
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    pub async fn install(
        &self,
        caller: &Caller,
        tenant_id: &str,
        site_id: &str,
        input: InstallPlugin,
    ) -> Result<Plugin> {
        let mut v = Validator::new();
        check_slug(&mut v, "slug", &input.slug);
        if let Some(version) = &input.version {
            check_version(&mut v, "version", version);
        }
        v.finish().map_err(Error::Validation)?;
        let (tenant, _site) = self
            .plugin_target(
                caller,
                tenant_id,
                site_id,
                "install",
                &input.slug,
                input.version.as_deref(),
            )
            .await?;
        let findings = self.scan(&tenant, &input.slug, input.version.as_deref())?;
        let install = PluginChange::Install {
            slug: input.slug.clone(),
            version: input.version.clone(),
            activate: input.activate.unwrap_or(true),
        };
        let plugin = self.change_to(site_id, install).await?;
        tracing::info!(site = %site_id, plugin = %input.slug, "plugin installed");
        Ok(plugin_view(plugin, findings))
    }

    pub async fn update(
        &self,
        caller: &Caller,
        tenant_id: &str,
        site_id: &str,
        slug: &str,
        input: UpdatePlugin,
    ) -> Result<Plugin> {
        let mut v = Validator::new();
        check_version(&mut v, "version", &input.version);
        v.finish().map_err(Error::Validation)?;
        let (tenant, _site) = self
            .plugin_target(
                caller,
                tenant_id,
                site_id,
                "update",
                slug,
                Some(&input.version),
            )
            .await?;
        let findings = self.scan(&tenant, slug, Some(&input.version))?;
        let update = PluginChange::Update {
            slug: slug.to_string(),
            version: input.version,
        };
        let plugin = self.change_to(site_id, update).await?;
        Ok(plugin_view(plugin, findings))
    }

    pub async fn uninstall(
        &self,
        caller: &Caller,
        tenant_id: &str,
        site_id: &str,
        slug: &str,
    ) -> Result<()> {
        self.plugin_target(caller, tenant_id, site_id, "uninstall", slug, None)
            .await?;
        self.change(
            site_id,
            PluginChange::Uninstall {
                slug: slug.to_string(),
            },
        )
        .await
        .map(|_| ())
    }

    /// Each item on its own, in the order install, update, uninstall.
    pub async fn bulk(
        &self,
        caller: &Caller,
        tenant_id: &str,
        site_id: &str,
        input: BulkPlugins,
    ) -> Result<Vec<BulkOutcome>> {
        let count = input.install.len() + input.update.len() + input.uninstall.len();
        if count == 0 || count > MAX_BULK {
            return Err(Error::invalid(
                "install",
                format!("a bulk request carries 1 to {MAX_BULK} items in all"),
            ));
        }
        // Nothing is done for a caller who may not see the site.
        self.cx
            .sites()
            .site_for(caller, "site.read", tenant_id, site_id, Vec::new())
            .await?;
        let mut results = Vec::new();
        for item in input.install {
            let slug = item.slug.clone();
            let outcome = self.install(caller, tenant_id, site_id, item).await;
            results.push(BulkOutcome {
                action: BulkAction::Install,
                slug,
                outcome: outcome.map(Some),
            });
        }
        for item in input.update {
            let input = UpdatePlugin {
                version: item.version,
            };
            let outcome = self
                .update(caller, tenant_id, site_id, &item.slug, input)
                .await;
            results.push(BulkOutcome {
                action: BulkAction::Update,
                slug: item.slug,
                outcome: outcome.map(Some),
            });
        }
        for slug in input.uninstall {
            let outcome = self.uninstall(caller, tenant_id, site_id, &slug).await;
            results.push(BulkOutcome {
                action: BulkAction::Uninstall,
                slug,
                outcome: outcome.map(|()| None),
            });
        }
        Ok(results)
    }
}
