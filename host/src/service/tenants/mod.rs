//! Tenants: create, read, list, update, lifecycle, hierarchy, delete
//! ([`cascade`]); their members ([`members`]) and invitations
//! ([`invitations`]). A tenant's status change reaches every resource it
//! owns through [`super::follow`].

pub mod cascade;
pub mod invitations;
pub mod jobs;
pub mod members;

use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use crate::domain::operation::{Operation, OperationKind, ResourceKind, ResourceRef};
use crate::domain::tenant::{PLATFORM_LEVEL, StatusAction, SuspendedBy};
use crate::domain::validate::{MAX_NAME, Validator, normalise_email};
use crate::domain::{Tenant, TenantRole, TenantStatus, Tier, ids};
use crate::policy::{Resource, SUSPENDED_AT};
use crate::store::record::{decode, encode};
use crate::store::{Condition, Cursor, Index, Item, Key, Query, StoreError, TxOp, keys};

use super::access::{MAX_DEPTH, tenant_resource};
use super::paging::Page;
use super::{
    Caller, Error, PageRequest, RETRIES, Race, Result, Services, backoff, check_if_match, won,
};

/// Tenants and their hierarchy.
pub struct Tenants<'a> {
    pub(super) cx: &'a Services,
}

/// `POST /v1/tenants`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTenant {
    /// 1..200 characters.
    pub organisation_name: String,
    /// Creates a child of this tenant (needs admin on it).
    pub parent_tenant_id: Option<String>,
    pub contact_email: Option<String>,
    /// A top-level tenant: default `standard`. A child: default its
    /// parent's tier; a lower one may be given, a higher one only by a
    /// platform admin (403 `policy_denied`, `tenant.tier.set`).
    pub tier: Option<Tier>,
    /// Provision the tenant's instance right away: an instance `main` of 2
    /// tasks in PROD (the answer carries it and its operation).
    pub provision_instance: Option<bool>,
}

/// A created tenant, with the instance provisioned for it when asked.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedTenant {
    #[serde(flatten)]
    pub tenant: Tenant,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<crate::domain::instance::Instance>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
}

/// `PATCH /v1/tenants/{tenantId}`: only the fields present change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateTenant {
    pub organisation_name: Option<String>,
    /// `null` removes the contact address.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub contact_email: Option<Option<String>>,
    /// Platform admins only (`tenant.tier.set`): anyone else sending it is
    /// refused with 403 `policy_denied`, and nothing changes.
    pub tier: Option<Tier>,
    /// Plugin installs with a known vulnerability at or above this severity
    /// are refused (`LOW`, `MEDIUM`, `HIGH`, `CRITICAL`; default `HIGH`).
    pub security_scan_threshold: Option<crate::domain::vulnerability::Severity>,
}

/// `POST /v1/tenants/{tenantId}/move`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MoveTenant {
    /// The new parent; `null` makes the tenant a root (platform admin only).
    pub new_parent_tenant_id: Option<String>,
}

/// Filters of `GET /v1/tenants`.
#[derive(Debug, Default)]
pub struct TenantFilter {
    pub status: Option<TenantStatus>,
    pub parent_tenant_id: Option<String>,
}

/// Distinguishes a field sent as `null` (`Some(None)`) from one left out (`None`).
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

pub(crate) fn tenant_item(t: &Tenant) -> Result<Item> {
    let mut item = Item::new(keys::tenant(&t.tenant_id), encode(t)?)
        .with_gsi1(keys::ALL_TENANTS, &t.tenant_id);
    if let Some(parent) = &t.parent_tenant_id {
        item = item.with_gsi2(keys::children(parent), &t.tenant_id);
    }
    Ok(item)
}

/// The write that stores `t` over the version it was read at.
pub(crate) fn put_tenant(t: &Tenant) -> Result<TxOp> {
    Ok(TxOp::put(tenant_item(t)?, Services::at_version(t.version)))
}

impl Tenants<'_> {
    pub async fn create(&self, caller: &Caller, input: CreateTenant) -> Result<Tenant> {
        let mut v = Validator::new();
        v.text("organisationName", &input.organisation_name, MAX_NAME);
        if let Some(email) = &input.contact_email {
            v.email("contactEmail", email);
        }
        if input.provision_instance == Some(true) && self.cx.instance_settings().is_none() {
            v.error(
                "provisionInstance",
                "this server runs no instance provider; create the tenant without it",
            );
        }
        v.finish().map_err(Error::Validation)?;

        for attempt in 0..RETRIES {
            let parent = match &input.parent_tenant_id {
                None => {
                    self.cx
                        .authorize_global(caller, "tenant.create", Resource::default())
                        .await?;
                    None
                }
                Some(pid) => {
                    let (parent, ancestors) =
                        self.parent_for(caller, pid, "parentTenantId").await?;
                    if parent.status != TenantStatus::Active {
                        return Err(Error::conflict(
                            "parent_not_active",
                            format!("the parent tenant is {}", parent.status.as_str()),
                        ));
                    }
                    self.child_tier_allowed(caller, &parent, input.tier).await?;
                    if ancestors.len() + 2 > MAX_DEPTH {
                        return Err(Error::conflict(
                            "hierarchy_too_deep",
                            format!("tenant trees are at most {MAX_DEPTH} levels deep"),
                        ));
                    }
                    Some(parent)
                }
            };
            let now = self.cx.clock.now();
            let tenant = Tenant {
                tenant_id: ids::new_id("ten"),
                organisation_name: input.organisation_name.clone(),
                status: TenantStatus::Active,
                suspended_from: None,
                suspended_by: None,
                parent_tenant_id: input.parent_tenant_id.clone(),
                contact_email: input.contact_email.as_deref().map(normalise_email),
                // A child inherits its parent's tier unless given one (the
                // parent's write below is conditional on the version whose
                // tier this is).
                tier: input
                    .tier
                    .or(parent.as_ref().map(|p| p.tier))
                    .unwrap_or_default(),
                security_scan_threshold: None,
                child_count: 0,
                extensions: Default::default(),
                activation_count: 0,
                event_pattern: None,
                created_at: now,
                updated_at: now,
                version: 0,
            };
            let mut ops = vec![put_tenant(&tenant)?];
            if let Some(mut parent) = parent {
                // Counting children on the parent makes every child creation
                // a write to the parent, so a concurrent delete of the parent
                // (conditional on its version) cannot leave an orphan.
                parent.child_count += 1;
                ops.push(put_tenant(&parent)?);
            }
            match self.cx.store.transact(ops).await {
                Ok(()) => {
                    tracing::info!(tenant = %tenant.tenant_id, "tenant created");
                    return Ok(Tenant {
                        version: 1,
                        ..tenant
                    });
                }
                Err(StoreError::TransactionCancelled { .. }) => backoff(attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::conflict(
            "concurrent_modification",
            "the parent tenant kept changing; retry",
        ))
    }

    /// Creates a tenant and, with `provisionInstance`, its first instance.
    /// If the instance cannot be created (the policy refuses it), the
    /// tenant is removed again: the request changes nothing.
    pub async fn create_provisioned(
        &self,
        caller: &Caller,
        input: CreateTenant,
    ) -> Result<CreatedTenant> {
        let provision = input.provision_instance == Some(true);
        let tenant = self.create(caller, input).await?;
        if !provision {
            return Ok(CreatedTenant {
                tenant,
                instance: None,
                operation_id: None,
            });
        }
        let first = crate::service::instances::CreateInstance {
            name: "main".into(),
            desired_count: None,
            environment: None,
            tags: None,
            sizes: None,
        };
        match self
            .cx
            .instances()
            .create(caller, &tenant.tenant_id, first)
            .await
        {
            Ok(accepted) => Ok(CreatedTenant {
                tenant,
                instance: Some(accepted.resource),
                operation_id: Some(accepted.operation_id),
            }),
            Err(e) => {
                self.start_deletion(&tenant, false).await?;
                self.run_deletion(&tenant.tenant_id, usize::MAX).await?;
                Err(e)
            }
        }
    }

    pub async fn get(&self, caller: &Caller, id: &str) -> Result<Tenant> {
        self.cx
            .tenant_for(caller, "tenant.read", id, tenant_resource(id))
            .await
    }

    /// The tenants the caller may see: for a platform admin all, otherwise
    /// those under the caller's memberships.
    pub async fn list(
        &self,
        caller: &Caller,
        filter: &TenantFilter,
        page: &PageRequest,
    ) -> Result<Page<Tenant>> {
        let status = filter.status;
        let keep_status = move |t: &Tenant| {
            t.status != TenantStatus::Deleted && status.is_none_or(|s| s == t.status)
        };
        if let Some(parent) = &filter.parent_tenant_id {
            return self.children(caller, parent, status, page).await;
        }
        if caller.principal.is_platform_admin() {
            return self
                .cx
                .page(Query::new(Index::Gsi1, keys::ALL_TENANTS), page, |item| {
                    let t: Tenant = decode(item)?;
                    Ok(keep_status(&t).then_some(t))
                })
                .await;
        }
        if caller.memberships.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        self.visible_to_member(caller, keep_status, page).await
    }

    /// The tenants a member sees, a page at a time in tenant id order (the
    /// admin's order, and the same cursors): each tenant it holds a role on
    /// and their descendants, found from its memberships through the
    /// children index. The cost follows what the caller can see, not how
    /// many tenants the platform has: the member of one tenant among
    /// 100,000 reads that one.
    async fn visible_to_member(
        &self,
        caller: &Caller,
        keep: impl Fn(&Tenant) -> bool,
        page: &PageRequest,
    ) -> Result<Page<Tenant>> {
        let after = match &page.cursor {
            None => None,
            Some(c) if c.index_key.pk == keys::ALL_TENANTS => Some(c.index_key.sk.as_str()),
            Some(_) => return Err(super::paging::invalid_cursor()),
        };
        let mut level = Vec::new();
        for tenant_id in caller.memberships.keys() {
            if let Some(item) = self.cx.store.get(&keys::tenant(tenant_id)).await? {
                level.push(decode::<Tenant>(&item)?);
            }
        }
        // A role applies to the descendants.
        let visible: std::collections::BTreeMap<String, Tenant> = self
            .levels(level)
            .await?
            .into_iter()
            .flatten()
            .map(|t| (t.tenant_id.clone(), t))
            .collect();
        let mut items: Vec<Tenant> = visible
            .into_values()
            .filter(|t| after.is_none_or(|a| t.tenant_id.as_str() > a) && keep(t))
            .take(page.limit + 1)
            .collect();
        let more = items.len() > page.limit;
        items.truncate(page.limit);
        // The position the admin's walk of the tenant index would give.
        let next_cursor = more.then(|| items.last()).flatten().map(|t| {
            Cursor {
                index_key: Key::new(keys::ALL_TENANTS, &t.tenant_id),
                table_key: keys::tenant(&t.tenant_id),
            }
            .encode()
        });
        Ok(Page { items, next_cursor })
    }

    pub async fn children(
        &self,
        caller: &Caller,
        id: &str,
        status: Option<TenantStatus>,
        page: &PageRequest,
    ) -> Result<Page<Tenant>> {
        self.cx
            .tenant_for(caller, "tenant.read", id, tenant_resource(id))
            .await?;
        self.cx
            .page(Query::new(Index::Gsi2, keys::children(id)), page, |item| {
                let t: Tenant = decode(item)?;
                let keep =
                    t.status != TenantStatus::Deleted && status.is_none_or(|s| s == t.status);
                Ok(keep.then_some(t))
            })
            .await
    }

    /// Re-reads a tenant and applies `change` until the write wins, or
    /// answers 412 if `if_match` names a version that is no longer current.
    /// `read` is the tenant as the caller's authorization just read it; it
    /// serves the first attempt.
    pub(crate) async fn change_tenant(
        &self,
        read: Tenant,
        if_match: Option<u64>,
        change: impl FnMut(&mut Tenant) -> Result<()>,
    ) -> Result<Tenant> {
        self.change_tenant_with(read, if_match, change, Vec::new())
            .await
    }

    /// [`Services::change_tenant`], writing `extra` in the same transaction.
    pub(crate) async fn change_tenant_with(
        &self,
        read: Tenant,
        if_match: Option<u64>,
        mut change: impl FnMut(&mut Tenant) -> Result<()>,
        extra: Vec<TxOp>,
    ) -> Result<Tenant> {
        self.change_tenant_tx(read, if_match, |t| {
            change(t)?;
            Ok(extra.clone())
        })
        .await
    }

    /// [`Services::change_tenant`], writing what `change` answers in the
    /// same transaction as the tenant it changed: what goes with the change
    /// may depend on the tenant as it was read on the round that won.
    pub(crate) async fn change_tenant_tx(
        &self,
        read: Tenant,
        if_match: Option<u64>,
        mut change: impl FnMut(&mut Tenant) -> Result<Vec<TxOp>>,
    ) -> Result<Tenant> {
        let id = read.tenant_id.clone();
        let mut read = Some(read);
        let mut race = Race::new("the tenant");
        loop {
            let mut t = match read.take() {
                Some(t) => t,
                None => self.cx.live_tenant(&id).await?,
            };
            check_if_match(if_match, t.version, "the tenant")?;
            let extra = change(&mut t)?;
            t.updated_at = self.cx.clock.now();
            let written = if extra.is_empty() {
                self.cx
                    .store
                    .put(tenant_item(&t)?, Condition::Version(t.version))
                    .await
            } else {
                let mut ops = vec![put_tenant(&t)?];
                ops.extend(extra);
                self.cx.store.transact(ops).await.map(|()| t.version + 1)
            };
            match won(written)? {
                Some(version) => return Ok(Tenant { version, ..t }),
                None => race.lost().await?,
            }
        }
    }

    pub async fn update(
        &self,
        caller: &Caller,
        id: &str,
        if_match: Option<u64>,
        input: UpdateTenant,
    ) -> Result<Tenant> {
        let read = self
            .cx
            .tenant_for(caller, "tenant.update", id, tenant_resource(id))
            .await?;
        let mut v = Validator::new();
        if let Some(name) = &input.organisation_name {
            v.text("organisationName", name, MAX_NAME);
        }
        if let Some(Some(email)) = &input.contact_email {
            v.email("contactEmail", email);
        }
        v.finish().map_err(Error::Validation)?;
        // The tier is commercial: only the platform sets it. Asked whenever
        // the field is sent, whatever the current tier, so no read of it can
        // race the write.
        if let Some(tier) = input.tier {
            let resource =
                tenant_resource(id).with_attributes(vec![("tier".into(), tier.as_str().into())]);
            self.cx
                .authorize_on(caller, "tenant.tier.set", &read, resource)
                .await?;
        }
        self.change_tenant(read, if_match, |t| {
            if let Some(name) = &input.organisation_name {
                t.organisation_name = name.clone();
            }
            if let Some(email) = &input.contact_email {
                t.contact_email = email.as_deref().map(normalise_email);
            }
            if let Some(tier) = input.tier {
                t.tier = tier;
            }
            if let Some(threshold) = input.security_scan_threshold {
                t.security_scan_threshold = Some(threshold);
            }
            Ok(())
        })
        .await
    }

    /// Park, unpark, suspend or resume.
    pub async fn transition(
        &self,
        caller: &Caller,
        id: &str,
        action: StatusAction,
        if_match: Option<u64>,
    ) -> Result<Tenant> {
        let name = format!("tenant.{}", action.as_str());
        let read = self.cx.live_tenant(id).await?;
        // A suspended tenant's actions carry the level its suspension came
        // from: `tenant.resume` needs a role there or above.
        let mut resource = tenant_resource(id);
        if read.status == TenantStatus::Suspended {
            let level = SuspendedBy::level(read.suspended_by.as_ref());
            resource = resource.with_attributes(vec![(SUSPENDED_AT.into(), level.into())]);
        }
        self.cx.authorize_on(caller, &name, &read, resource).await?;
        let suspended_by = match action {
            StatusAction::Suspend => Some(self.suspension_level(caller, &read).await?),
            _ => None,
        };
        // What the resume was authorized against: a suspension that changed
        // since (lifted and made again, from higher up) must be judged anew.
        let authorized = read.suspended_by.clone();
        // The tenant's resources follow in a second step; the intent written
        // with the status change makes that step survive a crash in between.
        let intent = Services::follow_intent(id);
        let t = self
            .change_tenant_with(
                read,
                if_match,
                |t| {
                    if action == StatusAction::Resume && t.suspended_by != authorized {
                        return Err(Error::conflict(
                            "concurrent_modification",
                            "the tenant's suspension changed while this request ran; retry",
                        ));
                    }
                    let (status, from) = t.status.apply(action, t.suspended_from).map_err(|e| {
                        Error::conflict(
                            "invalid_transition",
                            format!(
                                "cannot {} a tenant that is {}",
                                e.action.as_str(),
                                e.from.as_str()
                            ),
                        )
                    })?;
                    t.status = status;
                    t.suspended_from = from;
                    t.suspended_by = suspended_by.clone();
                    Ok(())
                },
                vec![intent],
            )
            .await?;
        tracing::info!(tenant = %id, action = action.as_str(), status = t.status.as_str(), "tenant status changed");
        self.cx.follow_tenant(id).await?;
        Ok(t)
    }

    /// Re-parents a tenant. The tenant and every tenant above it must be
    /// ACTIVE, and so must the new parent and every tenant above that (409
    /// `tenant_not_active`): a suspended or parked tenant is not carried
    /// anywhere, nothing is carried into or out of a held subtree. Each
    /// tenant whose status was checked is in the move's transaction, written
    /// or checked at the version read, so a suspension that lands meanwhile
    /// fails the move, which then reads again.
    pub async fn move_tenant(
        &self,
        caller: &Caller,
        id: &str,
        if_match: Option<u64>,
        input: MoveTenant,
    ) -> Result<Tenant> {
        let mut read = Some(
            self.cx
                .tenant_for(caller, "tenant.move", id, tenant_resource(id))
                .await?,
        );
        let mut race = Race::new("the tenants around the move");
        loop {
            let tenant = match read.take() {
                Some(t) => t,
                None => self.cx.live_tenant(id).await?,
            };
            check_if_match(if_match, tenant.version, "the tenant")?;
            if input.new_parent_tenant_id == tenant.parent_tenant_id {
                return Ok(tenant);
            }
            match self.try_move(caller, tenant, &input).await? {
                Some(moved) => return Ok(moved),
                None => race.lost().await?,
            }
        }
    }

    /// One attempt at a move: `None` when another write won a race with it.
    async fn try_move(
        &self,
        caller: &Caller,
        tenant: Tenant,
        input: &MoveTenant,
    ) -> Result<Option<Tenant>> {
        let id = tenant.tenant_id.as_str();
        let old_ancestors = self.cx.ancestors(&tenant).await?;
        require_active(&tenant, "the tenant")?;
        if old_ancestors
            .iter()
            .any(|a| a.status != TenantStatus::Active)
        {
            return Err(not_active(format!(
                "a tenant above {id} is not ACTIVE; a tenant moves only while it and every tenant above it are ACTIVE"
            )));
        }
        let mut moved = tenant.clone();
        moved.parent_tenant_id = input.new_parent_tenant_id.clone();
        moved.updated_at = self.cx.clock.now();
        let mut ops = MoveOps::default();
        ops.put(put_tenant(&moved)?);
        let mut old_path = old_ancestors.into_iter();
        if let Some(mut old) = old_path.next() {
            old.child_count = old.child_count.saturating_sub(1);
            ops.put(put_tenant(&old)?);
        }
        for a in old_path {
            ops.check(&a);
        }
        match &input.new_parent_tenant_id {
            None => {
                self.cx
                    .authorize_global(caller, "tenant.create", Resource::default())
                    .await?;
            }
            Some(pid) if pid == id => {
                return Err(Error::conflict(
                    "hierarchy_cycle",
                    "a tenant cannot be its own parent",
                ));
            }
            Some(pid) => {
                let (mut parent, ancestors) =
                    self.parent_for(caller, pid, "newParentTenantId").await?;
                if ancestors.iter().any(|a| a.tenant_id == id) {
                    return Err(Error::conflict(
                        "hierarchy_cycle",
                        format!("{pid} is a descendant of {id}"),
                    ));
                }
                require_active(&parent, "the new parent")?;
                if ancestors.iter().any(|a| a.status != TenantStatus::Active) {
                    return Err(not_active(format!(
                        "a tenant above {pid} is not ACTIVE; nothing moves under a tenant that is not ACTIVE or sits below one"
                    )));
                }
                if ancestors.len() + 1 + self.subtree_height(&tenant).await? > MAX_DEPTH {
                    return Err(Error::conflict(
                        "hierarchy_too_deep",
                        format!("tenant trees are at most {MAX_DEPTH} levels deep"),
                    ));
                }
                // The path above the new parent must not change under us:
                // two concurrent moves could otherwise form a cycle, and its
                // statuses were just checked.
                for a in &ancestors {
                    ops.check(a);
                }
                parent.child_count += 1;
                ops.put(put_tenant(&parent)?);
            }
        }
        match self.cx.store.transact(ops.0).await {
            Ok(()) => Ok(Some(Tenant {
                version: tenant.version + 1,
                ..moved
            })),
            Err(StoreError::TransactionCancelled { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A tenant named in a body as the parent of another: it must exist for
    /// the caller (else a field error, revealing nothing) and allow children
    /// from the caller. Answers it and its ancestors.
    async fn parent_for(
        &self,
        caller: &Caller,
        pid: &str,
        field: &str,
    ) -> Result<(Tenant, Vec<Tenant>)> {
        let parent = self
            .cx
            .tenant_for(caller, "tenant.child.create", pid, tenant_resource(pid))
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => Error::invalid(field, format!("no tenant {pid}")),
                e => e,
            })?;
        let ancestors = self.cx.ancestors(&parent).await?;
        Ok((parent, ancestors))
    }

    /// A child's tier: its parent's, or lower, for whoever may create the
    /// child; a higher one is the platform's to give (`tenant.tier.set`).
    async fn child_tier_allowed(
        &self,
        caller: &Caller,
        parent: &Tenant,
        tier: Option<Tier>,
    ) -> Result<()> {
        let Some(tier) = tier.filter(|t| *t > parent.tier) else {
            return Ok(());
        };
        let resource = Resource::new("tenant", None).with_attributes(vec![
            ("tier".into(), tier.as_str().into()),
            ("parentTier".into(), parent.tier.as_str().into()),
        ]);
        self.cx
            .authorize_on(caller, "tenant.tier.set", parent, resource)
            .await
            .map_err(|e| match e {
                Error::Forbidden(reason) => Error::Forbidden(format!(
                    "a child's tier is at most its parent's ({}); a higher one only a platform admin gives ({reason})",
                    parent.tier.as_str()
                )),
                e => e,
            })
    }

    /// Who suspends, and from which level: `platform` for a platform admin,
    /// else the highest ancestor of `tenant` the caller is owner on (the
    /// rule, `owner` on an ancestor, just allowed it). The highest, so that
    /// owners between that level and the tenant cannot lift it.
    async fn suspension_level(&self, caller: &Caller, tenant: &Tenant) -> Result<SuspendedBy> {
        let level = if caller.principal.is_platform_admin() {
            None
        } else {
            self.cx
                .ancestors(tenant)
                .await?
                .into_iter()
                .rev()
                .find(|a| {
                    caller
                        .memberships
                        .get(&a.tenant_id)
                        .is_some_and(|r| *r >= TenantRole::Owner)
                })
        };
        Ok(SuspendedBy {
            user_id: caller.principal.user_id.clone(),
            // No owner role above (it cannot be, once allowed): the
            // strictest level.
            tenant_id: level.map_or_else(|| PLATFORM_LEVEL.to_string(), |a| a.tenant_id),
        })
    }

    /// Levels in the subtree rooted at `t` (1 for a leaf).
    async fn subtree_height(&self, t: &Tenant) -> Result<usize> {
        Ok(self.levels(vec![t.clone()]).await?.len())
    }

    /// The trees below `roots` through the children index, a level at a
    /// time, the roots first: each tenant once, even where one root lies
    /// below another, and at most one level past [`MAX_DEPTH`] (trees are no
    /// deeper, so a longer walk is a corrupt tree, not a deeper one).
    async fn levels(&self, roots: Vec<Tenant>) -> Result<Vec<Vec<Tenant>>> {
        let mut seen = std::collections::HashSet::new();
        let mut levels = Vec::new();
        let mut level = roots;
        while levels.len() <= MAX_DEPTH {
            level.retain(|t| seen.insert(t.tenant_id.clone()));
            if level.is_empty() {
                break;
            }
            let mut next = Vec::new();
            for t in level.iter().filter(|t| t.child_count > 0) {
                next.extend(self.children_of(&t.tenant_id).await?);
            }
            levels.push(std::mem::replace(&mut level, next));
        }
        Ok(levels)
    }

    /// Every direct child of a tenant (deleted ones included).
    pub(crate) async fn children_of(&self, id: &str) -> Result<Vec<Tenant>> {
        self.cx
            .query_all(Query::new(Index::Gsi2, keys::children(id)))
            .await
    }

    /// Deletes a tenant; with `cascade`, its whole subtree. Answers the
    /// operation when the deletion goes on as a job (instances to
    /// deprovision), `None` when it is done.
    pub async fn delete(
        &self,
        caller: &Caller,
        id: &str,
        cascade: bool,
        if_match: Option<u64>,
    ) -> Result<Option<Operation>> {
        let tenant = self
            .cx
            .tenant_for(caller, "tenant.delete", id, tenant_resource(id))
            .await?;
        check_if_match(if_match, tenant.version, "the tenant")?;
        if tenant.child_count > 0 && !cascade {
            return Err(Error::conflict(
                "has_children",
                format!(
                    "the tenant has {} child tenant(s); delete them first or pass ?cascade=true",
                    tenant.child_count
                ),
            ));
        }
        // Deprovisioning instances takes minutes on AWS: then the deletion
        // is a job (202), else it is done before the answer (204).
        let deprovisions = self.subtree_has_instances(&tenant).await?;
        self.start_deletion(&tenant, cascade).await?;
        if !deprovisions {
            self.run_deletion(id, usize::MAX).await?;
            return Ok(None);
        }
        let op = Operation::new(
            OperationKind::TenantDelete,
            ResourceRef::new(ResourceKind::Tenant, id, id),
            serde_json::json!({ "requestedBy": caller.principal.user_id, "cascade": cascade }),
            self.cx.clock.now(),
        );
        self.cx.start_operation(&op, Vec::new()).await?;
        Ok(Some(op))
    }

    /// Whether `tenant` or a descendant has an instance.
    async fn subtree_has_instances(&self, tenant: &Tenant) -> Result<bool> {
        let mut todo = vec![tenant.clone()];
        while let Some(t) = todo.pop() {
            let page = self
                .cx
                .store
                .query(Query::new(Index::Primary, keys::instances_of(&t.tenant_id)).limit(1))
                .await?;
            if !page.items.is_empty() {
                return Ok(true);
            }
            if t.child_count > 0 {
                todo.extend(self.children_of(&t.tenant_id).await?);
            }
        }
        Ok(false)
    }
}

/// 409 `tenant_not_active`.
fn not_active(detail: String) -> Error {
    Error::conflict("tenant_not_active", detail)
}

/// `t` must be ACTIVE for a move; `what` names it in the answer.
fn require_active(t: &Tenant, what: &str) -> Result<()> {
    if t.status == TenantStatus::Active {
        return Ok(());
    }
    Err(not_active(format!(
        "{what} ({}) is {}; tenants move, and take children, only while ACTIVE",
        t.tenant_id,
        t.status.as_str()
    )))
}

/// The writes of a move: one operation per tenant, a write (at the version
/// read) standing in for a check of the same tenant.
#[derive(Default)]
struct MoveOps(Vec<TxOp>);

impl MoveOps {
    fn put(&mut self, op: TxOp) {
        self.0.retain(|o| o.key() != op.key());
        self.0.push(op);
    }

    fn check(&mut self, t: &Tenant) {
        let key = keys::tenant(&t.tenant_id);
        if !self.0.iter().any(|o| o.key() == &key) {
            self.0.push(TxOp::check(key, Condition::Version(t.version)));
        }
    }
}
