//! The conformance suite every [`ItemStore`] backend must pass, written once
//! and run against each backend (SQLite and DynamoDB) unchanged, by
//! `host/tests/store_conformance.rs`. Each public check takes the store and
//! a namespace `ns` that prefixes every partition key it writes, in the
//! table and in the indexes, so that the suite can run again and again on a
//! shared table as long as every run picks a fresh `ns`. A check panics with
//! a message naming the broken promise. It uses only the store's public
//! interface, so it lives here, out of the production library. Index reads
//! on DynamoDB are eventually consistent, so a check that reads an index
//! right after writing first waits (briefly, and only on such a backend)
//! until the index shows what was written; every assertion is made
//! afterwards.

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::JoinHandle;

use bbws_host::store::{
    Condition, Cursor, Index, Item, ItemStore, Key, MAX_ITEM_BYTES, MAX_TRANSACTION_ITEMS, Query,
    StoreError, StoreResult, TxOp,
};

/// How long a check waits for an eventually consistent index to catch up.
const INDEX_SETTLE: Duration = Duration::from_secs(15);
/// A walk with more pages than this is taken to be looping.
const MAX_WALK_PAGES: usize = 10_000;
/// Items present before the walks of [`paging_is_stable_under_concurrent_writes`].
const CHURN_SEEDED: usize = 150;
/// Tasks racing in [`concurrent_increments_lose_nothing`].
const INCREMENTERS: usize = 50;

/// Runs every check of the suite, in turn.
pub async fn run_all(store: Arc<dyn ItemStore>, ns: &str) {
    let store = &store;
    ok(store.ping().await, "ping");
    put_get_roundtrip(store, ns).await;
    conditions_hold(store, ns).await;
    transactions_are_all_or_nothing(store, ns).await;
    batches_write_every_item(store, ns).await;
    invalid_requests_are_refused(store, ns).await;
    expired_items_are_invisible(store, ns).await;
    queries_order_filter_and_page(store, ns).await;
    index_queries_page_through_ties(store, ns).await;
    paging_is_stable_under_concurrent_writes(store, ns).await;
    concurrent_increments_lose_nothing(store, ns).await;
}

/// A batch larger than any transaction writes every item, each at version
/// 1, replacing what had its key.
pub async fn batches_write_every_item(store: &Arc<dyn ItemStore>, ns: &str) {
    let pk = part(ns, "batch");
    let items = |round: i64| {
        (0..250)
            .map(|i| {
                Item::new(
                    Key::new(&pk, format!("{i:04}")),
                    json!({ "n": i, "round": round }),
                )
                .with_gsi1(part(ns, "batch/g1"), format!("{i:04}"))
            })
            .collect::<Vec<_>>()
    };
    ok(store.put_many(items(1)).await, "a batch of 250 new items");
    ok(store.put_many(items(2)).await, "the same 250 keys again");
    ok(store.put_many(Vec::new()).await, "an empty batch");
    let all = walk(store, Query::new(Index::Primary, &pk)).await;
    assert_eq!(all.len(), 250, "every item of the batch is stored");
    for (i, item) in all.iter().enumerate() {
        assert_eq!(
            item.value().ok(),
            Some(json!({ "n": i, "round": 2 })),
            "the second batch replaced {}",
            item.key
        );
        assert_eq!(item.version, 1, "{} is stored at version 1", item.key);
    }
    let indexed = walk(store, Query::new(Index::Gsi1, part(ns, "batch/g1"))).await;
    assert_eq!(indexed.len(), 250, "batched items are indexed");
}

/// An item comes back as written; the store numbers its versions from 1 and
/// adds 1 on every write; a put replaces the whole item.
pub async fn put_get_roundtrip(store: &Arc<dyn ItemStore>, ns: &str) {
    let key = Key::new(part(ns, "roundtrip"), "item");
    assert_eq!(get(store, &key).await, None, "get of a key never written");

    let mut written = Item::new(
        key.clone(),
        json!({
            "name": "Zoë \"quoted\" \\ ✓",
            "empty": "",
            "count": -42,
            "ratio": 0.5,
            "on": true,
            "none": null,
            "list": [1, "two", {"three": 3}],
            "nested": {"deeper": {"deepest": []}},
        }),
    )
    .with_gsi1(part(ns, "roundtrip/g1"), "g1-sort")
    .with_gsi2(part(ns, "roundtrip/g2"), "g2-sort")
    .expiring_at(now() + 86_400);
    written.version = 42;
    let version = ok(
        store.put(written.clone(), Condition::None).await,
        "first put",
    );
    assert_eq!(
        version, 1,
        "an item is created at version 1, whatever version the caller sent"
    );
    written.version = 1;
    assert_eq!(
        get(store, &key).await.as_ref(),
        Some(&written),
        "get answers the item as written: data, index keys and expiry intact"
    );

    let replacement = doc(&key, 7);
    for expected in 2..=3 {
        let version = ok(
            store.put(replacement.clone(), Condition::None).await,
            "overwriting put",
        );
        assert_eq!(version, expected, "every write adds 1 to the version");
    }
    assert_eq!(
        get(store, &key).await,
        Some(Item {
            version: 3,
            ..replacement
        }),
        "a put replaces the whole item, index keys and expiry included"
    );

    ok(store.delete(&key, Condition::None).await, "delete");
    assert_eq!(get(store, &key).await, None, "get after delete");
    ok(
        store.delete(&key, Condition::None).await,
        "deleting a missing item without a condition",
    );
    let version = ok(store.put(doc(&key, 8), Condition::None).await, "re-create");
    assert_eq!(
        version, 1,
        "an item created again after a delete starts over at version 1"
    );
}

/// Every condition is checked with its write, and a write refused by its
/// condition changes nothing.
pub async fn conditions_hold(store: &Arc<dyn ItemStore>, ns: &str) {
    let p = part(ns, "conditions");
    let (item, missing) = (Key::new(&p, "item"), Key::new(&p, "missing"));

    let version = ok(
        store.put(doc(&item, 1), Condition::NotExists).await,
        "NotExists put of a new item",
    );
    assert_eq!(version, 1, "a created item is at version 1");
    let v1 = get(store, &item).await;

    refused(
        store.put(doc(&item, 2), Condition::NotExists).await,
        &item,
        "NotExists put of an existing item",
    );
    refused(
        store.put(doc(&item, 2), Condition::Version(5)).await,
        &item,
        "Version(5) put of an item at version 1",
    );
    refused(
        store.put(doc(&missing, 2), Condition::Exists).await,
        &missing,
        "Exists put of a missing item",
    );
    refused(
        store.put(doc(&missing, 2), Condition::Version(0)).await,
        &missing,
        "Version(0) put of a missing item",
    );
    assert_eq!(
        get(store, &item).await,
        v1,
        "a refused put changed the item"
    );
    assert_eq!(
        get(store, &missing).await,
        None,
        "a refused put created an item"
    );

    let version = ok(
        store.put(doc(&item, 2), Condition::Version(1)).await,
        "Version(1) put of an item at version 1",
    );
    assert_eq!(version, 2, "a conditional put adds 1 to the version");
    let v2 = get(store, &item).await;
    refused(
        store.put(doc(&item, 3), Condition::Version(1)).await,
        &item,
        "Version(1) put of an item now at version 2",
    );
    assert_eq!(
        get(store, &item).await,
        v2,
        "a put refused for a stale version changed the item"
    );
    let version = ok(
        store.put(doc(&item, 3), Condition::Exists).await,
        "Exists put of an existing item",
    );
    assert_eq!(version, 3, "an Exists put adds 1 to the version");
    let v3 = get(store, &item).await;

    for (condition, what) in [
        (
            Condition::Version(2),
            "Version(2) delete of an item at version 3",
        ),
        (Condition::NotExists, "NotExists delete of an existing item"),
    ] {
        refused(store.delete(&item, condition).await, &item, what);
        assert_eq!(get(store, &item).await, v3, "{what} changed the item");
    }
    refused(
        store.delete(&missing, Condition::Exists).await,
        &missing,
        "Exists delete of a missing item",
    );
    refused(
        store.delete(&missing, Condition::Version(1)).await,
        &missing,
        "Version(1) delete of a missing item",
    );
    ok(
        store.delete(&item, Condition::Version(3)).await,
        "Version(3) delete of an item at version 3",
    );
    assert_eq!(get(store, &item).await, None, "a conditional delete");
    refused(
        store.delete(&item, Condition::Exists).await,
        &item,
        "Exists delete of a deleted item",
    );
    ok(
        store.delete(&item, Condition::NotExists).await,
        "NotExists delete of a missing item",
    );
}

/// A transaction applies every operation or none; a cancelled one names
/// exactly the operations whose conditions failed.
pub async fn transactions_are_all_or_nothing(store: &Arc<dyn ItemStore>, ns: &str) {
    let p = part(ns, "transactions");
    let [a, b, c, d, e, f, g, h] =
        ["a", "b", "c", "d", "e", "f", "g", "h"].map(|sk| Key::new(&p, sk));
    // c and e are missing; the others exist at version 1.
    for key in [&a, &b, &d, &f, &g, &h] {
        ok(
            store.put(doc(key, 1), Condition::NotExists).await,
            "seeding the transaction items",
        );
    }
    let keys = [&a, &b, &c, &d, &e, &f, &g, &h].map(Key::clone);
    let before = snapshot(store, &keys).await;

    let ops = vec![
        TxOp::put(doc(&a, 10), Condition::Version(1)),
        TxOp::delete(b.clone(), Condition::Exists),
        TxOp::put(doc(&c, 10), Condition::NotExists),
        TxOp::put(doc(&d, 10), Condition::Version(7)), // fails: d is at 1
        TxOp::check(e.clone(), Condition::Exists),     // fails: e is missing
        TxOp::check(f.clone(), Condition::Version(1)),
        TxOp::put(doc(&g, 10), Condition::NotExists), // fails: g exists
        TxOp::delete(h.clone(), Condition::None),
    ];
    cancelled_at(
        store.transact(ops).await,
        &[3, 4, 6],
        "a transaction with three failing conditions",
    );
    assert_eq!(
        snapshot(store, &keys).await,
        before,
        "a cancelled transaction wrote something"
    );

    let ops = vec![
        TxOp::put(doc(&c, 10), Condition::NotExists),
        TxOp::delete(a.clone(), Condition::None),
        TxOp::check(d.clone(), Condition::NotExists), // fails: d exists
    ];
    cancelled_at(
        store.transact(ops).await,
        &[2],
        "a transaction whose only failing operation is a check",
    );
    assert_eq!(
        snapshot(store, &keys).await,
        before,
        "a transaction cancelled by a check wrote something"
    );

    let ops = vec![
        TxOp::put(doc(&a, 10), Condition::Version(1)),
        TxOp::delete(b.clone(), Condition::Exists),
        TxOp::put(doc(&c, 10), Condition::NotExists),
        TxOp::put(doc(&d, 10), Condition::None),
        TxOp::delete(e.clone(), Condition::None),
        TxOp::check(f.clone(), Condition::Version(1)),
        TxOp::delete(h.clone(), Condition::Version(1)),
    ];
    ok(
        store.transact(ops).await,
        "a transaction whose conditions hold",
    );
    let stored = |key: &Key, version| {
        Some(Item {
            version,
            ..doc(key, 10)
        })
    };
    let expected = vec![
        stored(&a, 2),
        None,
        stored(&c, 1),
        stored(&d, 2),
        None,
        before[5].clone(),
        before[6].clone(),
        None,
    ];
    assert_eq!(
        snapshot(store, &keys).await,
        expected,
        "a committed transaction applies every put and delete (and checks write nothing)"
    );
}

/// Requests no backend can honour are refused as [`StoreError::Invalid`],
/// and write nothing.
pub async fn invalid_requests_are_refused(store: &Arc<dyn ItemStore>, ns: &str) {
    let p = part(ns, "invalid");
    let keys: Vec<Key> = (0..=MAX_TRANSACTION_ITEMS)
        .map(|i| Key::new(&p, format!("{i:03}")))
        .collect();
    let creates = |keys: &[Key]| -> Vec<TxOp> {
        keys.iter()
            .map(|key| TxOp::put(doc(key, 0), Condition::NotExists))
            .collect()
    };
    let big = Item::new(
        keys[0].clone(),
        json!({ "blob": "x".repeat(MAX_ITEM_BYTES) }),
    );

    invalid(
        store.transact(creates(&keys)).await,
        "a transaction of MAX_TRANSACTION_ITEMS + 1 operations",
    );
    invalid(store.transact(Vec::new()).await, "an empty transaction");
    invalid(
        store
            .transact(vec![
                TxOp::put(doc(&keys[0], 0), Condition::NotExists),
                TxOp::check(keys[1].clone(), Condition::NotExists),
                TxOp::delete(keys[0].clone(), Condition::None),
            ])
            .await,
        "a transaction naming one key twice",
    );
    invalid(
        store.put(big.clone(), Condition::None).await,
        "a put of an item over MAX_ITEM_BYTES",
    );
    invalid(
        store
            .transact(vec![
                TxOp::put(doc(&keys[1], 0), Condition::NotExists),
                TxOp::put(big, Condition::None),
            ])
            .await,
        "a transaction putting an item over MAX_ITEM_BYTES",
    );
    assert_same_keys(
        &walk(store, Query::new(Index::Primary, &p)).await,
        &[],
        "after invalid requests (which must write nothing)",
    );

    let allowed = &keys[..MAX_TRANSACTION_ITEMS];
    ok(
        store.transact(creates(allowed)).await,
        "a transaction of exactly MAX_TRANSACTION_ITEMS operations",
    );
    assert_same_keys(
        &walk(store, Query::new(Index::Primary, &p)).await,
        allowed,
        "after a transaction of MAX_TRANSACTION_ITEMS puts",
    );
}

/// An item past its `expires_at` is gone: invisible to get and to queries of
/// the table and of its indexes, absent for every condition.
pub async fn expired_items_are_invisible(store: &Arc<dyn ItemStore>, ns: &str) {
    let (p, g) = (part(ns, "expiry"), part(ns, "expiry/g1"));
    let [gone, later, other] = ["gone", "later", "other"].map(|sk| Key::new(&p, sk));
    let expiring = |key: &Key, at: i64| doc(key, 1).with_gsi1(&g, &key.sk).expiring_at(at);
    let soon = now() + 3600;

    ok(
        store
            .put(expiring(&gone, now() - 3600), Condition::None)
            .await,
        "put of an already expired item",
    );
    ok(
        store
            .put(expiring(&later, soon), Condition::NotExists)
            .await,
        "put of an item expiring in an hour",
    );
    assert_eq!(
        get(store, &gone).await,
        None,
        "get must not answer an expired item"
    );
    assert_eq!(
        get(store, &later).await.and_then(|item| item.expires_at),
        Some(soon),
        "get answers an item that has not expired yet, with its expiry"
    );
    for (index, pk) in [(Index::Primary, &p), (Index::Gsi1, &g)] {
        let want = [later.clone()];
        let items = settled_walk(store, Query::new(index, pk), has_keys(&want)).await;
        assert_same_keys(
            &items,
            &want,
            &format!("a query of {index:?} (which must skip expired items)"),
        );
    }

    refused(
        store.put(doc(&gone, 2), Condition::Exists).await,
        &gone,
        "Exists put of an expired item",
    );
    refused(
        store.put(doc(&gone, 2), Condition::Version(1)).await,
        &gone,
        "Version(1) put of an expired item at version 1",
    );
    refused(
        store.delete(&gone, Condition::Exists).await,
        &gone,
        "Exists delete of an expired item",
    );
    cancelled_at(
        store
            .transact(vec![
                TxOp::put(doc(&other, 1), Condition::NotExists),
                TxOp::check(gone.clone(), Condition::Exists),
            ])
            .await,
        &[1],
        "a transaction checking that an expired item exists",
    );
    ok(
        store
            .transact(vec![
                TxOp::check(gone.clone(), Condition::NotExists),
                TxOp::put(doc(&other, 1), Condition::NotExists),
            ])
            .await,
        "a transaction checking that an expired item does not exist",
    );
    let version = ok(
        store.put(doc(&gone, 3), Condition::NotExists).await,
        "NotExists put over an expired item",
    );
    assert_eq!(
        version, 1,
        "writing over an expired item creates it afresh, at version 1"
    );
    let stale = Key::new(&p, "stale");
    ok(
        store
            .put(expiring(&stale, now() - 3600), Condition::None)
            .await,
        "put of another expired item",
    );
    let version = ok(
        store.put(doc(&stale, 4), Condition::None).await,
        "condition-free put over an expired item",
    );
    assert_eq!(
        version, 1,
        "a condition-free put over an expired item also starts at version 1"
    );
    assert_eq!(
        get(store, &gone).await,
        Some(Item {
            version: 1,
            ..doc(&gone, 3)
        }),
        "get of an item created over an expired one"
    );
}

/// A query answers one partition in ascending byte order of sort key,
/// filtered by sort-key prefix, a page at a time; the last page carries no
/// cursor, and a cursor survives its text form and the deletion of its item.
pub async fn queries_order_filter_and_page(store: &Arc<dyn ItemStore>, ns: &str) {
    const SKS: [&str; 12] = [
        "B#1", "A#2", "AB#1", "A#10", "A#1", "AB#2", "A#", "A", "B", "Ä#1", "a#1", "~",
    ];
    // `…/query/p` is a prefix of its sibling partition `…/query/pp`.
    let (p, sibling) = (part(ns, "query/p"), part(ns, "query/pp"));
    for (n, sk) in SKS.iter().enumerate() {
        ok(
            store
                .put(doc(&Key::new(&p, *sk), n as i64), Condition::NotExists)
                .await,
            "seeding the query partition",
        );
    }
    ok(
        store
            .put(doc(&Key::new(&sibling, "A#1"), 0), Condition::NotExists)
            .await,
        "seeding the sibling partition",
    );
    let mut sorted = SKS.to_vec();
    sorted.sort_unstable();
    let all = || Query::new(Index::Primary, &p);

    let page = ok(store.query(all()).await, "query of a whole partition");
    assert_eq!(
        sort_keys(&page.items),
        sorted,
        "a query answers its partition (and only it) in ascending byte order of sort key"
    );
    assert_eq!(
        page.next, None,
        "a page that ends the partition has no cursor"
    );

    for prefix in ["A#", "AB#", "A", "Ä#", "~", "C"] {
        let want: Vec<&str> = sorted
            .iter()
            .copied()
            .filter(|sk| sk.starts_with(prefix))
            .collect();
        for limit in [1, 2, 100] {
            let items = walk(store, all().prefix(prefix).limit(limit)).await;
            assert_eq!(
                sort_keys(&items),
                want,
                "query with sort-key prefix {prefix:?}, limit {limit}"
            );
        }
    }

    for limit in [1, 3, 4, 5, 11, 12, 13] {
        let pages = pages(store, all().limit(limit)).await;
        assert_eq!(
            pages.len(),
            SKS.len().div_ceil(limit),
            "{} items in pages of {limit}: full pages, and no cursor on the last one",
            SKS.len()
        );
        assert_eq!(
            sort_keys(&pages.concat()),
            sorted,
            "walk of the partition in pages of {limit}"
        );
    }

    let first = ok(store.query(all().limit(3)).await, "query of a first page");
    let cursor = first
        .next
        .clone()
        .expect("a page of 3 items out of 12 has a cursor");
    let text = cursor.encode();
    assert!(
        text.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "cursor text {text:?} is not URL-safe"
    );
    assert_eq!(
        Cursor::decode(&text),
        Some(cursor),
        "a cursor decodes from its text"
    );
    assert_eq!(Cursor::decode("not a cursor"), None, "decoding garbage");
    ok(
        store.delete(&first.items[2].key, Condition::Exists).await,
        "delete of the last item of a page",
    );
    let rest = walk(store, all().after(Cursor::decode(&text))).await;
    assert_eq!(
        sort_keys(&rest),
        &sorted[3..],
        "continuing after a cursor whose item was deleted meanwhile"
    );

    // A cursor is a position in one partition: resuming a query of another
    // partition from it is refused, as is one whose index key names another
    // partition than its table key, and nothing of either partition is
    // answered.
    let sibling_cursor = Cursor {
        index_key: Key::new(&sibling, "A#1"),
        table_key: Key::new(&sibling, "A#1"),
    };
    let mismatched = Cursor {
        index_key: Key::new(&p, "A#1"),
        table_key: Key::new(&sibling, "A#1"),
    };
    for cursor in [sibling_cursor, mismatched] {
        assert!(
            matches!(
                store.query(all().after(Some(cursor.clone()))).await,
                Err(StoreError::Invalid(_))
            ),
            "a query of {p} resumed from {cursor:?}"
        );
    }
}

/// Queries of both secondary indexes: an index partition gathers items from
/// several table partitions, items without index keys stay out of it, and
/// items tied on the index sort key are each answered exactly once, whatever
/// the page size.
pub async fn index_queries_page_through_ties(store: &Arc<dyn ItemStore>, ns: &str) {
    let tables = [part(ns, "index/t0"), part(ns, "index/t1")];
    let (g1, g2) = (part(ns, "index/g1"), part(ns, "index/g2"));
    let (mut in_g1, mut in_g2) = (Vec::new(), Vec::new());
    for i in 0..14 {
        let key = Key::new(&tables[i % 2], format!("item#{i:02}"));
        let mut item = doc(&key, i as i64);
        if i < 12 {
            // Four items on each of three index sort keys.
            item = item.with_gsi1(&g1, format!("day#{}", [3, 1, 2][i % 3]));
            in_g1.push(key.clone());
            if i % 2 == 0 {
                // Six items all on one index sort key.
                item = item.with_gsi2(&g2, "same");
                in_g2.push(key.clone());
            }
        } else if i == 13 {
            item = item.with_gsi1(part(ns, "index/g1-other"), "day#1");
        }
        ok(
            store.put(item, Condition::NotExists).await,
            "seeding the index items",
        );
    }

    for (index, pk, want) in [(Index::Gsi1, &g1, &in_g1), (Index::Gsi2, &g2, &in_g2)] {
        settled_walk(store, Query::new(index, pk), has_keys(want)).await;
        for limit in [1, 2, 5, 100] {
            let items = walk(store, Query::new(index, pk).limit(limit)).await;
            assert_same_keys(
                &items,
                want,
                &format!("a walk of {index:?} in pages of {limit}"),
            );
            assert!(
                items
                    .iter()
                    .all(|item| item.value().ok() == Some(json!({ "n": n_of(&item.key) }))),
                "an index query answers whole items"
            );
        }
    }

    let ties: Vec<Key> = in_g1.iter().skip(2).step_by(3).cloned().collect();
    for limit in [1, 100] {
        let items = walk(
            store,
            Query::new(Index::Gsi1, &g1).prefix("day#2").limit(limit),
        )
        .await;
        assert_same_keys(
            &items,
            &ties,
            &format!("a walk of Gsi1 with index sort-key prefix \"day#2\" in pages of {limit}"),
        );
    }

    // A put replaces the index keys: item 0 leaves Gsi1, item 1 moves first.
    let (k0, k1) = (&in_g1[0], &in_g1[1]);
    ok(
        store
            .put(doc(k0, 0).with_gsi2(&g2, "same"), Condition::Exists)
            .await,
        "put dropping an item's Gsi1 keys",
    );
    ok(
        store
            .put(doc(k1, 1).with_gsi1(&g1, "day#0"), Condition::Exists)
            .await,
        "put changing an item's Gsi1 sort key",
    );
    let want = &in_g1[1..];
    let moved = |items: &[Item]| has_keys(want)(items) && items.first().map(|i| &i.key) == Some(k1);
    let items = settled_walk(store, Query::new(Index::Gsi1, &g1).limit(1), moved).await;
    assert_same_keys(&items, want, "Gsi1 after a put dropped an item's Gsi1 keys");
    assert_eq!(
        items.first().map(|item| &item.key),
        Some(k1),
        "an item whose index sort key changed moves in the index"
    );
}

/// Keyset paging: an item that exists throughout a walk (of the table or of
/// an index) is answered exactly once, while another task inserts and
/// deletes other items between the pages.
pub async fn paging_is_stable_under_concurrent_writes(store: &Arc<dyn ItemStore>, ns: &str) {
    let (table, index) = (part(ns, "churn/p"), part(ns, "churn/g1"));
    // Seeded items sit on every tenth slot; the writer uses the slots between.
    let slots: Vec<usize> = (0..CHURN_SEEDED).map(|i| i * 10).collect();
    for chunk in slots.chunks(MAX_TRANSACTION_ITEMS) {
        let ops = chunk
            .iter()
            .map(|&slot| TxOp::put(churn_item(&table, &index, slot), Condition::NotExists))
            .collect();
        ok(store.transact(ops).await, "seeding the churn partition");
    }
    let seeded: Vec<Key> = slots
        .iter()
        .map(|&slot| churn_item(&table, &index, slot).key)
        .collect();

    for (which, pk) in [(Index::Primary, &table), (Index::Gsi1, &index)] {
        settled_walk(store, Query::new(which, pk), has_keys(&seeded)).await;
        let (stop, writes) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
        );
        let writer = tokio::spawn(churn(
            store.clone(),
            table.clone(),
            index.clone(),
            stop.clone(),
            writes.clone(),
        ));
        let pages = pages_with(store, Query::new(which, pk).limit(7), || {
            pace(&writes, &writer)
        })
        .await;
        stop.store(true, Ordering::SeqCst);
        for key in join(writer).await {
            ok(
                store.delete(&key, Condition::None).await,
                "cleaning up after the writer",
            );
        }

        let writes = writes.load(Ordering::SeqCst);
        assert!(
            writes >= 2 * (pages.len() - 1),
            "the writer wrote only {writes} times during a walk of {} pages",
            pages.len()
        );
        let mut seen: HashMap<&Key, usize> = HashMap::new();
        for item in pages.iter().flatten() {
            *seen.entry(&item.key).or_default() += 1;
        }
        if let Some((key, times)) = seen.iter().find(|(_, times)| **times > 1) {
            panic!("a walk of {which:?} under concurrent writes answered {key} {times} times");
        }
        for key in &seeded {
            assert!(
                seen.contains_key(key),
                "a walk of {which:?} under concurrent writes skipped {key}, which existed throughout"
            );
        }
    }
}

/// Optimistic concurrency loses no update: tasks racing to increment one
/// counter with version-conditioned puts, retrying on conflict, all land.
pub async fn concurrent_increments_lose_nothing(store: &Arc<dyn ItemStore>, ns: &str) {
    let key = Key::new(part(ns, "counter"), "counter");
    ok(
        store.put(doc(&key, 0), Condition::NotExists).await,
        "creating the counter",
    );
    let tasks: Vec<_> = (0..INCREMENTERS)
        .map(|_| tokio::spawn(increment(store.clone(), key.clone())))
        .collect();
    for task in tasks {
        join(task).await;
    }
    let counter = get(store, &key).await.expect("the counter exists");
    assert_eq!(
        n_of_item(&counter),
        INCREMENTERS as i64,
        "{INCREMENTERS} racing conditional increments: some were lost"
    );
    assert_eq!(
        counter.version,
        INCREMENTERS as u64 + 1,
        "the counter's version after {INCREMENTERS} increments"
    );
}

/// Adds 1 to the counter at `key`, retrying while other writers win.
async fn increment(store: Arc<dyn ItemStore>, key: Key) {
    for _ in 0..10_000 {
        let current = get(&store, &key).await.expect("the counter exists");
        let next = doc(&key, n_of_item(&current) + 1);
        match store.put(next, Condition::Version(current.version)).await {
            Ok(version) => {
                assert_eq!(
                    version,
                    current.version + 1,
                    "a put conditioned on version {} answered version {version}",
                    current.version
                );
                return;
            }
            Err(StoreError::ConditionFailed { .. }) => tokio::task::yield_now().await,
            Err(e) => panic!("conditional increment of {key}: unexpected store error: {e}"),
        }
    }
    panic!("an increment of {key} still conflicted after 10000 attempts");
}

/// The writer of [`paging_is_stable_under_concurrent_writes`]: inserts items
/// between the seeded ones and deletes its own older insertions, until told
/// to stop. Answers the keys it left behind.
async fn churn(
    store: Arc<dyn ItemStore>,
    table: String,
    index: String,
    stop: Arc<AtomicBool>,
    writes: Arc<AtomicUsize>,
) -> Vec<Key> {
    let mut inserted = VecDeque::new();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) && n < 100_000 {
        // 37 is prime to CHURN_SEEDED, so this visits every gap in turn.
        let slot = (n * 37 % CHURN_SEEDED) * 10 + 1 + n % 9;
        let item = churn_item(&table, &index, slot);
        if !inserted.contains(&item.key) {
            inserted.push_back(item.key.clone());
        }
        ok(store.put(item, Condition::None).await, "concurrent insert");
        if inserted.len() > 4 {
            let old = inserted.pop_front().expect("the queue is not empty");
            ok(
                store.delete(&old, Condition::None).await,
                "concurrent delete",
            );
        }
        writes.fetch_add(1, Ordering::SeqCst);
        n += 1;
    }
    inserted.into()
}

fn churn_item(table: &str, index: &str, slot: usize) -> Item {
    let sk = format!("{slot:05}");
    doc(&Key::new(table, &sk), slot as i64).with_gsi1(index, sk)
}

/// Waits until the writer has written twice more (or stopped), so that the
/// pages of a walk are always separated by concurrent writes.
async fn pace(writes: &AtomicUsize, writer: &JoinHandle<Vec<Key>>) {
    let target = writes.load(Ordering::SeqCst) + 2;
    while writes.load(Ordering::SeqCst) < target && !writer.is_finished() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

// ---- helpers ----

/// A partition key inside the namespace.
fn part(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

/// A small item whose document holds one number.
fn doc(key: &Key, n: i64) -> Item {
    Item::new(key.clone(), json!({ "n": n }))
}

fn n_of_item(item: &Item) -> i64 {
    item.value()
        .ok()
        .and_then(|v| v["n"].as_i64())
        .unwrap_or_else(|| panic!("{} has no number in {}", item.key, item.data))
}

/// The number [`index_queries_page_through_ties`] stores in the item at `key`.
fn n_of(key: &Key) -> i64 {
    key.sk["item#".len()..].parse().expect("an index test key")
}

fn now() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is past 1970");
    since_epoch.as_secs() as i64
}

fn sort_keys(items: &[Item]) -> Vec<&str> {
    items.iter().map(|item| item.key.sk.as_str()).collect()
}

fn sorted_keys<'a>(keys: impl IntoIterator<Item = &'a Key>) -> Vec<&'a Key> {
    let mut keys: Vec<&Key> = keys.into_iter().collect();
    keys.sort();
    keys
}

/// Whether `items` are exactly the items at `want`, each once, in any order.
fn has_keys(want: &[Key]) -> impl Fn(&[Item]) -> bool + '_ {
    move |items| sorted_keys(items.iter().map(|item| &item.key)) == sorted_keys(want)
}

#[track_caller]
fn assert_same_keys(items: &[Item], want: &[Key], what: &str) {
    assert_eq!(
        sorted_keys(items.iter().map(|item| &item.key)),
        sorted_keys(want),
        "{what}: not exactly the expected items, each once"
    );
}

#[track_caller]
fn ok<T>(result: StoreResult<T>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: unexpected store error: {e}"),
    }
}

#[track_caller]
fn refused<T: Debug>(result: StoreResult<T>, key: &Key, what: &str) {
    match result {
        Err(StoreError::ConditionFailed { key: failed }) => {
            assert_eq!(&failed, key, "{what}: ConditionFailed names the wrong key")
        }
        other => panic!("{what}: expected ConditionFailed on {key}, got {other:?}"),
    }
}

#[track_caller]
fn cancelled_at(result: StoreResult<()>, failed: &[usize], what: &str) {
    match result {
        Err(StoreError::TransactionCancelled { failed: at }) => assert_eq!(
            at, failed,
            "{what}: TransactionCancelled must name exactly the failing operations"
        ),
        other => panic!("{what}: expected TransactionCancelled at {failed:?}, got {other:?}"),
    }
}

#[track_caller]
fn invalid<T: Debug>(result: StoreResult<T>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Invalid(_))),
        "{what}: expected StoreError::Invalid, got {result:?}"
    );
}

async fn get(store: &Arc<dyn ItemStore>, key: &Key) -> Option<Item> {
    match store.get(key).await {
        Ok(item) => item,
        Err(e) => panic!("get {key}: unexpected store error: {e}"),
    }
}

async fn snapshot(store: &Arc<dyn ItemStore>, keys: &[Key]) -> Vec<Option<Item>> {
    let mut items = Vec::with_capacity(keys.len());
    for key in keys {
        items.push(get(store, key).await);
    }
    items
}

/// Resumes a spawned task's panic in the caller, so the suite fails with it.
async fn join<T>(task: JoinHandle<T>) -> T {
    match task.await {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("a spawned task failed: {e}"),
    }
}

async fn walk(store: &Arc<dyn ItemStore>, query: Query) -> Vec<Item> {
    pages(store, query).await.concat()
}

async fn pages(store: &Arc<dyn ItemStore>, query: Query) -> Vec<Vec<Item>> {
    pages_with(store, query, || async {}).await
}

/// Every page of a query, following each cursor through its text form as a
/// client would, and awaiting `between` between pages. Checks what holds of
/// every walk: pages within the limit, every item in the queried partition
/// with the queried prefix, in ascending order of index sort key (strictly,
/// on the table), and cursors that move on.
async fn pages_with<F, Fut>(
    store: &Arc<dyn ItemStore>,
    mut query: Query,
    mut between: F,
) -> Vec<Vec<Item>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let index = query.index;
    let mut pages = Vec::new();
    let mut last: Option<Key> = None;
    loop {
        let page = ok(store.query(query.clone()).await, &format!("{query:?}"));
        assert!(
            page.items.len() <= query.limit.max(1),
            "{query:?} answered {} items",
            page.items.len()
        );
        for item in &page.items {
            let at = item.index_key(index).unwrap_or_else(|| {
                panic!("{query:?} answered {}, which has no key in it", item.key)
            });
            assert_eq!(
                at.pk, query.pk,
                "{query:?} answered {} from another partition",
                item.key
            );
            if let Some(prefix) = &query.sk_prefix {
                assert!(
                    at.sk.starts_with(prefix.as_str()),
                    "{query:?} answered {} ({at})",
                    item.key
                );
            }
            if let Some(last) = &last {
                let ascending = if index == Index::Primary {
                    last.sk < at.sk
                } else {
                    last.sk <= at.sk
                };
                assert!(
                    ascending,
                    "{query:?} answered {at} after {last}: out of order"
                );
            }
            last = Some(at.clone());
        }
        pages.push(page.items);
        let Some(next) = page.next else {
            return pages;
        };
        assert!(
            pages.len() < MAX_WALK_PAGES,
            "{query:?}: still a next page after {MAX_WALK_PAGES} pages"
        );
        assert_ne!(
            query.after.as_ref(),
            Some(&next),
            "{query:?}: the cursor did not move"
        );
        let text = next.encode();
        let decoded = Cursor::decode(&text);
        assert_eq!(
            decoded.as_ref(),
            Some(&next),
            "cursor {next:?} does not survive its text {text:?}"
        );
        query.after = decoded;
        between().await;
    }
}

/// Walks `query` until `done` holds of what it answers, for a while on an
/// index (which may be eventually consistent), at once on the table.
async fn settled_walk(
    store: &Arc<dyn ItemStore>,
    query: Query,
    done: impl Fn(&[Item]) -> bool,
) -> Vec<Item> {
    let deadline = Instant::now() + INDEX_SETTLE;
    loop {
        let items = walk(store, query.clone()).await;
        if done(&items) || query.index == Index::Primary || Instant::now() >= deadline {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
