//! Where tenant guests run: never on the async threads that answer
//! requests, but on blocking threads, at most [`GuestPool::slots`] at once
//! (one per core), with a share per tenant so that one tenant's slow guests
//! leave slots for the others. A request's guest calls together stay
//! within its [`Budget`]: waiting for a slot counts, running counts, and
//! each call's deadline is cut to what is left.
//!
//! The platform's own guests (the RBAC policy, the event gate) are not
//! tenant code: they take microseconds and run inline.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{GuestError, Limits};

/// The guest time one request may spend by default, all its tenant guest
/// calls together (waits for a slot included).
pub const REQUEST_GUEST_BUDGET: Duration = Duration::from_millis(100);

tokio::task_local! {
    /// The budget of the request being answered (set by the API's layer).
    static REQUEST_BUDGET: Arc<Budget>;
}

/// Guest time left to one request (or one job step, one event batch).
#[derive(Debug)]
pub struct Budget {
    total: Duration,
    spent_us: AtomicU64,
}

impl Budget {
    pub fn new(total: Duration) -> Arc<Self> {
        Arc::new(Self {
            total,
            spent_us: AtomicU64::new(0),
        })
    }

    /// The budget of the current request, or a fresh one of `fresh`
    /// outside a request (a job, the event consumer): each such caller
    /// then gets a budget per decision.
    pub fn current_or(fresh: Duration) -> Arc<Self> {
        REQUEST_BUDGET
            .try_with(Arc::clone)
            .unwrap_or_else(|_| Self::new(fresh))
    }

    /// Runs `fut` (a request's handling) with `budget` as its budget.
    pub async fn scope<F: Future>(budget: Arc<Self>, fut: F) -> F::Output {
        REQUEST_BUDGET.scope(budget, fut).await
    }

    pub fn total(&self) -> Duration {
        self.total
    }

    /// What is left.
    pub fn remaining(&self) -> Duration {
        let spent = Duration::from_micros(self.spent_us.load(Ordering::Relaxed));
        self.total.saturating_sub(spent)
    }

    fn spend(&self, d: Duration) {
        self.spent_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }
}

/// The blocking slots tenant guests run in.
pub struct GuestPool {
    slots: Arc<Semaphore>,
    size: usize,
    /// Slots one tenant may hold at once.
    share: usize,
    /// A semaphore of `share` permits per tenant with a call waiting or
    /// running; removed when the tenant has none.
    tenants: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Calls refused because the budget ran out before a slot was free.
    pub refused: AtomicU64,
}

impl GuestPool {
    /// A pool of `size` slots (at least one); a tenant may hold half of
    /// them (at least one).
    pub fn new(size: usize) -> Self {
        let size = size.max(1);
        Self {
            slots: Arc::new(Semaphore::new(size)),
            size,
            share: (size / 2).max(1),
            tenants: Mutex::new(HashMap::new()),
            refused: AtomicU64::new(0),
        }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn share(&self) -> usize {
        self.share
    }

    /// Runs `call` for `tenant` on a blocking slot, within `budget`: it
    /// waits for the tenant's share and a slot (at most what is left of
    /// the budget), then runs with `limits.deadline` cut to what is left.
    /// The slot is held until the call returns, also when the caller stops
    /// waiting for it.
    pub async fn run<T: Send + 'static>(
        &self,
        tenant: &str,
        budget: &Budget,
        limits: Limits,
        call: impl FnOnce(Limits) -> Result<T, GuestError> + Send + 'static,
    ) -> Result<T, GuestError> {
        let started = Instant::now();
        let result = self.run_timed(tenant, budget, started, limits, call).await;
        budget.spend(started.elapsed());
        self.forget_idle(tenant);
        result
    }

    async fn run_timed<T: Send + 'static>(
        &self,
        tenant: &str,
        budget: &Budget,
        started: Instant,
        limits: Limits,
        call: impl FnOnce(Limits) -> Result<T, GuestError> + Send + 'static,
    ) -> Result<T, GuestError> {
        let left = || budget.remaining().saturating_sub(started.elapsed());
        let share = self.tenant(tenant);
        let own = self.acquire(share, left()).await?;
        let slot = self.acquire(self.slots.clone(), left()).await?;
        let deadline = limits.deadline.min(left());
        // Less than the ticker's period cannot be enforced: it is spent.
        if deadline < super::engine::TICK {
            return Err(GuestError::Budget(budget.total()));
        }
        let limits = Limits { deadline, ..limits };
        tokio::task::spawn_blocking(move || {
            let _held = (own, slot);
            call(limits)
        })
        .await
        .map_err(|e| GuestError::Trap(format!("the guest's thread failed: {e}")))?
    }

    async fn acquire(
        &self,
        semaphore: Arc<Semaphore>,
        wait: Duration,
    ) -> Result<OwnedSemaphorePermit, GuestError> {
        if let Ok(permit) = semaphore.clone().try_acquire_owned() {
            return Ok(permit);
        }
        match tokio::time::timeout(wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Err(GuestError::Busy)
            }
        }
    }

    fn tenant(&self, tenant: &str) -> Arc<Semaphore> {
        self.tenants
            .lock()
            .entry(tenant.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.share)))
            .clone()
    }

    /// Drops the tenant's semaphore when nothing holds or awaits it (each
    /// waiter and each permit holds a reference).
    fn forget_idle(&self, tenant: &str) {
        let mut tenants = self.tenants.lock();
        if tenants
            .get(tenant)
            .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            tenants.remove(tenant);
        }
    }

    /// Tenants with a call waiting or running.
    pub fn tenants_active(&self) -> usize {
        self.tenants.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn wait_until(ready: impl Fn() -> bool) {
        while !ready() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    fn sleeper(d: Duration) -> impl FnOnce(Limits) -> Result<Duration, GuestError> {
        move |limits| {
            std::thread::sleep(d.min(limits.deadline));
            Ok(limits.deadline)
        }
    }

    #[tokio::test]
    async fn a_tenant_holds_at_most_its_share_and_the_others_get_the_rest() {
        let pool = Arc::new(GuestPool::new(4));
        assert_eq!(pool.share(), 2);
        let limits = Limits {
            deadline: Duration::from_millis(200),
            ..Limits::default()
        };
        // Tenant a asks for four slow calls at once; two run, two wait.
        let mut slow = Vec::new();
        for _ in 0..4 {
            let pool = pool.clone();
            slow.push(tokio::spawn(async move {
                let budget = Budget::new(Duration::from_secs(5));
                pool.run("a", &budget, limits, sleeper(Duration::from_millis(150)))
                    .await
            }));
        }
        wait_until(|| pool.slots.available_permits() <= 2).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(pool.slots.available_permits(), 2, "a holds only its share");
        // Tenant b runs at once, in a slot a could not take.
        let budget = Budget::new(Duration::from_millis(50));
        let b = pool.run("b", &budget, limits, |_| Ok(Duration::ZERO)).await;
        assert!(b.is_ok(), "{b:?}");
        for call in slow {
            assert!(call.await.unwrap().is_ok());
        }
        assert_eq!(pool.tenants_active(), 0, "idle tenants are forgotten");
    }

    #[tokio::test]
    async fn waiting_and_running_spend_the_budget_and_cut_the_deadline() {
        let pool = GuestPool::new(2);
        let limits = Limits {
            deadline: Duration::from_millis(25),
            ..Limits::default()
        };
        let budget = Budget::new(Duration::from_millis(40));
        let first = pool
            .run("a", &budget, limits, sleeper(Duration::from_millis(30)))
            .await
            .unwrap();
        assert_eq!(first, Duration::from_millis(25), "the tier's deadline");
        let second = pool
            .run("a", &budget, limits, sleeper(Duration::from_millis(30)))
            .await
            .unwrap();
        assert!(
            second < Duration::from_millis(16),
            "cut to what is left: {second:?}"
        );
        let third = pool
            .run("a", &budget, limits, sleeper(Duration::ZERO))
            .await;
        assert!(
            matches!(third, Err(GuestError::Budget(_))),
            "spent: {third:?}"
        );
    }

    #[tokio::test]
    async fn a_call_that_cannot_get_a_slot_within_the_budget_is_refused() {
        let pool = Arc::new(GuestPool::new(1));
        let limits = Limits {
            deadline: Duration::from_millis(300),
            ..Limits::default()
        };
        let holder = {
            let pool = pool.clone();
            tokio::spawn(async move {
                let budget = Budget::new(Duration::from_secs(5));
                pool.run("a", &budget, limits, sleeper(Duration::from_millis(200)))
                    .await
            })
        };
        wait_until(|| pool.slots.available_permits() == 0).await;
        let budget = Budget::new(Duration::from_millis(20));
        let refused = pool.run("b", &budget, limits, |_| Ok(Duration::ZERO)).await;
        assert!(matches!(refused, Err(GuestError::Busy)), "{refused:?}");
        assert_eq!(pool.refused.load(Ordering::Relaxed), 1);
        assert!(holder.await.unwrap().is_ok());
    }
}
