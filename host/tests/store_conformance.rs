//! Every store backend available here passes the one conformance suite.

use std::sync::Arc;

use bbws_host::store::sqlite::SqliteStore;
use bbws_testkit::store_conformance;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(dir.path().join("bbws.db")).expect("the store opens");
    store_conformance::run_all(Arc::new(store), "conformance").await;
}

/// Expired items are invisible at once and gone from the file after a
/// purge, which leaves live items (with or without an expiry) alone.
#[tokio::test]
async fn sqlite_purge_deletes_expired_items_and_keeps_the_rest() {
    use bbws_host::store::{Condition, Item, ItemStore, Key};
    use serde_json::json;

    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("bbws.db");
    let store = SqliteStore::open(&path).expect("the store opens");
    let now = chrono::Utc::now().timestamp();
    let put = |sk: &str, expires: Option<i64>| {
        let mut item = Item::new(Key::new("P", sk), json!({ "sk": sk }));
        item.expires_at = expires;
        store.put(item, Condition::None)
    };
    put("expired", Some(now - 10)).await.unwrap();
    put("later", Some(now + 3600)).await.unwrap();
    put("forever", None).await.unwrap();

    assert_eq!(store.purge_expired(100).await.unwrap(), 1);
    assert_eq!(
        store.purge_expired(100).await.unwrap(),
        0,
        "nothing left to purge"
    );
    for sk in ["later", "forever"] {
        assert!(
            store.get(&Key::new("P", sk)).await.unwrap().is_some(),
            "{sk} is kept"
        );
    }
    let rows: Vec<String> = rusqlite::Connection::open(&path)
        .unwrap()
        .prepare("SELECT sk FROM items ORDER BY sk")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        ["forever", "later"],
        "the expired row is gone from the file"
    );
}

/// The DynamoDB backend passes the same suite, on a fresh table of the
/// moto server `scripts/with-moto.sh` starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_store_passes_the_conformance_suite() {
    use bbws_host::store::dynamodb::DynamoStore;
    use bbws_testkit as testkit;

    let Some(endpoint) = testkit::aws_endpoint("the DynamoDB conformance suite") else {
        return;
    };
    let aws = testkit::local_aws(&endpoint).await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        testkit::unique_name("conformance"),
    );
    store.create_table().await.expect("the table is created");
    store
        .create_table()
        .await
        .expect("creating an existing table is a no-op");
    store_conformance::run_all(Arc::new(store), "conformance").await;
}

/// Blobs round-trip through S3, under a prefix, and a missing one is `None`.
#[tokio::test]
async fn s3_blobs_round_trip() {
    use bbws_host::blobs::{BlobStore, S3Blobs};
    use bbws_testkit as testkit;

    let Some(endpoint) = testkit::aws_endpoint("the S3 blob store test") else {
        return;
    };
    let aws = testkit::local_aws(&endpoint).await;
    let bucket = testkit::unique_name("blobs");
    let blobs = S3Blobs::new(&aws, &bucket, "deployment/one");
    blobs.create_bucket().await.unwrap();
    blobs
        .create_bucket()
        .await
        .expect("creating it again is a no-op");
    assert_eq!(blobs.get("components/missing.wasm").await.unwrap(), None);
    let bytes: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    blobs.put("components/a.wasm", &bytes).await.unwrap();
    assert_eq!(blobs.get("components/a.wasm").await.unwrap(), Some(bytes));
    blobs.put("components/a.wasm", b"replaced").await.unwrap();
    assert_eq!(
        blobs.get("components/a.wasm").await.unwrap().as_deref(),
        Some(&b"replaced"[..])
    );
    let other = S3Blobs::new(&aws, &bucket, "deployment/two");
    assert_eq!(
        other.get("components/a.wasm").await.unwrap(),
        None,
        "another prefix is another namespace"
    );
    assert_eq!(
        S3Blobs::parse_url("s3://bucket/a/b/").unwrap(),
        ("bucket".to_string(), "a/b".to_string())
    );
    assert!(S3Blobs::parse_url("https://bucket/a").is_err());
}
