//! Every store backend available here passes the one conformance suite.

use std::sync::Arc;

use bbws_host::store::conformance;
use bbws_host::store::sqlite::SqliteStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(dir.path().join("bbws.db")).expect("the store opens");
    conformance::run_all(Arc::new(store), "conformance").await;
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
