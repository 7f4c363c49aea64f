//! WordPress, as bbws drives it: a real site through its REST API
//! ([`WordPress`], for a site attached with an Application Password), or
//! the local provider's [`simulated`] one. Both take the operations of a
//! template's plan ([`crate::domain::template::WpOperation`]).
//!
//! - `client.rs`: the REST client (address, auth, requests, [`WpError`]);
//! - `egress.rs`: where the client may connect ([`Egress`]: public
//!   addresses only, unless `--wordpress-allow-private`);
//! - `plan.rs`: one plan operation executed through the REST API;
//! - `wire.rs`: the JSON WordPress's REST API answers, as bbws reads it;
//! - `simulated.rs`: the simulation, one JSON document per site.

mod client;
pub mod egress;
mod plan;
pub mod simulated;
mod wire;

pub use client::{KNOWN_CODES, MAX_BODY, REQUEST_TIMEOUT, WordPress, WpError};
pub use egress::Egress;
pub use wire::{WpMenu, WpMenuItem, WpPlugin, WpPost, WpSiteInfo};

/// An attached site's WordPress, as the services drive it.
#[async_trait::async_trait]
impl crate::infra::sites::WordPressSite for WordPress {
    async fn check(&self) -> Result<(), WpError> {
        let info = WordPress::check(self).await?;
        tracing::info!(wordpress = ?info, "attached WordPress answers");
        Ok(())
    }

    async fn apply(&self, op: &crate::domain::template::WpOperation) -> Result<String, WpError> {
        WordPress::apply(self, op).await
    }

    async fn plugins(&self) -> Result<Vec<crate::infra::sites::InstalledPlugin>, WpError> {
        Ok(WordPress::plugins(self)
            .await?
            .into_iter()
            .map(|p| crate::infra::sites::InstalledPlugin {
                slug: p.slug,
                version: p.version,
                status: p.status,
            })
            .collect())
    }
}
