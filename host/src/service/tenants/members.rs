//! A tenant's members: assign, change, remove, in bulk; never without an
//! owner once it has had one.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{Membership, Tenant, TenantRole};
use crate::policy::Resource;
use crate::store::record::{decode, encode};
use crate::store::{Condition, Index, Item, Query, StoreError, TxOp, keys};

use super::super::paging::Page;
use super::super::{Caller, Error, PageRequest, Result, Services};

/// The members of tenants and their roles.
pub struct Members<'a> {
    pub(in crate::service) cx: &'a Services,
}

/// `PUT /v1/tenants/{tenantId}/users/{userId}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignRole {
    pub role: TenantRole,
}

/// One assignment of a bulk request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkAssign {
    pub user_id: String,
    pub role: TenantRole,
}

/// `POST /v1/tenants/{tenantId}/users/bulk`: all or nothing.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkMembers {
    #[serde(default)]
    pub assign: Vec<BulkAssign>,
    #[serde(default)]
    pub remove: Vec<String>,
}

/// What happened to one user of a bulk request.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkMemberResult {
    pub user_id: String,
    /// `assigned`, `unchanged` or `removed`.
    pub outcome: &'static str,
    pub role: Option<TenantRole>,
    pub previous_role: Option<TenantRole>,
}

/// The answer to a bulk request.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkMemberResults {
    pub results: Vec<BulkMemberResult>,
}

/// Entries one bulk request may carry (each is a write; a transaction holds 100).
pub const MAX_BULK: usize = 50;

fn member_item(m: &Membership) -> Result<Item> {
    Ok(
        Item::new(keys::member(&m.tenant_id, &m.user_id), encode(m)?)
            .with_gsi1(keys::memberships_of(&m.user_id), &m.tenant_id),
    )
}

fn last_owner() -> Error {
    Error::conflict(
        "last_owner",
        "this would leave the tenant without an owner; make someone else owner first",
    )
}

/// A member-management resource for the policy: the highest role the
/// change touches, which the caller must hold itself.
fn member_resource(user_id: &str, touches: Option<TenantRole>) -> Resource {
    Resource {
        kind: "membership".into(),
        id: Some(user_id.to_string()),
        grants_role: touches,
        attributes: Vec::new(),
    }
}

impl Members<'_> {
    async fn members(&self, tenant_id: &str) -> Result<BTreeMap<String, Membership>> {
        let all: Vec<Membership> = self
            .cx
            .query_all(
                Query::new(Index::Primary, keys::tenant_pk(tenant_id)).prefix(keys::MEMBER_PREFIX),
            )
            .await?;
        Ok(all.into_iter().map(|m| (m.user_id.clone(), m)).collect())
    }

    pub async fn list(
        &self,
        caller: &Caller,
        tenant_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Membership>> {
        self.cx
            .tenant_for(
                caller,
                "tenant.user.list",
                tenant_id,
                member_resource("", None),
            )
            .await?;
        self.cx
            .page(
                Query::new(Index::Primary, keys::tenant_pk(tenant_id)).prefix(keys::MEMBER_PREFIX),
                page,
                |item| Ok(Some(decode(item)?)),
            )
            .await
    }

    pub async fn assign(
        &self,
        caller: &Caller,
        tenant_id: &str,
        user_id: &str,
        role: TenantRole,
    ) -> Result<Membership> {
        let results = self
            .change_members(
                caller,
                tenant_id,
                BulkMembers {
                    assign: vec![BulkAssign {
                        user_id: user_id.to_string(),
                        role,
                    }],
                    remove: vec![],
                },
                "tenant.user.assign",
            )
            .await?;
        let _ = results;
        self.cx
            .load(&keys::member(tenant_id, user_id))
            .await?
            .ok_or_else(|| {
                Error::conflict("concurrent_modification", "the membership changed; retry")
            })
    }

    pub async fn remove(&self, caller: &Caller, tenant_id: &str, user_id: &str) -> Result<()> {
        self.change_members(
            caller,
            tenant_id,
            BulkMembers {
                assign: vec![],
                remove: vec![user_id.to_string()],
            },
            "tenant.user.remove",
        )
        .await
        .map(|_| ())
    }

    pub async fn bulk(
        &self,
        caller: &Caller,
        tenant_id: &str,
        input: BulkMembers,
    ) -> Result<BulkMemberResults> {
        if input.assign.len() + input.remove.len() > MAX_BULK {
            return Err(Error::invalid(
                "assign",
                format!("at most {MAX_BULK} entries in one request"),
            ));
        }
        // Both actions' rules apply to a mixed request.
        if !input.assign.is_empty() {
            self.cx
                .tenant_for(
                    caller,
                    "tenant.user.assign",
                    tenant_id,
                    member_resource("", None),
                )
                .await?;
        }
        let action = if input.remove.is_empty() {
            "tenant.user.assign"
        } else {
            "tenant.user.remove"
        };
        self.change_members(caller, tenant_id, input, action)
            .await
            .map(|results| BulkMemberResults { results })
    }

    /// Every membership change goes through here: validate everything, ask
    /// the policy once with the highest role touched, keep an owner, then
    /// write all of it in one transaction conditional on what was read.
    async fn change_members(
        &self,
        caller: &Caller,
        tenant_id: &str,
        input: BulkMembers,
        action: &str,
    ) -> Result<Vec<BulkMemberResult>> {
        // Authorize visibility first, so another tenant's caller learns nothing from validation.
        let tenant = self
            .cx
            .tenant_for(caller, action, tenant_id, member_resource("", None))
            .await?;
        let mut errors = crate::domain::validate::Validator::new();
        let mut seen = HashSet::new();
        for (i, a) in input.assign.iter().enumerate() {
            if !seen.insert(a.user_id.as_str()) {
                errors.error(format!("assign[{i}].userId"), "appears more than once");
            }
        }
        for (i, u) in input.remove.iter().enumerate() {
            if !seen.insert(u.as_str()) {
                errors.error(format!("remove[{i}]"), "appears more than once");
            }
        }
        if seen.is_empty() {
            errors.error("assign", "nothing to do: give assign or remove entries");
        }
        errors.finish().map_err(Error::Validation)?;

        let current = self.members(tenant_id).await?;
        let mut users = BTreeMap::new();
        let mut missing = crate::domain::validate::Validator::new();
        for (i, a) in input.assign.iter().enumerate() {
            match self.cx.identity().existing_user(&a.user_id).await {
                Ok(u) => {
                    users.insert(a.user_id.clone(), u);
                }
                // A lone assignment (PUT .../users/{userId}) names the user
                // in the path: an unknown one is 404, as a lone removal is.
                Err(e @ Error::NotFound { .. })
                    if input.assign.len() == 1 && input.remove.is_empty() =>
                {
                    return Err(e);
                }
                Err(Error::NotFound { .. }) => missing.error(
                    format!("assign[{i}].userId"),
                    format!("no user {}", a.user_id),
                ),
                Err(e) => return Err(e),
            }
        }
        for (i, u) in input.remove.iter().enumerate() {
            if !current.contains_key(u) {
                if input.assign.is_empty() && input.remove.len() == 1 {
                    return Err(Error::not_found(
                        "member_not_found",
                        format!("user {u} is not a member of tenant {tenant_id}"),
                    ));
                }
                missing.error(format!("remove[{i}]"), format!("user {u} is not a member"));
            }
        }
        missing.finish().map_err(Error::Validation)?;

        // The caller must hold every role it grants or takes away.
        let touched = input
            .assign
            .iter()
            .map(|a| a.role)
            .chain(
                input
                    .assign
                    .iter()
                    .filter_map(|a| current.get(&a.user_id).map(|m| m.role)),
            )
            .chain(
                input
                    .remove
                    .iter()
                    .filter_map(|u| current.get(u).map(|m| m.role)),
            )
            .max();
        self.cx
            .authorize_on(caller, action, &tenant, member_resource("", touched))
            .await?;

        let now = self.cx.clock.now();
        let mut ops = vec![TxOp::check(
            keys::tenant(tenant_id),
            Condition::Version(tenant.version),
        )];
        let mut results = Vec::new();
        let mut final_owners: HashSet<&str> = current
            .values()
            .filter(|m| m.role == TenantRole::Owner)
            .map(|m| m.user_id.as_str())
            .collect();
        let had_owner = !final_owners.is_empty();
        for a in &input.assign {
            let previous = current.get(&a.user_id);
            if a.role == TenantRole::Owner {
                final_owners.insert(a.user_id.as_str());
            } else {
                final_owners.remove(a.user_id.as_str());
            }
            results.push(BulkMemberResult {
                user_id: a.user_id.clone(),
                outcome: if previous.map(|m| m.role) == Some(a.role) {
                    "unchanged"
                } else {
                    "assigned"
                },
                role: Some(a.role),
                previous_role: previous.map(|m| m.role),
            });
            if previous.map(|m| m.role) == Some(a.role) {
                continue;
            }
            let m = Membership {
                tenant_id: tenant_id.to_string(),
                user_id: a.user_id.clone(),
                email: users[&a.user_id].email.clone(),
                role: a.role,
                created_at: previous.map_or(now, |p| p.created_at),
                updated_at: now,
                version: previous.map_or(0, |p| p.version),
            };
            ops.push(TxOp::put(member_item(&m)?, Services::at_version(m.version)));
        }
        for u in &input.remove {
            let previous = &current[u];
            final_owners.remove(u.as_str());
            results.push(BulkMemberResult {
                user_id: u.clone(),
                outcome: "removed",
                role: None,
                previous_role: Some(previous.role),
            });
            ops.push(TxOp::delete(
                keys::member(tenant_id, u),
                Condition::Version(previous.version),
            ));
        }
        if had_owner {
            // One owner who stays must still be there, unchanged, when the
            // transaction commits: two concurrent removals of the last two
            // owners then cannot both succeed.
            let Some(keeper) = final_owners.iter().next() else {
                return Err(last_owner());
            };
            if let Some(m) = current.get(*keeper) {
                let key = keys::member(tenant_id, keeper);
                if !ops.iter().any(|op| op.key() == &key) {
                    ops.push(TxOp::check(key, Condition::Version(m.version)));
                }
            }
        }
        match self.cx.store.transact(ops).await {
            Ok(()) => {
                for r in &results {
                    self.cx.auth_cache.forget_user(&r.user_id);
                }
                Ok(results)
            }
            Err(StoreError::TransactionCancelled { .. }) => Err(Error::conflict(
                "concurrent_modification",
                "the tenant's members changed while this request ran; retry",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The membership ops an invitation acceptance writes: at least the
    /// invited role, never less than the user already holds.
    pub(crate) async fn membership_for_invitee(
        &self,
        tenant: &Tenant,
        user_id: &str,
        email: &str,
        role: TenantRole,
    ) -> Result<(Membership, TxOp)> {
        let now = self.cx.clock.now();
        let previous: Option<Membership> = self
            .cx
            .load(&keys::member(&tenant.tenant_id, user_id))
            .await?;
        let m = Membership {
            tenant_id: tenant.tenant_id.clone(),
            user_id: user_id.to_string(),
            email: email.to_string(),
            role: previous.as_ref().map_or(role, |p| p.role.max(role)),
            created_at: previous.as_ref().map_or(now, |p| p.created_at),
            updated_at: now,
            version: previous.as_ref().map_or(0, |p| p.version),
        };
        let op = TxOp::put(member_item(&m)?, Services::at_version(m.version));
        Ok((m, op))
    }
}
