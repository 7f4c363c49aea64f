//! The wasmtime engine's settings, in one place: [`EngineSettings::default`]
//! is what the process runs with, and [`new_engine`] turns settings into an
//! engine. The benchmarks (`host/benches/common`) start from the same
//! defaults and change only the settings they sweep, so a measured variant
//! differs from production in exactly what its name says. Also the epoch
//! ticker that gives deadlines their resolution.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::Limits;

/// The epoch ticker's period: the resolution of deadlines.
pub const TICK: Duration = Duration::from_millis(1);

/// How the engine is built. Each field is one wasmtime setting; `None`
/// leaves wasmtime's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineSettings {
    /// Component instances the pool holds at once (concurrent guest calls);
    /// the pool's core instances, memories and tables follow from it.
    pub pool_instances: u32,
    /// The pooling allocator; off, wasmtime allocates on demand.
    pub pooling: bool,
    /// The largest linear memory of any instance (the pool's slot size).
    pub max_memory_size: usize,
    /// Linear-memory bytes a reset slot keeps resident instead of
    /// returning them to the kernel.
    pub linear_memory_keep_resident: usize,
    /// Table bytes a reset slot keeps resident.
    pub table_keep_resident: usize,
    /// Reset a slot by the PAGEMAP_SCAN ioctl (Linux 6.7+): only the pages
    /// a guest dirtied are rewritten.
    pub pagemap_scan: bool,
    /// Slots decommitted together.
    pub decommit_batch_size: usize,
    /// Copy-on-write memory images.
    pub memory_init_cow: bool,
    /// Tables initialised when first used rather than at instantiation.
    pub table_lazy_init: bool,
    pub memory_reservation: Option<u64>,
    pub memory_guard_size: Option<u64>,
    /// Deadlines by epoch interruption (a guest call without it cannot be
    /// stopped).
    pub epoch_interruption: bool,
    /// The native stack a guest may use.
    pub max_wasm_stack: usize,
}

impl Default for EngineSettings {
    /// The settings the process runs with.
    fn default() -> Self {
        // Without the ioctl, keeping pages resident means a memset of all of
        // them per reset: slower than madvise. Only with it.
        let scan = PoolingAllocationConfig::is_pagemap_scan_available();
        Self {
            pool_instances: 256,
            pooling: true,
            max_memory_size: Limits::CEILING_MEMORY,
            // Resetting a slot for reuse dominated a decision (about 14 of
            // 19 us at p50, measured in host/benches/policy.rs): with the
            // pagemap scan only the pages a guest dirtied are reset, by
            // memset, up to 256 KiB kept resident, instead of an madvise of
            // the slot.
            linear_memory_keep_resident: if scan { 256 << 10 } else { 0 },
            table_keep_resident: 4 << 10,
            pagemap_scan: scan,
            decommit_batch_size: 1,
            // No copy-on-write images: each one holds a memfd, so a thousand
            // tenants' components held a thousand descriptors, and growing
            // the fd table stalled a first decision past its deadline
            // (measured in host/benches/rss.rs). With the pagemap reset the
            // cost at p50 is nil.
            memory_init_cow: false,
            table_lazy_init: true,
            memory_reservation: None,
            memory_guard_size: None,
            epoch_interruption: true,
            max_wasm_stack: 256 << 10,
        }
    }
}

impl EngineSettings {
    /// The settings of the engine large components run on (language
    /// runtimes: a componentize-py guest is an 18 MB component whose
    /// CPython heap, pre-initialised, is a 12 MB data image; a
    /// componentize-js one 12 MB, 9 MiB of memory). Measured in
    /// `cargo bench --bench policy` (the README's table):
    /// - copy-on-write images on: the image is mapped into a slot, not
    ///   copied: a Python decision 4.2-4.5x faster at p50, a JavaScript
    ///   one 1.2-1.3x (5.4x and 3.1x with nothing kept resident either);
    ///   there are few such components, so their memfds are few;
    /// - 4 MiB of a slot kept resident (with the pagemap scan): a reset
    ///   slot keeps the pages a guest dirtied instead of faulting them in
    ///   again: JavaScript 2.3x, Python 1.25x; at most 4 MiB a slot that
    ///   ran a large guest;
    /// - fewer, larger slots: 64, up to [`Limits::LARGE_CEILING_MEMORY`]
    ///   (a Python component is 14 core modules, each its own instances).
    pub fn large() -> Self {
        let base = Self::default();
        Self {
            pool_instances: 64,
            max_memory_size: Limits::LARGE_CEILING_MEMORY,
            memory_init_cow: true,
            linear_memory_keep_resident: if base.pagemap_scan { 4 << 20 } else { 0 },
            ..base
        }
    }
}

/// The wasmtime configuration for `settings`.
pub fn engine_config(settings: &EngineSettings) -> Config {
    let s = settings;
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        // No component-model async here: guest calls are short and
        // synchronous, and the async machinery costs per call.
        .concurrency_support(false)
        .epoch_interruption(s.epoch_interruption)
        .memory_init_cow(s.memory_init_cow)
        .table_lazy_init(s.table_lazy_init)
        .max_wasm_stack(s.max_wasm_stack);
    if s.pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(s.pool_instances)
            .total_core_instances(s.pool_instances * 4)
            .total_memories(s.pool_instances * 2)
            .total_tables(s.pool_instances * 4)
            .max_memory_size(s.max_memory_size)
            .table_elements(20_000)
            .linear_memory_keep_resident(s.linear_memory_keep_resident)
            .table_keep_resident(s.table_keep_resident)
            .decommit_batch_size(s.decommit_batch_size)
            .pagemap_scan(if s.pagemap_scan {
                Enabled::Yes
            } else {
                Enabled::No
            });
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    if let Some(bytes) = s.memory_reservation {
        config.memory_reservation(bytes);
    }
    if let Some(bytes) = s.memory_guard_size {
        config.memory_guard_size(bytes);
    }
    config
}

/// An engine built with `settings`.
pub fn new_engine(settings: &EngineSettings) -> anyhow::Result<Engine> {
    Engine::new(&engine_config(settings))
        .map_err(|e| anyhow::anyhow!("creating the wasmtime engine: {e:#}"))
}

/// Advances an engine's epoch every [`TICK`] on a thread of its own, until
/// dropped: what makes a guest's deadline fire.
pub struct EpochTicker {
    ticking: Arc<AtomicBool>,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> std::io::Result<Self> {
        let ticking = Arc::new(AtomicBool::new(true));
        let (engine, running) = (engine.clone(), ticking.clone());
        std::thread::Builder::new()
            .name("bbws-epoch".into())
            .spawn(move || {
                while running.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })?;
        Ok(Self { ticking })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.ticking.store(false, Ordering::Relaxed);
    }
}

/// The epoch deadline of a call given `deadline`: whole ticks, rounded
/// down, plus the one already under way.
pub fn epoch_ticks(deadline: Duration) -> u64 {
    deadline.as_millis().max(1) as u64 / TICK.as_millis() as u64 + 1
}
