//! What bbws drives outside itself, each behind a trait the services call:
//! sites' WordPress ([`sites`]: the `SiteProvider` and `WordPressSite`
//! traits, the `local` provider), WordPress itself ([`wordpress`]: the REST
//! client and the simulation the local provider keeps), and the
//! vulnerability feed the plugin scan reads ([`vulnfeed`]: a file or a URL).

pub mod gitops;
pub mod instances;
pub mod sites;
pub mod vulnfeed;
pub mod wordpress;
