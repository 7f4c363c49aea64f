//! A tenant's template component: instead of interpreting a template body
//! the way the platform's default component does, it builds one landing
//! page in code from a few parameters, with rules of its own:
//!
//! - `headline` (required, 1 to 120 characters), `intro` (optional, up to
//!   600), `sections` (an integer from 1 to 5, default 3), `contactEmail`
//!   (required, checked to look like an e-mail address) and `confirmProd`
//!   (a boolean, default false);
//! - on a `PROD` site it refuses to plan unless `confirmProd` is true: a
//!   template component can narrow where a template applies.
//!
//! Of the template body it reads only `description` (for the schema) and
//! `sectionTitles` (an optional array of strings naming the sections);
//! everything else in it is ignored.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use alloc::{format, vec};

use bbws_guest::{
    Environment, ParamError, Site, Template, TemplateInfo, WpMenu, WpOperation, WpPage, escape_html,
};
use serde_json::{Map, Value, json};

struct LandingPage;

/// The parameters, checked.
struct Params {
    headline: String,
    intro: String,
    sections: i64,
    contact_email: String,
    confirm_prod: bool,
}

const KNOWN: &[&str] = &[
    "headline",
    "intro",
    "sections",
    "contactEmail",
    "confirmProd",
];

impl Template for LandingPage {
    fn parameter_schema(template: &TemplateInfo) -> String {
        let description = body(template)
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("A landing page: a headline, an introduction, sections and a contact link.")
            .to_string();
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": template.name,
            "description": description,
            "type": "object",
            "properties": {
                "headline": {"type": "string", "minLength": 1, "maxLength": 120},
                "intro": {"type": "string", "maxLength": 600, "default": ""},
                "sections": {"type": "integer", "minimum": 1, "maximum": 5, "default": 3},
                "contactEmail": {"type": "string", "format": "email", "maxLength": 254},
                "confirmProd": {
                    "type": "boolean",
                    "default": false,
                    "description": "Must be true to apply the template to a PROD site."
                }
            },
            "required": ["headline", "contactEmail"],
            "additionalProperties": false
        })
        .to_string()
    }

    fn validate(_template: &TemplateInfo, parameters_json: &str) -> Vec<ParamError> {
        params(parameters_json).err().unwrap_or_default()
    }

    fn plan(
        template: &TemplateInfo,
        site: &Site,
        parameters_json: &str,
    ) -> Result<Vec<WpOperation>, Vec<ParamError>> {
        let p = params(parameters_json)?;
        if site.environment == Environment::Prod && !p.confirm_prod {
            bbws_guest::log!(Info, "refused to plan for PROD site {}", site.id);
            return Err(vec![ParamError::new(
                "confirmProd",
                format!(
                    "must be true to apply this template to {}, a PROD site",
                    site.name
                ),
            )]);
        }
        let titles: Vec<String> = match body(template).get("sectionTitles") {
            Some(Value::Array(titles)) => titles
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };

        let mut content = format!(
            "<!-- wp:heading {{\"level\":1}} --><h1 class=\"wp-block-heading\">{}</h1><!-- /wp:heading -->",
            escape_html(&p.headline)
        );
        if !p.intro.is_empty() {
            content += &format!(
                "<!-- wp:paragraph --><p>{}</p><!-- /wp:paragraph -->",
                escape_html(&p.intro)
            );
        }
        for n in 1..=p.sections {
            let title = titles
                .get(n as usize - 1)
                .cloned()
                .unwrap_or_else(|| format!("Section {n}"));
            content += &format!(
                "<!-- wp:group {{\"tagName\":\"section\"}} --><section class=\"wp-block-group\"><!-- wp:heading --><h2 class=\"wp-block-heading\">{}</h2><!-- /wp:heading --><!-- wp:paragraph --><p>Tell your visitors more here.</p><!-- /wp:paragraph --></section><!-- /wp:group -->",
                escape_html(&title)
            );
        }
        let email = escape_html(&p.contact_email);
        content += &format!(
            "<!-- wp:paragraph --><p>Contact us: <a href=\"mailto:{email}\">{email}</a></p><!-- /wp:paragraph -->"
        );

        Ok(vec![
            WpOperation::SetOption(("blogdescription".into(), p.headline.clone())),
            WpOperation::UpsertPage(WpPage::published(
                "landing",
                escape_html(&p.headline),
                content,
            )),
            WpOperation::CreateMenu(WpMenu {
                name: "Landing".into(),
                items: vec!["landing".into()],
            }),
        ])
    }
}

bbws_guest::export_template!(LandingPage);

/// The template body as JSON; anything unreadable counts as empty: this
/// component needs nothing from it.
fn body(template: &TemplateInfo) -> Map<String, Value> {
    match serde_json::from_str(&template.body_json) {
        Ok(Value::Object(body)) => body,
        _ => Map::new(),
    }
}

/// Checks the parameters: every problem, or the values with defaults.
fn params(parameters_json: &str) -> Result<Params, Vec<ParamError>> {
    let given: Map<String, Value> = match serde_json::from_str(parameters_json) {
        Ok(Value::Object(given)) => given,
        // The empty name: the parameters as a whole.
        _ => {
            return Err(vec![ParamError::new(
                "",
                "the parameters must be a JSON object",
            )]);
        }
    };
    let mut errors = Vec::new();
    let mut text = |name: &str, required: bool, max: usize| -> String {
        match given.get(name) {
            Some(Value::String(s)) if s.chars().count() > max => {
                errors.push(ParamError::new(
                    name,
                    format!("must be at most {max} characters long"),
                ));
                String::new()
            }
            Some(Value::String(s)) if required && s.trim().is_empty() => {
                errors.push(ParamError::new(name, "must not be empty"));
                String::new()
            }
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) if required => {
                errors.push(ParamError::new(name, "is required"));
                String::new()
            }
            None | Some(Value::Null) => String::new(),
            Some(_) => {
                errors.push(ParamError::new(name, "must be a string"));
                String::new()
            }
        }
    };
    let headline = text("headline", true, 120);
    let intro = text("intro", false, 600);
    let contact_email = text("contactEmail", true, 254);
    if !contact_email.is_empty() && !looks_like_email(&contact_email) {
        errors.push(ParamError::new(
            "contactEmail",
            "must be an e-mail address such as hello@example.com",
        ));
    }
    let sections = match given.get("sections") {
        None | Some(Value::Null) => 3,
        Some(v) => match v.as_i64() {
            Some(n @ 1..=5) => n,
            _ => {
                errors.push(ParamError::new(
                    "sections",
                    "must be an integer from 1 to 5",
                ));
                3
            }
        },
    };
    let confirm_prod = match given.get("confirmProd") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(ParamError::new("confirmProd", "must be true or false"));
            false
        }
    };
    for name in given.keys() {
        if !KNOWN.contains(&name.as_str()) {
            errors.push(ParamError::new(
                name.as_str(),
                "is not a parameter of this template",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Params {
        headline,
        intro,
        sections,
        contact_email,
        confirm_prod,
    })
}

/// `local@domain.tld`: one `@`, no spaces or markup characters, a domain of
/// at least two dot-separated labels of letters, digits and hyphens.
fn looks_like_email(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    let label_ok = |label: &str| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    !local.is_empty()
        && local.len() <= 64
        && !local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "@<>()[]\\,;:\"".contains(c))
        && domain.split('.').count() >= 2
        && domain.split('.').all(label_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> TemplateInfo {
        TemplateInfo {
            id: "tpl_1".into(),
            name: "Landing".into(),
            body_json: r#"{"sectionTitles": ["Why us", "Prices"]}"#.into(),
        }
    }

    fn site(environment: Environment) -> Site {
        Site {
            id: "site_1".into(),
            tenant_id: "ten_1".into(),
            name: "shop".into(),
            environment,
            status: bbws_guest::SiteStatus::Active,
        }
    }

    #[test]
    fn checks_its_own_rules() {
        let errors = LandingPage::validate(
            &info(),
            r#"{"headline": " ", "contactEmail": "not an address", "sections": 9, "colour": "red"}"#,
        );
        let names: Vec<&str> = errors.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["headline", "contactEmail", "sections", "colour"]);
        assert!(looks_like_email("hello@example.com"));
        assert!(!looks_like_email("hello@example"));
        assert!(!looks_like_email("a b@example.com"));
    }

    #[test]
    fn refuses_prod_without_confirmation() {
        let params = r#"{"headline": "Hi", "contactEmail": "a@b.co"}"#;
        let refused = LandingPage::plan(&info(), &site(Environment::Prod), params).unwrap_err();
        assert_eq!(refused[0].name, "confirmProd");
        let confirmed = r#"{"headline": "Hi", "contactEmail": "a@b.co", "confirmProd": true}"#;
        assert!(LandingPage::plan(&info(), &site(Environment::Prod), confirmed).is_ok());
        let ops = LandingPage::plan(&info(), &site(Environment::Dev), params).unwrap();
        let WpOperation::UpsertPage(page) = &ops[1] else {
            panic!("{ops:?}")
        };
        assert!(page.content.contains("Why us") && page.content.contains("Section 3"));
    }
}
