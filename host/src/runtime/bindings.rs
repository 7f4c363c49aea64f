//! The one `bindgen!` of the host: everything else imports the generated
//! types from here.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "policy",
    // Host functions may trap: a guest that exceeds its host-call budget
    // is stopped, not answered.
    imports: { default: trappable },
});

pub use bbws::platform::types;
