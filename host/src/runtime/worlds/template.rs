//! The `template` world: a component that describes a template's
//! parameters, checks them, and plans the WordPress operations the host runs
//! against a site. Its three calls run under the same sandbox as a policy
//! decision.
//!
//! A guest's parameter errors come back as [`FieldError`]s: a parameter
//! `name` becomes the field `parameters.name`, a problem with the
//! parameters object as a whole (the empty name) the field `parameters`,
//! and a problem with the template itself the field `template`.

use std::sync::Arc;

use crate::domain::FieldError;
use crate::domain::template::{TemplateSpec, WpOperation, WpPage};
use crate::runtime::bindings::types;
use crate::runtime::{
    GuestError, HostState, Limits, Lookups, Origin, Runtime, Scope, ScopeSite, check_output,
};

/// The world's generated code, in a module of its own: the WIT's
/// world-level `use types.{...}` becomes type aliases there, which must not
/// meet the host-side types of the same names (`WpOperation`, `EcsEvent`).
mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "template",
        imports: { default: trappable },
        with: {
            "bbws:platform/types": crate::runtime::bindings::bbws::platform::types,
            "bbws:platform/tenants": crate::runtime::bindings::bbws::platform::tenants,
            "bbws:platform/sites": crate::runtime::bindings::bbws::platform::sites,
            "bbws:platform/log": crate::runtime::bindings::bbws::platform::log,
        },
    });
}

pub use generated::{Template, TemplatePre};

world_pre!(TemplatePre, Template);

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
        origin: &Arc<Origin>,
    ) -> Result<String, GuestError> {
        let info = template_info(template);
        let schema = self.sandboxed(
            pre.instance_pre().engine(),
            scope,
            limits,
            Default::default(),
            origin,
            "template",
            &mut Lookups::default(),
            |store| {
                pre.instantiate(&mut *store)?
                    .call_parameter_schema(store, &info)
            },
        )?;
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
        origin: &Arc<Origin>,
    ) -> Result<Vec<FieldError>, GuestError> {
        let info = template_info(template);
        let errors = self.sandboxed(
            pre.instance_pre().engine(),
            scope,
            limits,
            Default::default(),
            origin,
            "template",
            &mut Lookups::default(),
            |store| {
                pre.instantiate(&mut *store)?
                    .call_validate(store, &info, parameters_json)
            },
        )?;
        field_errors(errors, limits)
    }

    /// The operations that apply `template` with `parameters_json` to
    /// `site`, in order; or the parameters' problems. The plan's strings
    /// together may take `limits.plan_bytes`.
    #[allow(clippy::too_many_arguments)] // the plan's inputs, then the sandbox's
    pub fn template_plan(
        &self,
        pre: &TemplatePre<HostState>,
        template: &TemplateSpec,
        site: &ScopeSite,
        parameters_json: &str,
        scope: Arc<Scope>,
        limits: Limits,
        origin: &Arc<Origin>,
    ) -> Result<Result<Vec<WpOperation>, Vec<FieldError>>, GuestError> {
        let info = template_info(template);
        let site = site.to_wit();
        let planned = self.sandboxed(
            pre.instance_pre().engine(),
            scope,
            limits,
            Default::default(),
            origin,
            "template",
            &mut Lookups::default(),
            |store| {
                pre.instantiate(&mut *store)?
                    .call_plan(store, &info, &site, parameters_json)
            },
        )?;
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
