//! Operations: asynchronous work a caller starts with a 202 and polls at
//! `GET /v1/operations/{id}`. A service starts one in the same transaction
//! as the resource change that needs it ([`Services::start_operation`]);
//! the job worker (`jobs::worker`) runs it through the handler of its
//! resource. Nothing here is about any one resource.

use crate::domain::ids;
use crate::domain::operation::{Operation, ResourceKind};
use crate::jobs::DeadLetter;
use crate::policy::Resource;
use crate::store::{TxOp, keys};

use super::access::tenant_resource;
use super::{Caller, Error, Result, Services};

/// The operations of every resource, and the jobs that failed for good.
pub struct Operations<'a> {
    pub(super) cx: &'a Services,
}

impl Services {
    /// Commits `ops` with the new operation and queues its job (see
    /// [`crate::jobs::worker::start`]).
    pub(crate) async fn start_operation(&self, op: &Operation, ops: Vec<TxOp>) -> Result<()> {
        crate::jobs::worker::start(self.store.as_ref(), self.queue.as_ref(), op, ops).await?;
        Ok(())
    }
}

impl Operations<'_> {
    /// `GET /v1/operations/{id}`: visible to whoever may read the resource
    /// it works on (a tenant's deletion: to whoever asked for it).
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<Operation> {
        let not_found = || Error::not_found("operation_not_found", format!("no operation {id}"));
        if !ids::looks_like("op", id) {
            return Err(not_found());
        }
        let op: Operation = self
            .cx
            .load(&keys::operation(id))
            .await?
            .ok_or_else(not_found)?;
        if op.resource.kind == ResourceKind::Tenant {
            // A tenant being deleted is gone from the API: its deletion is
            // visible to whoever asked for it, and to platform admins.
            let asked = op.input_str("requestedBy") == Some(caller.principal.user_id.as_str());
            return if asked || caller.principal.is_platform_admin() {
                Ok(op)
            } else {
                Err(not_found())
            };
        }
        let tenant_id = &op.resource.tenant_id;
        self.cx
            .tenant_for(
                caller,
                op.resource.kind.read_action(),
                tenant_id,
                tenant_resource(tenant_id),
            )
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => not_found(),
                e => e,
            })?;
        Ok(op)
    }

    /// `GET /v1/jobs/dead-letters` (platform admin): jobs that failed
    /// `max_attempts` times, oldest first.
    pub async fn dead_letters(&self, caller: &Caller, limit: usize) -> Result<Vec<DeadLetter>> {
        self.cx
            .authorize_global(caller, "jobs.read", Resource::default())
            .await?;
        Ok(self.cx.queue.dead_letters(limit).await?)
    }
}
