//! What bbws drives outside itself: WordPress sites (through their REST
//! API) and the infrastructure providers.

pub mod local;
pub mod wordpress;
