//! Extensions: tenants' WebAssembly components. Upload (validated, stored
//! by content hash, at most [`Tier::max_extension_versions`] per kind),
//! list, activate, roll back, reset (back to the platform default), delete
//! a version, and dry-run. The decisions they take are in
//! [`super::decisions`].
//!
//! Every change of a kind's active version is recorded in an item of its
//! own under the tenant ([`Activation`]), written in the same transaction as
//! the tenant; the tenant record keeps only the last
//! [`ROLLBACK_DEPTH`](crate::domain::tenant::ROLLBACK_DEPTH) versions a
//! rollback returns to, since every request reads it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::tenant::ExtensionSlot;
use crate::domain::{Tenant, Tier};
use crate::policy::Request;
use crate::runtime::{Kind, Limits, Scope};
use crate::store::{Condition, Index, Item, Key, Query, TxOp, keys};

use super::access::tenant_resource;

/// What seeds a dry run's random bytes in place of a decision id: the same
/// dry run answers the same.
const DRY_RUN_SEED: &str = "dry-run";
use super::decisions::{DecisionInput, answer, scope_tenant};
use super::paging::Page;
use super::tenants::put_tenant;
use super::{Caller, Error, PageRequest, Race, Result, Services, won};

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

/// One change of a kind's active version: an activation, a rollback or a
/// reset. Kept, every one, beside the tenant record
/// (`GET /v1/tenants/{tenantId}/extensions/activations`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Activation {
    /// 1 for the tenant's first, one more for each after it.
    pub sequence: u64,
    pub kind: String,
    /// `activate`, `rollback` or `reset` (back to the platform default).
    pub action: String,
    /// The version active after it; absent: the platform default.
    pub version: Option<String>,
    /// The version active before it; absent: the platform default.
    pub previous: Option<String>,
    pub at: DateTime<Utc>,
    /// The user who made it.
    pub by: String,
}

/// One kind's state on a tenant.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KindView {
    pub kind: String,
    /// The active version; absent: the platform default.
    pub active: Option<String>,
    /// Versions a rollback returns to, most recent last: the last 20.
    pub history: Vec<String>,
    /// Every uploaded version, oldest first (at most the tier's cap).
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

/// The tenant's versions of `kind`, in sha256 order.
fn versions_query(tenant_id: &str, kind: Kind) -> Query {
    Query::new(Index::Primary, keys::tenant_pk(tenant_id))
        .prefix(keys::extension_versions(kind.as_str()))
}

/// Where the count of the tenant's versions of `kind` is kept.
fn versions_count(tenant_id: &str, kind: Kind) -> Key {
    keys::count(tenant_id, &format!("extver#{}", kind.as_str()))
}

fn versions_full(tier: Tier, kind: Kind) -> Error {
    Error::conflict(
        "component_versions_full",
        format!(
            "a {} tenant keeps at most {} {} versions; delete one it no longer needs (DELETE .../extensions/{}/versions/{{version}})",
            tier.as_str(),
            tier.max_extension_versions(),
            kind.as_str(),
            kind.as_str()
        ),
    )
}

/// Whether `text` is shaped like a version (a sha256 in hex), so that junk
/// never reaches a key.
fn looks_like_version(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn version_not_found(kind: Kind, version: &str) -> Error {
    Error::not_found(
        "extension_version_not_found",
        format!(
            "no {} version {version} was uploaded to this tenant",
            kind.as_str()
        ),
    )
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
    /// Stores a validated version. One already uploaded is answered as it
    /// was stored, and counts once; a new one past the tier's cap is 409
    /// `component_versions_full`.
    pub async fn upload(
        &self,
        caller: &Caller,
        tenant_id: &str,
        kind: &str,
        bytes: &[u8],
        activate: bool,
    ) -> Result<ExtensionVersion> {
        let tenant = self.managed(caller, tenant_id).await?;
        let kind = parse_kind(kind)?;
        let hash = crate::runtime::content_hash(bytes);
        let key = version_key(tenant_id, kind, &hash);
        let version = match self.cx.store.get(&key).await? {
            // The same bytes: validated when they were stored.
            Some(stored) => stored.decode()?,
            None => {
                self.store_version(caller, &tenant, kind, bytes, key)
                    .await?
            }
        };
        if activate {
            self.activate(caller, tenant_id, kind.as_str(), &hash)
                .await?;
        }
        Ok(version)
    }

    /// Validates and stores a new version under the tier's cap.
    async fn store_version(
        &self,
        caller: &Caller,
        tenant: &Tenant,
        kind: Kind,
        bytes: &[u8],
        key: Key,
    ) -> Result<ExtensionVersion> {
        let tenant_id = tenant.tenant_id.as_str();
        let cap = tenant.tier.max_extension_versions();
        let counted = versions_count(tenant_id, kind);
        let count = || {
            self.cx
                .count(counted.clone(), versions_query(tenant_id, kind))
        };
        // Refused before any work when full (a full tenant's uploads must
        // not grow the blob store either).
        if count().await?.n >= cap {
            return Err(versions_full(tenant.tier, kind));
        }
        let max_bytes = Limits::for_tier(tenant.tier).component_bytes;
        let info = self
            .cx
            .policies
            .runtime
            .validate(kind, bytes, max_bytes)
            .await?;
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
        let item = Item::record(key.clone(), &version)?;
        let mut race = Race::new("the tenant's extension versions");
        let version = loop {
            if let Some(stored) = self.cx.store.get(&key).await? {
                break stored.decode()?;
            }
            let count = count().await?;
            if count.n >= cap {
                return Err(versions_full(tenant.tier, kind));
            }
            let ops = vec![
                count.moved(1)?,
                TxOp::put(item.clone(), Condition::NotExists),
            ];
            match won(self.cx.store.transact(ops).await)? {
                Some(()) => break version,
                None => race.lost().await?,
            }
        };
        tracing::info!(tenant = %tenant_id, kind = kind.as_str(), version = %info.hash, "extension uploaded");
        Ok(version)
    }

    /// Every version of `kind`, oldest first.
    async fn versions(&self, tenant_id: &str, kind: Kind) -> Result<Vec<ExtensionVersion>> {
        let items = self.cx.items_all(versions_query(tenant_id, kind)).await?;
        let mut versions: Vec<ExtensionVersion> = items
            .iter()
            .map(|i| i.decode())
            .collect::<std::result::Result<_, _>>()?;
        versions.sort_by_key(|v| v.uploaded_at);
        Ok(versions)
    }

    /// `GET .../extensions/{kind}/versions`: a page of the uploaded
    /// versions of `kind`, in version (sha256) order.
    pub async fn list_versions(
        &self,
        caller: &Caller,
        tenant_id: &str,
        kind: &str,
        page: &PageRequest,
    ) -> Result<Page<ExtensionVersion>> {
        self.read(caller, tenant_id).await?;
        let kind = parse_kind(kind)?;
        self.cx
            .page(versions_query(tenant_id, kind), page, |item| {
                Ok(Some(item.decode()?))
            })
            .await
    }

    /// `GET .../extensions/activations[?kind=]`: a page of the tenant's
    /// activations, newest first.
    pub async fn activations(
        &self,
        caller: &Caller,
        tenant_id: &str,
        kind: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Activation>> {
        self.read(caller, tenant_id).await?;
        let kind = kind
            .map(|k| {
                Kind::parse(k).ok_or_else(|| {
                    Error::invalid("kind", "must be policy, template or event-filter")
                })
            })
            .transpose()?;
        let query =
            Query::new(Index::Primary, keys::tenant_pk(tenant_id)).prefix(keys::ACTIVATION_PREFIX);
        self.cx
            .page(query, page, |item| {
                let a: Activation = item.decode()?;
                Ok(kind.is_none_or(|k| a.kind == k.as_str()).then_some(a))
            })
            .await
    }

    /// Deletes an uploaded version: 404 `extension_version_not_found` if
    /// there is none, 409 `extension_version_active` while it is active. A
    /// version a rollback would return to leaves the rollback history in
    /// the same transaction. The component's bytes stay (they are shared by
    /// content hash, and recorded decisions replay on them).
    pub async fn delete_version(
        &self,
        caller: &Caller,
        tenant_id: &str,
        kind: &str,
        version: &str,
    ) -> Result<()> {
        let mut read = Some(self.managed(caller, tenant_id).await?);
        let kind = parse_kind(kind)?;
        if !looks_like_version(version) {
            return Err(version_not_found(kind, version));
        }
        let key = version_key(tenant_id, kind, version);
        let mut race = Race::new("the tenant's extension versions");
        loop {
            let mut tenant = match read.take() {
                Some(t) => t,
                None => self.cx.live_tenant(tenant_id).await?,
            };
            if self.cx.store.get(&key).await?.is_none() {
                return Err(version_not_found(kind, version));
            }
            // The tenant is written (or checked) at the version read: an
            // activation of this version that lands first makes this lose.
            let mut guard =
                TxOp::check(keys::tenant(tenant_id), Condition::Version(tenant.version));
            if let Some(slot) = tenant.extensions.get_mut(kind.as_str()) {
                if slot.active == version {
                    return Err(Error::conflict(
                        "extension_version_active",
                        format!(
                            "{version} is the active {} version; activate another or reset the kind first",
                            kind.as_str()
                        ),
                    ));
                }
                let before = slot.history.len();
                slot.history.retain(|v| v != version);
                if slot.history.len() != before {
                    tenant.updated_at = self.cx.clock.now();
                    guard = put_tenant(&tenant)?;
                }
            }
            let count = self
                .cx
                .count(
                    versions_count(tenant_id, kind),
                    versions_query(tenant_id, kind),
                )
                .await?;
            let ops = vec![
                guard,
                TxOp::delete(key.clone(), Condition::Exists),
                count.moved(-1)?,
            ];
            match won(self.cx.store.transact(ops).await)? {
                Some(()) => break,
                None => race.lost().await?,
            }
        }
        tracing::info!(tenant = %tenant_id, kind = kind.as_str(), version, "extension version deleted");
        Ok(())
    }

    pub async fn list(&self, caller: &Caller, tenant_id: &str) -> Result<ExtensionsView> {
        let tenant = self.read(caller, tenant_id).await?;
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

    /// Authorizes `extension.read` on the tenant: the first thing every
    /// read does.
    async fn read(&self, caller: &Caller, tenant_id: &str) -> Result<Tenant> {
        self.cx
            .tenant_for(
                caller,
                "extension.read",
                tenant_id,
                extension_resource(tenant_id),
            )
            .await
    }

    /// Authorizes `extension.manage` on the tenant: the first thing every
    /// change does, so that a caller who may not manage the tenant's
    /// extensions learns nothing of them (a kind, a version) from the answer.
    pub(crate) async fn managed(&self, caller: &Caller, tenant_id: &str) -> Result<Tenant> {
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
    /// read it), conditionally on its version, with `extra` in the same
    /// transaction. A change of the active version is recorded as an
    /// [`Activation`] of `action` there too; every slot's rollback history
    /// is trimmed to its last 20.
    async fn change_slot(
        &self,
        caller: &Caller,
        read: Tenant,
        kind: Kind,
        action: &str,
        extra: Vec<TxOp>,
        change: impl Fn(&mut BTreeMap<String, ExtensionSlot>) -> Result<()>,
    ) -> Result<Option<ExtensionSlot>> {
        let active = |t: &Tenant| {
            t.extensions
                .get(kind.as_str())
                .map(|s| s.active.clone())
                .filter(|a| !a.is_empty())
        };
        let at = self.cx.clock.now();
        let tenant: Tenant = self
            .cx
            .tenants()
            .change_tenant_tx(read, None, |t| {
                let previous = active(t);
                change(&mut t.extensions)?;
                t.extensions.values_mut().for_each(ExtensionSlot::trim);
                let mut ops = extra.clone();
                let version = active(t);
                if version != previous {
                    t.activation_count += 1;
                    let record = Activation {
                        sequence: t.activation_count,
                        kind: kind.as_str().to_string(),
                        action: action.to_string(),
                        version,
                        previous,
                        at,
                        by: caller.principal.user_id.clone(),
                    };
                    let key = keys::activation(&t.tenant_id, record.sequence);
                    ops.push(TxOp::put(Item::record(key, &record)?, Condition::NotExists));
                }
                Ok(ops)
            })
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
        let key = version_key(tenant_id, k, version);
        if !looks_like_version(version) || self.cx.store.get(&key).await?.is_none() {
            return Err(Error::invalid(
                "version",
                format!("no {kind} version {version} was uploaded to this tenant"),
            ));
        }
        // The version must still be there when the switch lands (a delete
        // may race it).
        let still_there = vec![TxOp::check(key, Condition::Exists)];
        let slot = self
            .change_slot(caller, read, k, "activate", still_there, |ext| {
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
        self.change_slot(caller, read, k, "rollback", Vec::new(), |ext| {
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
        self.change_slot(caller, read, k, "reset", Vec::new(), |ext| {
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
            .run(
                &version,
                tenant_id,
                DRY_RUN_SEED,
                &input,
                Limits::for_tier(tenant.tier),
            )
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
