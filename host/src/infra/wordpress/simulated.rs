//! A simulated WordPress, what the `local` provider gives a site: for the
//! embedded deployment and the tests. It is clearly not WordPress: a site's
//! state (options, pages, posts, plugins, menus) is one JSON document in
//! the store, and [`SimulatedWordPress::apply`] takes the same
//! [`WpOperation`]s the REST client sends a real WordPress (`plan.rs`), with
//! the same outcomes for the cases bbws relies on (upsert by slug, an
//! unknown plugin refused, a menu naming a missing page refused).
//!
//! One document per site makes every change to it a single conditional
//! write: a clone copies it whole or not at all, and a restore replaces it
//! whole.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::template::{WpOperation, WpPage};

/// Marks documents and backups of the local provider's simulation.
pub const SIMULATION: &str = "bbws local provider (simulated WordPress)";

/// A simulated WordPress site.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedWordPress {
    /// Always [`SIMULATION`]: says what this is to anyone reading the store.
    pub simulation: String,
    pub options: BTreeMap<String, String>,
    pub pages: Vec<SimulatedPost>,
    pub posts: Vec<SimulatedPost>,
    /// By slug.
    pub plugins: BTreeMap<String, SimulatedPlugin>,
    pub menus: Vec<SimulatedMenu>,
    /// The next post or page id.
    pub next_id: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedPost {
    pub id: u64,
    pub slug: String,
    pub title: String,
    pub content: String,
    pub status: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedPlugin {
    /// `None`: the latest release.
    pub version: Option<String>,
    pub active: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedMenu {
    pub name: String,
    /// Page slugs in order.
    pub items: Vec<String>,
}

impl SimulatedWordPress {
    /// A freshly installed site, as WordPress's installer leaves it.
    pub fn installed(site_name: &str) -> Self {
        let mut wp = Self {
            simulation: SIMULATION.into(),
            next_id: 1,
            ..Self::default()
        };
        wp.options.insert("blogname".into(), site_name.into());
        wp.options.insert(
            "blogdescription".into(),
            "Just another WordPress site".into(),
        );
        wp.options.insert("posts_per_page".into(), "10".into());
        let hello = wp.post(&WpPage {
            slug: "hello-world".into(),
            title: "Hello world!".into(),
            content: "<p>Welcome to WordPress.</p>".into(),
            status: "publish".into(),
        });
        wp.posts.push(hello);
        let sample = wp.post(&WpPage {
            slug: "sample-page".into(),
            title: "Sample Page".into(),
            content: "<p>This is an example page.</p>".into(),
            status: "publish".into(),
        });
        wp.pages.push(sample);
        wp
    }

    fn post(&mut self, page: &WpPage) -> SimulatedPost {
        let id = self.next_id.max(1);
        self.next_id = id + 1;
        SimulatedPost {
            id,
            slug: page.slug.clone(),
            title: page.title.clone(),
            content: page.content.clone(),
            status: page.status.clone(),
        }
    }

    /// Applies one operation; answers what it did, or why it was refused.
    pub fn apply(&mut self, op: &WpOperation) -> Result<String, String> {
        match op {
            WpOperation::UpsertPage(page) => {
                check_status(&page.status)?;
                if let Some(existing) = self.pages.iter_mut().find(|p| p.slug == page.slug) {
                    existing.title = page.title.clone();
                    existing.content = page.content.clone();
                    existing.status = page.status.clone();
                    return Ok(format!("updated page {} (id {})", page.slug, existing.id));
                }
                let post = self.post(page);
                let id = post.id;
                self.pages.push(post);
                Ok(format!("created page {} (id {id})", page.slug))
            }
            WpOperation::CreatePost(page) => {
                check_status(&page.status)?;
                let post = self.post(page);
                let id = post.id;
                self.posts.push(post);
                Ok(format!("created post {} (id {id})", page.slug))
            }
            WpOperation::SetOption { name, value } => {
                if !SETTABLE_OPTIONS.contains(&name.as_str()) {
                    return Err(format!(
                        "WordPress's settings API does not expose the option {name}"
                    ));
                }
                self.options.insert(name.clone(), value.clone());
                Ok(format!("set {name}"))
            }
            WpOperation::ActivatePlugin { slug } => match self.plugins.get_mut(slug) {
                Some(p) => {
                    p.active = true;
                    Ok(format!("activated plugin {slug}"))
                }
                None => Err(format!("the plugin {slug} is not installed")),
            },
            WpOperation::CreateMenu { name, items } => {
                if let Some(missing) = items
                    .iter()
                    .find(|slug| !self.pages.iter().any(|p| &p.slug == *slug))
                {
                    return Err(format!(
                        "the menu names a page that does not exist: {missing}"
                    ));
                }
                self.menus.retain(|m| &m.name != name);
                self.menus.push(SimulatedMenu {
                    name: name.clone(),
                    items: items.clone(),
                });
                Ok(format!("created menu {name} with {} item(s)", items.len()))
            }
        }
    }
}

fn check_status(status: &str) -> Result<(), String> {
    match status {
        "publish" | "draft" | "private" | "pending" => Ok(()),
        other => Err(format!(
            "the status {other:?} is not one of publish, draft, private, pending"
        )),
    }
}

/// The options WordPress's `/wp/v2/settings` endpoint exposes (by their
/// option names), so the simulation refuses what a real site would.
pub const SETTABLE_OPTIONS: &[&str] = &[
    "blogname",
    "blogdescription",
    "siteurl",
    "admin_email",
    "timezone_string",
    "date_format",
    "time_format",
    "start_of_week",
    "WPLANG",
    "use_smilies",
    "default_category",
    "default_post_format",
    "posts_per_page",
    "show_on_front",
    "page_on_front",
    "page_for_posts",
    "default_ping_status",
    "default_comment_status",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn page(slug: &str, title: &str) -> WpOperation {
        WpOperation::UpsertPage(WpPage {
            slug: slug.into(),
            title: title.into(),
            content: "<p>x</p>".into(),
            status: "publish".into(),
        })
    }

    #[test]
    fn upserting_a_page_twice_updates_it() {
        let mut wp = SimulatedWordPress::installed("shop");
        wp.apply(&page("about", "About")).unwrap();
        wp.apply(&page("about", "About us")).unwrap();
        let about: Vec<_> = wp.pages.iter().filter(|p| p.slug == "about").collect();
        assert_eq!(about.len(), 1);
        assert_eq!(about[0].title, "About us");
    }

    #[test]
    fn what_wordpress_would_refuse_is_refused() {
        let mut wp = SimulatedWordPress::installed("shop");
        assert!(
            wp.apply(&WpOperation::ActivatePlugin {
                slug: "akismet".into()
            })
            .is_err()
        );
        assert!(
            wp.apply(&WpOperation::SetOption {
                name: "active_plugins".into(),
                value: "x".into()
            })
            .is_err()
        );
        assert!(
            wp.apply(&WpOperation::CreateMenu {
                name: "Main".into(),
                items: vec!["nowhere".into()]
            })
            .is_err()
        );
    }
}
