//! The WebAssembly runtime: one wasmtime [`Engine`] for the process, a
//! content-addressed cache of compiled components, and the sandbox every
//! guest call runs in. Nothing here knows a world: each world's bindings
//! and calls are in `worlds/`, the host interfaces guests import in
//! `host/`, the shared generated types in [`bindings`].
//!
//! - The engine ([`engine`]) uses the pooling allocator (slots reset by a
//!   pagemap scan where the kernel has it) and epoch interruption driven by
//!   a 1 ms ticker thread, so a fresh, isolated instance per call costs
//!   microseconds and a runaway guest is stopped at its deadline.
//!   Copy-on-write memory images are off on purpose (see
//!   [`EngineSettings::default`]).
//! - One linker serves every world: it holds the host interfaces, and a
//!   component imports the part its world allows (checked at upload,
//!   [`Runtime::validate`]).
//! - Components are named by the sha256 of their bytes. Each is compiled
//!   once and kept in an LRU bounded by the bytes of compiled code, linked for its world (a policy, a
//!   template, an event filter or the platform's event gate; `WorldPre`);
//!   its precompiled artifact is stored in the blob store keyed by hash and
//!   engine fingerprint, with the artifact's own sha256 beside it: a
//!   restart does not recompile, and an artifact that is corrupt or from
//!   another engine is recompiled, never trusted.
//! - Every call runs under [`Limits`]: deadline, memory, tables, instances,
//!   output size and host-call budget. A failure is a [`GuestError`]; the
//!   caller fails closed.

/// Implements [`WorldPre`] for a world's pre-instantiated form `$pre`,
/// held in the cache as `Prepared::$variant`. Defined before the modules,
/// so that each world's file can use it.
macro_rules! world_pre {
    ($pre:ident, $variant:ident) => {
        impl $crate::runtime::WorldPre for $pre<$crate::runtime::HostState> {
            fn new(
                pre: wasmtime::component::InstancePre<$crate::runtime::HostState>,
            ) -> wasmtime::Result<Self> {
                $pre::new(pre)
            }
            fn from_prepared(prepared: &$crate::runtime::Prepared) -> Option<&Self> {
                match prepared {
                    $crate::runtime::Prepared::$variant(pre) => Some(pre),
                    _ => None,
                }
            }
            fn into_prepared(self) -> $crate::runtime::Prepared {
                $crate::runtime::Prepared::$variant(self)
            }
        }
    };
}

pub mod bindings;
pub mod engine;
pub mod host;
pub mod limits;
pub mod pool;
mod validate;
pub mod wasi;
pub mod worlds;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sha2::Digest as _;
use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::{Engine, Store, Trap};

use crate::blobs::BlobStore;
use bindings::{EventFilterPre, EventGatePre, Interfaces, PolicyPre, TemplatePre};
pub use engine::{EngineSettings, EpochTicker};
pub use host::{HostState, Looked, Lookups, Origin, Scope, ScopeInstance, ScopeSite, ScopeTenant};
pub use limits::{Limits, MAX_COMPONENT_BYTES};
pub use validate::{ComponentInfo, Invalid, Kind};
pub use worlds::event_filter::{EcsEvent, FilterOutcome};
pub use worlds::event_gate::{DEFAULT_EVENT_FILTER, GateBatch, GateInput};

/// Why a guest call failed. Every variant fails closed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum GuestError {
    #[error("the guest ran past its {0:?} deadline")]
    Timeout(Duration),
    #[error("the guest exceeded its {0} limit")]
    Limit(&'static str),
    #[error("the guest exhausted its host-call budget of {0}")]
    HostCalls(u32),
    #[error("the guest's output of {size} bytes exceeds the {limit}-byte limit")]
    OutputTooLarge { size: usize, limit: usize },
    #[error("the guest trapped: {0}")]
    Trap(String),
    #[error("the component could not be loaded: {0}")]
    Load(String),
    /// It answered, but not in the shape its world promises (the gate: an
    /// outcome per event).
    #[error("the guest broke its contract: {0}")]
    Contract(String),
    /// No guest slot was free before the request's guest budget ran out
    /// (the tenant's share of the pool was busy).
    #[error("no guest slot was free within the request's guest budget")]
    Busy,
    /// The request had spent its guest budget before this call.
    #[error("the request spent its guest budget of {0:?}")]
    Budget(Duration),
}

impl GuestError {
    /// A stable code for logs, the decision log and API errors.
    pub fn code(&self) -> &'static str {
        match self {
            GuestError::Timeout(_) => "guest_timeout",
            GuestError::Limit(_) => "guest_limit",
            GuestError::HostCalls(_) => "guest_host_calls",
            GuestError::OutputTooLarge { .. } => "guest_output_too_large",
            GuestError::Trap(_) => "guest_trap",
            GuestError::Load(_) => "guest_load",
            GuestError::Contract(_) => "guest_contract",
            GuestError::Busy => "guest_busy",
            GuestError::Budget(_) => "guest_budget",
        }
    }
}

/// How the runtime is set up.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Bytes of compiled code kept in memory (the cache of compiled
    /// components, least recently used out first; the newest always stays).
    pub cache_bytes: usize,
    /// The engine's settings: where components up to
    /// [`LARGE_COMPONENT_BYTES`] run.
    pub engine: EngineSettings,
    /// The engine of larger components (language runtimes: CPython,
    /// StarlingMonkey), [`EngineSettings::large`].
    pub large_engine: EngineSettings,
    /// Blocking slots tenant guests run in at once ([`pool::GuestPool`]);
    /// one per core by default.
    pub guest_slots: usize,
    /// The guest time one request may spend ([`pool::Budget`]).
    pub request_budget: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_bytes: 256 << 20,
            engine: EngineSettings::default(),
            large_engine: EngineSettings::large(),
            guest_slots: std::thread::available_parallelism().map_or(2, usize::from),
            request_budget: pool::REQUEST_GUEST_BUDGET,
        }
    }
}

/// Components larger than this run on the large engine: a language
/// runtime's image (12-18 MB for CPython or StarlingMonkey) is mapped
/// copy-on-write there instead of copied into every instance.
pub const LARGE_COMPONENT_BYTES: usize = 1 << 20;

/// One engine, its linker and its ticker: where a class of components runs.
struct Lane {
    engine: Engine,
    linker: Linker<HostState>,
    /// Identifies the engine's compilation settings (artifacts are keyed by it).
    fingerprint: String,
    /// The pool's slot size: no call's memory limit goes past it.
    max_memory: usize,
    _ticker: EpochTicker,
}

impl Lane {
    fn new(settings: &EngineSettings) -> anyhow::Result<Self> {
        let engine = engine::new_engine(settings)?;
        let linker = linker(&engine)?;
        let fingerprint = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            engine.precompile_compatibility_hash().hash(&mut h);
            format!("{:016x}", h.finish())
        };
        let ticker = EpochTicker::start(&engine)?;
        Ok(Self {
            engine,
            linker,
            fingerprint,
            max_memory: settings.max_memory_size,
            _ticker: ticker,
        })
    }

    fn artifact_key(&self, hash: &str) -> String {
        format!("artifacts/{}/{hash}.cwasm", self.fingerprint)
    }
}

/// The process's WebAssembly runtime.
pub struct Runtime {
    /// Components up to [`LARGE_COMPONENT_BYTES`].
    small: Lane,
    /// Larger components.
    large: Lane,
    compiled: Mutex<Compiled>,
    blobs: Arc<dyn BlobStore>,
    stats: Stats,
    pool: pool::GuestPool,
    request_budget: Duration,
}

/// The cache of compiled components, bounded by the bytes of their code.
struct Compiled {
    entries: lru::LruCache<String, (Prepared, usize)>,
    bytes: usize,
    limit: usize,
}

impl Compiled {
    fn new(limit: usize) -> Self {
        Self {
            entries: lru::LruCache::unbounded(),
            bytes: 0,
            limit,
        }
    }

    fn get(&mut self, hash: &str) -> Option<&Prepared> {
        self.entries.get(hash).map(|(p, _)| p)
    }

    /// Keeps `prepared`, then drops the least recently used entries while
    /// the code kept is over the limit (never the one just put).
    fn put(&mut self, hash: String, prepared: Prepared) {
        let range = prepared.instance_pre().component().image_range();
        let size = (range.end as usize).saturating_sub(range.start as usize);
        if let Some((_, old)) = self.entries.put(hash, (prepared, size)) {
            self.bytes -= old;
        }
        self.bytes += size;
        while self.bytes > self.limit && self.entries.len() > 1 {
            if let Some((_, (_, size))) = self.entries.pop_lru() {
                self.bytes -= size;
            }
        }
    }
}

/// What the compiled cache holds now (for `/metrics`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheFigures {
    pub entries: usize,
    pub bytes: usize,
    pub limit_bytes: usize,
}

/// A compiled component in the cache: linked, with its world's exports
/// looked up, so a call only instantiates.
#[derive(Clone)]
pub(crate) enum Prepared {
    Policy(PolicyPre<HostState>),
    Template(TemplatePre<HostState>),
    EventFilter(EventFilterPre<HostState>),
    EventGate(EventGatePre<HostState>),
}

impl Prepared {
    fn instance_pre(&self) -> &InstancePre<HostState> {
        match self {
            Prepared::Policy(pre) => pre.instance_pre(),
            Prepared::Template(pre) => pre.instance_pre(),
            Prepared::EventFilter(pre) => pre.instance_pre(),
            Prepared::EventGate(pre) => pre.instance_pre(),
        }
    }
}

/// A world's pre-instantiated form (`PolicyPre`, `TemplatePre`,
/// `EventFilterPre`, `EventGatePre`), as the cache holds it; each world's
/// file implements it with `world_pre!`.
pub(crate) trait WorldPre: Clone + Sized {
    /// Looks up the world's exports in a linked component.
    fn new(pre: InstancePre<HostState>) -> wasmtime::Result<Self>;
    /// This world's form, if the cache entry is of this world.
    fn from_prepared(prepared: &Prepared) -> Option<&Self>;
    fn into_prepared(self) -> Prepared;
}

/// The linker every world's components are instantiated with: all the host
/// interfaces, implemented by [`HostState`].
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    Interfaces::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
        .map_err(|e| anyhow::anyhow!("linking the host interfaces: {e:#}"))?;
    wasi::add_to_linker(&mut linker).map_err(|e| anyhow::anyhow!("linking WASI: {e:#}"))?;
    Ok(linker)
}

/// A store for one guest call, as every call gets it: `state`, the memory
/// and table limiter, and the deadline as an epoch count.
pub fn new_store(engine: &Engine, state: HostState) -> Store<HostState> {
    let deadline = state.limits.deadline;
    let mut store = Store::new(engine, state);
    store.limiter(|s| s as &mut dyn wasmtime::ResourceLimiter);
    store.set_epoch_deadline(engine::epoch_ticks(deadline));
    store.epoch_deadline_trap();
    store
}

/// What the runtime did since it started (for tests and metrics).
#[derive(Debug, Default)]
pub struct Stats {
    /// Components compiled from their bytes.
    pub compiled: AtomicU64,
    /// Components loaded from a stored precompiled artifact.
    pub artifacts_loaded: AtomicU64,
    /// Stored artifacts refused (corrupt or of another engine).
    pub artifacts_rejected: AtomicU64,
}

/// The sha256 of some bytes, hex: a component's name.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

impl Runtime {
    pub fn new(config: RuntimeConfig, blobs: Arc<dyn BlobStore>) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            small: Lane::new(&config.engine)?,
            large: Lane::new(&config.large_engine)?,
            compiled: Mutex::new(Compiled::new(config.cache_bytes)),
            blobs,
            stats: Stats::default(),
            pool: pool::GuestPool::new(config.guest_slots),
            request_budget: config.request_budget,
        }))
    }

    /// Identifies the (small components') engine's compilation settings
    /// (artifacts are keyed by it).
    pub fn fingerprint(&self) -> &str {
        &self.small.fingerprint
    }

    /// The lane a component of `size` bytes runs in.
    fn lane(&self, size: usize) -> &Lane {
        if size > LARGE_COMPONENT_BYTES {
            &self.large
        } else {
            &self.small
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Where tenant guests run (off the async threads).
    pub fn pool(&self) -> &pool::GuestPool {
        &self.pool
    }

    /// The guest time one request may spend.
    pub fn request_budget(&self) -> Duration {
        self.request_budget
    }

    /// The compiled cache's entries and bytes.
    pub fn cache_figures(&self) -> CacheFigures {
        let c = self.compiled.lock();
        CacheFigures {
            entries: c.entries.len(),
            bytes: c.bytes,
            limit_bytes: c.limit,
        }
    }

    /// The engine of small components (the platform's and the SDK's).
    pub fn engine(&self) -> &Engine {
        &self.small.engine
    }

    /// The cache entry for `hash` as world `W`: as it is, or (for a
    /// component cached for another world) re-wrapped, which fails when the
    /// component lacks `W`'s exports.
    fn cached_as<W: WorldPre>(&self, hash: &str) -> Option<Result<W, GuestError>> {
        let mut cache = self.compiled.lock();
        let entry = cache.get(hash)?;
        if let Some(pre) = W::from_prepared(entry) {
            return Some(Ok(pre.clone()));
        }
        let linked = entry.instance_pre().clone();
        drop(cache);
        Some(W::new(linked).map_err(load_error))
    }

    /// The compiled component for `hash`, linked for world `W`: from
    /// memory, else from its stored artifact, else compiled from `bytes`
    /// (and its artifact stored).
    async fn prepare_as<W: WorldPre>(&self, hash: &str, bytes: &[u8]) -> Result<W, GuestError> {
        if let Some(pre) = self.cached_as(hash) {
            return pre;
        }
        let lane = self.lane(bytes.len());
        let component = match self.load_artifact(lane, hash).await {
            Some(c) => c,
            None => self.compile_and_store(lane, hash, bytes).await?,
        };
        let component = warmed(component).await?;
        let pre: W = world_pre(lane, &component).map_err(load_error)?;
        self.compiled
            .lock()
            .put(hash.to_string(), pre.clone().into_prepared());
        Ok(pre)
    }

    async fn compile_and_store(
        &self,
        lane: &Lane,
        hash: &str,
        bytes: &[u8],
    ) -> Result<Component, GuestError> {
        self.stats.compiled.fetch_add(1, Ordering::Relaxed);
        let engine = lane.engine.clone();
        let owned = bytes.to_vec();
        let artifact = tokio::task::spawn_blocking(move || engine.precompile_component(&owned))
            .await
            .map_err(|e| GuestError::Load(e.to_string()))?
            .map_err(|e| GuestError::Load(format!("{e:#}")))?;
        let key = lane.artifact_key(hash);
        let digest = content_hash(&artifact);
        // The digest is written last: an artifact without one is never used.
        if let Err(e) = async {
            self.blobs.put(&key, &artifact).await?;
            self.blobs
                .put(&format!("{key}.sha256"), digest.as_bytes())
                .await
        }
        .await
        {
            tracing::warn!(error = %e, component = %hash, "could not store a precompiled artifact");
        }
        deserialize(lane, &artifact).map_err(|e| GuestError::Load(format!("{e:#}")))
    }

    /// The stored artifact for `hash`, if present, intact and of this engine.
    async fn load_artifact(&self, lane: &Lane, hash: &str) -> Option<Component> {
        let key = lane.artifact_key(hash);
        let digest = self.blobs.get(&format!("{key}.sha256")).await.ok()??;
        let artifact = self.blobs.get(&key).await.ok()??;
        if content_hash(&artifact).as_bytes() != digest.as_slice() {
            self.stats
                .artifacts_rejected
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(component = %hash, "a precompiled artifact is corrupt; recompiling");
            return None;
        }
        match deserialize(lane, &artifact) {
            Ok(c) => {
                self.stats.artifacts_loaded.fetch_add(1, Ordering::Relaxed);
                Some(c)
            }
            Err(e) => {
                self.stats
                    .artifacts_rejected
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(component = %hash, error = %e, "a precompiled artifact does not fit this engine; recompiling");
                None
            }
        }
    }

    /// A store for one call of this runtime's small guests ([`new_store`]).
    pub fn new_store(&self, scope: Arc<Scope>, limits: Limits) -> Store<HostState> {
        new_store(&self.small.engine, HostState::new(scope, limits))
    }

    /// Runs `call` (which instantiates and calls a guest) in a fresh store
    /// under `limits`: memory and table limiter, epoch deadline, host-call
    /// budget; its log lines tagged with `origin` and `world`; a failure is classified into a [`GuestError`]. What the guest
    /// looked up is added to `lookups`, whether or not the call succeeded.
    /// Its WASI reads the clock and random of `determinism`, and what it
    /// writes to stdout and stderr reaches the host's log.
    /// `engine` is the one `call`'s component was compiled by; the memory
    /// limit is cut to that engine's slot.
    #[allow(clippy::too_many_arguments)]
    fn sandboxed<R>(
        &self,
        engine: &Engine,
        scope: Arc<Scope>,
        limits: Limits,
        determinism: wasi::Determinism,
        origin: &Arc<Origin>,
        world: &'static str,
        lookups: &mut Lookups,
        call: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, GuestError> {
        let lane = if Engine::same(engine, &self.large.engine) {
            &self.large
        } else {
            &self.small
        };
        let limits = Limits {
            memory_bytes: limits.memory_bytes.min(lane.max_memory),
            ..limits
        };
        let mut store = new_store(&lane.engine, HostState::new(scope, limits));
        let state = store.data_mut();
        state.origin = Some((origin.clone(), world));
        state.determinism = determinism;
        let started = Instant::now();
        let result = call(&mut store).map_err(|e| classify(e, &store, started));
        let state = store.data_mut();
        state.log_output();
        lookups.absorb(std::mem::take(&mut state.lookups));
        result
    }

    /// Checks uploaded bytes: a component of at most `max_bytes`, of
    /// `kind`'s world, importing only what that world allows. Compiles it
    /// (and keeps it) when it passes.
    pub async fn validate(
        &self,
        kind: Kind,
        bytes: &[u8],
        max_bytes: usize,
    ) -> Result<ComponentInfo, Invalid> {
        validate::check_header(bytes, max_bytes)?;
        let lane = self.lane(bytes.len());
        let engine = lane.engine.clone();
        let owned = bytes.to_vec();
        let component = tokio::task::spawn_blocking(move || {
            let component = Component::new(&engine, &owned)?;
            component.initialize_copy_on_write_image()?;
            Ok::<_, wasmtime::Error>(component)
        })
        .await
        .map_err(|e| Invalid::Malformed(e.to_string()))?
        .map_err(|e| Invalid::Malformed(format!("{e:#}")))?;
        let info = validate::inspect(&lane.engine, &component, kind, bytes)?;
        let prepared = match kind {
            Kind::Policy => {
                world_pre::<PolicyPre<_>>(lane, &component).map(WorldPre::into_prepared)
            }
            Kind::Template => {
                world_pre::<TemplatePre<_>>(lane, &component).map(WorldPre::into_prepared)
            }
            Kind::EventFilter => {
                world_pre::<EventFilterPre<_>>(lane, &component).map(WorldPre::into_prepared)
            }
        };
        let prepared = prepared.map_err(|e| Invalid::WrongWorld(format!("{e:#}")))?;
        self.compiled.lock().put(info.hash.clone(), prepared);
        Ok(info)
    }
}

/// `component` with its copy-on-write images made (a no-op on the small
/// engine, which has none). wasmtime would make them at the first
/// instantiation, inside the first call's deadline: for CPython's 12 MB
/// heap that is milliseconds, most of a standard tier's 10 ms.
async fn warmed(component: Component) -> Result<Component, GuestError> {
    tokio::task::spawn_blocking(move || {
        component.initialize_copy_on_write_image()?;
        Ok::<_, wasmtime::Error>(component)
    })
    .await
    .map_err(|e| GuestError::Load(e.to_string()))?
    .map_err(load_error)
}

fn world_pre<W: WorldPre>(lane: &Lane, component: &Component) -> wasmtime::Result<W> {
    W::new(lane.linker.instantiate_pre(component)?)
}

#[allow(unsafe_code)]
fn deserialize(lane: &Lane, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: wasmtime requires that deserialized bytes come from
    // `precompile_component` of a compatible engine; it checks the engine
    // compatibility itself, and callers pass only bytes this runtime
    // produced in this call or whose sha256 matches the digest written
    // beside them when they were produced.
    unsafe { Component::deserialize(&lane.engine, artifact) }
}

fn load_error(e: wasmtime::Error) -> GuestError {
    GuestError::Load(format!("{e:#}"))
}

/// Refuses an output of `size` bytes over `limit`.
pub(crate) fn check_output(size: usize, limit: usize) -> Result<(), GuestError> {
    if size > limit {
        return Err(GuestError::OutputTooLarge { size, limit });
    }
    Ok(())
}

fn classify(e: wasmtime::Error, store: &Store<HostState>, started: Instant) -> GuestError {
    if let Some(what) = store.data().limit_hit {
        return GuestError::Limit(what);
    }
    if store.data().host_calls > store.data().limits.host_calls {
        return GuestError::HostCalls(store.data().limits.host_calls);
    }
    if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        tracing::debug!(elapsed = ?started.elapsed(), "guest interrupted at its deadline");
        return GuestError::Timeout(store.data().limits.deadline);
    }
    let mut text = format!("{e:#}");
    text.truncate(text.floor_char_boundary(500));
    GuestError::Trap(text)
}
