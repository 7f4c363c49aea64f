//! Operations: the record of asynchronous work a caller starts with a 202
//! and polls at `GET /v1/operations/{id}`. An operation belongs to no one
//! resource: it names what it works on generically ([`ResourceRef`]) and
//! what it does with a typed [`OperationKind`], whose
//! [`handler`](OperationKind::handler) says which resource's job handler
//! runs it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Asynchronous work on a resource, as `GET /v1/operations/{id}` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub operation_id: String,
    /// `site.create`, `site.clone`, `site.delete`, `site.promote`,
    /// `site.backup`, `site.restore`, `site.template.apply`,
    /// `instance.create`, `instance.update`, `instance.scale`,
    /// `instance.reconcile`, `instance.delete`, `tenant.delete`.
    #[schema(value_type = String)]
    pub kind: OperationKind,
    pub status: OperationStatus,
    /// What it works on.
    #[schema(value_type = OperationResource)]
    pub resource: ResourceRef,
    /// Steps done so far, and what the last one did.
    #[serde(default)]
    pub progress: Progress,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<OperationError>,
    /// Deliveries of its job so far (more than one after a retry or a
    /// restart).
    #[serde(default)]
    pub attempts: u32,
    /// What the job needs (kind-specific); not part of the API's answer.
    #[serde(default)]
    #[schema(ignore)]
    pub input: serde_json::Value,
    /// Until when the worker running it holds it; not part of the API's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub lease_until: Option<DateTime<Utc>>,
    /// When a failed attempt's retry is due (its backoff ends); not part
    /// of the API's answer. Until then the operation is waiting, not stalled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub retry_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

impl Operation {
    /// An operation about to be started: PENDING, no attempt yet.
    pub fn new(
        kind: OperationKind,
        resource: ResourceRef,
        input: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            operation_id: super::ids::new_id("op"),
            kind,
            status: OperationStatus::Pending,
            resource,
            progress: Progress::default(),
            error: None,
            attempts: 0,
            input,
            lease_until: None,
            retry_at: None,
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// The operation as the API answers it: without the job's input and lease.
    pub fn public(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = v.as_object_mut() {
            map.remove("input");
            map.remove("leaseUntil");
            map.remove("retryAt");
            map.remove("version");
        }
        v
    }

    /// A string field of the job's input.
    pub fn input_str(&self, field: &str) -> Option<&str> {
        self.input.get(field).and_then(|v| v.as_str())
    }
}

/// What an operation does. The wire name is `<resource>.<verb>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum OperationKind {
    #[serde(rename = "site.create")]
    SiteCreate,
    #[serde(rename = "site.clone")]
    SiteClone,
    #[serde(rename = "site.delete")]
    SiteDelete,
    #[serde(rename = "site.promote")]
    SitePromote,
    #[serde(rename = "site.backup")]
    SiteBackup,
    #[serde(rename = "site.restore")]
    SiteRestore,
    #[serde(rename = "site.template.apply")]
    SiteTemplateApply,
    #[serde(rename = "instance.create")]
    InstanceCreate,
    #[serde(rename = "instance.update")]
    InstanceUpdate,
    #[serde(rename = "instance.scale")]
    InstanceScale,
    /// Applies a desired revision that moved outside any request (a
    /// manifest changed in the repository; the tenant parked).
    #[serde(rename = "instance.reconcile")]
    InstanceReconcile,
    #[serde(rename = "instance.delete")]
    InstanceDelete,
    /// A tenant's deletion that must deprovision infrastructure (its
    /// subtree's instances) runs as a job.
    #[serde(rename = "tenant.delete")]
    TenantDelete,
}

impl OperationKind {
    /// The resource whose job handler runs operations of this kind (a
    /// backup is a part of its site, so the sites handler runs it).
    pub fn handler(self) -> ResourceKind {
        match self {
            OperationKind::SiteCreate
            | OperationKind::SiteClone
            | OperationKind::SiteDelete
            | OperationKind::SitePromote
            | OperationKind::SiteBackup
            | OperationKind::SiteRestore
            | OperationKind::SiteTemplateApply => ResourceKind::Site,
            OperationKind::InstanceCreate
            | OperationKind::InstanceUpdate
            | OperationKind::InstanceScale
            | OperationKind::InstanceReconcile
            | OperationKind::InstanceDelete => ResourceKind::Instance,
            OperationKind::TenantDelete => ResourceKind::Tenant,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::SiteCreate => "site.create",
            OperationKind::SiteClone => "site.clone",
            OperationKind::SiteDelete => "site.delete",
            OperationKind::SitePromote => "site.promote",
            OperationKind::SiteBackup => "site.backup",
            OperationKind::SiteRestore => "site.restore",
            OperationKind::SiteTemplateApply => "site.template.apply",
            OperationKind::InstanceCreate => "instance.create",
            OperationKind::InstanceUpdate => "instance.update",
            OperationKind::InstanceScale => "instance.scale",
            OperationKind::InstanceReconcile => "instance.reconcile",
            OperationKind::InstanceDelete => "instance.delete",
            OperationKind::TenantDelete => "tenant.delete",
        }
    }
}

impl std::fmt::Display for OperationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of resource operations work on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResourceKind {
    Site,
    Backup,
    Instance,
    Tenant,
}

impl ResourceKind {
    /// The action that lets a caller read resources of this kind (and so
    /// the operations working on them).
    pub fn read_action(self) -> &'static str {
        match self {
            ResourceKind::Site | ResourceKind::Backup => "site.read",
            ResourceKind::Instance => "instance.read",
            ResourceKind::Tenant => "tenant.read",
        }
    }
}

/// A resource of a tenant, or a part of one (a backup of a site names the
/// site as its parent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "OperationResource", try_from = "OperationResource")]
pub struct ResourceRef {
    pub kind: ResourceKind,
    pub id: String,
    pub tenant_id: String,
    pub parent: Option<Parent>,
}

/// The resource a part belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parent {
    pub kind: ResourceKind,
    pub id: String,
}

impl ResourceRef {
    pub fn new(kind: ResourceKind, id: impl Into<String>, tenant_id: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.into(),
            tenant_id: tenant_id.into(),
            parent: None,
        }
    }

    /// This resource as a part of `parent`.
    pub fn within(mut self, kind: ResourceKind, id: impl Into<String>) -> Self {
        self.parent = Some(Parent {
            kind,
            id: id.into(),
        });
        self
    }

    /// The id of the parent of kind `kind`, if this is a part of one.
    pub fn parent_id(&self, kind: ResourceKind) -> Option<&str> {
        self.parent
            .as_ref()
            .filter(|p| p.kind == kind)
            .map(|p| p.id.as_str())
    }
}

// A `ResourceRef` on the wire: the parent is named by a field of its kind
// (`siteId`), as everywhere else in the API. (A doc comment here would
// become the schema's description in the OpenAPI document.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationResource {
    /// `site`, `backup`, `instance`, `tenant`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: ResourceKind,
    pub id: String,
    pub tenant_id: String,
    /// The site, for work on a site's part (a backup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_id: Option<String>,
}

impl From<ResourceRef> for OperationResource {
    fn from(r: ResourceRef) -> Self {
        let site_id = r.parent_id(ResourceKind::Site).map(str::to_string);
        Self {
            kind: r.kind,
            id: r.id,
            tenant_id: r.tenant_id,
            site_id,
        }
    }
}

impl From<OperationResource> for ResourceRef {
    fn from(w: OperationResource) -> Self {
        let r = ResourceRef::new(w.kind, w.id, w.tenant_id);
        match w.site_id {
            Some(site) => r.within(ResourceKind::Site, site),
            None => r,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum OperationStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl OperationStatus {
    pub fn is_final(self) -> bool {
        matches!(self, OperationStatus::Succeeded | OperationStatus::Failed)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub steps_done: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps_total: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationError {
    /// A stable code: `template_step_failed`, `wordpress_unreachable`, ...
    pub code: String,
    pub message: String,
    /// The step that failed (0-based), for work made of steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    /// What that step was (`upsertPage about`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
}

impl OperationError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            step: None,
            operation: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_names_its_parent_on_the_wire_as_before() {
        let backup = ResourceRef::new(ResourceKind::Backup, "bak_1", "ten_1")
            .within(ResourceKind::Site, "site_1");
        let wire = serde_json::to_value(&backup).unwrap();
        assert_eq!(
            wire,
            serde_json::json!({"type": "backup", "id": "bak_1", "tenantId": "ten_1", "siteId": "site_1"})
        );
        let back: ResourceRef = serde_json::from_value(wire).unwrap();
        assert_eq!(back, backup);
        let site = ResourceRef::new(ResourceKind::Site, "site_1", "ten_1");
        assert_eq!(
            serde_json::to_value(&site).unwrap(),
            serde_json::json!({"type": "site", "id": "site_1", "tenantId": "ten_1"})
        );
    }

    #[test]
    fn kinds_keep_their_dotted_wire_names() {
        for kind in [
            OperationKind::SiteCreate,
            OperationKind::SiteClone,
            OperationKind::SiteDelete,
            OperationKind::SitePromote,
            OperationKind::SiteBackup,
            OperationKind::SiteRestore,
            OperationKind::SiteTemplateApply,
        ] {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
            assert_eq!(kind.handler(), ResourceKind::Site);
        }
    }
}
