//! The REST client: one WordPress site's address and Application Password
//! (HTTP Basic auth: the username and the password WordPress generated for
//! bbws under *Users → Profile → Application Passwords*), the requests, and
//! what a failed one means ([`WpError`]).
//!
//! Every request goes to `SITE/?rest_route=/wp/v2/...`, the form that works
//! on every WordPress whatever its permalink setting (and behind a server
//! without rewrite rules). A request may take [`REQUEST_TIMEOUT`].

use std::error::Error as _;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use super::wire::{
    WpMenu, WpMenuItem, WpPlugin, WpPost, WpSiteInfo, check_slug, decode_entities, parse_menu,
    parse_menu_item, parse_plugin, parse_post, slug_matches, str_field,
};

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

    /// Every item of a collection, page after page.
    pub(super) async fn list(
        &self,
        route: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<Value>, WpError> {
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
    pub(super) async fn call(
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

    pub(super) fn not_wordpress(&self, route: &str) -> WpError {
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
pub(super) fn snippet(body: &[u8]) -> String {
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
    use serde_json::json;

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
}
