//! The `template` world on the host: preparing a template component, its
//! three calls under the same sandbox as a policy decision, the platform's
//! default template component (`guests/default-template`) and the
//! platform's templates (`host/templates/*.json`, in its body format).
//!
//! A guest's parameter errors come back as [`FieldError`]s: a parameter
//! `name` becomes the field `parameters.name`, a problem with the
//! parameters object as a whole (the empty name) the field `parameters`,
//! and a problem with the template itself the field `template`.

use std::sync::{Arc, LazyLock};

use wasmtime::component::InstancePre;

use super::bindings::{TemplatePre, types};
use super::{GuestError, HostState, Limits, Prepared, Runtime, Scope, WorldPre, check_output};
use crate::domain::FieldError;
use crate::domain::template::{SiteView, TemplateSpec, WpOperation, WpPage};

/// The platform's template component, built from `guests/default-template`:
/// it interprets the JSON body format of the platform's templates.
pub const DEFAULT_TEMPLATE: &[u8] = include_bytes!(env!("BBWS_GUEST_DEFAULT_TEMPLATE"));

/// The platform's templates: `(id, body)`; the id is the file's stem.
const PLATFORM_TEMPLATES: &[(&str, &str)] = &[
    (
        "business-basic",
        include_str!("../../templates/business-basic.json"),
    ),
    ("blog", include_str!("../../templates/blog.json")),
];

/// The platform's templates, for every tenant, interpreted by
/// [`DEFAULT_TEMPLATE`] (or a tenant's own template component). The name is
/// the body's `name`, else the id title-cased (`business-basic` reads
/// `Business Basic`).
pub fn platform_templates() -> Vec<TemplateSpec> {
    static TEMPLATES: LazyLock<Vec<TemplateSpec>> = LazyLock::new(|| {
        PLATFORM_TEMPLATES
            .iter()
            .map(|(id, body)| {
                let name = serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.get("name")?.as_str().map(str::to_string))
                    .unwrap_or_else(|| title_case(id));
                TemplateSpec {
                    id: id.to_string(),
                    name,
                    body_json: body.to_string(),
                }
            })
            .collect()
    });
    TEMPLATES.clone()
}

/// `business-basic` → `Business Basic`.
fn title_case(id: &str) -> String {
    id.split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect::<String>()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl WorldPre for TemplatePre<HostState> {
    fn new(pre: InstancePre<HostState>) -> wasmtime::Result<Self> {
        TemplatePre::new(pre)
    }
    fn from_prepared(prepared: &Prepared) -> Option<&Self> {
        match prepared {
            Prepared::Template(pre) => Some(pre),
            _ => None,
        }
    }
    fn into_prepared(self) -> Prepared {
        Prepared::Template(self)
    }
}

impl Runtime {
    /// The compiled template component for `hash`: from memory, else from
    /// its stored artifact, else compiled from `bytes`; cached like a
    /// policy ([`Runtime::prepare`]).
    pub async fn prepare_template(
        &self,
        hash: &str,
        bytes: &[u8],
    ) -> Result<TemplatePre<HostState>, GuestError> {
        self.prepare_as(hash, bytes).await
    }

    /// The JSON Schema (as text) of `template`'s parameters, from a fresh
    /// instance under `limits`.
    pub fn template_schema(
        &self,
        pre: &TemplatePre<HostState>,
        template: &TemplateSpec,
        scope: Arc<Scope>,
        limits: Limits,
    ) -> Result<String, GuestError> {
        let info = template_info(template);
        let schema = self.sandboxed(scope, limits, |store| {
            pre.instantiate(&mut *store)?
                .call_parameter_schema(store, &info)
        })?;
        check_output(schema.len(), limits.output_bytes)?;
        Ok(schema)
    }

    /// The problems with `parameters_json` (a JSON object as text) for
    /// `template`; none when they are valid.
    pub fn template_validate(
        &self,
        pre: &TemplatePre<HostState>,
        template: &TemplateSpec,
        parameters_json: &str,
        scope: Arc<Scope>,
        limits: Limits,
    ) -> Result<Vec<FieldError>, GuestError> {
        let info = template_info(template);
        let errors = self.sandboxed(scope, limits, |store| {
            pre.instantiate(&mut *store)?
                .call_validate(store, &info, parameters_json)
        })?;
        field_errors(errors, limits)
    }

    /// The operations that apply `template` with `parameters_json` to
    /// `site`, in order; or the parameters' problems. The plan's strings
    /// together may take `limits.plan_bytes`.
    pub fn template_plan(
        &self,
        pre: &TemplatePre<HostState>,
        template: &TemplateSpec,
        site: &SiteView,
        parameters_json: &str,
        scope: Arc<Scope>,
        limits: Limits,
    ) -> Result<Result<Vec<WpOperation>, Vec<FieldError>>, GuestError> {
        let info = template_info(template);
        let site = types::Site {
            id: site.id.clone(),
            tenant_id: site.tenant_id.clone(),
            name: site.name.clone(),
            environment: site.environment.clone(),
            status: site.status.clone(),
        };
        let planned = self.sandboxed(scope, limits, |store| {
            pre.instantiate(&mut *store)?
                .call_plan(store, &info, &site, parameters_json)
        })?;
        match planned {
            Ok(operations) => {
                check_output(
                    operations.iter().map(operation_bytes).sum(),
                    limits.plan_bytes,
                )?;
                Ok(Ok(operations.into_iter().map(operation).collect()))
            }
            Err(errors) => Ok(Err(field_errors(errors, limits)?)),
        }
    }
}

fn template_info(template: &TemplateSpec) -> types::TemplateInfo {
    types::TemplateInfo {
        id: template.id.clone(),
        name: template.name.clone(),
        body_json: template.body_json.clone(),
    }
}

/// A guest's parameter errors as field errors, within `limits.output_bytes`.
fn field_errors(
    errors: Vec<types::ParamError>,
    limits: Limits,
) -> Result<Vec<FieldError>, GuestError> {
    check_output(
        errors.iter().map(|e| e.name.len() + e.message.len()).sum(),
        limits.output_bytes,
    )?;
    Ok(errors
        .into_iter()
        .map(|e| FieldError {
            field: match e.name.as_str() {
                "template" => "template".to_string(),
                "" => "parameters".to_string(),
                name => format!("parameters.{name}"),
            },
            message: e.message,
        })
        .collect())
}

/// The bytes of an operation's strings.
fn operation_bytes(op: &types::WpOperation) -> usize {
    let page = |p: &types::WpPage| p.slug.len() + p.title.len() + p.content.len() + p.status.len();
    match op {
        types::WpOperation::UpsertPage(p) | types::WpOperation::CreatePost(p) => page(p),
        types::WpOperation::SetOption((name, value)) => name.len() + value.len(),
        types::WpOperation::ActivatePlugin(slug) => slug.len(),
        types::WpOperation::CreateMenu(menu) => {
            menu.name.len() + menu.items.iter().map(String::len).sum::<usize>()
        }
    }
}

fn operation(op: types::WpOperation) -> WpOperation {
    let page = |p: types::WpPage| WpPage {
        slug: p.slug,
        title: p.title,
        content: p.content,
        status: p.status,
    };
    match op {
        types::WpOperation::UpsertPage(p) => WpOperation::UpsertPage(page(p)),
        types::WpOperation::CreatePost(p) => WpOperation::CreatePost(page(p)),
        types::WpOperation::SetOption((name, value)) => WpOperation::SetOption { name, value },
        types::WpOperation::ActivatePlugin(slug) => WpOperation::ActivatePlugin { slug },
        types::WpOperation::CreateMenu(menu) => WpOperation::CreateMenu {
            name: menu.name,
            items: menu.items,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_templates_are_named_and_parse() {
        let templates = platform_templates();
        let ids: Vec<&str> = templates.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["business-basic", "blog"]);
        assert_eq!(templates[0].name, "Business (basic)");
        assert_eq!(templates[1].name, "Blog");
        for t in &templates {
            let body: serde_json::Value = serde_json::from_str(&t.body_json).unwrap();
            let ops = body["operations"].as_array().unwrap();
            assert!(
                ops.iter().all(|op| op["op"] != "activatePlugin"),
                "{}: platform templates activate no plugins",
                t.id
            );
        }
        assert_eq!(title_case("business-basic"), "Business Basic");
    }

    #[test]
    fn parameter_errors_become_field_errors() {
        let errors = field_errors(
            vec![
                types::ParamError {
                    name: "businessName".into(),
                    message: "is required".into(),
                },
                types::ParamError {
                    name: "template".into(),
                    message: "bad".into(),
                },
                types::ParamError {
                    name: String::new(),
                    message: "not JSON".into(),
                },
            ],
            Limits::default(),
        )
        .unwrap();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["parameters.businessName", "template", "parameters"]
        );
    }
}
