//! bbws's WordPress REST client against a real WordPress (Debian's, from
//! `scripts/with-wordpress.sh`, which exports BBWS_TEST_WP_URL, _USER and
//! _APP_PASSWORD):
//!
//!   scripts/with-wordpress.sh cargo test -p bbws-host --test wordpress
//!
//! The WordPress may outlive a run (or be shared by test binaries): every
//! test uses slugs and names of its own. It is on loopback, so the clients
//! allow private addresses (`--wordpress-allow-private`).

use bbws_host::domain::template::{WpOperation, WpPage};
use bbws_host::infra::wordpress::{Egress, WordPress, WpError, WpPost};
use bbws_testkit as testkit;
use serde_json::Value;

/// The client of the test WordPress, or `None` when the test is skipped.
fn client(what: &str) -> Option<(WordPress, (String, String, String))> {
    let env = testkit::wordpress(what)?;
    let wp = WordPress::new(&env.0, &env.1, &env.2, Egress::AllowPrivate)
        .expect("the test WordPress's URL");
    Some((wp, env))
}

/// A slug no other run uses.
fn slug(prefix: &str) -> String {
    let unique = testkit::unique_name(prefix);
    // A UUIDv7's random tail: short, and distinct between runs.
    format!("{prefix}-{}", &unique[unique.len() - 12..])
}

fn page(slug: &str, title: &str, status: &str) -> WpPage {
    WpPage {
        slug: slug.to_string(),
        title: title.to_string(),
        content: format!("<!-- wp:paragraph --><p>{title}</p><!-- /wp:paragraph -->"),
        status: status.to_string(),
    }
}

async fn upsert(wp: &WordPress, page: WpPage) -> WpPost {
    let slug = page.slug.clone();
    wp.apply(&WpOperation::UpsertPage(page)).await.unwrap();
    wp.page_by_slug(&slug).await.unwrap().unwrap()
}

/// Every page with this slug, whatever its status, straight from the REST API.
async fn pages_with_slug(
    (url, user, password): &(String, String, String),
    slug: &str,
) -> Vec<Value> {
    reqwest::Client::new()
        .get(format!("{}/", url.trim_end_matches('/')))
        .query(&[
            ("rest_route", "/wp/v2/pages"),
            ("slug", slug),
            ("status", "any"),
            ("context", "edit"),
        ])
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn check_proves_the_credentials() {
    let Some((wp, (url, user, _))) = client("wordpress check") else {
        return;
    };
    let info = wp.check().await.unwrap();
    assert_eq!(info.user, user);
    assert_eq!(info.url.trim_end_matches('/'), url.trim_end_matches('/'));
    assert!(!info.name.is_empty(), "{info:?}");
}

#[tokio::test]
async fn upsert_page_creates_then_updates_without_duplicates() {
    let Some((wp, env)) = client("wordpress upsertPage") else {
        return;
    };
    let slug = slug("bbws-about");
    assert_eq!(wp.page_by_slug(&slug).await.unwrap(), None);

    let outcome = wp
        .apply(&WpOperation::UpsertPage(page(&slug, "About us", "publish")))
        .await
        .unwrap();
    let created = wp
        .page_by_slug(&slug)
        .await
        .unwrap()
        .expect("the created page");
    assert_eq!(outcome, format!("created page {slug} (id {})", created.id));
    assert_eq!(
        (created.title.as_str(), created.status.as_str()),
        ("About us", "publish")
    );
    assert!(created.content.contains("<p>About us</p>"), "{created:?}");

    // The second run updates the page, and finds it as a draft too.
    let outcome = wp
        .apply(&WpOperation::UpsertPage(page(&slug, "About bbws", "draft")))
        .await
        .unwrap();
    assert_eq!(outcome, format!("updated page {slug} (id {})", created.id));
    let updated = wp.page_by_slug(&slug).await.unwrap().unwrap();
    assert_eq!(updated.id, created.id);
    assert_eq!(
        (updated.title.as_str(), updated.status.as_str()),
        ("About bbws", "draft")
    );
    assert!(updated.content.contains("<p>About bbws</p>"), "{updated:?}");
    wp.apply(&WpOperation::UpsertPage(page(
        &slug,
        "About bbws",
        "publish",
    )))
    .await
    .unwrap();
    assert_eq!(
        pages_with_slug(&env, &slug).await.len(),
        1,
        "no duplicate page"
    );
}

#[tokio::test]
async fn create_post() {
    let Some((wp, _)) = client("wordpress createPost") else {
        return;
    };
    let slug = slug("bbws-hello");
    let outcome = wp
        .apply(&WpOperation::CreatePost(page(
            &slug,
            "Hello from bbws",
            "publish",
        )))
        .await
        .unwrap();
    assert!(
        outcome.starts_with(&format!("created post {slug} (id ")),
        "{outcome}"
    );
    // A post is not a page.
    assert_eq!(wp.page_by_slug(&slug).await.unwrap(), None);
}

#[tokio::test]
async fn set_option_writes_settings() {
    let Some((wp, _)) = client("wordpress setOption") else {
        return;
    };
    let name = slug("bbws site");
    let set = |name: &str, value: &str| WpOperation::SetOption {
        name: name.to_string(),
        value: value.to_string(),
    };
    let outcome = wp.apply(&set("blogname", &name)).await.unwrap();
    assert_eq!(outcome, format!("set blogname (title) to {name:?}"));
    wp.apply(&set("blogdescription", "Hosted by bbws & friends"))
        .await
        .unwrap();
    wp.apply(&set("posts_per_page", "7")).await.unwrap();
    let settings = wp.settings().await.unwrap();
    assert_eq!(settings["title"], name.as_str());
    // WordPress stores the title and tagline HTML-escaped.
    assert_eq!(settings["description"], "Hosted by bbws &amp; friends");
    assert_eq!(
        settings["posts_per_page"], 7,
        "an integer, as the schema wants"
    );
    assert_eq!(wp.check().await.unwrap().name, name);

    // A static front page, named by its slug.
    let home = upsert(&wp, page(&slug("bbws-home"), "Home", "publish")).await;
    wp.apply(&set("show_on_front", "page")).await.unwrap();
    let outcome = wp.apply(&set("page_on_front", &home.slug)).await.unwrap();
    assert_eq!(outcome, format!("set page_on_front to {}", home.id));
    let settings = wp.settings().await.unwrap();
    assert_eq!(settings["show_on_front"], "page");
    assert_eq!(settings["page_on_front"], home.id);
    wp.apply(&set("show_on_front", "posts")).await.unwrap();

    // What the endpoint does not expose, or a value of the wrong type.
    let err = wp
        .apply(&set("bbws_no_such_option", "1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WpError::Invalid(m) if m.contains("bbws_no_such_option")),
        "{err}"
    );
    let err = wp.apply(&set("posts_per_page", "many")).await.unwrap_err();
    assert!(matches!(err, WpError::Invalid(_)), "{err}");
    let err = wp
        .apply(&set("page_on_front", "bbws-no-such-page"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WpError::Invalid(m) if m.contains("bbws-no-such-page")),
        "{err}"
    );
    // WordPress's own refusal keeps its code, a core one bbws names.
    let err = wp
        .apply(&set("default_comment_status", "sometimes"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            WpError::Invalid(_)
                | WpError::Refused {
                    status: 400,
                    code: Some("rest_invalid_param")
                }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn activate_plugin() {
    let Some((wp, _)) = client("wordpress activatePlugin") else {
        return;
    };
    // Debian's WordPress ships Akismet.
    let before = wp.plugins().await.unwrap();
    let akismet = before
        .iter()
        .find(|p| p.slug == "akismet")
        .unwrap_or_else(|| panic!("Akismet is not installed: {before:?}"));
    assert_eq!(akismet.plugin, "akismet/akismet");
    assert!(
        !akismet.version.is_empty() && !akismet.name.is_empty(),
        "{akismet:?}"
    );

    let outcome = wp
        .apply(&WpOperation::ActivatePlugin {
            slug: "akismet".into(),
        })
        .await
        .unwrap();
    assert!(
        outcome == "activated plugin akismet (akismet/akismet)"
            || outcome == "plugin akismet (akismet/akismet) was already active",
        "{outcome}"
    );
    let after = wp.plugins().await.unwrap();
    let akismet = after.iter().find(|p| p.slug == "akismet").unwrap();
    assert_eq!(akismet.status, "active");
    // Again: nothing to do.
    let outcome = wp
        .apply(&WpOperation::ActivatePlugin {
            slug: "akismet".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        outcome,
        "plugin akismet (akismet/akismet) was already active"
    );

    let err = wp
        .apply(&WpOperation::ActivatePlugin {
            slug: "bbws-no-such-plugin".into(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WpError::Invalid(m) if m.contains("bbws-no-such-plugin") && m.contains("not installed")),
        "{err}"
    );
}

#[tokio::test]
async fn create_menu_links_pages_in_order() {
    let Some((wp, _)) = client("wordpress createMenu") else {
        return;
    };
    let a = upsert(&wp, page(&slug("bbws-menu-a"), "Menu A", "publish")).await;
    let b = upsert(&wp, page(&slug("bbws-menu-b"), "Menu B", "publish")).await;
    let name = slug("bbws menu & more");
    let create = |items: Vec<String>| WpOperation::CreateMenu {
        name: name.clone(),
        items,
    };

    let outcome = wp
        .apply(&create(vec![b.slug.clone(), a.slug.clone()]))
        .await
        .unwrap();
    assert!(
        outcome.starts_with(&format!("created menu {name} (id ")),
        "{outcome}"
    );
    let menus = wp.menus().await.unwrap();
    let menu = menus.iter().find(|m| m.name == name).expect("the menu");
    let ids: Vec<u64> = menu.items.iter().map(|i| i.object_id).collect();
    assert_eq!(ids, [b.id, a.id]);
    let titles: Vec<&str> = menu.items.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(titles, ["Menu B", "Menu A"]);
    assert!(menu.items.iter().all(|i| i.object == "page"));

    // Applied again: the same menu, with only the new items.
    let outcome = wp.apply(&create(vec![a.slug.clone()])).await.unwrap();
    assert!(
        outcome.starts_with(&format!("replaced menu {name} (id {})", menu.id)),
        "{outcome}"
    );
    let menus = wp.menus().await.unwrap();
    let again: Vec<_> = menus.iter().filter(|m| m.name == name).collect();
    assert_eq!(again.len(), 1, "no second menu: {menus:?}");
    let ids: Vec<u64> = again[0].items.iter().map(|i| i.object_id).collect();
    assert_eq!(ids, [a.id]);

    // An unknown page changes nothing.
    let err = wp
        .apply(&create(vec![a.slug.clone(), "bbws-no-such-page".into()]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WpError::Invalid(m) if m.contains("bbws-no-such-page")),
        "{err}"
    );
    let menus = wp.menus().await.unwrap();
    let menu = menus.iter().find(|m| m.name == name).unwrap();
    assert_eq!(menu.items.len(), 1);
}

#[tokio::test]
async fn a_wrong_password_is_unauthorized() {
    let Some((_, (url, user, _))) = client("wordpress wrong password") else {
        return;
    };
    let wp = WordPress::new(
        &url,
        &user,
        "abcd efgh ijkl mnop qrst uvwx",
        Egress::AllowPrivate,
    )
    .unwrap();
    let err = wp.check().await.unwrap_err();
    assert!(matches!(err, WpError::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("Application Password"), "{err}");
    assert!(err.to_string().contains("HTTP 401"), "{err}");
    let err = wp.plugins().await.unwrap_err();
    assert!(matches!(err, WpError::Unauthorized { .. }), "{err}");
}

/// Needs no WordPress: nothing listens on port 1.
#[tokio::test]
async fn an_unreachable_wordpress() {
    let wp = WordPress::new(
        "http://127.0.0.1:1",
        "admin",
        "abcd efgh",
        Egress::AllowPrivate,
    )
    .unwrap();
    let err = wp.check().await.unwrap_err();
    assert!(
        matches!(&err, WpError::Unreachable(m) if m.contains("127.0.0.1:1")),
        "{err}"
    );
    let err = wp
        .apply(&WpOperation::ActivatePlugin {
            slug: "akismet".into(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, WpError::Unreachable(_)), "{err}");
}

/// Needs no WordPress: public addresses only, the test WordPress's own
/// loopback address is refused before anything is sent.
#[tokio::test]
async fn a_loopback_wordpress_is_refused_without_allow_private() {
    let wp = WordPress::new(
        "http://127.0.0.1:1",
        "admin",
        "abcd efgh",
        Egress::PublicOnly,
    )
    .unwrap();
    let err = wp.check().await.unwrap_err();
    assert!(
        matches!(&err, WpError::NotAllowed(m) if m.contains("127.0.0.1 is not a public address")),
        "{err}"
    );
    let err = wp.check_address().await.unwrap_err();
    assert!(matches!(err, WpError::NotAllowed(_)), "{err}");
}
