//! Builds bbws's WebAssembly guests from a build script, so that `cargo
//! build` and `cargo test` of the host workspace need nothing else (the
//! test-programs pattern of wasmtime). A build script names the guests it
//! needs; [`build`] compiles them with a nested `cargo build --release
//! --target wasm32-wasip2` and returns the `.wasm` files, which the caller
//! passes on to its crate with `cargo:rustc-env` or a generated file.
//!
//! Guests are either packages of the `guests/` workspace (`bbws-default-policy`,
//! `bbws-test-allow-all`, ...) or standalone crates named by their directory
//! relative to the repository root (`examples/policy-plugin-allowlist`). All
//! of them share one target directory, `<root>/target/wasm-guests`, so
//! rebuilds are incremental and dependencies compile once.
//!
//! ```no_run
//! // host/build.rs
//! let built = bbws_guest_build::build(["bbws-default-policy"]);
//! println!("cargo:rustc-env=BBWS_GUEST_DEFAULT_POLICY={}", built[0].1.display());
//! ```

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target guests are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Builds each guest, a `guests/` workspace package name or a standalone
/// crate directory (relative to the repository root, or absolute), and
/// returns `(package name, path of its .wasm)` in the order asked.
///
/// Also tells cargo to rerun the calling build script when the WIT, the
/// guests or the named crates change. Panics with the build's output when a
/// guest does not compile, and with a hint when the target is not installed:
/// a build script has no better way to fail.
pub fn build<I, S>(guests: I) -> Vec<(String, PathBuf)>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let root = repository_root();
    let target_dir = root.join("target").join("wasm-guests");

    let mut packages = Vec::new();
    let mut crates = Vec::new();
    let mut order = Vec::new();
    for guest in guests {
        let guest = guest.as_ref();
        if guest.contains('/') || guest.contains(std::path::MAIN_SEPARATOR) {
            let dir = root.join(guest);
            let name = package_name(&dir.join("Cargo.toml"));
            order.push(name.clone());
            crates.push(dir);
        } else {
            order.push(guest.to_string());
            packages.push(guest.to_string());
        }
    }

    watch(&root.join("wit"));
    watch(&root.join("guests"));
    for dir in &crates {
        watch(dir);
    }

    require_target();

    if !packages.is_empty() {
        let mut cargo = cargo_build(&target_dir);
        // From the workspace's directory, so that its `.cargo/config.toml`
        // (the guests' linker settings) applies.
        cargo
            .current_dir(root.join("guests"))
            .arg("--manifest-path")
            .arg(root.join("guests").join("Cargo.toml"));
        for package in &packages {
            cargo.arg("-p").arg(package);
        }
        run(cargo, &packages.join(", "));
    }
    for dir in &crates {
        let mut cargo = cargo_build(&target_dir);
        cargo
            .current_dir(dir)
            .arg("--manifest-path")
            .arg(dir.join("Cargo.toml"));
        run(cargo, &dir.display().to_string());
    }

    let out = target_dir.join(TARGET).join("release");
    order
        .into_iter()
        .map(|name| {
            let wasm = out.join(format!("{}.wasm", name.replace('-', "_")));
            assert!(
                wasm.is_file(),
                "building {name} produced no {} (is it a `cdylib`?)",
                wasm.display()
            );
            (name, wasm)
        })
        .collect()
}

/// The repository root: the nearest ancestor of the calling crate that has
/// `guests/Cargo.toml`.
fn repository_root() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .expect("bbws_guest_build::build runs in a build script (CARGO_MANIFEST_DIR is not set)");
    start
        .ancestors()
        .find(|dir| dir.join("guests").join("Cargo.toml").is_file())
        .unwrap_or_else(|| panic!("no guests/Cargo.toml above {}", start.display()))
        .to_path_buf()
}

/// The package name in a `Cargo.toml`'s `[package]` table.
fn package_name(manifest: &Path) -> String {
    let text = fs::read_to_string(manifest)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", manifest.display()));
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some(value) = line.strip_prefix("name")
            && let Some(value) = value.trim_start().strip_prefix('=')
        {
            return value.trim().trim_matches('"').to_string();
        }
    }
    panic!("{} names no [package]", manifest.display())
}

/// Fails early, and clearly, when rustup has not installed the target.
fn require_target() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    // Without a sysroot (an unusual rustc), let the build itself tell.
    if let Some(sysroot) = sysroot
        && !sysroot.join("lib").join("rustlib").join(TARGET).is_dir()
    {
        panic!("{}", missing_target());
    }
}

fn missing_target() -> String {
    format!("the {TARGET} target is missing: run `rustup target add {TARGET}`")
}

/// A `cargo build` for the guests, clean of what the outer cargo set for its
/// own build script: the guests have their own flags, profile and target
/// directory, and must not be linted by `cargo clippy` or wrapped by its
/// driver either.
fn cargo_build(target_dir: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    for (key, _) in std::env::vars_os() {
        if leaks_into_nested_cargo(&key) {
            cmd.env_remove(&key);
        }
    }
    cmd.args(["build", "--release", "--target", TARGET])
        .arg("--target-dir")
        .arg(target_dir);
    cmd
}

/// Variables a build script inherits that would change the nested build.
/// The jobserver (`CARGO_MAKEFLAGS`) stays, so the nested cargo shares the
/// outer one's job slots instead of oversubscribing the machine; `RUSTC`
/// stays, so both use the same compiler.
fn leaks_into_nested_cargo(key: &OsStr) -> bool {
    let Some(key) = key.to_str() else {
        return false;
    };
    const EXACT: &[&str] = &[
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTDOC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_LINKER",
        "CLIPPY_ARGS",
        "CLIPPY_CONF_DIR",
        "CARGO_INCREMENTAL",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_CRATE_NAME",
        "TARGET",
        "HOST",
        "OUT_DIR",
        "OPT_LEVEL",
        "PROFILE",
        "DEBUG",
        "NUM_JOBS",
    ];
    const PREFIXES: &[&str] = &[
        "CARGO_ENCODED_",
        "CARGO_BUILD_",
        "CARGO_PROFILE_",
        "CARGO_TARGET_", // CARGO_TARGET_DIR and CARGO_TARGET_<triple>_*
        "CARGO_CFG_",
        "CARGO_FEATURE_",
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "DEP_",
        "__CARGO_",
    ];
    EXACT.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p))
}

fn run(mut cargo: Command, what: &str) {
    let out = cargo
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the guests ({what}): {e}"));
    if out.status.success() {
        return;
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("target may not be installed")
        || stderr.contains("can't find crate for `core`")
    {
        panic!("{}", missing_target());
    }
    let mut message = format!("building the WebAssembly guests ({what}) failed:\n");
    let _ = write!(message, "{stderr}");
    panic!("{message}");
}

/// Asks cargo to rerun the build script when anything under `dir` changes,
/// except build output: a directory without a `target/` inside is watched
/// whole (cargo scans it recursively); one with a `target/` (an example
/// built in place) is watched file by file around it.
fn watch(dir: &Path) {
    if !contains_target(dir) {
        println!("cargo:rerun-if-changed={}", dir.display());
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if skipped(&path) {
            continue;
        }
        if path.is_dir() {
            watch(&path);
        } else {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

fn contains_target(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        path.is_dir()
            && (entry.file_name() == "target" || (!skipped(&path) && contains_target(&path)))
    })
}

/// Build output and hidden directories (`.git`, editors' state).
fn skipped(path: &Path) -> bool {
    path.file_name()
        .and_then(OsStr::to_str)
        .is_some_and(|name| name == "target" || name.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_package_name() {
        let dir = std::env::temp_dir().join(format!("bbws-guest-build-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let manifest = dir.join("Cargo.toml");
        fs::write(
            &manifest,
            "[workspace]\n\n[package]\nname = \"policy-x\"\nversion = \"0.1.0\"\n\n[lib]\nname = \"other\"\n",
        )
        .unwrap();
        assert_eq!(package_name(&manifest), "policy-x");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keeps_the_jobserver_and_drops_flags() {
        assert!(leaks_into_nested_cargo(OsStr::new("RUSTFLAGS")));
        assert!(leaks_into_nested_cargo(OsStr::new(
            "CARGO_ENCODED_RUSTFLAGS"
        )));
        assert!(leaks_into_nested_cargo(OsStr::new("CARGO_TARGET_DIR")));
        assert!(leaks_into_nested_cargo(OsStr::new(
            "CARGO_PROFILE_RELEASE_LTO"
        )));
        assert!(leaks_into_nested_cargo(OsStr::new(
            "RUSTC_WORKSPACE_WRAPPER"
        )));
        assert!(!leaks_into_nested_cargo(OsStr::new("CARGO_MAKEFLAGS")));
        assert!(!leaks_into_nested_cargo(OsStr::new("CARGO_HOME")));
        assert!(!leaks_into_nested_cargo(OsStr::new("PATH")));
    }
}
