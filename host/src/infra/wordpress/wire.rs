//! The JSON wire types of WordPress's REST API as bbws reads them: sites,
//! pages and posts, plugins, menus, and the rules of its slugs and texts
//! (percent-encoded slugs, HTML-escaped names, `{raw, rendered}` fields).

use serde::Serialize;
use serde_json::Value;

use super::client::{WpError, log_excerpt};

/// What [`WordPress::check`](super::WordPress::check) learns about the site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WpSiteInfo {
    /// The site title (`blogname`).
    pub name: String,
    /// The tagline (`blogdescription`).
    pub description: String,
    /// The site's address (`home`).
    pub url: String,
    /// The login of the user the credentials belong to.
    pub user: String,
}

/// A page or post as WordPress holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WpPost {
    pub id: u64,
    pub slug: String,
    /// `publish`, `draft`, `private`, ...
    pub status: String,
    /// The raw title (the rendered one when WordPress gives no raw one).
    pub title: String,
    /// The raw content (block markup or HTML).
    pub content: String,
    /// The public address.
    pub link: String,
}

/// An installed plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WpPlugin {
    /// The plugin's directory (`akismet`), or its file name for a single-file plugin.
    pub slug: String,
    /// WordPress's identifier, without `.php` (`akismet/akismet`).
    pub plugin: String,
    /// `active`, `inactive` or `network-active`.
    pub status: String,
    pub version: String,
    pub name: String,
}

/// A navigation menu and its items, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WpMenu {
    pub id: u64,
    pub name: String,
    pub slug: String,
    pub items: Vec<WpMenuItem>,
}

/// One item of a menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WpMenuItem {
    pub id: u64,
    pub title: String,
    /// What it links to: `page`, `post`, `custom`, ...
    pub object: String,
    /// The linked page's or post's id (0 for a custom link).
    pub object_id: u64,
    pub url: String,
}

/// A slug `page_by_slug` can look up: WordPress splits its `slug` filter
/// on commas and spaces.
pub(super) fn check_slug(slug: &str) -> Result<(), WpError> {
    if slug.is_empty() {
        return Err(WpError::Invalid("the slug is empty".into()));
    }
    if let Some(c) = slug
        .chars()
        .find(|c| c.is_whitespace() || matches!(c, ',' | '/' | '?' | '#' | '&' | '%'))
    {
        return Err(WpError::Invalid(format!(
            "{slug:?} is not a WordPress slug (it holds {c:?}): use lowercase letters, digits and hyphens"
        )));
    }
    Ok(())
}

/// Whether WordPress's slug `found` is the slug `wanted` (WordPress keeps
/// slugs lowercase and percent-encodes what is not ASCII).
pub(super) fn slug_matches(wanted: &str, found: &str) -> bool {
    let wanted = wanted.to_lowercase();
    found == wanted || percent_decode(found).is_some_and(|d| d.to_lowercase() == wanted)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

pub(super) fn find_plugin<'a>(plugins: &'a [WpPlugin], slug: &str) -> Option<&'a WpPlugin> {
    plugins
        .iter()
        .find(|p| p.plugin == slug)
        .or_else(|| plugins.iter().find(|p| p.slug == slug))
}

pub(super) fn str_field(value: &Value, field: &str) -> Option<String> {
    value.get(field).and_then(Value::as_str).map(str::to_string)
}

/// `{"raw": ..., "rendered": ...}` or a plain string.
fn text_field(value: &Value, field: &str) -> String {
    match value.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v
            .get("raw")
            .or_else(|| v.get("rendered"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        None => String::new(),
    }
}

pub(super) fn parse_post(value: &Value) -> Result<WpPost, WpError> {
    let id = value.get("id").and_then(Value::as_u64).ok_or_else(|| {
        tracing::warn!(answer = %log_excerpt(value.to_string().as_bytes()), "WordPress answered a page or post without an id");
        WpError::Invalid("WordPress answered a page or post without an id".into())
    })?;
    Ok(WpPost {
        id,
        slug: str_field(value, "slug").unwrap_or_default(),
        status: str_field(value, "status").unwrap_or_default(),
        title: text_field(value, "title"),
        content: text_field(value, "content"),
        link: str_field(value, "link").unwrap_or_default(),
    })
}

pub(super) fn parse_plugin(value: &Value) -> Option<WpPlugin> {
    let plugin = str_field(value, "plugin")?;
    Some(WpPlugin {
        slug: plugin_slug(&plugin).to_string(),
        status: str_field(value, "status").unwrap_or_default(),
        version: str_field(value, "version").unwrap_or_default(),
        name: str_field(value, "name").unwrap_or_default(),
        plugin,
    })
}

/// `akismet/akismet` → `akismet`; `hello` → `hello`.
fn plugin_slug(plugin: &str) -> &str {
    plugin.split('/').next().unwrap_or(plugin)
}

pub(super) fn parse_menu(value: &Value) -> Option<WpMenu> {
    Some(WpMenu {
        id: value.get("id")?.as_u64()?,
        name: decode_entities(&str_field(value, "name").unwrap_or_default()),
        slug: str_field(value, "slug").unwrap_or_default(),
        items: Vec::new(),
    })
}

pub(super) fn parse_menu_item(value: &Value) -> Option<WpMenuItem> {
    Some(WpMenuItem {
        id: value.get("id")?.as_u64()?,
        title: decode_entities(&text_field(value, "title")),
        object: str_field(value, "object").unwrap_or_default(),
        object_id: value.get("object_id").and_then(Value::as_u64).unwrap_or(0),
        url: str_field(value, "url").unwrap_or_default(),
    })
}

/// WordPress stores term names HTML-escaped (`Main &amp; more`).
pub(super) fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#039;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn slugs_are_checked_and_matched_as_wordpress_keeps_them() {
        assert!(check_slug("about-us").is_ok());
        assert!(check_slug("café").is_ok());
        assert!(check_slug("").is_err());
        assert!(check_slug("about us").is_err());
        assert!(check_slug("a,b").is_err());
        assert!(slug_matches("about", "about"));
        assert!(slug_matches("About", "about"));
        assert!(slug_matches("café", "caf%c3%a9"));
        assert!(!slug_matches("about", "about-2"));
    }

    #[test]
    fn plugins_menus_and_posts_parse() {
        let p = parse_plugin(&json!({"plugin": "akismet/akismet", "status": "inactive", "version": "5.0.2", "name": "Akismet Anti-Spam"})).unwrap();
        assert_eq!(
            (p.slug.as_str(), p.plugin.as_str()),
            ("akismet", "akismet/akismet")
        );
        assert_eq!(plugin_slug("hello"), "hello");
        let plugins = [p];
        assert!(find_plugin(&plugins, "akismet").is_some());
        assert!(find_plugin(&plugins, "akismet/akismet").is_some());
        assert!(find_plugin(&plugins, "akis").is_none());

        let m =
            parse_menu(&json!({"id": 2, "name": "Main &amp; more", "slug": "main-more"})).unwrap();
        assert_eq!(m.name, "Main & more");
        let item = parse_menu_item(&json!({"id": 5, "title": {"raw": "About", "rendered": "About"}, "object": "page", "object_id": 4, "url": "http://h/?page_id=4"})).unwrap();
        assert_eq!((item.title.as_str(), item.object_id), ("About", 4));

        let post = parse_post(&json!({"id": 4, "slug": "about", "status": "draft", "title": {"raw": "About", "rendered": "About"}, "content": {"raw": "<p>hi</p>", "rendered": "<p>hi</p>\n"}, "link": "http://h/?page_id=4"})).unwrap();
        assert_eq!(
            (post.title.as_str(), post.content.as_str()),
            ("About", "<p>hi</p>")
        );
        assert!(parse_post(&json!({"slug": "x"})).is_err());
    }
}
