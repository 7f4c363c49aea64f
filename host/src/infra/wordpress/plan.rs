//! Executing one [`WpOperation`] of a template's plan against the REST API
//! ([`WordPress::apply`]):
//!
//! - `upsertPage` updates the page with that slug (any status) or creates it;
//! - `createPost` creates a post;
//! - `setOption` writes one setting of `/wp/v2/settings`, named as WordPress
//!   names the option (`blogname`) or as the endpoint does (`title`), with
//!   the JSON type the endpoint's schema gives; `page_on_front` and
//!   `page_for_posts` also take a page slug;
//! - `activatePlugin` activates the installed plugin of that slug
//!   (`akismet` for `akismet/akismet.php`);
//! - `createMenu` creates the navigation menu of that name, or empties the
//!   existing one, then adds one item per page slug, in order (the menus API
//!   of WordPress 5.9 and later).

use reqwest::Method;
use serde_json::{Value, json};

use super::client::{WordPress, WpError};
use super::wire::{
    check_slug, find_plugin, parse_menu, parse_menu_item, parse_post, slug_matches, str_field,
};
use crate::domain::template::{WpOperation, WpPage};

/// WordPress option names the settings endpoint names otherwise.
const OPTION_NAMES: &[(&str, &str)] = &[
    ("blogname", "title"),
    ("blogdescription", "description"),
    ("siteurl", "url"),
    ("admin_email", "email"),
    ("timezone_string", "timezone"),
    ("WPLANG", "language"),
];

/// Settings whose value is a page id, which `setOption` also takes as a slug.
const PAGE_SETTINGS: &[&str] = &["page_on_front", "page_for_posts"];

/// The `/wp/v2/settings` name of a WordPress option (unchanged when the
/// endpoint uses the option's own name).
fn settings_name(option: &str) -> &str {
    OPTION_NAMES
        .iter()
        .find(|(o, _)| *o == option)
        .map_or(option, |(_, s)| s)
}

impl WordPress {
    /// Executes one operation; answers what was done, for a person
    /// (`created page about (id 12)`).
    pub async fn apply(&self, op: &WpOperation) -> Result<String, WpError> {
        match op {
            WpOperation::UpsertPage(page) => self.upsert_page(page).await,
            WpOperation::CreatePost(post) => {
                check_slug(&post.slug)?;
                let created = self
                    .call(
                        Method::POST,
                        "/wp/v2/posts",
                        &[],
                        Some(page_body(post, true)),
                    )
                    .await?;
                let created = parse_post(&created)?;
                Ok(format!(
                    "created post {} (id {}){}",
                    created.slug,
                    created.id,
                    slug_note(&post.slug, &created.slug)
                ))
            }
            WpOperation::SetOption { name, value } => self.set_option(name, value).await,
            WpOperation::ActivatePlugin { slug } => self.activate_plugin(slug).await,
            WpOperation::CreateMenu { name, items } => self.create_menu(name, items).await,
        }
    }

    async fn upsert_page(&self, page: &WpPage) -> Result<String, WpError> {
        match self.page_by_slug(&page.slug).await? {
            Some(existing) => {
                self.call(
                    Method::POST,
                    &format!("/wp/v2/pages/{}", existing.id),
                    &[],
                    Some(page_body(page, false)),
                )
                .await?;
                Ok(format!(
                    "updated page {} (id {})",
                    existing.slug, existing.id
                ))
            }
            None => {
                let created = self
                    .call(
                        Method::POST,
                        "/wp/v2/pages",
                        &[],
                        Some(page_body(page, true)),
                    )
                    .await?;
                let created = parse_post(&created)?;
                Ok(format!(
                    "created page {} (id {}){}",
                    created.slug,
                    created.id,
                    slug_note(&page.slug, &created.slug)
                ))
            }
        }
    }

    async fn set_option(&self, option: &str, value: &str) -> Result<String, WpError> {
        let name = settings_name(option);
        let described = self
            .call(Method::OPTIONS, "/wp/v2/settings", &[], None)
            .await?;
        let properties = described
            .pointer("/schema/properties")
            .and_then(Value::as_object)
            .ok_or_else(|| self.not_wordpress("/wp/v2/settings"))?;
        let Some(schema) = properties.get(name) else {
            let mut known: Vec<&str> = properties.keys().map(String::as_str).collect();
            known.sort_unstable();
            return Err(WpError::Invalid(format!(
                "WordPress's REST API does not expose the option {option}: /wp/v2/settings sets only {} (and blogname, blogdescription, admin_email, timezone_string under their WordPress names)",
                known.join(", ")
            )));
        };
        let json_value = if PAGE_SETTINGS.contains(&name) && value.trim().parse::<u64>().is_err() {
            let page = self.page_by_slug(value.trim()).await?.ok_or_else(|| {
                WpError::Invalid(format!(
                    "setOption {option}: there is no page with the slug {value}"
                ))
            })?;
            json!(page.id)
        } else {
            setting_value(option, value, schema)?
        };
        let answer = self
            .call(
                Method::POST,
                "/wp/v2/settings",
                &[],
                Some(Value::Object(
                    [(name.to_string(), json_value.clone())]
                        .into_iter()
                        .collect(),
                )),
            )
            .await?;
        let shown = match answer.get(name) {
            Some(Value::String(s)) => format!("{s:?}"),
            Some(v) => v.to_string(),
            None => json_value.to_string(),
        };
        if name == option {
            Ok(format!("set {option} to {shown}"))
        } else {
            Ok(format!("set {option} ({name}) to {shown}"))
        }
    }

    async fn activate_plugin(&self, slug: &str) -> Result<String, WpError> {
        let slug = slug.trim().trim_end_matches(".php");
        if slug.is_empty() {
            return Err(WpError::Invalid("activatePlugin: the slug is empty".into()));
        }
        let plugins = self.plugins().await?;
        let Some(plugin) = find_plugin(&plugins, slug) else {
            let mut installed: Vec<&str> = plugins.iter().map(|p| p.slug.as_str()).collect();
            installed.sort_unstable();
            return Err(WpError::Invalid(format!(
                "the plugin {slug} is not installed on this WordPress (installed: {})",
                if installed.is_empty() {
                    "none".to_string()
                } else {
                    installed.join(", ")
                }
            )));
        };
        if plugin.status != "inactive" {
            return Ok(format!(
                "plugin {slug} ({}) was already {}",
                plugin.plugin, plugin.status
            ));
        }
        let answer = self
            .call(
                Method::POST,
                &format!("/wp/v2/plugins/{}", plugin.plugin),
                &[],
                Some(json!({ "status": "active" })),
            )
            .await?;
        let status = str_field(&answer, "status").unwrap_or_default();
        if status != "active" && status != "network-active" {
            return Err(WpError::Invalid(format!(
                "WordPress did not activate the plugin {slug} ({}): its status is {status:?}",
                plugin.plugin
            )));
        }
        Ok(format!("activated plugin {slug} ({})", plugin.plugin))
    }

    async fn create_menu(&self, name: &str, slugs: &[String]) -> Result<String, WpError> {
        if name.trim().is_empty() {
            return Err(WpError::Invalid(
                "createMenu: the menu name is empty".into(),
            ));
        }
        // Every page first: an unknown slug changes nothing.
        let mut pages = Vec::with_capacity(slugs.len());
        for slug in slugs {
            let page = self.page_by_slug(slug).await?.ok_or_else(|| {
                WpError::Invalid(format!(
                    "createMenu {name}: there is no page with the slug {slug}"
                ))
            })?;
            pages.push(page);
        }
        let existing = self
            .list("/wp/v2/menus", &[("context", "edit")])
            .await?
            .iter()
            .filter_map(parse_menu)
            .find(|m| m.name == name);
        let (menu_id, verb) = match existing {
            Some(menu) => {
                let old = self
                    .list(
                        "/wp/v2/menu-items",
                        &[("menus", &menu.id.to_string()), ("context", "edit")],
                    )
                    .await?;
                for item in old.iter().filter_map(parse_menu_item) {
                    self.call(
                        Method::DELETE,
                        &format!("/wp/v2/menu-items/{}", item.id),
                        &[("force", "true")],
                        None,
                    )
                    .await?;
                }
                (menu.id, "replaced")
            }
            None => {
                let created = self
                    .call(
                        Method::POST,
                        "/wp/v2/menus",
                        &[],
                        Some(json!({ "name": name })),
                    )
                    .await?;
                let id = created
                    .get("id")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| self.not_wordpress("/wp/v2/menus"))?;
                (id, "created")
            }
        };
        for (i, page) in pages.iter().enumerate() {
            self.call(
                Method::POST,
                "/wp/v2/menu-items",
                &[],
                Some(json!({
                    "menus": menu_id,
                    "type": "post_type",
                    "object": "page",
                    "object_id": page.id,
                    "status": "publish",
                    "menu_order": i + 1,
                })),
            )
            .await?;
        }
        let listed: Vec<&str> = pages.iter().map(|p| p.slug.as_str()).collect();
        Ok(format!(
            "{verb} menu {name} (id {menu_id}) with {} item{}: {}",
            pages.len(),
            if pages.len() == 1 { "" } else { "s" },
            if listed.is_empty() {
                "none".to_string()
            } else {
                listed.join(", ")
            }
        ))
    }
}

/// The JSON value a setting takes, from its text and the setting's schema
/// (`type` is one type or a list of them).
fn setting_value(option: &str, value: &str, schema: &Value) -> Result<Value, WpError> {
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec!["string"],
    };
    let trimmed = value.trim();
    for ty in &types {
        let converted = match *ty {
            "string" => Some(Value::String(value.to_string())),
            "integer" => trimmed.parse::<i64>().ok().map(Value::from),
            "number" => trimmed
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number),
            "boolean" => parse_bool(trimmed).map(Value::Bool),
            "null" => (trimmed.is_empty() || trimmed == "null").then_some(Value::Null),
            "array" | "object" => serde_json::from_str::<Value>(trimmed).ok().filter(|v| {
                if *ty == "array" {
                    v.is_array()
                } else {
                    v.is_object()
                }
            }),
            _ => None,
        };
        if let Some(converted) = converted {
            if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
                && !allowed.contains(&converted)
            {
                let allowed: Vec<String> = allowed.iter().map(Value::to_string).collect();
                return Err(WpError::Invalid(format!(
                    "setOption {option}: {value:?} is not one of {}",
                    allowed.join(", ")
                )));
            }
            return Ok(converted);
        }
    }
    Err(WpError::Invalid(format!(
        "setOption {option}: {value:?} is not a valid {}",
        types.join(" or ")
    )))
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// The JSON body creating (with its slug) or updating a page or post.
fn page_body(page: &WpPage, with_slug: bool) -> Value {
    let mut body = json!({
        "title": page.title,
        "content": page.content,
        "status": page.status,
    });
    if with_slug {
        body["slug"] = json!(page.slug);
    }
    body
}

/// A note when WordPress gave a page another slug than asked (taken, or
/// sanitized).
fn slug_note(wanted: &str, got: &str) -> String {
    if slug_matches(wanted, got) {
        String::new()
    } else {
        format!("; WordPress made the slug {got} of {wanted}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_names_map_to_settings_names() {
        assert_eq!(settings_name("blogname"), "title");
        assert_eq!(settings_name("blogdescription"), "description");
        assert_eq!(settings_name("admin_email"), "email");
        assert_eq!(settings_name("timezone_string"), "timezone");
        assert_eq!(settings_name("posts_per_page"), "posts_per_page");
        assert_eq!(settings_name("page_on_front"), "page_on_front");
        assert_eq!(settings_name("title"), "title");
    }

    #[test]
    fn setting_values_take_the_schema_type() {
        let v = |value: &str, schema: Value| setting_value("x", value, &schema);
        assert_eq!(v("7", json!({"type": "integer"})), Ok(json!(7)));
        assert_eq!(v(" 7 ", json!({"type": "integer"})), Ok(json!(7)));
        assert!(matches!(
            v("seven", json!({"type": "integer"})),
            Err(WpError::Invalid(_))
        ));
        assert_eq!(v("true", json!({"type": "boolean"})), Ok(json!(true)));
        assert_eq!(v("0", json!({"type": "boolean"})), Ok(json!(false)));
        assert!(v("maybe", json!({"type": "boolean"})).is_err());
        assert_eq!(v("1.5", json!({"type": "number"})), Ok(json!(1.5)));
        assert_eq!(
            v(" My site ", json!({"type": "string"})),
            Ok(json!(" My site "))
        );
        assert_eq!(v("", json!({"type": ["integer", "null"]})), Ok(Value::Null));
        assert_eq!(v("3", json!({"type": ["integer", "null"]})), Ok(json!(3)));
        assert_eq!(v("[1,2]", json!({"type": "array"})), Ok(json!([1, 2])));
        assert_eq!(
            v("page", json!({"type": "string", "enum": ["posts", "page"]})),
            Ok(json!("page"))
        );
        let err = v(
            "pages",
            json!({"type": "string", "enum": ["posts", "page"]}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("\"posts\", \"page\""), "{err}");
        assert_eq!(v("x", json!({})), Ok(json!("x")));
    }

    #[test]
    fn a_note_says_when_wordpress_gave_another_slug() {
        assert_eq!(slug_note("about", "about"), "");
        assert_eq!(
            slug_note("about", "about-2"),
            "; WordPress made the slug about-2 of about"
        );
    }
}
