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
