//! The conformance suite every [`Queue`] must pass, written once and run
//! against each implementation unchanged (see `host/tests/queue_conformance.rs`).
//! Each check asks the [`Subject`] for a fresh, empty queue, and panics with a
//! message naming the broken promise. Like the store's suite, it uses only
//! the public trait, so it lives here, out of the production library.
//!
//! Time: leases are 1–2 s (SQS counts whole seconds), waits are generous,
//! and the checks assert lower bounds ("not before the lease lapsed") much
//! more than upper ones; the few upper bounds are seconds wide, so the suite
//! holds on a loaded machine.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use parking_lot::Mutex;

use bbws_host::jobs::{Delivery, Queue, QueueError};

/// Messages the concurrent receivers of [`concurrent_receivers_share_the_work`] drain.
const CONCURRENT_MESSAGES: usize = 50;
/// Receivers racing in [`concurrent_receivers_share_the_work`].
const RECEIVERS: usize = 4;
/// A lease no check outlives: "held throughout".
const LONG_LEASE: Duration = Duration::from_secs(60);
/// How long a check is willing to wait for something that must come.
const PATIENCE: Duration = Duration::from_secs(15);

/// What the suite runs against.
pub struct Subject {
    /// A new, empty queue; the argument names the check (short: letters,
    /// digits and `-`), for a backend that names its queues after it.
    pub fresh: Box<dyn Fn(&'static str) -> BoxFuture<'static, Arc<dyn Queue>> + Send + Sync>,
    /// Whether a receipt from an earlier delivery is refused once the
    /// message was received again, and one of a message that is gone is
    /// refused by `ack` too. [`bbws_host::jobs::store_queue::StoreQueue`] does; SQS
    /// accepts both (see [`bbws_host::jobs::sqs`]), so for it the suite checks only
    /// that such calls do not fail otherwise and do no harm.
    pub refuses_stale_receipts: bool,
}

impl Subject {
    async fn queue(&self, check: &'static str) -> Arc<dyn Queue> {
        (self.fresh)(check).await
    }
}

/// Runs every check of the suite, in turn.
pub async fn run_all(subject: &Subject) {
    round_trip(subject).await;
    max_is_respected(subject).await;
    lapsed_lease_redelivers(subject).await;
    delayed_send_is_invisible_until_due(subject).await;
    extend_postpones_redelivery(subject).await;
    stale_receipts(subject).await;
    dead_letters_are_moved_aside(subject).await;
    long_poll_answers_when_a_message_comes(subject).await;
    concurrent_receivers_share_the_work(subject).await;
}

/// A message comes back as sent, once; ack removes it for good.
pub async fn round_trip(subject: &Subject) {
    let queue = subject.queue("round-trip").await;
    let body = r#"{"operationId":"op-1","note":"Zoë \"quoted\" ✓"}"#;
    let id = ok(queue.send(body, Duration::ZERO).await, "send");
    assert!(!id.is_empty(), "send answers the message's id");

    let got = ok(
        queue.receive(10, Duration::from_secs(2), PATIENCE).await,
        "receive",
    );
    assert_eq!(got.len(), 1, "one message sent, one received: {got:?}");
    let d = &got[0];
    assert_eq!(d.id, id, "the delivery carries the id send answered");
    assert_eq!(d.body, body, "the body comes back as sent");
    assert_eq!(d.attempts, 1, "the first delivery is attempt 1");
    assert!(!d.receipt.is_empty(), "a delivery has a receipt");
    ok(queue.ack(d).await, "ack");

    // Past the 2 s lease: an acknowledged message does not come back.
    let again = ok(
        queue
            .receive(10, Duration::from_secs(1), Duration::from_secs(3))
            .await,
        "receive after ack",
    );
    assert!(
        again.is_empty(),
        "an acknowledged message came back: {again:?}"
    );

    let started = Instant::now();
    let none = ok(
        queue.receive(0, Duration::from_secs(1), PATIENCE).await,
        "receive 0",
    );
    assert!(none.is_empty(), "receive of at most 0 answers nothing");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "receive of at most 0 answers without waiting"
    );

    // Nothing there: a receive waits about as long as asked, then answers
    // an empty list.
    let started = Instant::now();
    let none = ok(
        queue
            .receive(10, Duration::from_secs(1), Duration::from_millis(1500))
            .await,
        "receive on an empty queue",
    );
    assert!(none.is_empty(), "an empty queue answered {none:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(1200),
        "a receive with a 1.5 s wait on an empty queue answered after {:?}",
        started.elapsed()
    );
}

/// A receive answers at most `max` messages, and repeated receives hand
/// every message out once while the leases hold (also past SQS's batch of
/// 10).
pub async fn max_is_respected(subject: &Subject) {
    let queue = subject.queue("max").await;
    for (count, max) in [(7usize, 3usize), (12, 25)] {
        let mut sent = HashSet::new();
        for i in 0..count {
            sent.insert(ok(
                queue.send(&format!("m{i}"), Duration::ZERO).await,
                "send",
            ));
        }
        let mut seen = HashSet::new();
        let deadline = Instant::now() + PATIENCE;
        while seen.len() < count {
            assert!(
                Instant::now() < deadline,
                "{} of {count} messages received in {PATIENCE:?}",
                seen.len()
            );
            let got = ok(
                queue.receive(max, LONG_LEASE, Duration::from_secs(2)).await,
                "receive",
            );
            assert!(
                got.len() <= max,
                "receive of at most {max} answered {}",
                got.len()
            );
            for d in got {
                assert!(
                    seen.insert(d.id.clone()),
                    "{} delivered twice under a lease",
                    d.id
                );
            }
        }
        assert_eq!(seen, sent, "the messages received are those sent");
    }
}

/// A received message is invisible while its lease holds, then comes back
/// with its attempt count raised and a new receipt.
pub async fn lapsed_lease_redelivers(subject: &Subject) {
    let queue = subject.queue("lapse").await;
    let id = ok(queue.send("lapse", Duration::ZERO).await, "send");
    let first = one(
        queue.receive(1, Duration::from_secs(2), PATIENCE).await,
        "first receive",
    );
    let leased_at = Instant::now();
    assert_eq!(first.id, id);
    let during = ok(
        queue
            .receive(10, Duration::from_secs(2), Duration::ZERO)
            .await,
        "receive during the lease",
    );
    assert!(
        during.is_empty(),
        "a leased message was received again at once: {during:?}"
    );

    let second = one(
        queue.receive(10, Duration::from_secs(2), PATIENCE).await,
        "receive after the lease lapsed",
    );
    assert!(
        leased_at.elapsed() >= Duration::from_millis(1500),
        "a message leased for 2 s came back after {:?}",
        leased_at.elapsed()
    );
    assert_eq!(second.id, id, "the same message comes back");
    assert_eq!(second.body, "lapse");
    assert_eq!(second.attempts, 2, "the second delivery is attempt 2");
    assert_ne!(
        second.receipt, first.receipt,
        "a new delivery has a new receipt"
    );
    ok(queue.ack(&second).await, "ack of the second delivery");
}

/// A message sent with a delay is invisible until the delay has passed.
pub async fn delayed_send_is_invisible_until_due(subject: &Subject) {
    let queue = subject.queue("delay").await;
    let sent_at = Instant::now();
    let id = ok(
        queue.send("later", Duration::from_secs(2)).await,
        "send with delay",
    );
    let early = ok(
        queue
            .receive(10, Duration::from_secs(2), Duration::ZERO)
            .await,
        "receive before the delay passed",
    );
    assert!(
        early.is_empty(),
        "a message delayed 2 s was received at once: {early:?}"
    );
    let d = one(
        queue.receive(10, Duration::from_secs(2), PATIENCE).await,
        "receive after the delay",
    );
    assert!(
        sent_at.elapsed() >= Duration::from_millis(1500),
        "a message delayed 2 s was received after {:?}",
        sent_at.elapsed()
    );
    assert_eq!(d.id, id);
    assert_eq!(d.attempts, 1, "a delay is not a delivery");
    ok(queue.ack(&d).await, "ack");
}

/// `extend` moves the lease's end: past the original timeout the message
/// stays hidden until the new one. A delay of zero hands it back at once,
/// keeping its attempt count.
pub async fn extend_postpones_redelivery(subject: &Subject) {
    let queue = subject.queue("extend").await;
    let id = ok(queue.send("long job", Duration::ZERO).await, "send");
    let first = one(
        queue.receive(1, Duration::from_secs(1), PATIENCE).await,
        "receive",
    );
    ok(
        queue.extend(&first, Duration::from_secs(4)).await,
        "extend by 4 s",
    );
    let extended_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = ok(
        queue
            .receive(10, Duration::from_secs(1), Duration::ZERO)
            .await,
        "receive past the first timeout",
    );
    assert!(
        during.is_empty(),
        "a message extended by 4 s came back after the original 1 s lease: {during:?}"
    );
    let second = one(
        queue.receive(10, LONG_LEASE, PATIENCE).await,
        "receive after the extension",
    );
    assert!(
        extended_at.elapsed() >= Duration::from_secs(3),
        "a lease extended by 4 s lapsed after {:?}",
        extended_at.elapsed()
    );
    assert_eq!(second.id, id);
    assert_eq!(second.attempts, 2, "an extension is not a delivery");

    // A retry without backoff: visible again now, despite the long lease.
    ok(queue.extend(&second, Duration::ZERO).await, "extend by 0");
    let third = one(
        queue.receive(10, LONG_LEASE, PATIENCE).await,
        "receive after extend by 0 (the lease was 60 s)",
    );
    assert_eq!(third.id, id);
    assert_eq!(third.attempts, 3, "the message keeps its attempt count");
    ok(queue.ack(&third).await, "ack");
}

/// A receipt from before a redelivery no longer holds the message: acking,
/// extending or dead-lettering with it is `LeaseLost` and leaves the
/// message with its new holder (SQS: see [`Subject::refuses_stale_receipts`]).
/// A receipt of a message that is gone cannot extend it (on any backend).
pub async fn stale_receipts(subject: &Subject) {
    let queue = subject.queue("stale").await;
    let id = ok(queue.send("contested", Duration::ZERO).await, "send");
    let stale = one(
        queue.receive(1, Duration::from_secs(1), PATIENCE).await,
        "receive",
    );
    let current = one(
        queue.receive(1, LONG_LEASE, PATIENCE).await,
        "receive after the lease lapsed",
    );
    assert_eq!(current.id, id);
    assert_eq!(current.attempts, 2);

    if subject.refuses_stale_receipts {
        lease_lost(queue.ack(&stale).await, "ack with a stale receipt");
        lease_lost(
            queue.extend(&stale, Duration::ZERO).await,
            "extend with a stale receipt",
        );
        lease_lost(
            queue.dead_letter(&stale, "stale").await,
            "dead_letter with a stale receipt",
        );
        let hidden = ok(
            queue.receive(10, LONG_LEASE, Duration::ZERO).await,
            "receive after the stale calls",
        );
        assert!(
            hidden.is_empty(),
            "calls with a stale receipt disturbed the current lease: {hidden:?}"
        );
        assert!(
            ok(queue.dead_letters(10).await, "dead_letters").is_empty(),
            "a stale receipt dead-lettered the message"
        );
        ok(queue.ack(&current).await, "ack with the current receipt");
        lease_lost(queue.ack(&current).await, "a second ack");
    } else {
        ok_or_lost(queue.ack(&stale).await, "ack with a stale receipt");
        ok_or_lost(queue.ack(&current).await, "ack with the current receipt");
    }
    lease_lost(
        queue.extend(&current, Duration::ZERO).await,
        "extend of an acknowledged message",
    );
    let gone = ok(
        queue
            .receive(10, Duration::from_secs(1), Duration::from_secs(2))
            .await,
        "receive after ack",
    );
    assert!(
        gone.is_empty(),
        "an acknowledged message came back: {gone:?}"
    );
}

/// `dead_letter` moves a message aside: it is not received again, and the
/// dead letters list it with its reason, oldest first.
pub async fn dead_letters_are_moved_aside(subject: &Subject) {
    let queue = subject.queue("dead").await;
    assert!(
        ok(queue.dead_letters(10).await, "dead_letters of a new queue").is_empty(),
        "a new queue has no dead letters"
    );
    let poison = ok(queue.send("poison", Duration::ZERO).await, "send");
    let fine = ok(queue.send("fine", Duration::ZERO).await, "send");
    let got = receive_all(&*queue, &[&poison, &fine], Duration::from_secs(1)).await;
    let reason = "handler failed: boom ✓ \"quoted\"\nsecond line";
    ok(
        queue.dead_letter(&got[&poison], reason).await,
        "dead_letter",
    );
    ok(queue.ack(&got[&fine]).await, "ack");
    lease_lost(
        queue.dead_letter(&got[&poison], reason).await,
        "dead_letter of a message already moved",
    );
    if subject.refuses_stale_receipts {
        lease_lost(queue.ack(&got[&poison]).await, "ack of a dead letter");
    }
    // Past its 1 s lease: the dead letter is not in the queue any more.
    let after = ok(
        queue
            .receive(10, Duration::from_secs(1), Duration::from_secs(3))
            .await,
        "receive after dead_letter",
    );
    assert!(
        after.is_empty(),
        "a dead letter was received again: {after:?}"
    );

    let dead = ok(queue.dead_letters(10).await, "dead_letters");
    assert_eq!(dead.len(), 1, "one dead letter: {dead:?}");
    assert_eq!(dead[0].id, poison, "the dead letter keeps the message's id");
    assert_eq!(dead[0].body, "poison");
    assert_eq!(dead[0].attempts, 1);
    assert_eq!(dead[0].reason, reason, "the dead letter keeps its reason");
    assert_eq!(
        ok(queue.dead_letters(10).await, "dead_letters again"),
        dead,
        "listing dead letters does not change them"
    );

    // Oldest first, at most `limit`; an empty reason is kept as such.
    let second = ok(queue.send("second", Duration::ZERO).await, "send");
    let third = ok(queue.send("third", Duration::ZERO).await, "send");
    let got = receive_all(&*queue, &[&second, &third], LONG_LEASE).await;
    ok(queue.dead_letter(&got[&second], "two").await, "dead_letter");
    tokio::time::sleep(Duration::from_millis(20)).await;
    ok(
        queue.dead_letter(&got[&third], "").await,
        "dead_letter with no reason",
    );
    let dead = ok(queue.dead_letters(10).await, "dead_letters");
    let ids: Vec<&str> = dead.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        [poison.as_str(), second.as_str(), third.as_str()],
        "dead letters, oldest first"
    );
    assert_eq!(dead[2].reason, "", "an empty reason stays empty");
    let first_two = ok(queue.dead_letters(2).await, "dead_letters(2)");
    assert_eq!(
        first_two,
        dead[..2],
        "dead_letters(2) answers the two oldest"
    );
}

/// A receive that is waiting answers as soon as a message is sent, well
/// before its wait is over.
pub async fn long_poll_answers_when_a_message_comes(subject: &Subject) {
    let queue = subject.queue("long-poll").await;
    let wait = Duration::from_secs(15);
    let receiver = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.receive(10, LONG_LEASE, wait).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent_at = Instant::now();
    let id = ok(queue.send("wake up", Duration::ZERO).await, "send");
    let got = ok(
        receiver.await.expect("the receiving task panicked"),
        "receive while a message is sent",
    );
    let latency = sent_at.elapsed();
    assert_eq!(
        got.len(),
        1,
        "the waiting receive answers the message: {got:?}"
    );
    assert_eq!(got[0].id, id);
    assert!(
        latency < Duration::from_secs(5),
        "a receive waiting {wait:?} answered {latency:?} after the send"
    );
    ok(queue.ack(&got[0]).await, "ack");
}

/// Receivers racing on one queue: every message goes to exactly one of
/// them while the leases hold.
pub async fn concurrent_receivers_share_the_work(subject: &Subject) {
    let queue = subject.queue("concurrent").await;
    let mut sent = HashSet::new();
    for i in 0..CONCURRENT_MESSAGES {
        sent.insert(ok(
            queue.send(&format!("job {i}"), Duration::ZERO).await,
            "send",
        ));
    }
    let deliveries: Arc<Mutex<Vec<(usize, Delivery)>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    let tasks: Vec<_> = (0..RECEIVERS)
        .map(|receiver| {
            let queue = queue.clone();
            let deliveries = deliveries.clone();
            tokio::spawn(async move {
                while deliveries.lock().len() < CONCURRENT_MESSAGES && Instant::now() < deadline {
                    let got = ok(
                        queue.receive(5, LONG_LEASE, Duration::from_secs(1)).await,
                        "concurrent receive",
                    );
                    for d in got {
                        ok(queue.ack(&d).await, "concurrent ack");
                        deliveries.lock().push((receiver, d));
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a receiving task panicked");
    }
    let deliveries = deliveries.lock();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (_, d) in deliveries.iter() {
        *count.entry(&d.id).or_default() += 1;
        assert_eq!(
            d.attempts, 1,
            "{} was delivered before, under a lease",
            d.id
        );
    }
    let twice: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "delivered more than once under a lease: {twice:?}"
    );
    let received: HashSet<String> = count.keys().map(|id| id.to_string()).collect();
    assert_eq!(
        received.len(),
        CONCURRENT_MESSAGES,
        "{RECEIVERS} receivers drained {} of {CONCURRENT_MESSAGES} messages",
        received.len()
    );
    assert_eq!(received, sent, "the messages received are those sent");
}

// ---- helpers ----

/// Receives until every message in `ids` is leased (other messages are a
/// failure), answering the deliveries by id.
async fn receive_all(
    queue: &dyn Queue,
    ids: &[&String],
    visibility: Duration,
) -> HashMap<String, Delivery> {
    let mut got = HashMap::new();
    let deadline = Instant::now() + PATIENCE;
    while got.len() < ids.len() {
        assert!(
            Instant::now() < deadline,
            "received {} of {} messages in {PATIENCE:?}",
            got.len(),
            ids.len()
        );
        for d in ok(
            queue.receive(10, visibility, Duration::from_secs(2)).await,
            "receive",
        ) {
            assert!(ids.contains(&&d.id), "received {d:?}, which was not sent");
            got.insert(d.id.clone(), d);
        }
    }
    got
}

/// The one delivery a receive answered.
fn one(result: Result<Vec<Delivery>, QueueError>, what: &str) -> Delivery {
    let mut got = ok(result, what);
    assert_eq!(got.len(), 1, "{what}: expected one delivery, got {got:?}");
    got.remove(0)
}

fn ok<T>(result: Result<T, QueueError>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: unexpected queue error: {e}"),
    }
}

fn lease_lost<T: Debug>(result: Result<T, QueueError>, what: &str) {
    match result {
        Err(QueueError::LeaseLost(_)) => {}
        other => panic!("{what}: expected LeaseLost, got {other:?}"),
    }
}

fn ok_or_lost(result: Result<(), QueueError>, what: &str) {
    match result {
        Ok(()) | Err(QueueError::LeaseLost(_)) => {}
        Err(e) => panic!("{what}: expected success or LeaseLost, got {e}"),
    }
}
