//! The platform's template catalogue: its default template component
//! (`guests/default-template`) and its templates (`host/templates/*.json`,
//! in that component's body format). Tenants' own templates are in the
//! store ([`super::templates`]); running a template component is the
//! runtime's `template` world.

use std::sync::LazyLock;

use crate::domain::template::TemplateSpec;

/// The platform's template component, built from `guests/default-template`:
/// it interprets the JSON body format of the platform's templates.
pub const DEFAULT_TEMPLATE: &[u8] = include_bytes!(env!("BBWS_GUEST_DEFAULT_TEMPLATE"));

/// The platform's templates: `(id, body)`; the id is the file's stem.
const PLATFORM_TEMPLATES: &[(&str, &str)] = &[
    (
        "business-basic",
        include_str!("../../../templates/business-basic.json"),
    ),
    ("blog", include_str!("../../../templates/blog.json")),
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
}
