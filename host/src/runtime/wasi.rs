//! WASI for guests, granting nothing: what a component built by
//! componentize-py, componentize-js or Rust's `std` imports, answered so
//! that a call depends only on its recorded input.
//!
//! | interface (`wasi:*@0.2.x`) | what the guest gets |
//! | --- | --- |
//! | `clocks/wall-clock` | the decision's `nowMs`, the same at every read |
//! | `clocks/monotonic-clock` | `nowMs` as nanoseconds, not advancing; a sleep returns at once |
//! | `random/*` | a stream seeded from the decision id (ChaCha, `StdRng`) |
//! | `cli/stdin` | empty |
//! | `cli/stdout`, `cli/stderr` | into the host's log, tagged with the tenant and component, within the call's line limits |
//! | `cli/environment` | no variables, no arguments, no working directory |
//! | `cli/exit` | ends the call: it fails (a trap) |
//! | `cli/terminal-*` | not a terminal |
//! | `filesystem/*` | no preopened directory: nothing to open |
//! | `sockets/*` | linked, and every use refused (no TCP, UDP or name lookup, no address allowed) |
//! | `io/*` | the streams and pollables of the above |
//!
//! Anything else of `wasi:` (`wasi:http` first of all) is refused at upload.
//! A guest's WASI state is built at its first WASI call, so a guest that
//! imports none (the SDK's `no_std` guests) pays nothing for it.

use std::time::Duration;

use rand_wasi::SeedableRng as _;
use sha2::Digest as _;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

use super::HostState;

/// What makes a call's WASI answers a function of its input: the time it
/// reads and the seed of its random bytes (the SHA-256 of what it is
/// seeded from).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Determinism {
    /// The wall clock, in milliseconds since the Unix epoch.
    pub now_ms: u64,
    seed: Seed,
}

/// What a seed is made from: short input kept as it is, hashed only when
/// a guest first calls WASI (most guests never do, and a decision is a few
/// microseconds: the hash would be a measurable share of it); longer input
/// hashed at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seed {
    Raw { len: u8, bytes: [u8; 32] },
    Hashed([u8; 32]),
}

impl Determinism {
    /// A decision's: its time, and a seed from its id (so a replay of the
    /// decision reads the same clock and the same random bytes).
    pub fn for_decision(decision_id: &str, now_ms: u64) -> Self {
        Self::seeded(decision_id.as_bytes(), now_ms)
    }

    /// Seeded from `input` (a decision id; an event filter's event id):
    /// the same input gets the same bytes.
    pub fn seeded(input: &[u8], now_ms: u64) -> Self {
        let seed = if input.len() <= 32 {
            let mut bytes = [0; 32];
            bytes[..input.len()].copy_from_slice(input);
            Seed::Raw {
                len: input.len() as u8,
                bytes,
            }
        } else {
            Seed::Hashed(sha2::Sha256::digest(input).into())
        };
        Self { now_ms, seed }
    }

    /// The seed of `wasi:random`: the SHA-256 of the input.
    pub fn seed(&self) -> [u8; 32] {
        match self.seed {
            Seed::Raw { len, bytes } => sha2::Sha256::digest(&bytes[..len as usize]).into(),
            Seed::Hashed(hash) => hash,
        }
    }
}

impl Default for Determinism {
    /// The Unix epoch, seeded from nothing.
    fn default() -> Self {
        Self::seeded(&[], 0)
    }
}

/// A guest's WASI state for one call.
pub struct GuestWasi {
    ctx: WasiCtx,
    table: ResourceTable,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

/// A clock that reads the same instant every time.
struct Pinned(Duration);

impl HostWallClock for Pinned {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

impl HostMonotonicClock for Pinned {
    fn resolution(&self) -> u64 {
        1_000_000
    }
    fn now(&self) -> u64 {
        self.0.as_nanos() as u64
    }
}

impl GuestWasi {
    /// A context granting nothing, its clocks and random from
    /// `determinism`, its output captured up to `output_bytes` a stream.
    pub fn new(determinism: Determinism, output_bytes: usize) -> Self {
        let stdout = MemoryOutputPipe::new(output_bytes);
        let stderr = MemoryOutputPipe::new(output_bytes);
        let now = Duration::from_millis(determinism.now_ms);
        let seed = determinism.seed();
        let insecure_seed = u128::from_le_bytes(seed[..16].try_into().expect("16 bytes"));
        let ctx = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(Pinned(now))
            .monotonic_clock(Pinned(now))
            .secure_random(rand_wasi::rngs::StdRng::from_seed(seed))
            .insecure_random(rand_wasi::rngs::StdRng::from_seed(seed))
            .insecure_random_seed(insecure_seed)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            ctx,
            table: ResourceTable::new(),
            stdout,
            stderr,
        }
    }

    /// What the guest wrote to stdout and stderr.
    pub fn output(&self) -> (bytes::Bytes, bytes::Bytes) {
        (self.stdout.contents(), self.stderr.contents())
    }
}

impl wasmtime_wasi::WasiView for HostState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        let (determinism, output) = (self.determinism, self.limits.output_bytes);
        let wasi = self
            .wasi
            .get_or_insert_with(|| Box::new(GuestWasi::new(determinism, output)));
        wasmtime_wasi::WasiCtxView {
            ctx: &mut wasi.ctx,
            table: &mut wasi.table,
        }
    }
}

/// Adds the WASI 0.2 interfaces to `linker` (synchronous: guest calls run
/// on blocking threads), with the monotonic clock's two `subscribe`
/// functions replaced: wasmtime-wasi's wait in real time inside the host
/// call, where a guest's deadline cannot stop them (a `sleep(3600)` would
/// hold a guest thread for an hour). On a clock that does not advance,
/// every wait is over at once.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap("subscribe-duration", ready_now)?;
    clock.func_wrap("subscribe-instant", ready_now)?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The monotonic clock as wasmtime-wasi names it (components importing an
/// earlier 0.2 patch are matched to it by the linker).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// A pollable that is ready.
struct Ready;

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi::p2::Pollable for Ready {
    async fn ready(&mut self) {}
}

/// `subscribe-duration` and `subscribe-instant`: a pollable already ready.
fn ready_now(
    mut store: wasmtime::StoreContextMut<'_, HostState>,
    _when: (u64,),
) -> wasmtime::Result<(wasmtime::component::Resource<wasmtime_wasi::p2::DynPollable>,)> {
    let view = wasmtime_wasi::WasiView::ctx(store.data_mut());
    let ready = view.table.push(Ready)?;
    Ok((wasmtime_wasi::p2::subscribe(view.table, ready)?,))
}

/// The `wasi:` packages a component may import, and the versions: 0.2.x,
/// any patch (as wasmtime's linker matches them). `None` when it is not
/// WASI at all.
pub fn import_allowed(name: &str) -> Option<bool> {
    let rest = name.strip_prefix("wasi:")?;
    let (path, version) = rest.split_once('@').unwrap_or((rest, ""));
    let package = path.split('/').next().unwrap_or(path);
    let allowed = ["io", "clocks", "random", "cli", "filesystem", "sockets"].contains(&package);
    let semver = version.split('.').take(2).eq(["0", "2"]) && version.split('.').count() == 3;
    Some(allowed && semver)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasi_imports_match_by_package_and_semver() {
        for ok in [
            "wasi:io/poll@0.2.6",
            "wasi:clocks/wall-clock@0.2.12",
            "wasi:random/random@0.2.9",
            "wasi:cli/stdout@0.2.0",
            "wasi:filesystem/preopens@0.2.9",
            "wasi:sockets/tcp@0.2.9",
        ] {
            assert_eq!(import_allowed(ok), Some(true), "{ok}");
        }
        for refused in [
            "wasi:http/outgoing-handler@0.2.10",
            "wasi:keyvalue/store@0.2.0",
            "wasi:io/poll@0.3.0",
            "wasi:io/poll@1.2.0",
            "wasi:io/poll",
        ] {
            assert_eq!(import_allowed(refused), Some(false), "{refused}");
        }
        assert_eq!(import_allowed("bbws:platform/log@0.1.0"), None);
    }

    #[test]
    fn a_decision_seed_is_its_id_and_differs_between_ids() {
        let a = Determinism::for_decision("dec_a", 5);
        assert_eq!(a.seed(), Determinism::for_decision("dec_a", 5).seed());
        assert_eq!(a.seed(), <[u8; 32]>::from(sha2::Sha256::digest(b"dec_a")));
        assert_ne!(a.seed(), Determinism::for_decision("dec_b", 5).seed());
        let long = [7u8; 40];
        assert_eq!(
            Determinism::seeded(&long, 0).seed(),
            <[u8; 32]>::from(sha2::Sha256::digest(long))
        );
    }
}
