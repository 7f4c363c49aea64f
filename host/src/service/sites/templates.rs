//! Templates: the catalogue (the platform's templates and each tenant's),
//! validation, preview and apply, through the `template` world.
//!
//! A template is a body (JSON) that a `template` component interprets: the
//! tenant's active one, or the platform's default
//! (`guests/default-template`). The guest validates parameters and turns the
//! template into a plan of [`WpOperation`]s; the host runs the plan against
//! the site (see [`super::jobs`]). Preview runs the guest and nothing
//! else.
//!
//! A tenant keeps at most [`MAX_TEMPLATES`]. The catalogue is paged, and
//! each entry's parameter schema comes from a [`SchemaCache`] keyed by the
//! template component and the template, so a listing asks a guest only for
//! what it has not seen.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use parking_lot::Mutex;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::operation::OperationKind;
use crate::domain::site::Site;
use crate::domain::template::{TemplateSpec, WpOperation};
use crate::domain::validate::{MAX_NAME, Validator};
use crate::domain::{FieldError, Tenant, ids};
use crate::runtime::pool::Budget;
use crate::runtime::{Limits, Origin, Scope, ScopeSite, content_hash};
use crate::store::record::{decode, encode};
use crate::store::{Condition, Cursor, Index, Item, Key, Query, TxOp, keys};

use super::super::decisions::scope_tenant;
use super::super::paging::{Page, invalid_cursor};
use super::super::{Caller, Error, PageRequest, Race, Result, Services, won};
use super::{Accepted, put_site, require_active, require_settled, site_resource};

/// The template catalogue and templates' use on sites.
pub struct Templates<'a> {
    pub(in crate::service) cx: &'a Services,
}

/// The largest template body.
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

/// The most templates a tenant keeps.
pub const MAX_TEMPLATES: usize = 100;

/// How many parameter schemas the catalogue keeps.
const SCHEMA_CACHE: usize = 1024;

/// The partition a catalogue cursor names while it is among the platform's
/// templates (no item has it: the platform's templates are built in).
const PLATFORM_PAGE: &str = "PLATFORMTEMPLATES";

/// Parameter schemas by (whose component, template component, template),
/// the last two by sha256. The platform's default component is pure, so its
/// schemas are shared (`whose` is empty); a tenant's own component runs
/// with that tenant's scope and may answer from it, so its schemas are the
/// tenant's alone, even where another tenant uploaded the same bytes. Each
/// key is asked of a guest once while it stays in the cache.
pub struct SchemaCache {
    schemas: Mutex<lru::LruCache<(String, String, String), serde_json::Value>>,
    cached: AtomicU64,
    computed: AtomicU64,
}

impl Default for SchemaCache {
    fn default() -> Self {
        Self {
            schemas: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(SCHEMA_CACHE).expect("a capacity"),
            )),
            cached: AtomicU64::new(0),
            computed: AtomicU64::new(0),
        }
    }
}

impl SchemaCache {
    /// `(from the cache, from a guest)`: how the schemas listed so far came.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.cached.load(Ordering::Relaxed),
            self.computed.load(Ordering::Relaxed),
        )
    }
}

/// A tenant's own template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantTemplate {
    pub template_id: String,
    pub tenant_id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// What the tenant's template component interprets.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    pub version: u64,
}

crate::versioned!(TenantTemplate);

/// `POST /v1/tenants/{tenantId}/templates`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTemplate {
    pub name: String,
    pub description: Option<String>,
    /// A JSON object; with the default template component, `parameters` and
    /// `operations` (see guests/README.md).
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

/// One entry of `GET /v1/templates`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogueEntry {
    pub template_id: String,
    pub name: String,
    pub description: String,
    /// `platform` or `tenant`.
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The parameters, as JSON Schema (from the template's component).
    #[schema(value_type = Object)]
    pub parameter_schema: serde_json::Value,
}

/// `{parameters}` of validate, preview and apply.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateParameters {
    /// A JSON object (`null` is refused: leave it out for none).
    #[serde(default, deserialize_with = "crate::domain::validate::present")]
    #[schema(value_type = Object)]
    pub parameters: Option<serde_json::Value>,
}

/// The answer of validate.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Validation {
    pub valid: bool,
    pub errors: Vec<FieldError>,
}

/// The answer of preview.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub template_id: String,
    #[schema(value_type = Vec<Object>)]
    pub operations: Vec<WpOperation>,
}

/// Which template component runs for a tenant: its active one, or the
/// platform default.
struct Guest {
    hash: String,
    bytes: Arc<Vec<u8>>,
    limits: Limits,
    scope: Arc<Scope>,
}

fn description_of(spec: &TemplateSpec) -> String {
    serde_json::from_str::<serde_json::Value>(&spec.body_json)
        .ok()
        .and_then(|v| v.get("description")?.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The sha256 of the platform's default template component.
fn default_template_hash() -> &'static str {
    static HASH: LazyLock<String> =
        LazyLock::new(|| content_hash(super::catalogue::DEFAULT_TEMPLATE));
    &HASH
}

/// The tenant's active template component, if any.
fn active_template(tenant: Option<&Tenant>) -> Option<String> {
    tenant.and_then(|t| t.extensions.get("template").map(|s| s.active.clone()))
}

/// The cursor just after the last of `items`, a platform template.
fn platform_cursor(items: &[CatalogueEntry]) -> Option<String> {
    let last = Key::new(PLATFORM_PAGE, &items.last()?.template_id);
    Some(
        Cursor {
            index_key: last.clone(),
            table_key: last,
        }
        .encode(),
    )
}

fn templates_full() -> Error {
    Error::conflict(
        "templates_full",
        format!(
            "a tenant keeps at most {MAX_TEMPLATES} templates; delete one it no longer needs (DELETE /v1/tenants/{{tenantId}}/templates/{{templateId}})"
        ),
    )
}

fn template_not_found(id: &str) -> Error {
    Error::not_found("template_not_found", format!("no template {id}"))
}

/// Where the count of a tenant's templates is kept, and what it counts.
fn templates_count(tenant_id: &str) -> (Key, Query) {
    (
        keys::count(tenant_id, "templates"),
        Query::new(Index::Primary, keys::templates_of(tenant_id)),
    )
}

fn parameters_text(p: &Option<serde_json::Value>) -> Result<String> {
    match p {
        None => Ok("{}".into()),
        Some(v) if v.is_object() => Ok(v.to_string()),
        Some(_) => Err(Error::invalid("parameters", "must be a JSON object")),
    }
}

impl Templates<'_> {
    /// The template component for a tenant (`None`: platform templates
    /// validated outside any tenant use the default).
    async fn template_guest(&self, tenant: Option<&Tenant>) -> Result<Guest> {
        let chain = match tenant {
            Some(t) => self.cx.chain(t).await?,
            None => Vec::new(),
        };
        let scope = Arc::new(Scope {
            tenants: chain.iter().map(scope_tenant).collect(),
            ..Scope::default()
        });
        let mut limits = tenant.map_or_else(Limits::default, |t| Limits::for_tier(t.tier));
        // Plans are not on the request's hot path: give a cold instance room.
        limits.deadline = limits.deadline.max(Duration::from_millis(100));
        let (hash, bytes) = match active_template(tenant) {
            Some(hash) => {
                let bytes = self
                    .cx
                    .policies
                    .blobs
                    .get(&keys::component_blob(&hash))
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("the template component {hash} is missing"))?;
                (hash, Arc::new(bytes))
            }
            None => {
                let bytes = super::catalogue::DEFAULT_TEMPLATE;
                (
                    default_template_hash().to_string(),
                    Arc::new(bytes.to_vec()),
                )
            }
        };
        Ok(Guest {
            hash,
            bytes,
            limits,
            scope,
        })
    }

    /// A template by id: a platform one by name, or one of `tenant_id`'s.
    pub(crate) async fn find(&self, tenant_id: &str, id: &str) -> Result<Option<TemplateSpec>> {
        if let Some(spec) = super::catalogue::platform_templates()
            .into_iter()
            .find(|t| t.id == id)
        {
            return Ok(Some(spec));
        }
        if !ids::looks_like("tpl", id) {
            return Ok(None);
        }
        Ok(self
            .cx
            .load::<TenantTemplate>(&keys::template(tenant_id, id))
            .await?
            .map(|t| spec_of(&t)))
    }

    fn guest_error(e: crate::runtime::GuestError) -> Error {
        Error::Unprocessable {
            code: e.code(),
            detail: format!("the template component failed: {e}"),
        }
    }

    /// Runs `call` on the tenant's template component (or the default) on
    /// the runtime's guest pool, off the async threads.
    async fn run_template<T: Send + 'static>(
        &self,
        tenant: Option<&Tenant>,
        call: impl FnOnce(
            &crate::runtime::Runtime,
            &crate::runtime::bindings::TemplatePre<crate::runtime::HostState>,
            Arc<Scope>,
            Limits,
            &Arc<Origin>,
        ) -> std::result::Result<T, crate::runtime::GuestError>
        + Send
        + 'static,
    ) -> Result<T> {
        let guest = self.template_guest(tenant).await?;
        let runtime = self.cx.policies.runtime.clone();
        let pre = runtime
            .prepare_template(&guest.hash, &guest.bytes)
            .await
            .map_err(Self::guest_error)?;
        // A call's own budget, not the request's: a plan is not on the hot
        // path and may take its whole deadline, after waiting for a slot.
        let budget = Budget::new(guest.limits.deadline * 2);
        let account = guest
            .scope
            .tenants
            .last()
            .map_or("", |t| t.id.as_str())
            .to_string();
        let whose = guest
            .scope
            .tenants
            .first()
            .map_or("platform", |t| t.id.as_str());
        let origin = Origin::new(whose, guest.hash.as_str());
        let rt = runtime.clone();
        runtime
            .pool()
            .run(&account, &budget, guest.limits, move |limits| {
                call(&rt, &pre, guest.scope, limits, &origin)
            })
            .await
            .map_err(Self::guest_error)
    }

    /// Runs the guest's plan for `site`; parameter problems are 422.
    pub(crate) async fn plan(
        &self,
        tenant: &Tenant,
        spec: &TemplateSpec,
        site: &Site,
        parameters: &str,
    ) -> Result<Vec<WpOperation>> {
        let (spec, view, parameters) =
            (spec.clone(), ScopeSite::from(site), parameters.to_string());
        let planned = self
            .run_template(Some(tenant), move |rt, pre, scope, limits, origin| {
                rt.template_plan(pre, &spec, &view, &parameters, scope, limits, origin)
            })
            .await?;
        planned.map_err(Error::Validation)
    }

    /// The parameter schema of `spec` under the tenant's template
    /// component: from the cache, else from the guest (and then cached).
    async fn schema_of(
        &self,
        tenant: Option<&Tenant>,
        spec: &TemplateSpec,
    ) -> Result<serde_json::Value> {
        let cache = &self.cx.template_schemas;
        let (whose, component) = match active_template(tenant) {
            Some(hash) => (
                tenant.map(|t| t.tenant_id.clone()).unwrap_or_default(),
                hash,
            ),
            None => (String::new(), default_template_hash().to_string()),
        };
        let template = content_hash(&serde_json::to_vec(spec).map_err(anyhow::Error::from)?);
        let key = (whose, component, template);
        if let Some(schema) = cache.schemas.lock().get(&key) {
            cache.cached.fetch_add(1, Ordering::Relaxed);
            return Ok(schema.clone());
        }
        let spec = spec.clone();
        let text = self
            .run_template(tenant, move |rt, pre, scope, limits, origin| {
                rt.template_schema(pre, &spec, scope, limits, origin)
            })
            .await?;
        cache.computed.fetch_add(1, Ordering::Relaxed);
        let schema = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        cache.schemas.lock().put(key, schema.clone());
        Ok(schema)
    }

    /// The catalogue entry of a platform template.
    async fn platform_entry(
        &self,
        tenant: Option<&Tenant>,
        spec: &TemplateSpec,
    ) -> Result<CatalogueEntry> {
        Ok(CatalogueEntry {
            template_id: spec.id.clone(),
            name: spec.name.clone(),
            description: description_of(spec),
            scope: "platform".into(),
            tenant_id: None,
            parameter_schema: self.schema_of(tenant, spec).await?,
        })
    }

    /// `GET /v1/templates[?tenantId=]`: the platform's templates, and with
    /// `tenantId` that tenant's too (for whoever may read its sites), a
    /// page at a time: the platform's first, then the tenant's by id.
    pub async fn list(
        &self,
        caller: &Caller,
        tenant_id: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<CatalogueEntry>> {
        let tenant = match tenant_id {
            Some(tid) => Some(
                self.cx
                    .tenant_for(caller, "site.read", tid, site_resource(None, Vec::new()))
                    .await?,
            ),
            None => None,
        };
        let platform = super::catalogue::platform_templates();
        // Where the page starts: among the platform's templates (after the
        // one the cursor names), or among the tenant's (after its cursor).
        let (skip, tenant_cursor) = match &page.cursor {
            None => (0, None),
            Some(c) if c.index_key.pk == PLATFORM_PAGE => (
                platform
                    .iter()
                    .position(|t| t.id == c.index_key.sk)
                    .map(|i| i + 1)
                    .ok_or_else(invalid_cursor)?,
                None,
            ),
            // A position among a tenant's templates needs that tenant.
            Some(_) if tenant.is_none() => return Err(invalid_cursor()),
            Some(c) => (platform.len(), Some(c.clone())),
        };
        let mut items = Vec::new();
        for spec in platform.iter().skip(skip) {
            if items.len() == page.limit {
                let next_cursor = platform_cursor(&items);
                return Ok(Page { items, next_cursor });
            }
            items.push(self.platform_entry(tenant.as_ref(), spec).await?);
        }
        let Some(tenant) = &tenant else {
            return Ok(Page {
                items,
                next_cursor: None,
            });
        };
        let query = Query::new(Index::Primary, keys::templates_of(&tenant.tenant_id));
        if items.len() == page.limit {
            // Full of the platform's: another page if the tenant has any.
            let more = !self.cx.store.query(query.limit(1)).await?.items.is_empty();
            let next_cursor = platform_cursor(&items).filter(|_| more);
            return Ok(Page { items, next_cursor });
        }
        let rest = PageRequest {
            limit: page.limit - items.len(),
            cursor: tenant_cursor,
        };
        let own = self
            .cx
            .page(query, &rest, |item| {
                Ok(Some(decode::<TenantTemplate>(item)?))
            })
            .await?;
        for t in own.items {
            items.push(CatalogueEntry {
                parameter_schema: self.schema_of(Some(tenant), &spec_of(&t)).await?,
                template_id: t.template_id,
                name: t.name,
                description: t.description,
                scope: "tenant".into(),
                tenant_id: Some(t.tenant_id),
            });
        }
        Ok(Page {
            items,
            next_cursor: own.next_cursor,
        })
    }

    /// Adds a tenant template. Its body must be one the tenant's template
    /// component accepts (it is asked for the parameter schema).
    pub async fn create(
        &self,
        caller: &Caller,
        tenant_id: &str,
        input: CreateTemplate,
    ) -> Result<TenantTemplate> {
        let mut v = Validator::new();
        v.text("name", &input.name, MAX_NAME);
        if !input.body.is_object() {
            v.error("body", "must be a JSON object");
        } else if input.body.to_string().len() > MAX_TEMPLATE_BYTES {
            v.error("body", format!("is larger than {MAX_TEMPLATE_BYTES} bytes"));
        }
        if input
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 2000)
        {
            v.error("description", "must be at most 2000 characters");
        }
        v.finish().map_err(Error::Validation)?;
        let tenant = self.cx.extensions().managed(caller, tenant_id).await?;
        let (counted, members) = templates_count(tenant_id);
        let count = || self.cx.count(counted.clone(), members.clone());
        if count().await?.n >= MAX_TEMPLATES {
            return Err(templates_full());
        }
        let template = TenantTemplate {
            template_id: ids::new_id("tpl"),
            tenant_id: tenant_id.into(),
            name: input.name,
            description: input.description.unwrap_or_default(),
            body: input.body,
            created_at: self.cx.clock.now(),
            version: 0,
        };
        // The component must make sense of the body: a template it cannot
        // interpret is refused now, not when a site needs it.
        let spec = spec_of(&template);
        let check = spec.clone();
        let errors = self
            .run_template(Some(&tenant), move |rt, pre, scope, limits, origin| {
                rt.template_validate(pre, &check, "{}", scope, limits, origin)
            })
            .await?;
        if let Some(e) = errors.iter().find(|e| e.field == "template") {
            return Err(Error::invalid("body", e.message.clone()));
        }
        let item = Item::new(
            keys::template(tenant_id, &template.template_id),
            encode(&template)?,
        )
        .with_gsi1(keys::TEMPLATE_IDS, &template.template_id);
        let mut race = Race::new("the tenant's templates");
        loop {
            let count = count().await?;
            if count.n >= MAX_TEMPLATES {
                return Err(templates_full());
            }
            let ops = vec![
                count.moved(1)?,
                TxOp::put(item.clone(), Condition::NotExists),
            ];
            match won(self.cx.store.transact(ops).await)? {
                Some(()) => break,
                None => race.lost().await?,
            }
        }
        Ok(TenantTemplate {
            version: 1,
            ..template
        })
    }

    /// `DELETE /v1/tenants/{tenantId}/templates/{templateId}`: one of the
    /// tenant's templates (a platform one is not the tenant's to delete:
    /// 404). An apply already accepted that has yet to plan fails with
    /// `template_not_found`.
    pub async fn delete(&self, caller: &Caller, tenant_id: &str, template_id: &str) -> Result<()> {
        self.cx.extensions().managed(caller, tenant_id).await?;
        if !ids::looks_like("tpl", template_id) {
            return Err(template_not_found(template_id));
        }
        let key = keys::template(tenant_id, template_id);
        let (counted, members) = templates_count(tenant_id);
        let mut race = Race::new("the tenant's templates");
        loop {
            let Some(template) = self.cx.load::<TenantTemplate>(&key).await? else {
                return Err(template_not_found(template_id));
            };
            let count = self.cx.count(counted.clone(), members.clone()).await?;
            let ops = vec![
                TxOp::delete(key.clone(), Condition::Version(template.version)),
                count.moved(-1)?,
            ];
            match won(self.cx.store.transact(ops).await)? {
                Some(()) => return Ok(()),
                None => race.lost().await?,
            }
        }
    }

    /// `POST /v1/templates/{id}/validate`: a platform template with the
    /// default component; a tenant's with that tenant's.
    pub async fn validate(
        &self,
        caller: &Caller,
        template_id: &str,
        input: TemplateParameters,
    ) -> Result<Validation> {
        let not_found = || template_not_found(template_id);
        let parameters = parameters_text(&input.parameters)?;
        let (spec, tenant) = match super::catalogue::platform_templates()
            .into_iter()
            .find(|t| t.id == template_id)
        {
            Some(spec) => (spec, None),
            None if ids::looks_like("tpl", template_id) => {
                let page = self
                    .cx
                    .store
                    .query(
                        Query::new(Index::Gsi1, keys::TEMPLATE_IDS)
                            .prefix(template_id)
                            .limit(1),
                    )
                    .await?;
                let item = page.items.first().ok_or_else(not_found)?;
                let t: TenantTemplate = decode(item)?;
                let tenant = self
                    .cx
                    .tenant_for(
                        caller,
                        "site.read",
                        &t.tenant_id,
                        site_resource(None, Vec::new()),
                    )
                    .await
                    .map_err(|e| match e {
                        Error::NotFound { .. } => not_found(),
                        e => e,
                    })?;
                (spec_of(&t), Some(tenant))
            }
            None => return Err(not_found()),
        };
        let errors = self
            .run_template(tenant.as_ref(), move |rt, pre, scope, limits, origin| {
                rt.template_validate(pre, &spec, &parameters, scope, limits, origin)
            })
            .await?;
        Ok(Validation {
            valid: errors.is_empty(),
            errors,
        })
    }

    async fn template_for_site(
        &self,
        caller: &Caller,
        action: &str,
        tenant_id: &str,
        site_id: &str,
        template_id: &str,
    ) -> Result<(Tenant, Site, TemplateSpec)> {
        let (tenant, site) = self
            .cx
            .sites()
            .site_for(
                caller,
                action,
                tenant_id,
                site_id,
                vec![("templateId".into(), template_id.into())],
            )
            .await?;
        let spec = self
            .find(tenant_id, template_id)
            .await?
            .ok_or_else(|| template_not_found(template_id))?;
        Ok((tenant, site, spec))
    }

    /// The plan, executed nowhere.
    pub async fn preview(
        &self,
        caller: &Caller,
        tenant_id: &str,
        site_id: &str,
        template_id: &str,
        input: TemplateParameters,
    ) -> Result<Plan> {
        let parameters = parameters_text(&input.parameters)?;
        let (tenant, site, spec) = self
            .template_for_site(caller, "site.read", tenant_id, site_id, template_id)
            .await?;
        let operations = self.plan(&tenant, &spec, &site, &parameters).await?;
        Ok(Plan {
            template_id: template_id.into(),
            operations,
        })
    }

    /// Plans now (bad parameters are 422 at once), then runs the plan as a job.
    pub async fn apply(
        &self,
        caller: &Caller,
        tenant_id: &str,
        site_id: &str,
        template_id: &str,
        input: TemplateParameters,
    ) -> Result<Accepted<Site>> {
        let parameters = parameters_text(&input.parameters)?;
        let (tenant, site, spec) = self
            .template_for_site(
                caller,
                "site.template.apply",
                tenant_id,
                site_id,
                template_id,
            )
            .await?;
        require_active(&tenant)?;
        require_settled(&site)?;
        self.plan(&tenant, &spec, &site, &parameters).await?;
        let op = self.cx.sites().operation(
            OperationKind::SiteTemplateApply,
            &site,
            serde_json::json!({
                "templateId": template_id,
                "parameters": serde_json::from_str::<serde_json::Value>(&parameters).unwrap_or_default(),
            }),
        );
        let mut marked = site.clone();
        marked.operation_id = Some(op.operation_id.clone());
        marked.updated_at = self.cx.clock.now();
        self.cx
            .start_operation(&op, vec![put_site(&marked)?])
            .await?;
        Ok(Accepted {
            resource: crate::domain::site::Site {
                version: site.version + 1,
                ..marked
            },
            operation_id: op.operation_id,
        })
    }
}

impl Templates<'_> {
    /// Deletes every template of a tenant (its deletion).
    pub(crate) async fn remove_all(&self, tenant_id: &str) -> Result<()> {
        loop {
            let page = self
                .cx
                .store
                .query(Query::new(Index::Primary, keys::templates_of(tenant_id)).limit(100))
                .await?;
            if page.items.is_empty() {
                return Ok(());
            }
            for item in &page.items {
                self.cx.store.delete(&item.key, Condition::None).await?;
            }
        }
    }
}

pub(crate) fn spec_of(t: &TenantTemplate) -> TemplateSpec {
    let mut body = t.body.clone();
    if let Some(map) = body.as_object_mut() {
        map.entry("name")
            .or_insert_with(|| serde_json::Value::String(t.name.clone()));
    }
    TemplateSpec {
        id: t.template_id.clone(),
        name: t.name.clone(),
        body_json: body.to_string(),
    }
}
