//! The host's `bindgen!`s: everything else imports the generated types from
//! here.
//!
//! The `policy` world's generates the shared interfaces (`types`,
//! `tenants`, `sites`, `instances`, `log`); the other worlds reuse them
//! (`with`), so one set of host implementations and one linker serve every
//! world.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "policy",
    // Host functions may trap: a guest that exceeds its host-call budget
    // is stopped, not answered.
    imports: { default: trappable },
});

pub use bbws::platform::types;

/// The `template` world: `Template`, `TemplatePre`.
pub mod template {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "template",
        imports: { default: trappable },
        with: {
            "bbws:platform/types": super::bbws::platform::types,
            "bbws:platform/tenants": super::bbws::platform::tenants,
            "bbws:platform/sites": super::bbws::platform::sites,
            "bbws:platform/log": super::bbws::platform::log,
        },
    });
}

pub use template::{Template, TemplatePre};
