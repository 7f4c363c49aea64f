//! The `policy` world: authorization and admission. A component is prepared
//! with [`Runtime::prepare`] and decides one request per
//! [`Runtime::authorize`] call.

use std::sync::Arc;

use crate::domain::TenantRole;
use crate::policy::Request;
use crate::runtime::bindings::types;
use crate::runtime::wasi::Determinism;
use crate::runtime::{
    GuestError, HostState, Limits, Lookups, Origin, Runtime, Scope, check_output,
};

/// The world's generated code, in a module of its own: the WIT's
/// world-level `use types.{...}` becomes type aliases there, which must not
/// meet the host-side types of the same names (`WpOperation`, `EcsEvent`).
mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "policy",
        imports: { default: trappable },
        with: {
            "bbws:platform/types": crate::runtime::bindings::bbws::platform::types,
            "bbws:platform/tenants": crate::runtime::bindings::bbws::platform::tenants,
            "bbws:platform/sites": crate::runtime::bindings::bbws::platform::sites,
            "bbws:platform/instances": crate::runtime::bindings::bbws::platform::instances,
            "bbws:platform/log": crate::runtime::bindings::bbws::platform::log,
        },
    });
}

pub use generated::{Policy, PolicyPre};

world_pre!(PolicyPre, Policy);

fn wit_role(r: TenantRole) -> types::TenantRole {
    match r {
        TenantRole::Viewer => types::TenantRole::Viewer,
        TenantRole::Operator => types::TenantRole::Operator,
        TenantRole::Admin => types::TenantRole::Admin,
        TenantRole::Owner => types::TenantRole::Owner,
    }
}

/// The platform's policy question as the world's `authorize` receives it.
impl From<&Request> for types::Request {
    fn from(request: &Request) -> Self {
        types::Request {
            principal: types::Principal {
                user_id: request.principal.user_id.clone(),
                platform_admin: request.principal.platform_admin,
            },
            action: request.action.clone(),
            tenant_id: request.tenant_id.clone(),
            roles: request
                .roles
                .iter()
                .map(|b| types::RoleBinding {
                    tenant_id: b.tenant_id.clone(),
                    role: wit_role(b.role),
                    inherited: b.inherited,
                })
                .collect(),
            resource: types::Resource {
                kind: request.resource.kind.to_string(),
                id: request.resource.id.clone(),
                grants_role: request.resource.grants_role.map(wit_role),
                attributes: request.resource.attributes.clone(),
            },
            now_ms: request.now_ms,
        }
    }
}

impl Runtime {
    /// A compiled policy from memory, if it is there.
    pub fn cached(&self, hash: &str) -> Option<PolicyPre<HostState>> {
        self.cached_as(hash).and_then(Result::ok)
    }

    /// The compiled policy for `hash`: from memory, else from its stored
    /// artifact, else compiled from `bytes` (and its artifact stored).
    pub async fn prepare(
        &self,
        hash: &str,
        bytes: &[u8],
    ) -> Result<PolicyPre<HostState>, GuestError> {
        self.prepare_as(hash, bytes).await
    }

    /// Runs one policy decision in a fresh instance under `limits`; its
    /// WASI reads the request's `nowMs` and random bytes seeded from
    /// `decision_id`.
    pub fn authorize(
        &self,
        pre: &PolicyPre<HostState>,
        request: &types::Request,
        decision_id: &str,
        scope: Arc<Scope>,
        limits: Limits,
        origin: &Arc<Origin>,
    ) -> Result<types::Decision, GuestError> {
        let mut lookups = Lookups::default();
        self.authorize_recording(
            pre,
            request,
            decision_id,
            scope,
            limits,
            origin,
            &mut lookups,
        )
    }

    /// [`Runtime::authorize`], adding to `lookups` what the guest looked up
    /// in `scope` (also when it fails): `scope.seen(&lookups)` is then the
    /// part of the scope a replay of the decision needs.
    #[allow(clippy::too_many_arguments)]
    pub fn authorize_recording(
        &self,
        pre: &PolicyPre<HostState>,
        request: &types::Request,
        decision_id: &str,
        scope: Arc<Scope>,
        limits: Limits,
        origin: &Arc<Origin>,
        lookups: &mut Lookups,
    ) -> Result<types::Decision, GuestError> {
        let determinism = Determinism::for_decision(decision_id, request.now_ms.max(0) as u64);
        let decision = self.sandboxed(
            pre.instance_pre().engine(),
            scope,
            limits,
            determinism,
            origin,
            "policy",
            lookups,
            |store| pre.instantiate(&mut *store)?.call_authorize(store, request),
        )?;
        let reason = match &decision {
            types::Decision::Allow(r) | types::Decision::Deny(r) => r,
        };
        check_output(reason.len(), limits.output_bytes)?;
        Ok(decision)
    }
}
