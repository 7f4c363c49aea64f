//! bbws-host: the bbws control plane as a library, plus the `bbws` binary.
//!
//! Data flows one way: [`api`] (HTTP) -> [`service`] (use cases: policy,
//! domain rules, conditional writes) -> [`domain`] (pure types and rules),
//! [`policy`] (the access rules) and [`store`] (persistence behind the
//! DynamoDB-shaped [`store::ItemStore`] trait). [`server`] assembles them.

pub mod api;
pub mod blobs;
pub mod clock;
pub mod domain;
pub mod infra;
pub mod jobs;
pub mod policy;
pub mod runtime;
pub mod secrets;
pub mod serve;
pub mod server;
pub mod service;
pub mod store;
