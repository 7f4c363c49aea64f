//! The worlds of `bbws:platform`, one file each: its `bindgen!` (the
//! world's exports only; the interfaces it imports come from
//! [`super::bindings`]), how the cache holds a component of it
//! (`WorldPre`), and the [`super::Runtime`]'s calls into it, each in
//! a fresh instance under the sandbox (`Runtime::sandboxed`) with
//! its output's size checked.

pub mod event_filter;
pub mod event_gate;
pub mod policy;
pub mod template;
