//! Upload validation: is it a component, of the right world, importing only
//! what that world allows?

use serde::Serialize;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The kinds of extension, one per world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Policy,
    Template,
    EventFilter,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "policy" => Some(Kind::Policy),
            "template" => Some(Kind::Template),
            "event-filter" => Some(Kind::EventFilter),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Policy => "policy",
            Kind::Template => "template",
            Kind::EventFilter => "event-filter",
        }
    }

    /// The interfaces of `bbws:platform` the world imports.
    fn allowed_imports(self) -> &'static [&'static str] {
        match self {
            Kind::Policy => &["types", "tenants", "sites", "instances", "log"],
            Kind::Template => &["types", "tenants", "sites", "log"],
            Kind::EventFilter => &["types", "tenants", "instances", "log"],
        }
    }

    /// The functions the world exports.
    fn required_exports(self) -> &'static [&'static str] {
        match self {
            Kind::Policy => &["authorize"],
            Kind::Template => &["parameter-schema", "validate", "plan"],
            Kind::EventFilter => &["filter"],
        }
    }
}

/// What an accepted component is.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentInfo {
    /// sha256 of the bytes: the component's name and version.
    pub hash: String,
    pub size: usize,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    #[error("the component is {size} bytes; the limit of the tenant's tier is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("the bytes are not WebAssembly")]
    NotWasm,
    #[error(
        "this is a core WebAssembly module, not a component; build for wasm32-wasip2 or wrap it with `wasm-tools component new`"
    )]
    CoreModule,
    #[error("the component does not compile: {0}")]
    Malformed(String),
    #[error(
        "the component imports `{0}`, which no extension may use: of WASI only io, clocks, random, cli, filesystem and sockets at 0.2.x are linked, and grant nothing (no HTTP, no other WASI package)"
    )]
    ForbiddenImport(String),
    #[error("the component imports `{0}`, which the {1} world does not provide")]
    UnsupportedImport(String, &'static str),
    #[error("the component is not of this world: {0}")]
    WrongWorld(String),
}

impl Invalid {
    /// A stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            Invalid::TooLarge { .. } => "component_too_large",
            Invalid::NotWasm => "not_wasm",
            Invalid::CoreModule => "not_a_component",
            Invalid::Malformed(_) => "component_malformed",
            Invalid::ForbiddenImport(_) => "forbidden_import",
            Invalid::UnsupportedImport(..) => "unsupported_import",
            Invalid::WrongWorld(_) => "wrong_world",
        }
    }
}

/// Cheap checks before compiling: size (at most `limit`) and the binary
/// header.
pub fn check_header(bytes: &[u8], limit: usize) -> Result<(), Invalid> {
    if bytes.len() > limit {
        return Err(Invalid::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(Invalid::NotWasm);
    }
    // Bytes 4..8: version and layer. A core module is version 1, layer 0;
    // a component sets layer 1.
    match bytes[6..8] {
        [0, 0] => Err(Invalid::CoreModule),
        [1, 0] => Ok(()),
        _ => Err(Invalid::NotWasm),
    }
}

const PACKAGE: &str = "bbws:platform/";

/// Lists imports and exports and checks them against `kind`'s world.
pub fn inspect(
    engine: &Engine,
    component: &Component,
    kind: Kind,
    bytes: &[u8],
) -> Result<ComponentInfo, Invalid> {
    let ty = component.component_type();
    let imports: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    if let Some(bad) = imports
        .iter()
        .find(|i| super::wasi::import_allowed(i) == Some(false))
    {
        return Err(Invalid::ForbiddenImport(bad.clone()));
    }
    for import in imports.iter().filter(|i| !i.starts_with("wasi:")) {
        let interface = import
            .strip_prefix(PACKAGE)
            .map(|rest| rest.split('@').next().unwrap_or(rest));
        if !interface.is_some_and(|i| kind.allowed_imports().contains(&i)) {
            return Err(Invalid::UnsupportedImport(import.clone(), kind.as_str()));
        }
    }
    for required in kind.required_exports() {
        if !exports.iter().any(|e| e == required) {
            return Err(Invalid::WrongWorld(format!(
                "it does not export `{required}`, which a {} component must (it exports: {})",
                kind.as_str(),
                if exports.is_empty() {
                    "nothing".to_string()
                } else {
                    exports.join(", ")
                }
            )));
        }
    }
    Ok(ComponentInfo {
        hash: super::content_hash(bytes),
        size: bytes.len(),
        imports,
        exports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_tell_modules_from_components() {
        assert!(matches!(
            check_header(b"\0asm\x01\0\0\0", 100),
            Err(Invalid::CoreModule)
        ));
        assert!(check_header(b"\0asm\x0d\0\x01\0", 100).is_ok());
        assert!(matches!(
            check_header(b"hello world", 100),
            Err(Invalid::NotWasm)
        ));
        assert!(matches!(
            check_header(&[0; 101], 100),
            Err(Invalid::TooLarge { .. })
        ));
    }
}
