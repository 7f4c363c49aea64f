//! The SDK for bbws WebAssembly extensions. A tenant's extension is a
//! WebAssembly component of one of the `bbws:platform` worlds: a policy
//! (`policy`), a template interpreter (`template`) or an event filter
//! (`event-filter`). This crate hides the generated bindings and the
//! runtime glue a component needs, so an author implements one trait,
//! [`Policy`], [`Template`] or [`EventFilter`], and registers it with one
//! macro, [`export_policy!`], [`export_template!`] or
//! [`export_event_filter!`]. The platform runs every call in a fresh
//! instance with no file system, network, clock or randomness: everything a
//! decision depends on arrives in its input, and the read-only host
//! look-ups ([`tenants`], [`sites`], [`instances`]) are scoped to the
//! tenant's own tree. A tenant policy is composed with the platform's own
//! access rules, so it can only narrow what they allow.
//!
//! The crate is `no_std` (with `alloc`): a guest imports nothing from WASI,
//! which keeps it sandboxed and cheap to instantiate. On `wasm32` it brings
//! its own global allocator (a bump allocator: an instance lives for one
//! decision, so nothing needs freeing) and a panic handler that traps, so a
//! guest crate is `#![no_std]` too and must not link `std`.
//!
//! A whole guest (its `lib.rs`, under `#![no_std]`; its `Cargo.toml` says
//! `crate-type = ["cdylib"]` and depends on `bbws-guest`):
//!
//! ```
//! use bbws_guest::{Decision, Policy, Request, format};
//!
//! struct NoFridayDeploys;
//!
//! impl Policy for NoFridayDeploys {
//!     fn authorize(request: Request) -> Decision {
//!         let day = (request.now_ms / 86_400_000 + 4) % 7; // 1970-01-01 was a Thursday
//!         if request.action == "site.promote" && day == 5 {
//!             bbws_guest::log!(Info, "refused a Friday deploy by {}", request.principal.user_id);
//!             return Decision::Deny(format!("{}: no deploys on Fridays", request.action));
//!         }
//!         Decision::Allow("not a Friday deploy".into())
//!     }
//! }
//!
//! bbws_guest::export_policy!(NoFridayDeploys);
//! # fn main() {}
//! ```
//!
//! `cargo build --release --target wasm32-wasip2` turns it into the
//! component to upload, `target/wasm32-wasip2/release/<crate>.wasm`.
//!
//! Copy `.cargo/config.toml` from one of the examples into your crate: it
//! links a 64 KiB stack instead of the toolchain's 1 MiB, which makes every
//! instantiation of your policy cheaper (17 initial pages become 3; a
//! decision went from 11.0 to 6.7 us here). Deeper recursion traps cleanly.
//!
//! # Templates
//!
//! A tenant's `template` component (the `bbws:platform/template` world)
//! interprets the tenant's templates: it describes a template's parameters
//! as JSON Schema, checks parameters, and plans the WordPress operations
//! ([`WpOperation`]) the host then runs against a site. Implement
//! [`Template`] and register it with [`export_template!`]; the same crate
//! layout, allocator and look-ups apply (a template component imports
//! `tenants`, `sites` and `log`, not `instances`). The platform's own
//! interpreter, `guests/default-template`, reads a JSON body format; a
//! component of your own may read bodies any way it likes, or ignore them.
//! Only `plan` is required: by default a template takes any parameters
//! object (`parameter_schema` answers `{"type": "object"}`, `validate` no
//! errors).
//!
//! ```
//! use bbws_guest::{Environment, ParamError, Site, Template, TemplateInfo, WpOperation, WpPage, Vec, vec};
//!
//! struct HelloPage;
//!
//! impl Template for HelloPage {
//!     fn parameter_schema(_: &TemplateInfo) -> bbws_guest::String {
//!         r#"{"type": "object", "additionalProperties": false}"#.into()
//!     }
//!
//!     fn validate(_: &TemplateInfo, parameters_json: &str) -> Vec<ParamError> {
//!         if parameters_json.trim() == "{}" {
//!             Vec::new()
//!         } else {
//!             vec![ParamError::new("", "this template takes no parameters")]
//!         }
//!     }
//!
//!     fn plan(t: &TemplateInfo, site: &Site, p: &str) -> Result<Vec<WpOperation>, Vec<ParamError>> {
//!         let errors = Self::validate(t, p);
//!         if !errors.is_empty() {
//!             return Err(errors);
//!         }
//!         let title = bbws_guest::escape_html(&site.name);
//!         let hello = match site.environment {
//!             Environment::Prod => "<p>Hello!</p>",
//!             Environment::Dev | Environment::Sit => "<p>Hello, tester!</p>",
//!         };
//!         Ok(vec![WpOperation::UpsertPage(WpPage::published("hello", title, hello))])
//!     }
//! }
//!
//! bbws_guest::export_template!(HelloPage);
//! # fn main() {}
//! ```
//!
//! A [`ParamError`] names the parameter it is about; the host reports it as
//! the field `parameters.<name>`. Two names are special: `""` (the
//! parameters object as a whole, e.g. not JSON) and `template` (the
//! template's body itself is wrong, whatever the parameters).
//!
//! # Event filters
//!
//! A tenant's `event-filter` component (the `bbws:platform/event-filter`
//! world) judges each ECS state-change event of the tenant ([`EcsEvent`])
//! before the platform syncs it: it accepts the event, drops it with a
//! reason, or accepts it with labels ([`FilterOutcome`]). Implement
//! [`EventFilter`] and register it with [`export_event_filter!`]; the same
//! crate layout and allocator apply, and a filter imports `tenants`,
//! `instances` and `log`, not `sites`. A filter without a `filter` of its
//! own accepts every event:
//!
//! ```
//! use bbws_guest::{EcsEvent, EventFilter, FilterOutcome, vec};
//!
//! struct QuietTasks;
//!
//! impl EventFilter for QuietTasks {
//!     fn filter(tenant_id: &str, event: &EcsEvent) -> FilterOutcome {
//!         match event.detail_type.as_str() {
//!             "ECS Task State Change" => FilterOutcome::Drop("task changes are noise here".into()),
//!             "ECS Deployment State Change" => {
//!                 FilterOutcome::Annotate(vec![("tenant".into(), tenant_id.into())])
//!             }
//!             _ => FilterOutcome::Accept,
//!         }
//!     }
//! }
//!
//! bbws_guest::export_event_filter!(QuietTasks);
//!
//! struct KeepEverything;
//!
//! impl EventFilter for KeepEverything {}
//!
//! # fn main() {
//! let event = EcsEvent {
//!     id: "6a7e4feb-b491-4cf7-a9f1-bf3703467718".into(),
//!     detail_type: "ECS Task State Change".into(),
//!     resources: vec![],
//!     detail_json: "{}".into(),
//!     time_ms: 0,
//! };
//! assert_eq!(KeepEverything::filter("ten_1", &event), FilterOutcome::Accept);
//! assert!(matches!(QuietTasks::filter("ten_1", &event), FilterOutcome::Drop(_)));
//! # }
//! ```

#![no_std]

extern crate alloc;

#[cfg(target_arch = "wasm32")]
mod runtime;

/// The generated bindings. Private: authors use the names re-exported
/// below, so the generated layout can change without breaking them.
mod wit {
    wit_bindgen::generate!({
        world: "policy",
        path: "../../wit",
        // The export macro is invoked from the author's crate (through
        // `export_policy!`), so it must be public and find the bindings
        // through an absolute path.
        pub_export_macro: true,
        export_macro_name: "__export_policy_world",
        default_bindings_module: "bbws_guest::__private::wit",
        // Decisions and the records in them compare, so policies can be
        // tested with `assert_eq!`.
        additional_derives: [PartialEq, Eq],
    });
}

/// The bindings of the `template` world. They reuse the policy world's
/// interfaces (`types`, `tenants`, `sites`, `log`), so a [`Site`] or a
/// [`tenants::Tenant`] is the same type in every world and the look-up
/// functions exist once.
#[allow(clippy::too_many_arguments)] // the generated glue of `plan`
mod wit_template {
    wit_bindgen::generate!({
        world: "template",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_template_world",
        default_bindings_module: "bbws_guest::__private::wit_template",
        with: {
            "bbws:platform/types@0.1.0": crate::wit::bbws::platform::types,
            "bbws:platform/tenants@0.1.0": crate::wit::bbws::platform::tenants,
            "bbws:platform/sites@0.1.0": crate::wit::bbws::platform::sites,
            "bbws:platform/log@0.1.0": crate::wit::bbws::platform::log,
        },
    });
}

/// The bindings of the `event-filter` world, reusing the policy world's
/// interfaces like the template world's.
#[allow(clippy::too_many_arguments)] // the generated glue of `filter`
mod wit_event_filter {
    wit_bindgen::generate!({
        world: "event-filter",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_event_filter_world",
        default_bindings_module: "bbws_guest::__private::wit_event_filter",
        with: {
            "bbws:platform/types@0.1.0": crate::wit::bbws::platform::types,
            "bbws:platform/tenants@0.1.0": crate::wit::bbws::platform::tenants,
            "bbws:platform/instances@0.1.0": crate::wit::bbws::platform::instances,
            "bbws:platform/log@0.1.0": crate::wit::bbws::platform::log,
        },
    });
}

pub use alloc::string::{String, ToString};
pub use alloc::vec::Vec;
pub use alloc::{format, vec};

pub use wit::bbws::platform::types::{
    Decision, Principal, Request, Resource, RoleBinding, TenantRole,
};

pub use wit::bbws::platform::types::{ParamError, TemplateInfo, WpMenu, WpOperation, WpPage};

pub use wit::bbws::platform::types::{Environment, Site, SiteStatus};

pub use wit::bbws::platform::types::{EcsEvent, FilterOutcome};

/// Tenants, as far as the guest's tenant tree reaches.
pub mod tenants {
    pub use crate::wit::bbws::platform::tenants::{ancestors, get};
    pub use crate::wit::bbws::platform::types::{Tenant, TenantStatus};
}

/// Sites of the guest's tenant tree.
pub mod sites {
    pub use crate::wit::bbws::platform::sites::{get, list};
    pub use crate::wit::bbws::platform::types::{Environment, Site, SiteStatus};
}

/// Instances of the guest's tenant tree.
pub mod instances {
    pub use crate::wit::bbws::platform::instances::{get, list};
    pub use crate::wit::bbws::platform::types::Instance;
}

/// Lines in the host's log, tagged with the tenant and component. See
/// [`log!`](crate::log!) for the formatting shorthand.
pub mod log {
    pub use crate::wit::bbws::platform::log::{Level, write};
}

/// Writes a formatted line to the host's log: `log!(Info, "denied {}", action)`.
/// The level is one of `Debug`, `Info`, `Warn`, `Error`. Off WebAssembly
/// (a guest's unit tests on the build machine) the line goes nowhere.
#[macro_export]
macro_rules! log {
    ($level:ident, $($arg:tt)+) => {
        $crate::__private::log($crate::log::Level::$level, &$crate::format!($($arg)+))
    };
}

/// A policy: decides whether a request may proceed. Implement it on a unit
/// struct and register that with [`export_policy!`].
pub trait Policy {
    /// Decides one request, with a reason a person can read. The default
    /// denies: a policy that forgot to decide must not let anything through.
    fn authorize(request: Request) -> Decision {
        let _ = request;
        Decision::Deny("not implemented".into())
    }
}

/// Exports a [`Policy`] implementation as the component's `authorize`
/// function. Use it once, at the top level of the guest crate:
/// `bbws_guest::export_policy!(MyPolicy);`
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        const _: () = {
            struct __BbwsGuestPolicy;

            impl $crate::__private::wit::Guest for __BbwsGuestPolicy {
                fn authorize(request: $crate::Request) -> $crate::Decision {
                    <$policy as $crate::Policy>::authorize(request)
                }
            }

            $crate::__private::wit::__export_policy_world!(
                __BbwsGuestPolicy with_types_in $crate::__private::wit
            );
        };
    };
}

/// A template interpreter: checks a template's parameters and turns a
/// template and its parameters into the WordPress operations the host runs
/// against a site. Implement it on a unit struct and register that with
/// [`export_template!`].
///
/// The template (its id, name and body as the catalogue stores it) arrives
/// with every call; what the body means is the implementation's business.
/// Parameters arrive as the text of a JSON object. Every call runs in a
/// fresh instance, so nothing carries over from `validate` to `plan`: `plan`
/// checks the parameters again.
pub trait Template {
    /// The parameters `template` takes, as the text of a JSON Schema
    /// (an object schema), for forms and API clients. The default is any
    /// object, `{"type": "object"}`, as the default `validate` accepts.
    fn parameter_schema(template: &TemplateInfo) -> String {
        let _ = template;
        r#"{"type": "object"}"#.into()
    }

    /// Checks `parameters_json` for `template`: one [`ParamError`] per
    /// problem, none when the parameters are valid. The default finds
    /// none: a template that reads no parameters need not check them.
    fn validate(template: &TemplateInfo, parameters_json: &str) -> Vec<ParamError> {
        let _ = (template, parameters_json);
        Vec::new()
    }

    /// The operations that apply `template` with `parameters_json` to
    /// `site`, in order; or why not.
    fn plan(
        template: &TemplateInfo,
        site: &Site,
        parameters_json: &str,
    ) -> Result<Vec<WpOperation>, Vec<ParamError>>;
}

/// Exports a [`Template`] implementation as the component's
/// `parameter-schema`, `validate` and `plan` functions. Use it once, at the
/// top level of the guest crate: `bbws_guest::export_template!(MyTemplate);`
#[macro_export]
macro_rules! export_template {
    ($template:ty) => {
        const _: () = {
            struct __BbwsGuestTemplate;

            impl $crate::__private::wit_template::Guest for __BbwsGuestTemplate {
                fn parameter_schema(template: $crate::TemplateInfo) -> $crate::String {
                    <$template as $crate::Template>::parameter_schema(&template)
                }

                fn validate(
                    template: $crate::TemplateInfo,
                    parameters_json: $crate::String,
                ) -> $crate::Vec<$crate::ParamError> {
                    <$template as $crate::Template>::validate(&template, &parameters_json)
                }

                fn plan(
                    template: $crate::TemplateInfo,
                    site: $crate::Site,
                    parameters_json: $crate::String,
                ) -> ::core::result::Result<
                    $crate::Vec<$crate::WpOperation>,
                    $crate::Vec<$crate::ParamError>,
                > {
                    <$template as $crate::Template>::plan(&template, &site, &parameters_json)
                }
            }

            $crate::__private::wit_template::__export_template_world!(
                __BbwsGuestTemplate with_types_in $crate::__private::wit_template
            );
        };
    };
}

/// An event filter: decides what one of the tenant's ECS events does
/// before the platform syncs it. Implement it on a unit struct and register
/// that with [`export_event_filter!`].
pub trait EventFilter {
    /// What to do with `event`, an event of the tenant `tenant_id`. The
    /// default accepts: a filter with nothing to say about an event must
    /// not lose it.
    fn filter(tenant_id: &str, event: &EcsEvent) -> FilterOutcome {
        let _ = (tenant_id, event);
        FilterOutcome::Accept
    }
}

/// Exports an [`EventFilter`] implementation as the component's `filter`
/// function. Use it once, at the top level of the guest crate:
/// `bbws_guest::export_event_filter!(MyFilter);`
#[macro_export]
macro_rules! export_event_filter {
    ($filter:ty) => {
        const _: () = {
            struct __BbwsGuestEventFilter;

            impl $crate::__private::wit_event_filter::Guest for __BbwsGuestEventFilter {
                fn filter(
                    tenant_id: $crate::String,
                    event: $crate::EcsEvent,
                ) -> $crate::FilterOutcome {
                    <$filter as $crate::EventFilter>::filter(&tenant_id, &event)
                }
            }

            $crate::__private::wit_event_filter::__export_event_filter_world!(
                __BbwsGuestEventFilter with_types_in $crate::__private::wit_event_filter
            );
        };
    };
}

/// What the export macros expand to needs; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub mod wit {
        pub use crate::wit::*;
    }
    pub mod wit_template {
        pub use crate::wit_template::*;
    }
    pub mod wit_event_filter {
        pub use crate::wit_event_filter::*;
    }

    /// [`log!`](crate::log!)'s target: the host's log on WebAssembly,
    /// nowhere elsewhere (the import exists only in a component).
    pub fn log(level: crate::log::Level, message: &str) {
        #[cfg(target_arch = "wasm32")]
        crate::log::write(level, message);
        #[cfg(not(target_arch = "wasm32"))]
        let _ = (level, message);
    }
}

impl TenantRole {
    /// The role's name as the API spells it: `viewer`, `operator`, `admin`, `owner`.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantRole::Viewer => "viewer",
            TenantRole::Operator => "operator",
            TenantRole::Admin => "admin",
            TenantRole::Owner => "owner",
        }
    }
}

impl tenants::TenantStatus {
    /// The status as the API spells it: `ACTIVE`, `PARKED`, `SUSPENDED`, `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            tenants::TenantStatus::Active => "ACTIVE",
            tenants::TenantStatus::Parked => "PARKED",
            tenants::TenantStatus::Suspended => "SUSPENDED",
            tenants::TenantStatus::Deleted => "DELETED",
        }
    }
}

impl Environment {
    /// The environment as the API spells it: `DEV`, `SIT`, `PROD`.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Dev => "DEV",
            Environment::Sit => "SIT",
            Environment::Prod => "PROD",
        }
    }
}

impl SiteStatus {
    /// The status as the API spells it: `PROVISIONING`, `ACTIVE`,
    /// `SUSPENDED`, `FAILED`, `DELETING`.
    pub fn as_str(self) -> &'static str {
        match self {
            SiteStatus::Provisioning => "PROVISIONING",
            SiteStatus::Active => "ACTIVE",
            SiteStatus::Suspended => "SUSPENDED",
            SiteStatus::Failed => "FAILED",
            SiteStatus::Deleting => "DELETING",
        }
    }
}

impl Request {
    /// The highest role among all the principal's bindings (on the tenant
    /// and its ancestors), if any.
    pub fn highest_role(&self) -> Option<TenantRole> {
        self.roles.iter().map(|b| b.role).max()
    }

    /// The value of a resource attribute, such as `plugin` or `targetEnvironment`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.resource.attribute(name)
    }
}

impl Resource {
    /// The value of an attribute, such as `plugin` or `targetEnvironment`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl Decision {
    /// True for [`Decision::Allow`].
    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// The reason, whichever way the decision went.
    pub fn reason(&self) -> &str {
        match self {
            Decision::Allow(reason) | Decision::Deny(reason) => reason,
        }
    }
}

impl ParamError {
    /// A problem with the parameter `name`.
    pub fn new(name: impl Into<String>, message: impl Into<String>) -> Self {
        ParamError {
            name: name.into(),
            message: message.into(),
        }
    }
}

impl WpPage {
    /// A page or post with this slug, title and content, published.
    pub fn published(
        slug: impl Into<String>,
        title: impl Into<String>,
        content: impl Into<String>,
    ) -> Self {
        WpPage {
            slug: slug.into(),
            title: title.into(),
            content: content.into(),
            status: "publish".into(),
        }
    }
}

/// `text` with the characters that mean something in HTML (`&`, `<`, `>`,
/// `"`, `'`) replaced by entities, so a parameter placed in a title or page
/// content reads as text and cannot inject markup.
///
/// ```
/// assert_eq!(
///     bbws_guest::escape_html("<b>Tom & \"Jerry's\"</b>"),
///     "&lt;b&gt;Tom &amp; &quot;Jerry&#39;s&quot;&lt;/b&gt;"
/// );
/// ```
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
