//! Decisions: every policy question of the platform is answered here, by
//! WebAssembly, and recorded ([`log`]).
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

pub mod log;

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::blobs::BlobStore;
use crate::domain::{Tenant, ids};
use crate::policy::Request;
use crate::runtime::bindings::types;
use crate::runtime::pool::Budget;
use crate::runtime::{
    GuestError, Limits, Lookups, Origin, Runtime, Scope, ScopeInstance, ScopeSite, ScopeTenant,
};
use crate::store::{ItemStore, keys};

pub use log::{DECISION_RETENTION, DecisionInput, DecisionRecord, Decisions, Replay, Verdict};

use super::Result;

/// The platform's RBAC policy guest, built from `guests/default-policy`.
pub const DEFAULT_POLICY: &[u8] = include_bytes!(env!("BBWS_GUEST_DEFAULT_POLICY"));

/// What the guests of a decision may look up beyond the tenant tree: the
/// chain's sites and instances.
#[derive(Debug, Default)]
pub struct Records {
    pub sites: Vec<ScopeSite>,
    pub instances: Vec<ScopeInstance>,
}

/// The outcome of a composed decision.
pub struct Outcome {
    pub allowed: bool,
    pub reason: String,
    /// Set when the denial came from a guest that failed, not decided.
    pub guest_error: Option<GuestFailure>,
}

/// A policy guest that failed (and so denied): its error code and the
/// component's hash, as a client sees them in `guestError`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct GuestFailure {
    /// `guest_timeout`, `guest_limit`, `guest_trap`, `guest_load`, ...
    pub code: String,
    /// The sha256 of the component that failed.
    pub component: String,
}

impl Outcome {
    /// The error a denial is answered with.
    pub fn denied(self) -> crate::service::Error {
        match self.guest_error {
            Some(guest) => crate::service::Error::GuestFailed {
                reason: self.reason,
                guest,
            },
            None => crate::service::Error::Forbidden(self.reason),
        }
    }
}

/// The policy engine: the runtime, the platform policy, and the log.
pub struct Policies {
    pub runtime: Arc<Runtime>,
    pub blobs: Arc<dyn BlobStore>,
    /// Where decision records are written and read back.
    pub decisions: Arc<dyn ItemStore>,
    platform_hash: String,
    /// The platform policy's log tag.
    platform_origin: Arc<Origin>,
    log: log::LogSender,
}

impl Policies {
    /// Prepares the platform policy and starts the decision-log writer.
    /// `retention: None` records nothing: only for measuring what the log
    /// costs (`--unlogged-decisions-for-benchmarks`).
    pub async fn start(
        runtime: Arc<Runtime>,
        blobs: Arc<dyn BlobStore>,
        decisions: Arc<dyn ItemStore>,
        retention: Option<std::time::Duration>,
    ) -> anyhow::Result<Arc<Self>> {
        let platform_hash = crate::runtime::content_hash(DEFAULT_POLICY);
        runtime
            .prepare(&platform_hash, DEFAULT_POLICY)
            .await
            .map_err(|e| anyhow::anyhow!("the platform policy does not load: {e}"))?;
        let log = log::start_writer(decisions.clone(), retention);
        Ok(Arc::new(Self {
            runtime,
            blobs,
            decisions,
            platform_origin: Origin::new("platform", platform_hash.as_str()),
            platform_hash,
            log,
        }))
    }

    /// Writes out the decisions not yet recorded and stops the log's
    /// writer (at shutdown, once no request is being served).
    pub async fn close_log(&self) {
        self.log.close().await;
    }

    pub fn platform_hash(&self) -> &str {
        &self.platform_hash
    }

    /// Runs one component on a recorded input (a replay, a dry run).
    /// `source` is whose component it is (a tenant id, or `platform`);
    /// `decision_id` seeds the guest's random bytes (a replay passes the
    /// recorded decision's, so it reads the same bytes).
    pub async fn run(
        &self,
        hash: &str,
        source: &str,
        decision_id: &str,
        input: &DecisionInput,
        limits: Limits,
    ) -> std::result::Result<types::Decision, GuestError> {
        let account = input.scope.tenants.last().map(|t| t.id.as_str());
        let origin = if hash == self.platform_hash {
            self.platform_origin.clone()
        } else {
            Origin::new(source, hash)
        };
        self.run_recording(
            &origin,
            account,
            &types::Request::from(&input.request),
            decision_id,
            Arc::new(input.scope.clone()),
            limits,
            &mut Lookups::default(),
        )
        .await
    }

    /// [`Policies::run`] of `origin`'s component, adding what the guest
    /// looked up to `lookups`.
    /// The platform's policy runs inline (microseconds, and not tenant
    /// code); any other component on the runtime's guest pool, in the
    /// share of `account` (the root of the tenant's tree) and within the
    /// current request's guest budget.
    #[allow(clippy::too_many_arguments)]
    async fn run_recording(
        &self,
        origin: &Arc<Origin>,
        account: Option<&str>,
        request: &types::Request,
        decision_id: &str,
        scope: Arc<Scope>,
        limits: Limits,
        lookups: &mut Lookups,
    ) -> std::result::Result<types::Decision, GuestError> {
        let hash = origin.component.as_str();
        let pre = match self.runtime.cached(hash) {
            Some(pre) => pre,
            None => {
                let bytes = component_bytes(self.blobs.as_ref(), hash).await?;
                self.runtime.prepare(hash, &bytes).await?
            }
        };
        // The platform's policy runs inline, under the platform's limits.
        if hash == self.platform_hash {
            return self.runtime.authorize_recording(
                &pre,
                request,
                decision_id,
                scope,
                Limits::platform(),
                origin,
                lookups,
            );
        }
        let runtime = self.runtime.clone();
        let request = request.clone();
        let origin = origin.clone();
        let decision_id = decision_id.to_string();
        let budget = Budget::current_or(self.runtime.request_budget());
        let (result, seen) = self
            .runtime
            .pool()
            .run(account.unwrap_or(""), &budget, limits, move |limits| {
                let mut seen = Lookups::default();
                let result = runtime.authorize_recording(
                    &pre,
                    &request,
                    &decision_id,
                    scope,
                    limits,
                    &origin,
                    &mut seen,
                );
                Ok((result, seen))
            })
            .await?;
        lookups.absorb(seen);
        result
    }

    /// Whether a decision on `chain` runs a tenant's own policy (which may
    /// look up the tenant's sites), beside the platform's.
    pub fn runs_tenant_policies(&self, principal_is_admin: bool, chain: &[Tenant]) -> bool {
        !principal_is_admin && chain.iter().any(|t| t.active_policy().is_some())
    }

    /// Decides `request`, asked at `now`: the platform policy, then every
    /// tenant policy on the tenant's path. `chain` is the tenant and its
    /// ancestors (tenant first; empty for an untenanted action); `records`
    /// are the sites and instances the guests may look up. The decision is recorded with
    /// the part of that scope the guests looked up, so a replay sees what
    /// they saw.
    pub async fn decide(
        &self,
        request: Request,
        chain: &[Tenant],
        records: Records,
        now: DateTime<Utc>,
    ) -> Result<Outcome> {
        let started = Instant::now();
        // Named before the guests run: its id seeds their random bytes.
        let decision_id = ids::new_id("dec");
        let platform_admin = request.principal.is_platform_admin();
        let wit = types::Request::from(&request);
        let scope = Arc::new(Scope {
            tenants: chain.iter().map(scope_tenant).collect(),
            sites: records.sites,
            instances: records.instances,
        });
        let mut lookups = Lookups::default();
        let account = chain.last().map(|t| t.tenant_id.as_str());
        let action = request.action.as_str();
        let limits = chain
            .first()
            .map_or_else(Limits::default, |t| Limits::for_tier(t.tier));
        let mut verdicts = Vec::new();
        let mut sources = vec![self.platform_origin.clone()];
        if !platform_admin {
            for (i, t) in chain.iter().enumerate() {
                // A tenant's own policy does not judge the management of its
                // own extensions: a broken policy must never lock its owners
                // out of rolling it back. Ancestors' policies still apply.
                if i == 0 && action.starts_with("extension.") {
                    continue;
                }
                if let Some(active) = t.active_policy() {
                    sources.push(Origin::new(t.tenant_id.as_str(), active));
                }
            }
        }
        let mut outcome = Outcome {
            allowed: true,
            reason: String::new(),
            guest_error: None,
        };
        for origin in sources {
            let started = Instant::now();
            let result = self
                .run_recording(
                    &origin,
                    account,
                    &wit,
                    &decision_id,
                    scope.clone(),
                    limits,
                    &mut lookups,
                )
                .await;
            let (source, hash) = (&origin.tenant, &origin.component);
            let took = started.elapsed();
            if let Err(e) = &result {
                tracing::warn!(%source, component = %hash, code = e.code(), error = %e, "policy guest failed; denying");
            }
            let (decision, reason, failed) = answer(result);
            let allowed = decision == "allow";
            let guest_error = failed.map(|code| GuestFailure {
                code: code.to_string(),
                component: hash.clone(),
            });
            verdicts.push(Verdict {
                source: source.clone(),
                component: hash.clone(),
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
                    guest_error,
                };
                break;
            }
            outcome.reason = reason;
        }
        let input = DecisionInput {
            scope: scope.seen(&lookups),
            request,
        };
        let request = &input.request;
        let record = DecisionRecord {
            decision_id,
            tenant_id: request.tenant_id.clone(),
            principal: request.principal.user_id.clone(),
            action: request.action.clone(),
            resource_kind: request.resource.kind.to_string(),
            resource_id: request.resource.id.clone(),
            decision: if outcome.allowed { "allow" } else { "deny" }.into(),
            reason: outcome.reason.clone(),
            components: verdicts,
            duration_us: started.elapsed().as_micros() as u64,
            at: now,
            input,
        };
        self.log.send(record).await;
        Ok(outcome)
    }
}

/// A stored component's bytes (uploaded components live in the blob store
/// by their sha256).
pub(crate) async fn component_bytes(
    blobs: &dyn BlobStore,
    hash: &str,
) -> std::result::Result<Vec<u8>, GuestError> {
    blobs
        .get(&keys::component_blob(hash))
        .await
        .map_err(|e| GuestError::Load(e.to_string()))?
        .ok_or_else(|| GuestError::Load(format!("component {hash} is not stored")))
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

/// A tenant as the guests may look it up.
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
