//! Sites: the WordPress sites of a tenant. Create (through the job queue),
//! read, list, update, delete, clone and promote; their backups
//! ([`backups`]), plugins ([`plugins`]) and templates ([`templates`]); the
//! jobs that carry the work out ([`jobs`]); and the tenant lifecycle's hold
//! on them (sites follow their tenant).
//!
//! Every change that needs work outside the request starts an operation
//! (see [`super::operations`]) in the same transaction as the site's own
//! write, and marks the site with it: a second mutation of a site while one
//! runs is 409 `operation_in_progress`, so jobs on one site never overlap.

pub mod backups;
pub mod catalogue;
pub mod jobs;
pub mod plugins;
pub mod templates;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::operation::{Operation, OperationKind, ResourceKind, ResourceRef};
use crate::domain::site::{Environment, Site, SiteStatus, check_site_name};
use crate::domain::validate::Validator;
use crate::domain::vulnerability::Feed;
use crate::domain::{Tenant, TenantStatus, ids};
use crate::infra::sites::SiteProvider;
use crate::infra::wordpress::{Egress, WordPress, WpError};
use crate::policy::Resource;
use crate::store::record::decode;
use crate::store::{Condition, Index, Item, Query, TxOp, keys};

use super::follow::FollowsTenant;
use super::paging::Page;
use super::{Caller, Error, PageRequest, Result, Services, check_if_match};

/// The sites of tenants.
pub struct Sites<'a> {
    pub(super) cx: &'a Services,
}

/// What the sites services need beyond the store.
pub struct SiteSettings {
    /// Provisions the sites bbws runs (the `local` simulation embedded).
    pub provider: Arc<dyn SiteProvider>,
    /// Where backups go.
    pub blobs: Arc<dyn crate::blobs::BlobStore>,
    /// Seals attached WordPress credentials; `None`: attaching is refused.
    pub secrets: Option<crate::secrets::SecretBox>,
    /// The vulnerability feed plugin installs are scanned against.
    pub feed: Arc<Feed>,
    /// How long the local provider's simulated provisioning, cloning and
    /// promotion take (zero in tests that do not care).
    pub provision_delay: Duration,
    /// Where attached WordPress sites may be: public addresses only, unless
    /// `--wordpress-allow-private`.
    pub wordpress_egress: Egress,
}

impl SiteSettings {
    /// No secrets key, an empty feed, no simulated delay.
    pub fn new(provider: Arc<dyn SiteProvider>, blobs: Arc<dyn crate::blobs::BlobStore>) -> Self {
        Self {
            provider,
            blobs,
            secrets: None,
            feed: Arc::new(Feed::empty()),
            provision_delay: Duration::ZERO,
            wordpress_egress: Egress::PublicOnly,
        }
    }
}

/// `POST /v1/tenants/{tenantId}/sites`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSite {
    /// 1..63 lowercase letters, digits and hyphens.
    pub name: String,
    /// Sites start in `DEV` (then are promoted); the only value accepted.
    pub environment: Option<Environment>,
    pub instance_id: Option<String>,
    /// A template to apply once the site is up (platform or tenant template).
    pub template_id: Option<String>,
    /// Parameters for that template: a JSON object (`null` is refused:
    /// leave it out for none).
    #[serde(default, deserialize_with = "crate::domain::validate::present")]
    #[schema(value_type = Object)]
    pub template_parameters: Option<serde_json::Value>,
    /// Attach an existing WordPress instead of provisioning one.
    pub wordpress: Option<AttachWordPress>,
}

/// An existing WordPress to attach: its URL and an Application Password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttachWordPress {
    /// `http://` or `https://`.
    pub url: String,
    pub username: String,
    /// Stored encrypted, never answered.
    pub application_password: String,
}

/// `PATCH .../sites/{siteId}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateSite {
    pub name: Option<String>,
    /// New credentials for an attached site (checked against it first).
    pub wordpress: Option<AttachWordPress>,
}

/// `POST .../sites/{siteId}/clone`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloneSite {
    pub name: String,
    /// Default: the source's. Not above the source's (promotion is the way up).
    pub environment: Option<Environment>,
}

/// `POST .../sites/{siteId}/promote`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromoteSite {
    pub target_environment: Environment,
}

/// Filters of the site list.
#[derive(Debug, Default)]
pub struct SiteFilter {
    pub environment: Option<Environment>,
    pub status: Option<SiteStatus>,
}

/// A site (or backup) and the operation working on it: a 202's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted<T> {
    #[serde(flatten)]
    pub resource: T,
    pub operation_id: String,
}

impl super::race::Changeable for Site {
    fn version(&self) -> u64 {
        self.version
    }
    fn touch(&mut self, now: chrono::DateTime<chrono::Utc>) {
        self.updated_at = now;
    }
    fn item(&self) -> Result<Item> {
        site_item(self)
    }
}

pub(crate) fn site_item(site: &Site) -> Result<Item> {
    Ok(Item::new(
        keys::site(&site.tenant_id, &site.site_id),
        crate::store::record::encode(site)?,
    ))
}

pub(crate) fn put_site(site: &Site) -> Result<TxOp> {
    Ok(TxOp::put(
        site_item(site)?,
        Services::at_version(site.version),
    ))
}

pub(crate) fn site_not_found(id: &str) -> Error {
    Error::not_found("site_not_found", format!("no site {id}"))
}

/// The policy resource for a site, with its facts for admission.
pub(crate) fn site_resource(id: Option<&str>, attributes: Vec<(String, String)>) -> Resource {
    Resource {
        kind: "site".into(),
        id: id.map(str::to_string),
        grants_role: None,
        attributes,
    }
}

fn check_wordpress(v: &mut Validator, wp: &AttachWordPress) {
    // The form only: the address is checked once the caller is authorized.
    if WordPress::new(
        &wp.url,
        &wp.username,
        &wp.application_password,
        Egress::PublicOnly,
    )
    .is_err()
        || !(wp.url.starts_with("http://") || wp.url.starts_with("https://"))
    {
        v.error("wordpress.url", "must be an http:// or https:// URL");
    }
    if wp.username.trim().is_empty() || wp.username.len() > 60 {
        v.error("wordpress.username", "must be 1 to 60 characters");
    }
    let password = wp.application_password.trim();
    if password.is_empty() || password.len() > 200 {
        v.error(
            "wordpress.applicationPassword",
            "must be an Application Password (WordPress shows it once, as 24 characters in groups of four)",
        );
    }
}

/// 422 `url_not_allowed` on `wordpress.url`, from the client's refusal.
pub(crate) fn url_not_allowed(detail: String) -> Error {
    Error::field_refused("url_not_allowed", "wordpress.url", detail)
}

/// The tenant must be ACTIVE for anything that changes its sites.
pub(crate) fn require_active(tenant: &Tenant) -> Result<()> {
    if tenant.status == TenantStatus::Active {
        Ok(())
    } else {
        Err(Error::conflict(
            "tenant_not_active",
            format!(
                "the tenant is {}; its sites change only while it is ACTIVE",
                tenant.status.as_str()
            ),
        ))
    }
}

/// A mutation needs the site settled: ACTIVE (as far as its own work
/// goes) and no operation running on it.
pub(crate) fn require_settled(site: &Site) -> Result<()> {
    if let Some(op) = &site.operation_id {
        return Err(Error::conflict(
            "operation_in_progress",
            format!("the operation {op} is working on the site; wait for it to end"),
        ));
    }
    if site.status != SiteStatus::Active {
        return Err(Error::conflict(
            "invalid_site_status",
            format!("the site is {}; it must be ACTIVE", site.status.as_str()),
        ));
    }
    Ok(())
}

impl Sites<'_> {
    /// A site of a tenant, read without authorization (jobs, look-ups).
    pub(crate) async fn load_site(&self, tenant_id: &str, site_id: &str) -> Result<Option<Site>> {
        if !ids::looks_like("site", site_id) {
            return Ok(None);
        }
        self.cx.load::<Site>(&keys::site(tenant_id, site_id)).await
    }

    /// Authorizes `action` on the tenant and loads the site, or 404.
    pub(crate) async fn site_for(
        &self,
        caller: &Caller,
        action: &str,
        tenant_id: &str,
        site_id: &str,
        attributes: Vec<(String, String)>,
    ) -> Result<(Tenant, Site)> {
        let tenant = self
            .cx
            .tenant_for(
                caller,
                action,
                tenant_id,
                site_resource(Some(site_id), attributes),
            )
            .await?;
        let site = self
            .load_site(tenant_id, site_id)
            .await?
            .ok_or_else(|| site_not_found(site_id))?;
        Ok((tenant, site))
    }

    /// The local provider's simulated address of a site.
    pub(crate) fn site_url(&self, name: &str, site_id: &str) -> String {
        // The local provider's simulated address: labelled as such.
        let short = &site_id[site_id.len() - 8..];
        format!("http://{name}-{short}.sites.bbws.localhost")
    }

    pub async fn create(
        &self,
        caller: &Caller,
        tenant_id: &str,
        input: CreateSite,
    ) -> Result<Accepted<Site>> {
        let mut v = Validator::new();
        if let Err(m) = check_site_name(&input.name) {
            v.error("name", m);
        }
        if input.environment.is_some_and(|e| e != Environment::Dev) {
            v.error(
                "environment",
                "sites are created in DEV; promote them to SIT and PROD",
            );
        }
        if let Some(wp) = &input.wordpress {
            check_wordpress(&mut v, wp);
            if self.cx.site_settings.secrets.is_none() {
                v.error(
                    "wordpress",
                    "this deployment has no secrets key (--secrets-key) to store the password with",
                );
            }
        }
        if let Some(id) = &input.instance_id
            && !ids::looks_like("inst", id)
        {
            v.error("instanceId", format!("no instance {id}"));
        }
        if input.template_parameters.is_some() && input.template_id.is_none() {
            v.error("templateParameters", "given without a templateId");
        }
        if let Some(p) = &input.template_parameters
            && !p.is_object()
        {
            v.error("templateParameters", "must be a JSON object");
        }
        v.finish().map_err(Error::Validation)?;
        let mut attributes = vec![("environment".to_string(), "DEV".to_string())];
        if let Some(t) = &input.template_id {
            attributes.push(("templateId".into(), t.clone()));
        }
        let tenant = self
            .cx
            .tenant_for(
                caller,
                "site.create",
                tenant_id,
                site_resource(None, attributes),
            )
            .await?;
        require_active(&tenant)?;
        if let Some(instance_id) = &input.instance_id {
            self.cx
                .instances()
                .check_placement(tenant_id, instance_id)
                .await?;
        }
        if let Some(wp) = &input.wordpress {
            // Where bbws would connect, refused before anything is stored.
            self.attachable(wp).await?;
        }
        if let Some(t) = &input.template_id {
            // Unknown templates are refused now, not when the job runs.
            self.cx
                .templates()
                .find(tenant_id, t)
                .await?
                .ok_or_else(|| Error::invalid("templateId", format!("no template {t}")))?;
        }
        let now = self.cx.clock.now();
        let site_id = ids::new_id("site");
        let (provider, url, username) = match &input.wordpress {
            Some(wp) => (
                "wordpress",
                wp.url.trim_end_matches('/').to_string(),
                Some(wp.username.clone()),
            ),
            None => ("local", self.site_url(&input.name, &site_id), None),
        };
        let op = Operation::new(
            OperationKind::SiteCreate,
            ResourceRef::new(ResourceKind::Site, site_id.clone(), tenant_id),
            serde_json::json!({
                "templateId": input.template_id,
                "parameters": input.template_parameters,
            }),
            now,
        );
        let site = Site {
            site_id: site_id.clone(),
            tenant_id: tenant_id.into(),
            name: input.name,
            environment: Environment::Dev,
            status: SiteStatus::Provisioning,
            previous_status: None,
            url,
            provider: provider.into(),
            wordpress_username: username,
            instance_id: input.instance_id,
            template_id: input.template_id,
            cloned_from: None,
            operation_id: Some(op.operation_id.clone()),
            failure: None,
            created_at: now,
            updated_at: now,
            version: 0,
        };
        let mut ops = vec![
            put_site(&site)?,
            // The tenant must still be ACTIVE as the site lands.
            TxOp::check(keys::tenant(tenant_id), Condition::Version(tenant.version)),
        ];
        if let (Some(wp), Some(secrets)) = (&input.wordpress, &self.cx.site_settings.secrets) {
            let sealed = secrets.seal(wp.application_password.trim(), &site_id);
            ops.push(TxOp::put(
                Item::new(
                    keys::site_credentials(&site_id),
                    serde_json::json!({ "applicationPassword": sealed }),
                ),
                Condition::NotExists,
            ));
        }
        self.cx
            .start_operation(&op, ops)
            .await
            .map_err(|e| match e {
                Error::Conflict { .. } => Error::conflict(
                    "concurrent_modification",
                    "the tenant changed while the site was being created; retry",
                ),
                e => e,
            })?;
        tracing::info!(tenant = %tenant_id, site = %site_id, operation = %op.operation_id, "site creation queued");
        Ok(Accepted {
            resource: Site { version: 1, ..site },
            operation_id: op.operation_id,
        })
    }

    /// The client of a WordPress to attach, its address checked: 422
    /// `url_not_allowed` when its host is, or resolves to, an address bbws
    /// does not connect to.
    async fn attachable(&self, wp: &AttachWordPress) -> Result<WordPress> {
        let client = WordPress::new(
            &wp.url,
            &wp.username,
            &wp.application_password,
            self.cx.site_settings.wordpress_egress,
        )
        .map_err(|e| Error::invalid("wordpress.url", e.to_string()))?;
        client.check_address().await.map_err(|e| match e {
            WpError::NotAllowed(m) => url_not_allowed(m),
            e => Error::invalid("wordpress.url", e.to_string()),
        })?;
        Ok(client)
    }

    pub async fn get(&self, caller: &Caller, tenant_id: &str, site_id: &str) -> Result<Site> {
        Ok(self
            .site_for(caller, "site.read", tenant_id, site_id, Vec::new())
            .await?
            .1)
    }

    pub async fn list(
        &self,
        caller: &Caller,
        tenant_id: &str,
        filter: &SiteFilter,
        page: &PageRequest,
    ) -> Result<Page<Site>> {
        self.cx
            .tenant_for(
                caller,
                "site.read",
                tenant_id,
                site_resource(None, Vec::new()),
            )
            .await?;
        let (env, status) = (filter.environment, filter.status);
        self.cx
            .page(
                Query::new(Index::Primary, keys::sites_of(tenant_id)),
                page,
                |item| {
                    let s: Site = decode(item)?;
                    let keep = env.is_none_or(|e| e == s.environment)
                        && status.is_none_or(|st| st == s.status);
                    Ok(keep.then_some(s))
                },
            )
            .await
    }

    /// Re-reads a site and applies `change` until the write wins, or 412 if
    /// `if_match` is stale. `change` may refuse.
    pub(crate) async fn change(
        &self,
        tenant_id: &str,
        site_id: &str,
        if_match: Option<u64>,
        change: impl FnMut(&mut Site) -> Result<()>,
    ) -> Result<Site> {
        self.cx
            .change_record(
                &keys::site(tenant_id, site_id),
                "the site",
                || site_not_found(site_id),
                if_match,
                change,
            )
            .await
    }

    pub async fn update(
        &self,
        caller: &Caller,
        tenant_id: &str,
        site_id: &str,
        if_match: Option<u64>,
        input: UpdateSite,
    ) -> Result<Site> {
        let mut v = Validator::new();
        if let Some(name) = &input.name
            && let Err(m) = check_site_name(name)
        {
            v.error("name", m);
        }
        if let Some(wp) = &input.wordpress {
            check_wordpress(&mut v, wp);
        }
        v.finish().map_err(Error::Validation)?;
        let (tenant, site) = self
            .site_for(caller, "site.update", tenant_id, site_id, Vec::new())
            .await?;
        require_active(&tenant)?;
        check_if_match(if_match, site.version, "the site")?;
        let mut sealed = None;
        if let Some(wp) = &input.wordpress {
            if site.provider != "wordpress" {
                return Err(Error::invalid(
                    "wordpress",
                    "only an attached site has WordPress credentials",
                ));
            }
            let secrets =
                self.cx.site_settings.secrets.as_ref().ok_or_else(|| {
                    Error::invalid("wordpress", "this deployment has no secrets key")
                })?;
            // New credentials must work before they replace the old ones.
            let client = self.attachable(wp).await?;
            client.check().await.map_err(|e| match e {
                WpError::NotAllowed(m) => url_not_allowed(m),
                e => Error::Unprocessable {
                    code: "wordpress_check_failed",
                    detail: format!("the new credentials do not work: {e}"),
                },
            })?;
            sealed = Some(secrets.seal(wp.application_password.trim(), site_id));
        }
        // The new password and the site's new URL are one conditional
        // write: a lost race (412, 409) leaves both as they were.
        let credentials = || {
            sealed
                .iter()
                .map(|sealed| {
                    TxOp::put(
                        Item::new(
                            keys::site_credentials(site_id),
                            serde_json::json!({ "applicationPassword": sealed }),
                        ),
                        Condition::None,
                    )
                })
                .collect()
        };
        self.cx
            .change_record_with(
                &keys::site(tenant_id, site_id),
                "the site",
                || site_not_found(site_id),
                if_match,
                |s: &mut Site| {
                    if let Some(name) = &input.name {
                        s.name = name.clone();
                    }
                    if let Some(wp) = &input.wordpress {
                        s.url = wp.url.trim_end_matches('/').to_string();
                        s.wordpress_username = Some(wp.username.clone());
                    }
                    Ok(())
                },
                credentials,
            )
            .await
    }

    /// Marks a site with a new operation (conditional on the version read)
    /// and starts it, with `extra` writes in the same transaction.
    pub(crate) async fn start_on_site(
        &self,
        site: &Site,
        if_match: Option<u64>,
        op: &Operation,
        change: impl FnOnce(&mut Site),
        extra: Vec<TxOp>,
    ) -> Result<Site> {
        check_if_match(if_match, site.version, "the site")?;
        let mut marked = site.clone();
        marked.operation_id = Some(op.operation_id.clone());
        marked.updated_at = self.cx.clock.now();
        change(&mut marked);
        let mut ops = vec![put_site(&marked)?];
        ops.extend(extra);
        match self.cx.start_operation(op, ops).await {
            Err(Error::Conflict { .. }) => Err(if if_match.is_some() {
                Error::VersionConflict("the site changed".into())
            } else {
                Error::conflict(
                    "concurrent_modification",
                    "the site changed while the request ran; retry",
                )
            }),
            Err(e) => Err(e),
            Ok(()) => Ok(Site {
                version: site.version + 1,
                ..marked
            }),
        }
    }

    /// A new operation of `kind` on `site`.
    pub(crate) fn operation(
        &self,
        kind: OperationKind,
        site: &Site,
        input: serde_json::Value,
    ) -> Operation {
        Operation::new(
            kind,
            ResourceRef::new(ResourceKind::Site, &site.site_id, &site.tenant_id),
            input,
            self.cx.clock.now(),
        )
    }

    /// Starts deleting a site: 202, status DELETING; the job removes its
    /// state, backups and credentials, then the site.
    pub async fn delete(
        &self,
        caller: &Caller,
        tenant_id: &str,
        site_id: &str,
        if_match: Option<u64>,
    ) -> Result<Accepted<Site>> {
        let (_tenant, site) = self
            .site_for(caller, "site.delete", tenant_id, site_id, Vec::new())
            .await?;
        if site.status == SiteStatus::Deleting {
            return Err(Error::conflict(
                "invalid_site_status",
                "the site is already being deleted",
            ));
        }
        if let Some(op) = &site.operation_id {
            return Err(Error::conflict(
                "operation_in_progress",
                format!("the operation {op} is working on the site; wait for it to end"),
            ));
        }
        let op = self.operation(OperationKind::SiteDelete, &site, serde_json::json!({}));
        let site = self
            .start_on_site(
                &site,
                if_match,
                &op,
                |s| {
                    s.status = SiteStatus::Deleting;
                    s.previous_status = None;
                },
                Vec::new(),
            )
            .await?;
        Ok(Accepted {
            resource: site,
            operation_id: op.operation_id,
        })
    }

    pub async fn clone_site(
        &self,
        caller: &Caller,
        tenant_id: &str,
        site_id: &str,
        input: CloneSite,
    ) -> Result<Accepted<Site>> {
        let mut v = Validator::new();
        if let Err(m) = check_site_name(&input.name) {
            v.error("name", m);
        }
        v.finish().map_err(Error::Validation)?;
        // Cloning creates a site: it needs site.create.
        let (tenant, source) = self
            .site_for(
                caller,
                "site.create",
                tenant_id,
                site_id,
                vec![("clonedFrom".into(), site_id.into())],
            )
            .await?;
        require_active(&tenant)?;
        if source.provider != "local" {
            return Err(Error::Unprocessable {
                code: "unsupported_for_attached_site",
                detail: "an attached WordPress is not provisioned by bbws, so it cannot be cloned"
                    .into(),
            });
        }
        require_settled(&source)?;
        let environment = input.environment.unwrap_or(source.environment);
        if environment > source.environment {
            return Err(Error::invalid(
                "environment",
                format!(
                    "a clone of a {} site cannot start in {}; promote it instead",
                    source.environment.as_str(),
                    environment.as_str()
                ),
            ));
        }
        let now = self.cx.clock.now();
        let new_id = ids::new_id("site");
        let op = Operation::new(
            OperationKind::SiteClone,
            ResourceRef::new(ResourceKind::Site, new_id.clone(), tenant_id),
            serde_json::json!({ "sourceSiteId": site_id }),
            now,
        );
        let site = Site {
            site_id: new_id.clone(),
            tenant_id: tenant_id.into(),
            name: input.name.clone(),
            environment,
            status: SiteStatus::Provisioning,
            previous_status: None,
            url: self.site_url(&input.name, &new_id),
            provider: "local".into(),
            wordpress_username: None,
            instance_id: source.instance_id.clone(),
            template_id: source.template_id.clone(),
            cloned_from: Some(site_id.into()),
            operation_id: Some(op.operation_id.clone()),
            failure: None,
            created_at: now,
            updated_at: now,
            version: 0,
        };
        let ops = vec![
            put_site(&site)?,
            TxOp::check(keys::tenant(tenant_id), Condition::Version(tenant.version)),
            // The source must not change (be deleted, start an operation)
            // before the clone is queued.
            TxOp::check(
                keys::site(tenant_id, site_id),
                Condition::Version(source.version),
            ),
        ];
        self.cx.start_operation(&op, ops).await?;
        Ok(Accepted {
            resource: Site { version: 1, ..site },
            operation_id: op.operation_id,
        })
    }

    pub async fn promote(
        &self,
        caller: &Caller,
        tenant_id: &str,
        site_id: &str,
        if_match: Option<u64>,
        input: PromoteSite,
    ) -> Result<Accepted<Site>> {
        let target = input.target_environment;
        let (tenant, site) = self
            .site_for(
                caller,
                "site.promote",
                tenant_id,
                site_id,
                vec![("targetEnvironment".into(), target.as_str().into())],
            )
            .await?;
        require_active(&tenant)?;
        if site.environment.next() != Some(target) {
            return Err(Error::conflict(
                "invalid_transition",
                match site.environment.next() {
                    Some(next) => format!(
                        "a {} site is promoted to {} next, not {}: one step at a time",
                        site.environment.as_str(),
                        next.as_str(),
                        target.as_str()
                    ),
                    None => "a PROD site cannot be promoted further".into(),
                },
            ));
        }
        require_settled(&site)?;
        let op = self.operation(
            OperationKind::SitePromote,
            &site,
            serde_json::json!({ "targetEnvironment": target }),
        );
        let site = self
            .start_on_site(&site, if_match, &op, |_| {}, Vec::new())
            .await?;
        Ok(Accepted {
            resource: site,
            operation_id: op.operation_id,
        })
    }

    /// Deletes a site's state, credentials, backups and their bytes.
    pub(crate) async fn remove_site_contents(&self, site_id: &str) -> Result<()> {
        loop {
            let page = self
                .cx
                .store
                .query(Query::new(Index::Primary, keys::backups_of(site_id)).limit(50))
                .await?;
            if page.items.is_empty() {
                return Ok(());
            }
            for item in &page.items {
                if let Some(backup_id) = item.key.sk.strip_prefix(keys::BACKUP_PREFIX) {
                    self.cx
                        .site_settings
                        .blobs
                        .delete(&keys::backup_blob(site_id, backup_id))
                        .await?;
                }
                self.cx.store.delete(&item.key, Condition::None).await?;
            }
        }
    }
}

#[async_trait]
impl FollowsTenant for Sites<'_> {
    /// Holds a tenant's sites SUSPENDED while it is not ACTIVE, and gives
    /// them back their previous status when it is.
    async fn follow(&self, tenant: &Tenant) -> Result<usize> {
        let tenant_id = &tenant.tenant_id;
        let active = tenant.status == TenantStatus::Active;
        let sites: Vec<Site> = self
            .cx
            .query_all(Query::new(Index::Primary, keys::sites_of(tenant_id)))
            .await?;
        let mut changed = 0;
        for site in sites {
            if site.clone().follow_tenant(active) {
                self.change(tenant_id, &site.site_id, None, |s| {
                    s.follow_tenant(active);
                    Ok(())
                })
                .await?;
                changed += 1;
            }
        }
        if changed > 0 {
            tracing::info!(tenant = %tenant_id, changed, status = tenant.status.as_str(), "sites follow their tenant");
        }
        Ok(changed)
    }

    /// Removes every site of the tenant and what belongs to them, and its
    /// templates.
    async fn remove_all(&self, tenant_id: &str) -> Result<()> {
        self.cx.templates().remove_all(tenant_id).await?;
        let sites: Vec<Site> = self
            .cx
            .query_all(Query::new(Index::Primary, keys::sites_of(tenant_id)))
            .await?;
        for site in sites {
            self.remove_site_contents(&site.site_id).await?;
            self.cx
                .store
                .delete(&keys::site(tenant_id, &site.site_id), Condition::None)
                .await?;
        }
        Ok(())
    }
}
