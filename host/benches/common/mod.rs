//! A copy of the engine settings of `Runtime::new` (host/src/runtime/mod.rs)
//! with the knobs the benchmarks vary, so a proposed change can be measured
//! without touching the runtime. `Knobs::default()` is the runtime as it was
//! before commit 1b897f4 (the baseline of the figures); the runtime since is
//! `pagemap_scan + keep_resident 256 KiB` in the policy bench's sweep.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bbws_host::runtime::bindings::{Policy, PolicyPre, types};
use bbws_host::runtime::{HostState, Limits, RuntimeConfig, Scope};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
};

/// The engine settings under test.
#[derive(Clone, Copy, Debug)]
pub struct Knobs {
    pub memory_init_cow: bool,
    pub linear_memory_keep_resident: usize,
    pub table_keep_resident: usize,
    pub max_memory_size: usize,
    pub table_lazy_init: bool,
    pub decommit_batch_size: usize,
    pub memory_reservation: Option<u64>,
    pub memory_guard_size: Option<u64>,
    pub epoch_interruption: bool,
    pub limiter: bool,
    pub pooling: bool,
    pub pagemap_scan: bool,
}

impl Default for Knobs {
    /// `Runtime::new` before commit 1b897f4 (pool of 256 component
    /// instances; no pagemap scan, nothing kept resident): the baseline.
    fn default() -> Self {
        Self {
            memory_init_cow: true,
            linear_memory_keep_resident: 0,
            table_keep_resident: 0,
            max_memory_size: Limits::CEILING_MEMORY,
            table_lazy_init: true,
            decommit_batch_size: 1,
            memory_reservation: None,
            memory_guard_size: None,
            epoch_interruption: true,
            limiter: true,
            pooling: true,
            pagemap_scan: false,
        }
    }
}

impl Knobs {
    /// The change this benchmark proposes for `Runtime::new`: reset a used
    /// slot by rewriting only its dirty pages (found with the PAGEMAP_SCAN
    /// ioctl) and keep them resident, and no copy-on-write memory images
    /// (no memfd per component).
    #[allow(dead_code, reason = "used by one of the two bench targets")]
    pub fn proposed() -> Self {
        Self {
            memory_init_cow: false,
            pagemap_scan: true,
            linear_memory_keep_resident: 256 << 10,
            table_keep_resident: 4 << 10,
            ..Self::default()
        }
    }
}

/// An engine and linker set up as `Runtime::new` does, with an epoch ticker
/// like the runtime's (stopped on drop).
pub struct TestEngine {
    pub engine: Engine,
    linker: Linker<HostState>,
    knobs: Knobs,
    ticking: Arc<AtomicBool>,
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        self.ticking.store(false, Ordering::Relaxed);
    }
}

impl TestEngine {
    pub fn new(knobs: Knobs) -> wasmtime::Result<Self> {
        let instances = RuntimeConfig::default().pool_instances;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(instances)
            .total_core_instances(instances * 4)
            .total_memories(instances * 2)
            .total_tables(instances * 4)
            .max_memory_size(knobs.max_memory_size)
            .table_elements(20_000)
            .linear_memory_keep_resident(knobs.linear_memory_keep_resident)
            .table_keep_resident(knobs.table_keep_resident)
            .decommit_batch_size(knobs.decommit_batch_size)
            .pagemap_scan(if knobs.pagemap_scan {
                Enabled::Yes
            } else {
                Enabled::No
            });
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .concurrency_support(false)
            .epoch_interruption(knobs.epoch_interruption)
            .memory_init_cow(knobs.memory_init_cow)
            .table_lazy_init(knobs.table_lazy_init)
            .max_wasm_stack(256 << 10);
        if knobs.pooling {
            wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        if let Some(r) = knobs.memory_reservation {
            wasm.memory_reservation(r);
        }
        if let Some(g) = knobs.memory_guard_size {
            wasm.memory_guard_size(g);
        }
        let engine = Engine::new(&wasm)?;
        let mut linker = Linker::new(&engine);
        Policy::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        let ticking = Arc::new(AtomicBool::new(true));
        if knobs.epoch_interruption {
            let (engine, ticking) = (engine.clone(), ticking.clone());
            std::thread::spawn(move || {
                while ticking.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(1));
                    engine.increment_epoch();
                }
            });
        }
        Ok(Self {
            engine,
            linker,
            knobs,
            ticking,
        })
    }

    /// Compiles a policy component for this engine.
    pub fn prepare(&self, bytes: &[u8]) -> wasmtime::Result<PolicyPre<HostState>> {
        let component = Component::new(&self.engine, bytes)?;
        PolicyPre::new(self.linker.instantiate_pre(&component)?)
    }

    /// A store set up as `Runtime::authorize` sets it up.
    pub fn store(&self, scope: Arc<Scope>, limits: Limits) -> Store<HostState> {
        let mut store = Store::new(&self.engine, HostState::new(scope, limits));
        if self.knobs.limiter {
            store.limiter(|s| s as &mut dyn wasmtime::ResourceLimiter);
        }
        if self.knobs.epoch_interruption {
            store.set_epoch_deadline(limits.deadline.as_millis().max(1) as u64 + 1);
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
