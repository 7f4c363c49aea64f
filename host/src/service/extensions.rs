//! Extensions: tenants' WebAssembly components. Upload (validated, stored
//! by content hash), list, activate, roll back, delete (back to the platform
//! default) and dry-run. The decisions they take are in [`super::decisions`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::Tenant;
use crate::domain::tenant::ExtensionSlot;
use crate::policy::Request;
use crate::runtime::{Kind, Limits, Scope};
use crate::store::{Condition, Index, Item, Key, Query, keys};

use super::access::tenant_resource;
use super::decisions::{DecisionInput, answer, scope_tenant};
use super::{Caller, Error, Result, Services};

/// The extensions of tenants.
pub struct Extensions<'a> {
    pub(super) cx: &'a Services,
}

/// One uploaded version of an extension.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionVersion {
    /// sha256 of the component: its version.
    pub version: String,
    pub kind: String,
    pub size: usize,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    pub uploaded_at: DateTime<Utc>,
    pub uploaded_by: String,
}

/// One kind's state on a tenant.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KindView {
    pub kind: String,
    /// The active version; absent: the platform default.
    pub active: Option<String>,
    /// Versions a rollback returns to, most recent last.
    pub history: Vec<String>,
    pub versions: Vec<ExtensionVersion>,
}

/// `GET /v1/tenants/{tenantId}/extensions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExtensionsView {
    pub kinds: Vec<KindView>,
}

/// `POST .../extensions/{kind}/activate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Activate {
    pub version: String,
}

/// `POST .../extensions/{kind}/dry-run`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRun {
    /// The version to run (default: the active one, else the platform's).
    pub version: Option<String>,
    pub input: Request,
}

/// What a dry run answered.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRunResult {
    pub version: String,
    /// `allow`, `deny`, or `error` when the guest failed (and would have
    /// been denied, failing closed).
    pub decision: String,
    pub reason: String,
    /// The error's code when `decision` is `error` (`guest_timeout`, ...).
    pub error: Option<String>,
    pub duration_us: u64,
}

fn version_key(tenant_id: &str, kind: Kind, hash: &str) -> Key {
    keys::extension_version(tenant_id, kind.as_str(), hash)
}

fn parse_kind(kind: &str) -> Result<Kind> {
    Kind::parse(kind).ok_or_else(|| {
        Error::not_found(
            "extension_kind_not_found",
            format!("no extension kind {kind}; the kinds are policy, template and event-filter"),
        )
    })
}

fn extension_resource(tenant_id: &str) -> crate::policy::Resource {
    crate::policy::Resource {
        kind: "extension".into(),
        ..tenant_resource(tenant_id)
    }
}

impl Extensions<'_> {
    pub async fn upload(
        &self,
        caller: &Caller,
        tenant_id: &str,
        kind: &str,
        bytes: &[u8],
        activate: bool,
    ) -> Result<ExtensionVersion> {
        self.managed(caller, tenant_id).await?;
        let kind = parse_kind(kind)?;
        let info = self.cx.policies.runtime.validate(kind, bytes).await?;
        self.cx
            .policies
            .blobs
            .put(&keys::component_blob(&info.hash), bytes)
            .await
            .map_err(Error::Internal)?;
        let version = ExtensionVersion {
            version: info.hash.clone(),
            kind: kind.as_str().to_string(),
            size: info.size,
            imports: info.imports,
            exports: info.exports,
            uploaded_at: self.cx.clock.now(),
            uploaded_by: caller.principal.user_id.clone(),
        };
        let doc = serde_json::to_value(&version).map_err(anyhow::Error::from)?;
        self.cx
            .store
            .put(
                Item::new(version_key(tenant_id, kind, &info.hash), doc),
                Condition::None,
            )
            .await?;
        tracing::info!(tenant = %tenant_id, kind = kind.as_str(), version = %info.hash, "extension uploaded");
        if activate {
            self.activate(caller, tenant_id, kind.as_str(), &info.hash)
                .await?;
        }
        Ok(version)
    }

    async fn versions(&self, tenant_id: &str, kind: Kind) -> Result<Vec<ExtensionVersion>> {
        let page = self
            .cx
            .store
            .query(
                Query::new(Index::Primary, keys::tenant_pk(tenant_id))
                    .prefix(keys::extension_versions(kind.as_str()))
                    .limit(1000),
            )
            .await?;
        let mut versions: Vec<ExtensionVersion> = page
            .items
            .iter()
            .map(|i| i.decode())
            .collect::<std::result::Result<_, _>>()?;
        versions.sort_by_key(|v| v.uploaded_at);
        Ok(versions)
    }

    pub async fn list(&self, caller: &Caller, tenant_id: &str) -> Result<ExtensionsView> {
        let tenant = self
            .cx
            .tenant_for(
                caller,
                "extension.read",
                tenant_id,
                extension_resource(tenant_id),
            )
            .await?;
        let mut kinds = Vec::new();
        for kind in [Kind::Policy, Kind::Template, Kind::EventFilter] {
            let slot = tenant.extensions.get(kind.as_str());
            kinds.push(KindView {
                kind: kind.as_str().to_string(),
                active: slot.map(|s| s.active.clone()),
                history: slot.map(|s| s.history.clone()).unwrap_or_default(),
                versions: self.versions(tenant_id, kind).await?,
            });
        }
        Ok(ExtensionsView { kinds })
    }

    /// Authorizes `extension.manage` on the tenant: the first thing every
    /// change does, so that a caller who may not manage the tenant's
    /// extensions learns nothing of them (a kind, a version) from the answer.
    async fn managed(&self, caller: &Caller, tenant_id: &str) -> Result<Tenant> {
        self.cx
            .tenant_for(
                caller,
                "extension.manage",
                tenant_id,
                extension_resource(tenant_id),
            )
            .await
    }

    /// Changes one kind's slot on the tenant `read` (as its authorization
    /// read it), conditionally on its version.
    async fn change_slot(
        &self,
        read: Tenant,
        kind: Kind,
        change: impl Fn(&mut BTreeMap<String, ExtensionSlot>) -> Result<()>,
    ) -> Result<Option<ExtensionSlot>> {
        let tenant: Tenant = self
            .cx
            .tenants()
            .change_tenant(read, None, |t| change(&mut t.extensions))
            .await?;
        Ok(tenant.extensions.get(kind.as_str()).cloned())
    }

    pub async fn activate(
        &self,
        caller: &Caller,
        tenant_id: &str,
        kind: &str,
        version: &str,
    ) -> Result<Option<ExtensionSlot>> {
        let read = self.managed(caller, tenant_id).await?;
        let k = parse_kind(kind)?;
        if self
            .cx
            .store
            .get(&version_key(tenant_id, k, version))
            .await?
            .is_none()
        {
            return Err(Error::invalid(
                "version",
                format!("no {kind} version {version} was uploaded to this tenant"),
            ));
        }
        let slot = self
            .change_slot(read, k, |ext| {
                let slot = ext.entry(k.as_str().to_string()).or_default();
                if slot.active != version {
                    if !slot.active.is_empty() {
                        let previous = std::mem::take(&mut slot.active);
                        slot.history.push(previous);
                    }
                    slot.active = version.to_string();
                }
                Ok(())
            })
            .await?;
        tracing::info!(tenant = %tenant_id, kind, version, "extension activated");
        Ok(slot)
    }

    pub async fn rollback(
        &self,
        caller: &Caller,
        tenant_id: &str,
        kind: &str,
    ) -> Result<Option<ExtensionSlot>> {
        let read = self.managed(caller, tenant_id).await?;
        let k = parse_kind(kind)?;
        self.change_slot(read, k, |ext| {
            let slot = ext
                .get_mut(k.as_str())
                .filter(|s| !s.history.is_empty())
                .ok_or_else(|| {
                    Error::conflict(
                        "nothing_to_roll_back",
                        format!("no earlier {kind} version was active"),
                    )
                })?;
            slot.active = slot.history.pop().unwrap_or_default();
            Ok(())
        })
        .await
    }

    /// Back to the platform default for `kind`.
    pub async fn reset(
        &self,
        caller: &Caller,
        tenant_id: &str,
        kind: &str,
    ) -> Result<Option<ExtensionSlot>> {
        let read = self.managed(caller, tenant_id).await?;
        let k = parse_kind(kind)?;
        self.change_slot(read, k, |ext| {
            ext.remove(k.as_str());
            Ok(())
        })
        .await
    }

    pub async fn dry_run(
        &self,
        caller: &Caller,
        tenant_id: &str,
        kind: &str,
        input: DryRun,
    ) -> Result<DryRunResult> {
        let tenant = self.managed(caller, tenant_id).await?;
        let k = parse_kind(kind)?;
        if k != Kind::Policy {
            return Err(Error::Unprocessable {
                code: "not_executable",
                detail: format!(
                    "{kind} components are validated and stored; running them arrives with their service"
                ),
            });
        }
        let version = match input.version {
            Some(v) => {
                if self
                    .cx
                    .store
                    .get(&version_key(tenant_id, k, &v))
                    .await?
                    .is_none()
                    && v != self.cx.policies.platform_hash()
                {
                    return Err(Error::invalid(
                        "version",
                        format!("no policy version {v} was uploaded to this tenant"),
                    ));
                }
                v
            }
            None => tenant
                .active_policy()
                .unwrap_or(self.cx.policies.platform_hash())
                .to_string(),
        };
        let chain = self.cx.chain(&tenant).await?;
        let input = DecisionInput {
            request: input.input,
            scope: Scope {
                tenants: chain.iter().map(scope_tenant).collect(),
                ..Scope::default()
            },
        };
        let started = std::time::Instant::now();
        let result = self
            .cx
            .policies
            .run(&version, tenant_id, &input, Limits::for_tier(tenant.tier))
            .await;
        let duration_us = started.elapsed().as_micros() as u64;
        let (decision, reason, error) = answer(result);
        Ok(DryRunResult {
            version,
            decision: decision.into(),
            reason,
            error: error.map(str::to_string),
            duration_us,
        })
    }
}
