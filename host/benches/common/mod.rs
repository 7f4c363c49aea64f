//! Engines for the benchmarks' variants. A variant is the runtime's own
//! [`EngineSettings`] (built by `bbws_host::runtime::engine`, linked by
//! `bbws_host::runtime::linker`, as `Runtime::new` builds them) with the
//! settings it sweeps overridden, and nothing restated; plus one knob of
//! the store, the resource limiter. [`Knobs::baseline`] is the runtime as
//! it was before commit 1b897f4 (the baseline of the figures); the runtime
//! since is `pagemap_scan + keep_resident 256 KiB` in the policy bench's
//! sweep.

use std::sync::Arc;

use bbws_host::runtime::bindings::{PolicyPre, types};
use bbws_host::runtime::engine::{self, EngineSettings, EpochTicker};
use bbws_host::runtime::{HostState, Limits, Scope};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

/// The settings under test.
#[derive(Clone, Copy, Debug)]
pub struct Knobs {
    pub engine: EngineSettings,
    /// The store's memory and table limiter.
    pub limiter: bool,
}

impl Knobs {
    /// `Runtime::new` before commit 1b897f4 (copy-on-write images; no
    /// pagemap scan, nothing kept resident): the baseline.
    pub fn baseline() -> Self {
        Self {
            engine: EngineSettings {
                memory_init_cow: true,
                pagemap_scan: false,
                linear_memory_keep_resident: 0,
                table_keep_resident: 0,
                ..EngineSettings::default()
            },
            limiter: true,
        }
    }

    /// The baseline with `change` made to its engine settings.
    pub fn with(change: impl FnOnce(&mut EngineSettings)) -> Self {
        let mut knobs = Self::baseline();
        change(&mut knobs.engine);
        knobs
    }

    /// The change this benchmark proposed for `Runtime::new`, and which it
    /// has made: reset a used slot by rewriting only its dirty pages (found
    /// with the PAGEMAP_SCAN ioctl) and keep them resident, and no
    /// copy-on-write memory images (no memfd per component).
    pub fn proposed() -> Self {
        Self::with(|e| {
            e.memory_init_cow = false;
            e.pagemap_scan = true;
            e.linear_memory_keep_resident = 256 << 10;
            e.table_keep_resident = 4 << 10;
        })
    }
}

/// An engine and linker built as `Runtime::new` builds them, with an epoch
/// ticker like the runtime's (stopped on drop).
pub struct TestEngine {
    pub engine: Engine,
    linker: Linker<HostState>,
    knobs: Knobs,
    _ticker: Option<EpochTicker>,
}

impl TestEngine {
    pub fn new(knobs: Knobs) -> anyhow::Result<Self> {
        let engine = engine::new_engine(&knobs.engine)?;
        let linker = bbws_host::runtime::linker(&engine)?;
        let ticker = if knobs.engine.epoch_interruption {
            Some(EpochTicker::start(&engine)?)
        } else {
            None
        };
        Ok(Self {
            engine,
            linker,
            knobs,
            _ticker: ticker,
        })
    }

    /// Compiles a policy component for this engine.
    pub fn prepare(&self, bytes: &[u8]) -> wasmtime::Result<PolicyPre<HostState>> {
        let component = Component::new(&self.engine, bytes)?;
        PolicyPre::new(self.linker.instantiate_pre(&component)?)
    }

    /// A store set up as `Runtime::authorize` sets it up, less what the
    /// knobs turn off.
    pub fn store(&self, scope: Arc<Scope>, limits: Limits) -> Store<HostState> {
        let state = HostState::new(scope, limits);
        if self.knobs.limiter && self.knobs.engine.epoch_interruption {
            return bbws_host::runtime::new_store(&self.engine, state);
        }
        let mut store = Store::new(&self.engine, state);
        if self.knobs.limiter {
            store.limiter(|s| s as &mut dyn wasmtime::ResourceLimiter);
        }
        if self.knobs.engine.epoch_interruption {
            store.set_epoch_deadline(engine::epoch_ticks(limits.deadline));
            store.epoch_deadline_trap();
        }
        store
    }

    /// One decision in a fresh instance, as `Runtime::authorize` runs it.
    pub fn decide(
        &self,
        pre: &PolicyPre<HostState>,
        req: &types::Request,
        scope: Arc<Scope>,
        limits: Limits,
    ) -> wasmtime::Result<types::Decision> {
        let mut store = self.store(scope, limits);
        let policy = pre.instantiate(&mut store)?;
        policy.call_authorize(&mut store, req)
    }
}

/// VmRSS of this process, in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}
