//! Every job queue passes the one conformance suite: the store queue on
//! SQLite (and, with moto, on DynamoDB) and the SQS queue on moto.

use std::sync::Arc;
use std::time::Duration;

use bbws_host::clock::{Clock, ManualClock, SystemClock};
use bbws_host::jobs::sqs::SqsQueue;
use bbws_host::jobs::store_queue::StoreQueue;
use bbws_host::jobs::{Queue, QueueError};
use bbws_host::store::ItemStore;
use bbws_host::store::sqlite::SqliteStore;
use bbws_testkit as testkit;
use bbws_testkit::queue_conformance::{self, Subject};
use futures::FutureExt as _;

/// Store queues on `store`, a new queue name for every check.
fn store_subject(store: Arc<dyn ItemStore>) -> Subject {
    let run = testkit::unique_name("run");
    Subject {
        fresh: Box::new(move |check| {
            let queue = StoreQueue::new(
                store.clone(),
                Arc::new(SystemClock),
                &format!("{run}-{check}"),
            );
            async move { Arc::new(queue) as Arc<dyn Queue> }.boxed()
        }),
        refuses_stale_receipts: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_queue_on_sqlite_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(dir.path().join("bbws.db")).expect("the store opens");
    queue_conformance::run_all(&store_subject(Arc::new(store))).await;
}

/// The store queue on DynamoDB (a fresh table on moto).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_queue_on_dynamodb_passes_the_conformance_suite() {
    use bbws_host::store::dynamodb::DynamoStore;

    let Some(endpoint) = testkit::aws_endpoint("the store queue on DynamoDB") else {
        return;
    };
    let aws = testkit::local_aws(&endpoint).await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        testkit::unique_name("queues"),
    );
    store.create_table().await.expect("the table is created");
    queue_conformance::run_all(&store_subject(Arc::new(store))).await;
}

/// The SQS queue on moto: a new pair of queues for every check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_queue_passes_the_conformance_suite() {
    let Some(endpoint) = testkit::aws_endpoint("the SQS queue conformance suite") else {
        return;
    };
    let aws = testkit::local_aws(&endpoint).await;
    let subject = Subject {
        fresh: Box::new(move |check| {
            let aws = aws.clone();
            async move {
                let name = testkit::unique_name(check);
                let queue = SqsQueue::create(&aws, &name)
                    .await
                    .expect("the queues are created");
                let again = SqsQueue::create(&aws, &name)
                    .await
                    .expect("creating existing queues is a no-op");
                assert_eq!(again.queue_url(), queue.queue_url());
                assert_eq!(again.dead_letter_url(), queue.dead_letter_url());
                Arc::new(queue) as Arc<dyn Queue>
            }
            .boxed()
        }),
        refuses_stale_receipts: false,
    };
    queue_conformance::run_all(&subject).await;
}

/// The store queue takes "now" from its clock: a delayed message and a
/// lapsed lease follow the clock, not the wall.
#[tokio::test]
async fn store_queue_follows_its_clock() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Arc::new(SqliteStore::open(dir.path().join("bbws.db")).expect("the store opens"));
    let clock = ManualClock::new();
    let queue = StoreQueue::new(store, Arc::new(clock.clone()) as Arc<dyn Clock>, "clock");
    let hour = Duration::from_secs(3600);
    let none = Duration::ZERO;

    let id = queue.send("in an hour", hour).await.unwrap();
    assert!(queue.receive(10, hour, none).await.unwrap().is_empty());
    clock.advance(hour);
    let first = queue.receive(10, hour, none).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].id, id);
    assert!(
        queue.receive(10, hour, none).await.unwrap().is_empty(),
        "leased for an hour of the clock"
    );
    clock.advance(hour + Duration::from_millis(1));
    let second = queue.receive(10, hour, none).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].attempts, 2);
    assert!(matches!(
        queue.ack(&first[0]).await,
        Err(QueueError::LeaseLost(_))
    ));
    queue.ack(&second[0]).await.unwrap();
}

/// The store queue sends inside the caller's transaction: the message is
/// there if and only if the transaction commits.
#[tokio::test]
async fn the_store_queue_sends_only_with_a_committed_transaction() {
    use bbws_host::store::{Condition, Item, Key, TxOp};

    let dir = tempfile::tempdir().expect("a temporary directory");
    let store: Arc<dyn ItemStore> =
        Arc::new(SqliteStore::open(dir.path().join("bbws.db")).expect("the store opens"));
    let queue = StoreQueue::new(store.clone(), Arc::new(SystemClock), "outbox");
    let record = Key::new("RECORD", "1");

    // A transaction whose condition fails sends nothing.
    let refused = vec![
        TxOp::check(record.clone(), Condition::Exists),
        queue
            .send_in_transaction("lost")
            .expect("a store queue sends in transactions"),
    ];
    assert!(store.transact(refused).await.is_err());
    let none = queue
        .receive(10, Duration::from_secs(5), Duration::ZERO)
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");

    // A committed one sends its message with the record.
    let committed = vec![
        TxOp::put(
            Item::new(record, serde_json::json!({})),
            Condition::NotExists,
        ),
        queue.send_in_transaction("kept").unwrap(),
    ];
    store.transact(committed).await.unwrap();
    queue.sent();
    let got = queue
        .receive(10, Duration::from_secs(5), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "kept");
    assert_eq!(got[0].attempts, 1);
}
