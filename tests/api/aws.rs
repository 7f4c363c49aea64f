//! The end-to-end scenarios that touch state, again on the deployment at
//! scale: each server on a fresh DynamoDB table and S3 bucket of the moto
//! server `scripts/with-moto.sh` starts (`BBWS_TEST_AWS_ENDPOINT`). Without
//! it the binary says it skipped and passes; under `CI=true` it fails.

#[path = "helpers.rs"]
mod helpers;

const BACKEND: helpers::Backend = helpers::Backend::Aws;

#[path = "bad_input.rs"]
mod bad_input;
#[path = "events.rs"]
mod events;
#[path = "events_aws.rs"]
mod events_aws;
#[path = "extensions.rs"]
mod extensions;
#[path = "hierarchy.rs"]
mod hierarchy;
#[path = "identity.rs"]
mod identity;
#[path = "instances.rs"]
mod instances;
#[path = "instances_aws.rs"]
mod instances_aws;
#[path = "invitations.rs"]
mod invitations;
#[path = "isolation.rs"]
mod isolation;
#[path = "members.rs"]
mod members;
#[path = "sites.rs"]
mod sites;
#[path = "tenants.rs"]
mod tenants;
