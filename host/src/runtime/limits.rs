//! The hard limits every guest call runs under, per tenant tier.

use std::time::Duration;

use serde::Serialize;

use crate::domain::Tier;

/// The largest component any tier accepts (the upload's body limit).
pub const MAX_COMPONENT_BYTES: usize = 64 << 20;

/// Limits of one guest call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Wall-clock time for instantiation and the call.
    #[serde(with = "millis")]
    pub deadline: Duration,
    /// Linear memory, all memories together.
    pub memory_bytes: usize,
    /// Table elements, all tables together.
    pub table_elements: usize,
    /// Core instances a component may create.
    pub instances: usize,
    /// Bytes of output (a decision's reason; a template's schema or
    /// parameter errors).
    pub output_bytes: usize,
    /// Bytes of a template's plan: every string of its operations together
    /// (pages carry their content, so plans are larger than reasons).
    pub plan_bytes: usize,
    /// Calls into the host per guest call (`bbws:platform`'s; WASI calls
    /// are bounded by the deadline).
    pub host_calls: u32,
    /// The largest component the tenant may upload.
    pub component_bytes: usize,
}

mod millis {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline: Duration::from_millis(10),
            memory_bytes: 16 << 20,
            table_elements: 10_000,
            instances: 16,
            output_bytes: 64 << 10,
            plan_bytes: 256 << 10,
            host_calls: 1_000,
            component_bytes: 32 << 20,
        }
    }
}

impl Limits {
    /// The limits for a tier. Larger plans get more room; the pool's
    /// per-instance memory ceiling bounds all ([`Limits::CEILING_MEMORY`]
    /// for small components, [`Limits::LARGE_CEILING_MEMORY`] for large
    /// ones). Python and JavaScript guests (18 and 12 MB, 12 and 9 MiB of
    /// memory) fit from the standard tier up; the free tier takes the
    /// small Rust guests the SDK builds.
    pub fn for_tier(tier: Tier) -> Self {
        let base = Self::default();
        match tier {
            Tier::Free => Self {
                deadline: Duration::from_millis(5),
                memory_bytes: 8 << 20,
                host_calls: 200,
                component_bytes: 8 << 20,
                ..base
            },
            Tier::Standard => base,
            Tier::Premium | Tier::Enterprise => Self {
                deadline: Duration::from_millis(25),
                memory_bytes: 64 << 20,
                host_calls: 5_000,
                component_bytes: MAX_COMPONENT_BYTES,
                ..base
            },
        }
    }

    /// The limits of the platform's own guests (the RBAC policy, the event
    /// gate): not tenant code, so not a tenant tier's. They take
    /// microseconds; the deadline is a backstop that a busy machine's
    /// scheduling cannot reach, so the platform never denies a request
    /// because a thread waited for a core.
    pub fn platform() -> Self {
        Self {
            deadline: Duration::from_millis(250),
            ..Self::default()
        }
    }

    /// The most memory a small guest instance may have (the small engine's
    /// slot size).
    pub const CEILING_MEMORY: usize = 32 << 20;

    /// The most memory a large guest instance may have (the large engine's
    /// slot size, [`super::EngineSettings::large`]).
    pub const LARGE_CEILING_MEMORY: usize = 128 << 20;
}
