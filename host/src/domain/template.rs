//! Templates and the WordPress operations a template's plan is made of.
//!
//! A plan is a list of [`WpOperation`]s produced by a `template` guest and
//! executed by the host, in order, against the site's WordPress (through
//! its REST API, or the local provider's simulation of it). The JSON form
//! (`{"op": "upsertPage", ...}`) is what `preview` answers.

use serde::{Deserialize, Serialize};

/// A page or post.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WpPage {
    /// URL slug.
    pub slug: String,
    pub title: String,
    /// HTML or block markup.
    pub content: String,
    /// `publish` or `draft`.
    pub status: String,
}

/// One step of a template's plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum WpOperation {
    /// Create the page with this slug, or update it if it exists.
    UpsertPage(WpPage),
    /// Create a post.
    CreatePost(WpPage),
    /// Set a WordPress option: `blogname`, `blogdescription`, or any other
    /// setting WordPress's `/wp/v2/settings` exposes.
    SetOption { name: String, value: String },
    /// Activate an installed plugin, by slug.
    ActivatePlugin { slug: String },
    /// Create (or replace) a navigation menu linking these page slugs, in order.
    CreateMenu { name: String, items: Vec<String> },
}

impl WpOperation {
    /// A short description for progress and errors: `upsertPage about`.
    pub fn describe(&self) -> String {
        match self {
            WpOperation::UpsertPage(p) => format!("upsertPage {}", p.slug),
            WpOperation::CreatePost(p) => format!("createPost {}", p.slug),
            WpOperation::SetOption { name, .. } => format!("setOption {name}"),
            WpOperation::ActivatePlugin { slug } => format!("activatePlugin {slug}"),
            WpOperation::CreateMenu { name, .. } => format!("createMenu {name}"),
        }
    }
}

/// A template as the catalogue holds it and a `template` guest receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSpec {
    /// `tpl_…` for a tenant's template, the name for a platform one.
    pub id: String,
    pub name: String,
    /// The body the guest interprets, as JSON text.
    pub body_json: String,
}
