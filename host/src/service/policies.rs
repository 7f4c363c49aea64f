//! Policy decisions through WebAssembly, and the decision log.
//!
//! Composition: the platform's RBAC policy (the `default-policy` guest,
//! built into the binary) must allow; then every active policy of the
//! tenant and of each of its ancestors must allow. A tenant policy can only
//! narrow what the platform allows. Platform administrators answer to the
//! platform policy alone, and a tenant's own policy does not judge the
//! management of that tenant's extensions (`extension.*`): tenant code
//! never locks out the operator, nor the owners who must roll it back.
//!
//! Every decision is recorded with its full input (the request and the
//! scope the guest could see), the component hashes that decided, the
//! reason and the time it took, so `replay` reruns it exactly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::ToSchema;

use crate::blobs::BlobStore;
use crate::domain::{Tenant, TenantRole, ids};
use crate::policy::{Principal, Resource, RoleBinding};
use crate::runtime::bindings::types;
use crate::runtime::{GuestError, Limits, Runtime, Scope, ScopeTenant};
use crate::store::{Item, ItemStore, Key};

use super::Result;

/// The platform's RBAC policy guest, built from `guests/default-policy`.
pub const DEFAULT_POLICY: &[u8] = include_bytes!(env!("BBWS_GUEST_DEFAULT_POLICY"));

/// How long decision records are kept.
const DECISION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// A policy request as JSON (the decision log, dry-run and replay use it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyRequest {
    pub principal: PrincipalInput,
    pub action: String,
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub roles: Vec<BindingInput>,
    pub resource: ResourceInput,
    #[serde(default)]
    pub now_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrincipalInput {
    pub user_id: String,
    #[serde(default)]
    pub platform_admin: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BindingInput {
    pub tenant_id: String,
    pub role: TenantRole,
    #[serde(default)]
    pub inherited: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceInput {
    pub kind: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub grants_role: Option<TenantRole>,
    #[serde(default)]
    pub attributes: Vec<(String, String)>,
}

fn wit_role(r: TenantRole) -> types::TenantRole {
    match r {
        TenantRole::Viewer => types::TenantRole::Viewer,
        TenantRole::Operator => types::TenantRole::Operator,
        TenantRole::Admin => types::TenantRole::Admin,
        TenantRole::Owner => types::TenantRole::Owner,
    }
}

impl PolicyRequest {
    pub fn to_wit(&self) -> types::Request {
        types::Request {
            principal: types::Principal {
                user_id: self.principal.user_id.clone(),
                platform_admin: self.principal.platform_admin,
            },
            action: self.action.clone(),
            tenant_id: self.tenant_id.clone(),
            roles: self
                .roles
                .iter()
                .map(|b| types::RoleBinding {
                    tenant_id: b.tenant_id.clone(),
                    role: wit_role(b.role),
                    inherited: b.inherited,
                })
                .collect(),
            resource: types::Resource {
                kind: self.resource.kind.clone(),
                id: self.resource.id.clone(),
                grants_role: self.resource.grants_role.map(wit_role),
                attributes: self.resource.attributes.clone(),
            },
            now_ms: self.now_ms,
        }
    }
}

/// Everything a decision depended on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionInput {
    pub request: PolicyRequest,
    /// The tenants the guests could look up.
    #[schema(value_type = Object)]
    pub scope: Scope,
}

/// One component's part in a decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// `platform` (the RBAC guest) or the tenant whose policy this was.
    pub source: String,
    /// sha256 of the component.
    pub component: String,
    /// `allow`, `deny` or `error`.
    pub decision: String,
    pub reason: String,
    pub duration_us: u64,
}

/// A recorded decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionRecord {
    pub decision_id: String,
    pub tenant_id: Option<String>,
    pub principal: String,
    pub action: String,
    pub resource_kind: String,
    pub resource_id: Option<String>,
    /// `allow` or `deny`.
    pub decision: String,
    pub reason: String,
    /// Every component that took part, in order.
    pub components: Vec<Verdict>,
    pub duration_us: u64,
    pub at: DateTime<Utc>,
    pub input: DecisionInput,
}

/// The outcome of a composed decision.
pub struct Outcome {
    pub allowed: bool,
    pub reason: String,
}

/// The policy engine: the runtime, the platform policy, and the log.
pub struct Policies {
    pub runtime: Arc<Runtime>,
    pub blobs: Arc<dyn BlobStore>,
    /// Where decision records are written and read back.
    pub decisions: Arc<dyn ItemStore>,
    platform_hash: String,
    log: mpsc::Sender<DecisionRecord>,
}

/// Records waiting for the log writer at most. A full queue makes requests
/// wait for the writer (backpressure) rather than lose records or grow
/// without bound.
const LOG_QUEUE: usize = 4096;

/// The index partition that finds a decision by id alone.
pub const DECISION_INDEX: &str = "DECISIONS";

pub fn decisions_pk(tenant: Option<&str>) -> String {
    format!("DECISIONS#{}", tenant.unwrap_or("platform"))
}

/// Where a component's bytes live in the blob store.
pub fn component_key(hash: &str) -> String {
    format!("components/{hash}.wasm")
}

impl Policies {
    /// Prepares the platform policy and starts the decision-log writer.
    pub async fn start(
        runtime: Arc<Runtime>,
        blobs: Arc<dyn BlobStore>,
        decisions: Arc<dyn ItemStore>,
    ) -> anyhow::Result<Arc<Self>> {
        let platform_hash = crate::runtime::content_hash(DEFAULT_POLICY);
        runtime
            .prepare(&platform_hash, DEFAULT_POLICY)
            .await
            .map_err(|e| anyhow::anyhow!("the platform policy does not load: {e}"))?;
        let (tx, rx) = mpsc::channel(LOG_QUEUE);
        tokio::spawn(write_log(decisions.clone(), rx));
        Ok(Arc::new(Self {
            runtime,
            blobs,
            decisions,
            platform_hash,
            log: tx,
        }))
    }

    pub fn platform_hash(&self) -> &str {
        &self.platform_hash
    }

    /// Runs one component on an input. `platform` components are always in memory.
    pub async fn run(
        &self,
        hash: &str,
        input: &DecisionInput,
        limits: Limits,
    ) -> std::result::Result<types::Decision, GuestError> {
        let pre = match self.runtime.cached(hash) {
            Some(pre) => pre,
            None => {
                let bytes = self
                    .blobs
                    .get(&component_key(hash))
                    .await
                    .map_err(|e| GuestError::Load(e.to_string()))?
                    .ok_or_else(|| GuestError::Load(format!("component {hash} is not stored")))?;
                self.runtime.prepare(hash, &bytes).await?
            }
        };
        self.runtime.authorize(
            &pre,
            &input.request.to_wit(),
            Arc::new(input.scope.clone()),
            limits,
        )
    }

    /// Decides a request: the platform policy, then every tenant policy on
    /// the tenant's path. `chain` is the tenant and its ancestors (tenant first).
    pub async fn decide(
        &self,
        principal: &Principal,
        action: &str,
        chain: &[Tenant],
        roles: &[RoleBinding],
        resource: &Resource,
        now: DateTime<Utc>,
    ) -> Result<Outcome> {
        let started = Instant::now();
        let input = DecisionInput {
            request: PolicyRequest {
                principal: PrincipalInput {
                    user_id: principal.user_id.clone(),
                    platform_admin: principal.is_platform_admin(),
                },
                action: action.to_string(),
                tenant_id: chain.first().map(|t| t.tenant_id.clone()),
                roles: roles
                    .iter()
                    .map(|b| BindingInput {
                        tenant_id: b.tenant_id.clone(),
                        role: b.role,
                        inherited: b.inherited,
                    })
                    .collect(),
                resource: ResourceInput {
                    kind: resource.kind.to_string(),
                    id: resource.id.clone(),
                    grants_role: resource.grants_role,
                    attributes: resource.attributes.clone(),
                },
                now_ms: now.timestamp_millis(),
            },
            scope: Scope {
                tenants: chain.iter().map(scope_tenant).collect(),
                ..Scope::default()
            },
        };
        let limits = chain
            .first()
            .map_or_else(Limits::default, |t| Limits::for_tier(t.tier));
        let mut verdicts = Vec::new();
        let mut sources: Vec<(String, String)> =
            vec![("platform".into(), self.platform_hash.clone())];
        if !principal.is_platform_admin() {
            for (i, t) in chain.iter().enumerate() {
                // A tenant's own policy does not judge the management of its
                // own extensions: a broken policy must never lock its owners
                // out of rolling it back. Ancestors' policies still apply.
                if i == 0 && action.starts_with("extension.") {
                    continue;
                }
                if let Some(active) = t.active_policy() {
                    sources.push((t.tenant_id.clone(), active.to_string()));
                }
            }
        }
        let mut outcome = Outcome {
            allowed: true,
            reason: String::new(),
        };
        for (source, hash) in sources {
            let started = Instant::now();
            let result = self.run(&hash, &input, limits).await;
            let took = started.elapsed();
            if let Err(e) = &result {
                tracing::warn!(%source, component = %hash, code = e.code(), error = %e, "policy guest failed; denying");
            }
            let (decision, reason, _) = answer(result);
            let allowed = decision == "allow";
            verdicts.push(Verdict {
                source: source.clone(),
                component: hash,
                decision: decision.into(),
                reason: reason.clone(),
                duration_us: took.as_micros() as u64,
            });
            if !allowed {
                outcome = Outcome {
                    allowed: false,
                    reason: if source == "platform" {
                        reason
                    } else {
                        format!("the policy of tenant {source} denies: {reason}")
                    },
                };
                break;
            }
            outcome.reason = reason;
        }
        let record = DecisionRecord {
            decision_id: ids::new_id("dec"),
            tenant_id: input.request.tenant_id.clone(),
            principal: principal.user_id.clone(),
            action: action.to_string(),
            resource_kind: resource.kind.to_string(),
            resource_id: resource.id.clone(),
            decision: if outcome.allowed { "allow" } else { "deny" }.into(),
            reason: outcome.reason.clone(),
            components: verdicts,
            duration_us: started.elapsed().as_micros() as u64,
            at: now,
            input,
        };
        let _ = self.log.send(record).await;
        Ok(outcome)
    }
}

/// A guest's answer as `(decision, reason, error code)`: `allow`, `deny`,
/// or `error` when it failed (and so denies, failing closed).
pub(crate) fn answer(
    result: std::result::Result<types::Decision, GuestError>,
) -> (&'static str, String, Option<&'static str>) {
    match result {
        Ok(types::Decision::Allow(r)) => ("allow", r, None),
        Ok(types::Decision::Deny(r)) => ("deny", r, None),
        Err(e) => ("error", format!("{}: {e}", e.code()), Some(e.code())),
    }
}

pub(crate) fn scope_tenant(t: &Tenant) -> ScopeTenant {
    ScopeTenant {
        id: t.tenant_id.clone(),
        organisation_name: t.organisation_name.clone(),
        status: t.status,
        parent_id: t.parent_tenant_id.clone(),
        tier: serde_json::to_value(t.tier)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
    }
}

/// The item a decision record is stored as.
pub fn decision_item(record: &DecisionRecord) -> Result<Item> {
    let expires =
        (record.at + chrono::Duration::from_std(DECISION_TTL).unwrap_or_default()).timestamp();
    Ok(Item::record(
        Key::new(
            decisions_pk(record.tenant_id.as_deref()),
            &record.decision_id,
        ),
        record,
    )?
    .with_gsi1(DECISION_INDEX, &record.decision_id)
    .expiring_at(expires))
}

/// Records per write at most: one SQLite transaction, or BatchWriteItem
/// calls of 25 on DynamoDB.
const LOG_BATCH: usize = 500;

/// Writes decision records in batches, off the request path: whatever
/// arrived within 20 ms of the first record, up to [`LOG_BATCH`].
async fn write_log(store: Arc<dyn ItemStore>, mut rx: mpsc::Receiver<DecisionRecord>) {
    let mut batch = Vec::with_capacity(LOG_BATCH);
    while rx.recv_many(&mut batch, LOG_BATCH).await > 0 {
        let deadline = tokio::time::sleep(Duration::from_millis(20));
        tokio::pin!(deadline);
        while batch.len() < LOG_BATCH {
            let room = LOG_BATCH - batch.len();
            tokio::select! {
                n = rx.recv_many(&mut batch, room) => if n == 0 { break },
                _ = &mut deadline => break,
            }
        }
        let items: Vec<Item> = batch
            .drain(..)
            .filter_map(|r| match decision_item(&r) {
                Ok(item) => Some(item),
                Err(e) => {
                    tracing::error!(decision = %r.decision_id, error = %e, "could not encode a decision record");
                    None
                }
            })
            .collect();
        if let Err(e) = store.put_many(items).await {
            tracing::error!(error = %e, "could not write decision records");
        }
    }
}
