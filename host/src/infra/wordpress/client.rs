//! The REST client: one WordPress site's address and Application Password
//! (HTTP Basic auth: the username and the password WordPress generated for
//! bbws under *Users → Profile → Application Passwords*), the requests, and
//! what a failed one means ([`WpError`]).
//!
//! Every request goes to `SITE/?rest_route=/wp/v2/...`, the form that works
//! on every WordPress whatever its permalink setting (and behind a server
//! without rewrite rules). A request may take [`REQUEST_TIMEOUT`], and an
//! answer at most [`MAX_BODY`] bytes. Where the client may connect is
//! [`Egress`]'s rule (`egress.rs`).
//!
//! An error names the HTTP status and says in bbws's words what it means;
//! it never quotes the remote's body, which goes to the log (shortened). Of
//! a WordPress error only its `code` is named, and only when it is one of
//! the WordPress core codes bbws knows ([`KNOWN_CODES`]).

use std::error::Error as _;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use super::egress::{self, Egress};
use super::wire::{
    WpMenu, WpMenuItem, WpPlugin, WpPost, WpSiteInfo, check_slug, parse_menu, parse_menu_item,
    parse_plugin, parse_post, slug_matches, str_field,
};

/// How long one request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Items asked per page of a listing (WordPress's maximum).
const PER_PAGE: usize = 100;

/// Pages of a listing read at most (a server ignoring `page` ends there).
const MAX_PAGES: usize = 50;

/// The most of an answer bbws reads (1 MiB); a longer one is an error.
pub const MAX_BODY: usize = 1 << 20;

/// How much of a remote body the log keeps.
const LOGGED_BODY: usize = 512;

/// WordPress core's error codes bbws names in its errors, each with what it
/// means in bbws's words. Any other code is the remote's text, not named.
pub const KNOWN_CODES: &[(&str, &str)] = &[
    ("rest_not_logged_in", "the request was not authenticated"),
    ("incorrect_password", "the Application Password is wrong"),
    ("invalid_username", "there is no such user"),
    ("invalid_email", "there is no user with that e-mail"),
    (
        "application_passwords_disabled",
        "Application Passwords are disabled on this site",
    ),
    (
        "application_passwords_disabled_for_user",
        "Application Passwords are disabled for this user",
    ),
    ("rest_forbidden", "the user may not do this"),
    ("rest_forbidden_context", "the user may not edit this"),
    ("rest_cannot_view", "the user may not see this"),
    ("rest_cannot_read", "the user may not read this"),
    ("rest_cannot_create", "the user may not create this"),
    ("rest_cannot_edit", "the user may not edit this"),
    (
        "rest_cannot_edit_others",
        "the user may not edit others' content",
    ),
    ("rest_cannot_update", "the user may not update this"),
    ("rest_cannot_delete", "the user may not delete this"),
    ("rest_cannot_publish", "the user may not publish"),
    (
        "rest_cannot_assign_term",
        "the user may not assign this term",
    ),
    ("rest_cannot_view_plugins", "the user may not list plugins"),
    (
        "rest_cannot_manage_plugins",
        "the user may not manage plugins",
    ),
    (
        "rest_cannot_activate_plugin",
        "the user may not activate plugins",
    ),
    (
        "rest_cannot_deactivate_plugin",
        "the user may not deactivate plugins",
    ),
    ("rest_cannot_manage_menus", "the user may not manage menus"),
    (
        "rest_cannot_manage_options",
        "the user may not change settings",
    ),
    ("rest_plugin_not_found", "there is no such plugin"),
    ("rest_post_invalid_id", "there is no such page or post"),
    ("rest_term_invalid", "there is no such menu or term"),
    ("rest_post_exists", "the page or post exists already"),
    ("rest_invalid_param", "a parameter is invalid"),
    ("rest_missing_callback_param", "a parameter is missing"),
    ("rest_invalid_json", "the request body is not valid JSON"),
    ("rest_invalid_field", "a field is invalid"),
    ("rest_invalid_stored_value", "a stored setting is invalid"),
    ("rest_no_route", "the REST API has no such route"),
    ("rest_cookie_invalid_nonce", "a cookie nonce was refused"),
    ("menu_exists", "a menu of that name exists already"),
    ("term_exists", "a term of that name exists already"),
];

/// The allow-listed code (bbws's own copy) and its meaning.
fn known_code(code: &str) -> Option<(&'static str, &'static str)> {
    KNOWN_CODES.iter().copied().find(|(c, _)| *c == code)
}

fn code_note(code: &Option<&'static str>) -> String {
    match code.and_then(known_code) {
        Some((code, meaning)) => format!(", {code}: {meaning}"),
        None => String::new(),
    }
}

fn status_text(status: &u16) -> String {
    match StatusCode::from_u16(*status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("HTTP {status} {reason}"),
        None => format!("HTTP {status}"),
    }
}

/// What went wrong talking to a WordPress.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WpError {
    /// No answer: connection refused, DNS, TLS, timeout. Worth retrying.
    #[error("WordPress is unreachable: {0}")]
    Unreachable(String),
    /// The address is not one bbws connects to (see [`Egress`]). Not worth
    /// retrying.
    #[error("{0}")]
    NotAllowed(String),
    /// WordPress did not accept the credentials (HTTP 401); its error code
    /// when it is a known one ([`KNOWN_CODES`]).
    #[error(
        "WordPress did not accept the credentials (HTTP 401{}). Check the username and the Application Password (Users → Profile → Application Passwords)",
        code_note(.code)
    )]
    Unauthorized { code: Option<&'static str> },
    /// WordPress answered with an error: the HTTP status, and its error
    /// `code` when it is a known one ([`KNOWN_CODES`]).
    #[error("WordPress refused the request ({}{})", status_text(.status), code_note(.code))]
    Refused {
        status: u16,
        code: Option<&'static str>,
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
    egress: Egress,
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
    /// dropped), connecting only where `egress` allows. Only checks the
    /// URL's form: [`check_address`](Self::check_address) resolves it,
    /// [`check`](Self::check) proves the credentials.
    pub fn new(
        url: &str,
        username: &str,
        application_password: &str,
        egress: Egress,
    ) -> Result<Self, WpError> {
        let base = base_url(url)?;
        if username.trim().is_empty() {
            return Err(WpError::Invalid("the WordPress username is empty".into()));
        }
        if application_password.trim().is_empty() {
            return Err(WpError::Invalid(
                "the WordPress Application Password is empty".into(),
            ));
        }
        let builder = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("bbws/", env!("CARGO_PKG_VERSION")));
        let client = egress::guarded(builder, egress)
            .build()
            .map_err(|e| WpError::Invalid(format!("cannot build an HTTP client: {e}")))?;
        Ok(WordPress {
            base,
            username: username.trim().to_string(),
            password: application_password.trim().to_string(),
            egress,
            client,
        })
    }

    /// Refuses the site's address if its host is, or resolves to, an
    /// address bbws may not connect to ([`WpError::NotAllowed`]). Every
    /// connection is checked again; this says so before anything is stored.
    pub async fn check_address(&self) -> Result<(), WpError> {
        egress::check(&self.base, self.egress)
            .await
            .map_err(|e| WpError::NotAllowed(format!("the WordPress URL's host {e}")))
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
        // Only what is read: the whole index describes every route, which
        // on a site with many plugins runs past the answer's limit.
        let index = self
            .call(
                Method::GET,
                "/",
                &[("_fields", "name,description,home,url,namespaces")],
                None,
            )
            .await?;
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
        // reqwest connects to an IP literal without asking the resolver.
        egress::check_literal(&self.base, self.egress)
            .map_err(|e| WpError::NotAllowed(format!("the WordPress URL's host {e}")))?;
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
        let bytes = self.read_body(&method, route, response).await?;
        answer(self.base.as_str(), &method, route, status, &bytes)
    }

    /// The body, chunk by chunk, refused past [`MAX_BODY`].
    async fn read_body(
        &self,
        method: &Method,
        route: &str,
        mut response: reqwest::Response,
    ) -> Result<Vec<u8>, WpError> {
        let too_large = || {
            tracing::warn!(wordpress = %self.base, %method, route, limit = MAX_BODY, "WordPress's answer is too large");
            WpError::Invalid(format!(
                "{} answered {method} {route} with more than 1 MiB: bbws reads at most {MAX_BODY} bytes of an answer",
                self.base
            ))
        };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.unreachable(method, route, &e))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn unreachable(&self, method: &Method, route: &str, e: &reqwest::Error) -> WpError {
        if let Some(refused) = egress::refusal_in(e) {
            let what = if e.is_redirect() {
                "WordPress redirected to an address bbws does not connect to:"
            } else {
                "the WordPress URL's host"
            };
            return WpError::NotAllowed(format!("{what} {refused}"));
        }
        if e.is_redirect() {
            // The cause is bbws's own text (too many hops, not http(s)).
            let cause = e.source().map_or_else(|| e.to_string(), error_chain);
            return WpError::Invalid(format!(
                "{} redirected {method} {route} where bbws does not follow: {cause}",
                self.base
            ));
        }
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

/// Interprets an answer: the JSON of a 2xx, else the error WordPress gave,
/// described in bbws's words (the body goes to the log).
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
            tracing::warn!(wordpress = %base, %method, route, status = status.as_u16(), body = %log_excerpt(body), "WordPress answered without JSON");
            WpError::Invalid(format!(
                "{base} answered {method} {route} with HTTP {} but not with JSON: is it a WordPress site with its REST API enabled?",
                status.as_u16(),
            ))
        });
    }
    let wp_code = json.as_ref().and_then(|j| str_field(j, "code"));
    let code = wp_code.as_deref().and_then(known_code).map(|(c, _)| c);
    match &wp_code {
        Some(wp_code) => {
            tracing::info!(wordpress = %base, %method, route, status = status.as_u16(), code = %wp_code, body = %log_excerpt(body), "WordPress refused a request")
        }
        None => {
            tracing::warn!(wordpress = %base, %method, route, status = status.as_u16(), body = %log_excerpt(body), "WordPress answered an error without a WordPress error")
        }
    }
    if status == StatusCode::UNAUTHORIZED {
        return Err(WpError::Unauthorized { code });
    }
    if wp_code.is_some() {
        return Err(WpError::Refused {
            status: status.as_u16(),
            code,
        });
    }
    Err(WpError::Invalid(format!(
        "{base} answered {method} {route} with {} and no WordPress error: is it a WordPress site with its REST API enabled?",
        status_text(&status.as_u16()),
    )))
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

/// The start of a remote body, on one line, for the log (never for a
/// client).
pub(super) fn log_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return "empty body".into();
    }
    match text.char_indices().nth(LOGGED_BODY) {
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
        let new = |url: &str, user: &str, password: &str| {
            WordPress::new(url, user, password, Egress::PublicOnly)
        };
        assert!(new("javascript:alert(1)", "u", "p").is_err());
        assert!(new("https://example.com", " ", "p").is_err());
        assert!(new("https://example.com", "u", "").is_err());
        assert!(new("https://example.com", "u", "abcd efgh ijkl").is_ok());
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

    const SECRET: &str = "INTERNAL-ONLY-SECRET";

    /// The error of an answer, checked never to hold the remote's secret.
    #[track_caller]
    fn refused(status: StatusCode, body: &str) -> WpError {
        let err = answer(
            "http://h/",
            &Method::GET,
            "/wp/v2/plugins",
            status,
            body.as_bytes(),
        )
        .unwrap_err();
        assert!(!format!("{err} {err:?}").contains(SECRET), "{err:?}");
        err
    }

    #[test]
    fn errors_name_the_status_and_known_codes_never_the_body() {
        // A known code is named, with bbws's meaning; the message is not.
        let err = refused(
            StatusCode::UNAUTHORIZED,
            r#"{"code":"rest_not_logged_in","message":"INTERNAL-ONLY-SECRET","data":{"status":401}}"#,
        );
        assert_eq!(
            err,
            WpError::Unauthorized {
                code: Some("rest_not_logged_in")
            }
        );
        assert_eq!(
            err.to_string(),
            "WordPress did not accept the credentials (HTTP 401, rest_not_logged_in: the request was not authenticated). Check the username and the Application Password (Users → Profile → Application Passwords)"
        );
        let err = refused(
            StatusCode::FORBIDDEN,
            r#"{"code":"rest_forbidden","message":"INTERNAL-ONLY-SECRET"}"#,
        );
        assert_eq!(
            err.to_string(),
            "WordPress refused the request (HTTP 403 Forbidden, rest_forbidden: the user may not do this)"
        );
        let err = refused(
            StatusCode::BAD_REQUEST,
            r#"{"code":"rest_invalid_param","message":"Invalid parameter(s): status","data":{"status":400,"params":{"status":"INTERNAL-ONLY-SECRET"}}}"#,
        );
        assert_eq!(
            err,
            WpError::Refused {
                status: 400,
                code: Some("rest_invalid_param")
            }
        );

        // An unknown code is the remote's text: only the status is named.
        let err = refused(
            StatusCode::BAD_REQUEST,
            r#"{"code":"INTERNAL-ONLY-SECRET","message":"INTERNAL-ONLY-SECRET"}"#,
        );
        assert_eq!(
            err,
            WpError::Refused {
                status: 400,
                code: None
            }
        );
        assert_eq!(
            err.to_string(),
            "WordPress refused the request (HTTP 400 Bad Request)"
        );
        let err = refused(
            StatusCode::UNAUTHORIZED,
            r#"{"code":"INTERNAL-ONLY-SECRET-code","message":"x"}"#,
        );
        assert_eq!(err, WpError::Unauthorized { code: None });
        refused(StatusCode::UNAUTHORIZED, "INTERNAL-ONLY-SECRET");

        // No JSON: the status, never the body.
        let err = refused(
            StatusCode::NOT_FOUND,
            "<html>INTERNAL-ONLY-SECRET Not Found</html>",
        );
        assert!(
            matches!(&err, WpError::Invalid(m) if m.contains("HTTP 404 Not Found") && m.contains("no WordPress error")),
            "{err}"
        );
        let err = refused(StatusCode::OK, "INTERNAL-ONLY-SECRET");
        assert!(
            matches!(&err, WpError::Invalid(m) if m.contains("HTTP 200") && m.contains("not with JSON")),
            "{err}"
        );
        refused(StatusCode::INTERNAL_SERVER_ERROR, &SECRET.repeat(100));
        assert_eq!(
            answer("http://h/", &Method::GET, "/", StatusCode::OK, b"[]"),
            Ok(json!([]))
        );
        // The log keeps a bounded excerpt, on one line.
        let excerpt = log_excerpt("a\n b ".repeat(1000).as_bytes());
        assert_eq!(excerpt.chars().count(), LOGGED_BODY + 1);
        assert!(!excerpt.contains('\n'));
        assert_eq!(log_excerpt(b" \n"), "empty body");
    }

    /// A loopback server answering every request with `response`.
    async fn serve(response: String) -> String {
        let (port, _) = super::super::egress::tests::serve(move |_, _| response.clone()).await;
        format!("http://127.0.0.1:{port}")
    }

    #[tokio::test]
    async fn answers_past_one_mebibyte_are_refused() {
        let big = format!("[{}\"x\"]", "\"x\",".repeat(MAX_BODY / 4));
        // With a length announced, and streamed without one.
        let announced = serve(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{big}",
                big.len()
            ),
        )
        .await;
        let streamed = serve(format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{big}"
        ))
        .await;
        for url in [announced, streamed] {
            let wp = WordPress::new(&url, "u", "p", Egress::AllowPrivate).unwrap();
            let err = wp.plugins().await.unwrap_err();
            assert!(
                matches!(&err, WpError::Invalid(m) if m.contains("more than 1 MiB")),
                "{url}: {err}"
            );
        }
        let small = serve(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n[]".to_string(),
        )
        .await;
        let wp = WordPress::new(&small, "u", "p", Egress::AllowPrivate).unwrap();
        assert_eq!(wp.plugins().await, Ok(Vec::new()));
    }

    #[tokio::test]
    async fn a_private_address_is_not_connected_to() {
        let url = serve(
            "HTTP/1.1 200 OK\r\ncontent-length: 20\r\nconnection: close\r\n\r\nINTERNAL-ONLY-SECRET".to_string(),
        )
        .await;
        let wp = WordPress::new(&url, "u", "p", Egress::PublicOnly).unwrap();
        for err in [
            wp.plugins().await.unwrap_err(),
            wp.check().await.unwrap_err(),
            wp.check_address().await.unwrap_err(),
        ] {
            assert!(
                matches!(&err, WpError::NotAllowed(m) if m.contains("127.0.0.1 is not a public address (loopback")),
                "{err}"
            );
        }
        let port = url.rsplit(':').next().unwrap();
        let by_name = WordPress::new(
            &format!("http://localhost:{port}"),
            "u",
            "p",
            Egress::PublicOnly,
        )
        .unwrap();
        for err in [
            by_name.plugins().await.unwrap_err(),
            by_name.check_address().await.unwrap_err(),
        ] {
            assert!(
                matches!(&err, WpError::NotAllowed(m) if m.contains("localhost resolves to")),
                "{err}"
            );
        }
        // Allowed, the same server is reached (and its body still not quoted).
        let open = WordPress::new(&url, "u", "p", Egress::AllowPrivate).unwrap();
        open.check_address().await.unwrap();
        let err = open.plugins().await.unwrap_err();
        assert!(
            matches!(&err, WpError::Invalid(m) if !m.contains(SECRET)),
            "{err}"
        );
    }
}
