//! The host's generated bindings. This file generates the shared interfaces
//! of `bbws:platform` once: `types`, and the host interfaces guests import
//! (`tenants`, `sites`, `instances`, `log`), with [`Interfaces`], whose
//! `add_to_linker` puts all of them into the runtime's one linker. Each
//! world's `bindgen!` (in `worlds/`) reuses these modules with `with:`, so a
//! `types::Site` is one type in every world, one set of host
//! implementations (`host/`) and one linker serve every world, and a world's
//! file generates only its exports. The worlds' generated types are
//! re-exported here, so the rest of the crate names every generated type
//! from this one module.

wasmtime::component::bindgen!({
    path: "../wit",
    // Not a world of the contract: the union of the worlds' imports, for
    // the host's side of them.
    inline: "
        package bbws:host;

        world interfaces {
            import bbws:platform/tenants@0.1.0;
            import bbws:platform/sites@0.1.0;
            import bbws:platform/instances@0.1.0;
            import bbws:platform/log@0.1.0;
        }
    ",
    world: "bbws:host/interfaces",
    // Host functions may trap: a guest that exceeds its host-call budget
    // is stopped, not answered.
    imports: { default: trappable },
    // Answers compare, so tests (and replays) can check them whole.
    additional_derives: [PartialEq, Eq],
});

pub use bbws::platform::types;

pub use super::worlds::event_filter::{EventFilter, EventFilterPre};
pub use super::worlds::event_gate::{EventGate, EventGatePre};
pub use super::worlds::policy::{Policy, PolicyPre};
pub use super::worlds::template::{Template, TemplatePre};
