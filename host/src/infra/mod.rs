//! What bbws drives outside itself: WordPress sites ([`wordpress`]: the
//! REST client and the local provider's simulation) and the vulnerability
//! feed the plugin scan reads ([`vulnfeed`]: a file or a URL).

pub mod vulnfeed;
pub mod wordpress;
