//! The platform's default template interpreter, a `template` guest: it reads
//! a template body in the JSON format below, checks parameters against it
//! and plans the WordPress operations it describes. The platform's own
//! templates (`host/templates/*.json`) and a tenant's templates are written
//! in this format, unless the tenant uploads a `template` component of its
//! own that reads its bodies differently.
//!
//! # The body
//!
//! ```json
//! {
//!   "name": "Business (basic)",
//!   "description": "Home, about and contact pages with a menu.",
//!   "parameters": {
//!     "businessName": {"type": "string", "required": true, "minLength": 1, "maxLength": 80,
//!                      "description": "Shown in the title and on every page."},
//!     "tagline": {"type": "string", "default": "Welcome"},
//!     "withBlog": {"type": "boolean", "default": true},
//!     "colour": {"type": "string", "enum": ["blue", "green"]},
//!     "postsPerPage": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}
//!   },
//!   "operations": [
//!     {"op": "setOption", "name": "blogname", "value": "{{businessName}}"},
//!     {"op": "upsertPage", "slug": "about", "title": "About {{businessName}}",
//!      "content": "<p>{{tagline}}</p>", "status": "publish"},
//!     {"op": "createPost", "when": "withBlog", "slug": "hello", "title": "Hello",
//!      "content": "<p>Our first post.</p>"},
//!     {"op": "activatePlugin", "slug": "contact-form-7"},
//!     {"op": "createMenu", "name": "Main", "items": ["home", "about"]}
//!   ]
//! }
//! ```
//!
//! - `name` and `description` (optional) describe the template; the
//!   description becomes the parameter schema's.
//! - `parameters` declares each parameter by name (letters, digits and `_`,
//!   starting with a letter): `type` is `string`, `boolean` or `integer`;
//!   optional `required` (a required parameter has no `default`),
//!   `default`, `description`, `enum` (strings or integers); `minLength` and
//!   `maxLength` (in characters) for strings; `minimum` and `maximum` for
//!   integers. A default must itself be valid.
//! - `operations` are planned in order. `op` is `upsertPage`, `createPost`
//!   (`slug`, `title`, `content` default `""`, `status` `publish` (the
//!   default) or `draft`), `setOption` (`name`, `value`: a string, or a
//!   number or boolean written as its text), `activatePlugin` (`slug`) or
//!   `createMenu` (`name`, `items`: page slugs in menu order). Any operation
//!   may have `when`, naming a boolean parameter: it is planned only when
//!   that parameter is true (an optional boolean not given and without a
//!   default is false).
//! - Every string field may hold `{{name}}` placeholders for parameters and
//!   `{{site.name}}` and `{{site.environment}}` (`DEV`, `SIT` or `PROD`). In
//!   `title` and `content` the substituted value is HTML-escaped (`&`, `<`,
//!   `>`, `"`, `'`), so a parameter cannot inject markup; the template's own
//!   text is not (it is the author's markup). An optional parameter that is
//!   neither given nor defaulted substitutes as `""`; a boolean as `true` or
//!   `false`, an integer as its digits.
//!
//! Unknown fields, unknown ops and a placeholder that names nothing are
//! errors of the template, found before any parameter is looked at.
//!
//! # The three calls
//!
//! - `parameter-schema` answers a JSON Schema (draft 2020-12) object schema
//!   derived from `parameters` (`additionalProperties: false`). For a
//!   malformed body it answers a schema that accepts nothing, whose
//!   `description` says what is wrong.
//! - `validate` answers one error per problem: a missing required parameter
//!   (`is required`), a wrong type, a constraint not met, or an unknown
//!   parameter (`is not a parameter of this template`), each named by its
//!   parameter; a problem with the parameters object as a whole (not JSON,
//!   not an object) has the empty name. A malformed body answers a single
//!   error named `template`.
//! - `plan` answers the same errors, or the operations, with defaults
//!   applied, `when` evaluated and placeholders substituted.

#![cfg_attr(not(test), no_std)]

extern crate alloc;

mod body;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use alloc::{format, vec};

use bbws_guest::{ParamError, Site, Template, TemplateInfo, WpMenu, WpOperation, WpPage};
use body::{Action, Body, PageText, Type, Values};
use serde_json::{Map, Value, json};

/// The name of an error that is the template's, not a parameter's.
const TEMPLATE: &str = "template";

struct DefaultTemplate;

impl Template for DefaultTemplate {
    fn parameter_schema(template: &TemplateInfo) -> String {
        schema(template).to_string()
    }

    fn validate(template: &TemplateInfo, parameters_json: &str) -> Vec<ParamError> {
        checked(template, parameters_json).err().unwrap_or_default()
    }

    fn plan(
        template: &TemplateInfo,
        site: &Site,
        parameters_json: &str,
    ) -> Result<Vec<WpOperation>, Vec<ParamError>> {
        let (body, values) = checked(template, parameters_json)?;
        plan(&body, &values, site).map_err(|e| vec![ParamError::new(TEMPLATE, e)])
    }
}

bbws_guest::export_template!(DefaultTemplate);

/// The parsed body and the checked parameters, or every error.
fn checked(
    template: &TemplateInfo,
    parameters_json: &str,
) -> Result<(Body, Values), Vec<ParamError>> {
    let body = Body::parse(&template.body_json).map_err(|e| vec![ParamError::new(TEMPLATE, e)])?;
    let values = body.values(parameters_json).map_err(|problems| {
        problems
            .into_iter()
            .map(|(name, message)| ParamError { name, message })
            .collect::<Vec<_>>()
    })?;
    Ok((body, values))
}

/// The JSON Schema of `template`'s parameters.
fn schema(template: &TemplateInfo) -> Value {
    const DRAFT: &str = "https://json-schema.org/draft/2020-12/schema";
    let body = match Body::parse(&template.body_json) {
        Ok(body) => body,
        Err(e) => {
            return json!({
                "$schema": DRAFT,
                "title": template.name,
                "description": format!("The template is malformed: {e}"),
                "not": {},
            });
        }
    };
    let mut properties = Map::new();
    let mut required = Vec::new();
    for param in &body.params {
        let mut property = Map::new();
        property.insert("type".into(), param.ty.as_str().into());
        if let Some(d) = &param.description {
            property.insert("description".into(), d.as_str().into());
        }
        if let Some(d) = &param.default {
            property.insert("default".into(), d.clone());
        }
        if let Some(choices) = &param.choices {
            property.insert("enum".into(), Value::Array(choices.clone()));
        }
        for (key, bound) in [
            ("minLength", param.min_length.map(Value::from)),
            ("maxLength", param.max_length.map(Value::from)),
            ("minimum", param.minimum.map(Value::from)),
            ("maximum", param.maximum.map(Value::from)),
        ] {
            if let Some(bound) = bound {
                property.insert(key.into(), bound);
            }
        }
        if param.required {
            required.push(Value::from(param.name.as_str()));
        }
        properties.insert(param.name.clone(), Value::Object(property));
    }
    let mut schema = json!({
        "$schema": DRAFT,
        "title": template.name,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    });
    if let Some(d) = &body.description {
        schema["description"] = d.as_str().into();
    }
    schema
}

/// The operations of `body` for `values` on `site`.
fn plan(body: &Body, values: &Values, site: &Site) -> Result<Vec<WpOperation>, String> {
    let mut out = Vec::with_capacity(body.operations.len());
    for (i, op) in body.operations.iter().enumerate() {
        if let Some(flag) = &op.when {
            let index = body
                .params
                .iter()
                .position(|p| &p.name == flag && p.ty == Type::Boolean)
                .expect("checked when parsing");
            if !values.on[index] {
                continue;
            }
        }
        let raw = |text: &body::Text| text.render(values, site, false);
        let page = |p: &PageText| -> Result<WpPage, String> {
            let page = WpPage {
                slug: raw(&p.slug),
                title: p.title.render(values, site, true),
                content: p.content.render(values, site, true),
                status: raw(&p.status),
            };
            if page.slug.trim().is_empty() {
                return Err(format!("operations[{i}]: the slug is empty"));
            }
            if page.status != "publish" && page.status != "draft" {
                return Err(format!(
                    "operations[{i}]: status must be publish or draft, not {:?}",
                    page.status
                ));
            }
            Ok(page)
        };
        out.push(match &op.action {
            Action::UpsertPage(p) => WpOperation::UpsertPage(page(p)?),
            Action::CreatePost(p) => WpOperation::CreatePost(page(p)?),
            Action::SetOption { name, value } => WpOperation::SetOption((raw(name), raw(value))),
            Action::ActivatePlugin { slug } => WpOperation::ActivatePlugin(raw(slug)),
            Action::CreateMenu { name, items } => WpOperation::CreateMenu(WpMenu {
                name: raw(name),
                items: items.iter().map(raw).collect(),
            }),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
