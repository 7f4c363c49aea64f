//! The end-to-end suite: each test starts a real bbws server on port 0 and
//! proves a scenario over HTTP.

mod helpers;

/// This binary's scenarios run on the embedded deployment; `api_aws` runs
/// them again on DynamoDB and S3.
const BACKEND: helpers::Backend = helpers::Backend::Embedded;

mod api_contract;
mod bad_input;
mod events;
mod extensions;
mod guest_pool;
mod hierarchy;
mod identity;
mod instances;
mod invitations;
mod isolation;
mod languages;
mod limits;
mod members;
mod sites;
mod tenants;
mod walkthrough;
mod wordpress;
