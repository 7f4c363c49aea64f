//! A client of WordPress's REST API, authenticated with an Application
//! Password (HTTP Basic auth: the username and the password WordPress
//! generated for bbws under *Users → Profile → Application Passwords*).
//!
//! Every request goes to `SITE/?rest_route=/wp/v2/...`, the form that works
//! on every WordPress whatever its permalink setting (and behind a server
//! without rewrite rules). A request may take [`REQUEST_TIMEOUT`].
//!
//! [`WordPress::apply`] executes one [`WpOperation`] of a template's plan:
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

use std::error::Error as _;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde_json::{Value, json};

use crate::domain::template::{WpOperation, WpPage};

/// How long one request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Items asked per page of a listing (WordPress's maximum).
const PER_PAGE: usize = 100;

/// Pages of a listing read at most (a server ignoring `page` ends there).
const MAX_PAGES: usize = 50;

/// What went wrong talking to a WordPress.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WpError {
    /// No answer: connection refused, DNS, TLS, timeout. Worth retrying.
    #[error("WordPress is unreachable: {0}")]
    Unreachable(String),
    /// WordPress did not accept the credentials (HTTP 401).
    #[error(
        "WordPress did not accept the credentials: {0}. Check the username and the Application Password (Users → Profile → Application Passwords)"
    )]
    Unauthorized(String),
    /// WordPress answered with an error: its HTTP status and its own error
    /// `code` and `message`.
    #[error("WordPress refused the request (HTTP {status}, {code}): {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// A request bbws cannot make (bad URL, unknown option, missing page or
    /// plugin), or an answer that is not WordPress's.
    #[error("{0}")]
    Invalid(String),
}

/// What [`WordPress::check`] learns about the site.
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
pub fn settings_name(option: &str) -> &str {
    OPTION_NAMES
        .iter()
        .find(|(o, _)| *o == option)
        .map_or(option, |(_, s)| s)
}

/// A client of one WordPress site.
#[derive(Clone)]
pub struct WordPress {
    /// The site's address, its path ending with `/`, without query.
    base: Url,
    username: String,
    password: String,
    client: reqwest::Client,
}

impl std::fmt::Debug for WordPress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WordPress")
            .field("base", &self.base.as_str())
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl WordPress {
    /// A client of the WordPress at `url` (`https://example.com` or
    /// `https://example.com/blog/`; a trailing `wp-json/` or `index.php` is
    /// dropped). Only checks the URL: [`check`](Self::check) proves the
    /// credentials.
    pub fn new(url: &str, username: &str, application_password: &str) -> Result<Self, WpError> {
        let base = base_url(url)?;
        if username.trim().is_empty() {
            return Err(WpError::Invalid("the WordPress username is empty".into()));
        }
        if application_password.trim().is_empty() {
            return Err(WpError::Invalid(
                "the WordPress Application Password is empty".into(),
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("bbws/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WpError::Invalid(format!("cannot build an HTTP client: {e}")))?;
        Ok(WordPress {
            base,
            username: username.trim().to_string(),
            password: application_password.trim().to_string(),
            client,
        })
    }

    /// The site's address as this client uses it.
    pub fn url(&self) -> &str {
        self.base.as_str()
    }

    /// Proves the credentials work (an authenticated request) and answers
    /// the site's title, tagline and address.
    pub async fn check(&self) -> Result<WpSiteInfo, WpError> {
        let me = self
            .call(Method::GET, "/wp/v2/users/me", &[("context", "edit")], None)
            .await?;
        let user = str_field(&me, "username")
            .or_else(|| str_field(&me, "slug"))
            .unwrap_or_default();
        let index = self.call(Method::GET, "/", &[], None).await?;
        if index.get("namespaces").is_none() {
            return Err(self.not_wordpress("/"));
        }
        Ok(WpSiteInfo {
            name: str_field(&index, "name").unwrap_or_default(),
            description: str_field(&index, "description").unwrap_or_default(),
            url: str_field(&index, "home")
                .or_else(|| str_field(&index, "url"))
                .unwrap_or_default(),
            user,
        })
    }

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

    /// The page with this slug, whatever its status (drafts and private
    /// pages included, trashed ones not).
    pub async fn page_by_slug(&self, slug: &str) -> Result<Option<WpPost>, WpError> {
        check_slug(slug)?;
        let found = self
            .call(
                Method::GET,
                "/wp/v2/pages",
                &[("slug", slug), ("status", "any"), ("context", "edit")],
                None,
            )
            .await?;
        let Some(pages) = found.as_array() else {
            return Err(self.not_wordpress("/wp/v2/pages"));
        };
        for page in pages {
            let page = parse_post(page)?;
            if slug_matches(slug, &page.slug) {
                return Ok(Some(page));
            }
        }
        Ok(None)
    }

    /// The settings `/wp/v2/settings` exposes (`title`, `description`,
    /// `posts_per_page`, ...), as WordPress answers them.
    pub async fn settings(&self) -> Result<Value, WpError> {
        let settings = self.call(Method::GET, "/wp/v2/settings", &[], None).await?;
        if !settings.is_object() {
            return Err(self.not_wordpress("/wp/v2/settings"));
        }
        Ok(settings)
    }

    /// The installed plugins.
    pub async fn plugins(&self) -> Result<Vec<WpPlugin>, WpError> {
        let found = self.call(Method::GET, "/wp/v2/plugins", &[], None).await?;
        let Some(plugins) = found.as_array() else {
            return Err(self.not_wordpress("/wp/v2/plugins"));
        };
        Ok(plugins.iter().filter_map(parse_plugin).collect())
    }

    /// The navigation menus, each with its items in order.
    pub async fn menus(&self) -> Result<Vec<WpMenu>, WpError> {
        let mut menus: Vec<WpMenu> = self
            .list("/wp/v2/menus", &[("context", "edit")])
            .await?
            .iter()
            .filter_map(parse_menu)
            .collect();
        let mut items: Vec<(u64, u64, WpMenuItem)> = self
            .list("/wp/v2/menu-items", &[("context", "edit")])
            .await?
            .iter()
            .filter_map(|item| {
                Some((
                    item.get("menus")?.as_u64()?,
                    item.get("menu_order").and_then(Value::as_u64).unwrap_or(0),
                    parse_menu_item(item)?,
                ))
            })
            .collect();
        items.sort_by_key(|(_, order, item)| (*order, item.id));
        for (menu_id, _, item) in items {
            if let Some(menu) = menus.iter_mut().find(|m| m.id == menu_id) {
                menu.items.push(item);
            }
        }
        Ok(menus)
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

    /// Every item of a collection, page after page.
    async fn list(&self, route: &str, query: &[(&str, &str)]) -> Result<Vec<Value>, WpError> {
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let page = page.to_string();
            let per_page = PER_PAGE.to_string();
            let mut q = query.to_vec();
            q.push(("per_page", &per_page));
            q.push(("page", &page));
            let answer = self.call(Method::GET, route, &q, None).await?;
            let Some(items) = answer.as_array() else {
                return Err(self.not_wordpress(route));
            };
            let full = items.len() == PER_PAGE;
            all.extend(items.iter().cloned());
            if !full {
                break;
            }
        }
        Ok(all)
    }

    /// One authenticated request; answers the JSON body of a 2xx answer.
    async fn call(
        &self,
        method: Method,
        route: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Value, WpError> {
        let url = endpoint(&self.base, route, query);
        let mut request = self
            .client
            .request(method.clone(), url)
            .basic_auth(&self.username, Some(&self.password))
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.unreachable(&method, route, &e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.unreachable(&method, route, &e))?;
        answer(self.base.as_str(), &method, route, status, &bytes)
    }

    fn unreachable(&self, method: &Method, route: &str, e: &reqwest::Error) -> WpError {
        let what = if e.is_timeout() {
            format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())
        } else {
            // reqwest's own text repeats the URL: its causes say what failed.
            let cause = e.source().map_or_else(|| e.to_string(), error_chain);
            if e.is_connect() {
                format!("cannot connect ({cause})")
            } else {
                cause
            }
        };
        WpError::Unreachable(format!("{method} {route} at {}: {what}", self.base))
    }

    fn not_wordpress(&self, route: &str) -> WpError {
        WpError::Invalid(format!(
            "{} does not answer {route} as WordPress's REST API does: is it a WordPress site (5.9 or later) with its REST API enabled?",
            self.base
        ))
    }
}

/// Interprets an answer: the JSON of a 2xx, else the error WordPress gave.
fn answer(
    base: &str,
    method: &Method,
    route: &str,
    status: StatusCode,
    body: &[u8],
) -> Result<Value, WpError> {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if status.is_success() {
        return json.ok_or_else(|| {
            WpError::Invalid(format!(
                "{base} answered {method} {route} with HTTP {} but no JSON ({}): is it a WordPress site with its REST API enabled?",
                status.as_u16(),
                snippet(body)
            ))
        });
    }
    let wp_error = json.as_ref().and_then(|j| {
        let code = str_field(j, "code")?;
        let mut message = strip_tags(&str_field(j, "message").unwrap_or_default());
        // `rest_invalid_param` says which parameter is wrong in `data.params`.
        if let Some(params) = j.pointer("/data/params").and_then(Value::as_object) {
            let details: Vec<String> = params
                .values()
                .filter_map(Value::as_str)
                .map(strip_tags)
                .collect();
            if !details.is_empty() {
                message = format!("{message} ({})", details.join("; "));
            }
        }
        Some((code, message))
    });
    match (status, wp_error) {
        (StatusCode::UNAUTHORIZED, Some((code, message))) => {
            Err(WpError::Unauthorized(format!("{message} ({code})")))
        }
        (StatusCode::UNAUTHORIZED, None) => Err(WpError::Unauthorized(format!(
            "HTTP 401 from {base} ({})",
            snippet(body)
        ))),
        (_, Some((code, message))) => Err(WpError::Refused {
            status: status.as_u16(),
            code,
            message,
        }),
        (_, None) => Err(WpError::Invalid(format!(
            "{base} answered {method} {route} with HTTP {} and no WordPress error ({}): is it a WordPress site with its REST API enabled?",
            status.as_u16(),
            snippet(body)
        ))),
    }
}

/// The site address a client works from: http(s), a host, no credentials,
/// query or fragment; the path ends with `/`.
fn base_url(url: &str) -> Result<Url, WpError> {
    let invalid = |why: &str| WpError::Invalid(format!("the WordPress URL {url:?} {why}"));
    let mut base = Url::parse(url.trim()).map_err(|e| invalid(&format!("is not a URL ({e})")))?;
    if base.scheme() != "http" && base.scheme() != "https" {
        return Err(invalid("must start with http:// or https://"));
    }
    if base.host_str().is_none_or(str::is_empty) {
        return Err(invalid("has no host"));
    }
    if !base.username().is_empty() || base.password().is_some() {
        return Err(invalid(
            "must not hold credentials (give the username and Application Password separately)",
        ));
    }
    if base.query().is_some() {
        return Err(invalid("must not have a query (?...)"));
    }
    base.set_fragment(None);
    let mut path = base.path().trim_end_matches('/').to_string();
    for suffix in ["/index.php", "/wp-json"] {
        if let Some(stripped) = path.strip_suffix(suffix) {
            path = stripped.to_string();
        }
    }
    path.push('/');
    base.set_path(&path);
    Ok(base)
}

/// `BASE?rest_route=/wp/v2/...&k=v`: the route with its slashes readable.
fn endpoint(base: &Url, route: &str, query: &[(&str, &str)]) -> Url {
    let mut text = String::from("rest_route=");
    text.push_str(
        &form_urlencoded::byte_serialize(route.as_bytes())
            .collect::<String>()
            .replace("%2F", "/"),
    );
    for (k, v) in query {
        text.push('&');
        text.extend(form_urlencoded::byte_serialize(k.as_bytes()));
        text.push('=');
        text.extend(form_urlencoded::byte_serialize(v.as_bytes()));
    }
    let mut url = base.clone();
    url.set_query(Some(&text));
    url
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

/// A slug `page_by_slug` can look up: WordPress splits its `slug` filter
/// on commas and spaces.
fn check_slug(slug: &str) -> Result<(), WpError> {
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
fn slug_matches(wanted: &str, found: &str) -> bool {
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

/// A note when WordPress gave a page another slug than asked (taken, or
/// sanitized).
fn slug_note(wanted: &str, got: &str) -> String {
    if slug_matches(wanted, got) {
        String::new()
    } else {
        format!("; WordPress made the slug {got} of {wanted}")
    }
}

fn find_plugin<'a>(plugins: &'a [WpPlugin], slug: &str) -> Option<&'a WpPlugin> {
    plugins
        .iter()
        .find(|p| p.plugin == slug)
        .or_else(|| plugins.iter().find(|p| p.slug == slug))
}

fn str_field(value: &Value, field: &str) -> Option<String> {
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

fn parse_post(value: &Value) -> Result<WpPost, WpError> {
    let id = value.get("id").and_then(Value::as_u64).ok_or_else(|| {
        WpError::Invalid(format!(
            "WordPress answered a page or post without an id: {}",
            snippet(value.to_string().as_bytes())
        ))
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

fn parse_plugin(value: &Value) -> Option<WpPlugin> {
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

fn parse_menu(value: &Value) -> Option<WpMenu> {
    Some(WpMenu {
        id: value.get("id")?.as_u64()?,
        name: decode_entities(&str_field(value, "name").unwrap_or_default()),
        slug: str_field(value, "slug").unwrap_or_default(),
        items: Vec::new(),
    })
}

fn parse_menu_item(value: &Value) -> Option<WpMenuItem> {
    Some(WpMenuItem {
        id: value.get("id")?.as_u64()?,
        title: decode_entities(&text_field(value, "title")),
        object: str_field(value, "object").unwrap_or_default(),
        object_id: value.get("object_id").and_then(Value::as_u64).unwrap_or(0),
        url: str_field(value, "url").unwrap_or_default(),
    })
}

/// WordPress stores term names HTML-escaped (`Main &amp; more`).
fn decode_entities(text: &str) -> String {
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

/// WordPress's messages sometimes hold markup (`<strong>Error:</strong>`).
fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    decode_entities(out.trim())
}

/// The start of a body, on one line, for an error message.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return "empty body".into();
    }
    match text.char_indices().nth(120) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_validated_and_normalized() {
        let ok = |u: &str| base_url(u).unwrap().to_string();
        assert_eq!(ok("http://127.0.0.1:8080"), "http://127.0.0.1:8080/");
        assert_eq!(ok("https://example.com/blog"), "https://example.com/blog/");
        assert_eq!(
            ok(" https://example.com/blog/ "),
            "https://example.com/blog/"
        );
        assert_eq!(ok("https://example.com/wp-json/"), "https://example.com/");
        assert_eq!(
            ok("https://example.com/blog/index.php"),
            "https://example.com/blog/"
        );
        assert_eq!(ok("https://example.com/#top"), "https://example.com/");
        for bad in [
            "",
            "example.com",
            "ftp://example.com/",
            "file:///etc/passwd",
            "https://user:pw@example.com/",
            "https://example.com/?p=1",
        ] {
            assert!(
                matches!(base_url(bad), Err(WpError::Invalid(_))),
                "{bad:?} should be refused"
            );
        }
        assert!(WordPress::new("javascript:alert(1)", "u", "p").is_err());
        assert!(WordPress::new("https://example.com", " ", "p").is_err());
        assert!(WordPress::new("https://example.com", "u", "").is_err());
        assert!(WordPress::new("https://example.com", "u", "abcd efgh ijkl").is_ok());
    }

    #[test]
    fn endpoints_use_rest_route() {
        let base = base_url("http://127.0.0.1:8080/blog").unwrap();
        assert_eq!(
            endpoint(&base, "/wp/v2/plugins/akismet/akismet", &[]).as_str(),
            "http://127.0.0.1:8080/blog/?rest_route=/wp/v2/plugins/akismet/akismet"
        );
        assert_eq!(
            endpoint(
                &base,
                "/wp/v2/pages",
                &[("slug", "über&x"), ("status", "any")]
            )
            .as_str(),
            "http://127.0.0.1:8080/blog/?rest_route=/wp/v2/pages&slug=%C3%BCber%26x&status=any"
        );
    }

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
    fn slugs() {
        assert!(check_slug("about-us").is_ok());
        assert!(check_slug("café").is_ok());
        assert!(check_slug("").is_err());
        assert!(check_slug("about us").is_err());
        assert!(check_slug("a,b").is_err());
        assert!(slug_matches("about", "about"));
        assert!(slug_matches("About", "about"));
        assert!(slug_matches("café", "caf%c3%a9"));
        assert!(!slug_matches("about", "about-2"));
        assert_eq!(slug_note("about", "about"), "");
        assert_eq!(
            slug_note("about", "about-2"),
            "; WordPress made the slug about-2 of about"
        );
    }

    #[test]
    fn errors_keep_wordpress_code_and_message() {
        let get = Method::GET;
        let body = br#"{"code":"rest_not_logged_in","message":"You are not currently logged in.","data":{"status":401}}"#;
        let err = answer(
            "http://h/",
            &get,
            "/wp/v2/users/me",
            StatusCode::UNAUTHORIZED,
            body,
        )
        .unwrap_err();
        assert_eq!(
            err,
            WpError::Unauthorized("You are not currently logged in. (rest_not_logged_in)".into())
        );
        assert!(err.to_string().contains("Application Password"), "{err}");

        let body = br#"{"code":"menu_exists","message":"The menu name <strong>Main &amp; more</strong> conflicts.","data":{"status":400}}"#;
        let err = answer(
            "http://h/",
            &get,
            "/wp/v2/menus",
            StatusCode::BAD_REQUEST,
            body,
        )
        .unwrap_err();
        assert_eq!(
            err,
            WpError::Refused {
                status: 400,
                code: "menu_exists".into(),
                message: "The menu name Main & more conflicts.".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "WordPress refused the request (HTTP 400, menu_exists): The menu name Main & more conflicts."
        );

        let body = br#"{"code":"rest_invalid_param","message":"Invalid parameter(s): status","data":{"status":400,"params":{"status":"status is not one of publish, future, draft, pending, private."}}}"#;
        let err = answer(
            "http://h/",
            &Method::POST,
            "/wp/v2/pages",
            StatusCode::BAD_REQUEST,
            body,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "WordPress refused the request (HTTP 400, rest_invalid_param): Invalid parameter(s): status (status is not one of publish, future, draft, pending, private.)"
        );

        let err = answer(
            "http://h/",
            &get,
            "/",
            StatusCode::NOT_FOUND,
            b"<html>Not Found</html>",
        )
        .unwrap_err();
        assert!(
            matches!(&err, WpError::Invalid(m) if m.contains("HTTP 404") && m.contains("Not Found")),
            "{err}"
        );
        let err = answer(
            "http://h/",
            &get,
            "/",
            StatusCode::OK,
            b"<html>a blog</html>",
        )
        .unwrap_err();
        assert!(
            matches!(&err, WpError::Invalid(m) if m.contains("no JSON")),
            "{err}"
        );
        assert_eq!(
            answer("http://h/", &get, "/", StatusCode::OK, b"[]"),
            Ok(json!([]))
        );
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
