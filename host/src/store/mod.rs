//! The item store: a key-value store shaped like DynamoDB, so that the same
//! service code runs on an embedded SQLite file and on a DynamoDB table.
//!
//! The model, and the only things callers may rely on:
//! - an [`Item`] has a partition key (`pk`), a sort key (`sk`), a `version`
//!   the store maintains (1 on creation, +1 on every write), up to two
//!   secondary-index key pairs, an optional expiry, and a JSON document;
//! - every write may carry a [`Condition`], checked atomically with the write;
//! - [`ItemStore::transact`] applies up to [`MAX_TRANSACTION_ITEMS`] writes and
//!   checks all or nothing;
//! - [`ItemStore::query`] reads one partition of the table or of an index in
//!   sort-key order, a page at a time, continuing after an opaque [`Cursor`].
//!   Paging is keyset paging: an item that exists throughout a walk is seen
//!   exactly once, whatever is written meanwhile.
//!
//! Expired items (`expires_at` in the past) are invisible to reads, as with
//! DynamoDB's TTL (which deletes lazily and which readers must filter too).

pub mod dynamodb;
pub mod keys;
pub mod record;
pub mod sqlite;

use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// DynamoDB's TransactWriteItems limit, kept by every backend.
pub const MAX_TRANSACTION_ITEMS: usize = 100;
/// The largest page a query answers.
pub const MAX_PAGE: usize = 1000;
/// The largest encoded item any backend accepts (DynamoDB's limit is 400 KB
/// including attribute names; we keep a margin for them).
pub const MAX_ITEM_BYTES: usize = 380 * 1024;

/// The primary key of an item.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.pk, self.sk)
    }
}

/// Which ordering a query walks: the table itself or a secondary index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Index {
    /// The table: partition `pk`, ordered by `sk`.
    Primary,
    /// Global secondary index 1: partition `gsi1pk`, ordered by `gsi1sk`.
    Gsi1,
    /// Global secondary index 2: partition `gsi2pk`, ordered by `gsi2sk`.
    Gsi2,
}

/// One stored item.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub key: Key,
    /// Maintained by the store; ignored on writes.
    pub version: u64,
    pub gsi1: Option<Key>,
    pub gsi2: Option<Key>,
    /// Seconds since the Unix epoch after which the item is gone.
    pub expires_at: Option<i64>,
    /// The document as JSON text (an object). Kept as text from the backend
    /// to the caller's type and back: no intermediate `serde_json::Value`.
    pub data: String,
}

impl Item {
    pub fn new(key: Key, data: serde_json::Value) -> Self {
        Self::json(key, data.to_string())
    }

    /// An item whose document is already JSON text.
    pub fn json(key: Key, data: String) -> Self {
        Self {
            key,
            version: 0,
            gsi1: None,
            gsi2: None,
            expires_at: None,
            data,
        }
    }

    /// An item holding `record` serialized as it is.
    pub fn record<T: serde::Serialize>(key: Key, record: &T) -> Result<Self, StoreError> {
        serde_json::to_string(record)
            .map(|text| Self::json(key.clone(), text))
            .map_err(|e| StoreError::Invalid(format!("{key}: {e}")))
    }

    pub fn with_gsi1(mut self, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.gsi1 = Some(Key::new(pk, sk));
        self
    }

    pub fn with_gsi2(mut self, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.gsi2 = Some(Key::new(pk, sk));
        self
    }

    pub fn expiring_at(mut self, unix_seconds: i64) -> Self {
        self.expires_at = Some(unix_seconds);
        self
    }

    /// The document, decoded into a type.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, StoreError> {
        serde_json::from_str(&self.data)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", self.key)))
    }

    /// The document as a JSON value.
    pub fn value(&self) -> Result<serde_json::Value, StoreError> {
        self.decode()
    }

    /// The key pair this item has in `index`, if it is in that index.
    pub fn index_key(&self, index: Index) -> Option<&Key> {
        match index {
            Index::Primary => Some(&self.key),
            Index::Gsi1 => self.gsi1.as_ref(),
            Index::Gsi2 => self.gsi2.as_ref(),
        }
    }
}

/// A precondition on the current state of one item, checked atomically with
/// the write it guards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// No precondition.
    None,
    /// The item must not exist (create).
    NotExists,
    /// The item must exist, at any version.
    Exists,
    /// The item must exist at exactly this version (optimistic concurrency).
    Version(u64),
}

/// One write of a transaction.
#[derive(Clone, Debug)]
pub enum TxOp {
    Put {
        item: Item,
        condition: Condition,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
    /// Checks a condition on an item without writing it.
    Check {
        key: Key,
        condition: Condition,
    },
}

impl TxOp {
    pub fn key(&self) -> &Key {
        match self {
            TxOp::Put { item, .. } => &item.key,
            TxOp::Delete { key, .. } | TxOp::Check { key, .. } => key,
        }
    }
    pub fn condition(&self) -> Condition {
        match self {
            TxOp::Put { condition, .. }
            | TxOp::Delete { condition, .. }
            | TxOp::Check { condition, .. } => *condition,
        }
    }
    pub fn put(item: Item, condition: Condition) -> Self {
        TxOp::Put { item, condition }
    }
    pub fn delete(key: Key, condition: Condition) -> Self {
        TxOp::Delete { key, condition }
    }
    pub fn check(key: Key, condition: Condition) -> Self {
        TxOp::Check { key, condition }
    }
}

/// An opaque position in a query: the keys of the last item seen. Clients
/// carry it as a string; it is only ever decoded by the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The index key of the last item (for [`Index::Primary`] its table key).
    #[serde(rename = "i")]
    pub index_key: Key,
    /// The table key of the last item: breaks ties between equal index keys.
    #[serde(rename = "t")]
    pub table_key: Key,
}

impl Cursor {
    /// The position just after `item` in a walk of `index`.
    pub fn after(index: Index, item: &Item) -> Option<Cursor> {
        Some(Cursor {
            index_key: item.index_key(index)?.clone(),
            table_key: item.key.clone(),
        })
    }

    /// URL-safe text for clients.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("cursor serialises");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// The inverse of [`Cursor::encode`]; `None` for anything else.
    pub fn decode(text: &str) -> Option<Cursor> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// A query of one partition of the table or of an index.
#[derive(Clone, Debug)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    /// Only sort keys starting with this.
    pub sk_prefix: Option<String>,
    /// Continue after this position (from a previous page).
    pub after: Option<Cursor>,
    /// At most this many items (capped at [`MAX_PAGE`]).
    pub limit: usize,
}

impl Query {
    /// Whether `cursor` is a position in the partition this query reads. A
    /// cursor carries the keys it resumes after, and a client can send any:
    /// one from another list (another tenant's, say) is refused, so no
    /// backend starts a query of one partition from a key in another.
    pub fn resumes_from(&self, cursor: &Cursor) -> bool {
        let index = &cursor.index_key;
        index.pk == self.pk
            && self
                .sk_prefix
                .as_ref()
                .is_none_or(|prefix| index.sk.starts_with(prefix.as_str()))
            && (self.index != Index::Primary || cursor.table_key == *index)
    }

    pub fn new(index: Index, pk: impl Into<String>) -> Self {
        Self {
            index,
            pk: pk.into(),
            sk_prefix: None,
            after: None,
            limit: 100,
        }
    }
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.sk_prefix = Some(prefix.into());
        self
    }
    pub fn after(mut self, cursor: Option<Cursor>) -> Self {
        self.after = cursor;
        self
    }
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }
}

/// A page of a query.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Where the next page starts; `None` when the partition is exhausted.
    pub next: Option<Cursor>,
}

impl Page {
    /// A page from up to `limit + 1` items read in `index` order: the extra
    /// one only says that more follow, and is dropped.
    pub fn from_lookahead(mut items: Vec<Item>, limit: usize, index: Index) -> Self {
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().and_then(|i| Cursor::after(index, i))
        } else {
            None
        };
        Self { items, next }
    }
}

/// The commits a store made and the writes they carried, for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitGroups {
    /// `(upper bound of the group size, commits with a size in that
    /// bucket)`, not cumulative.
    pub buckets: Vec<(usize, u64)>,
    pub commits: u64,
    pub writes: u64,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A single write's condition did not hold.
    #[error("condition failed on {key}")]
    ConditionFailed { key: Key },
    /// A transaction was refused and wrote nothing. `failed` holds the index
    /// of each operation whose condition did not hold.
    #[error("transaction cancelled: conditions failed at {failed:?}")]
    TransactionCancelled { failed: Vec<usize> },
    /// The request itself is invalid (too many items, the same key twice in
    /// a transaction, an item too large).
    #[error("invalid store request: {0}")]
    Invalid(String),
    /// Stored data could not be decoded.
    #[error("corrupt item {0}")]
    Corrupt(String),
    /// The backend failed.
    #[error("store backend: {0}")]
    Backend(String),
}

impl StoreError {
    /// True when the failure was a precondition, not a fault.
    pub fn is_condition(&self) -> bool {
        matches!(
            self,
            StoreError::ConditionFailed { .. } | StoreError::TransactionCancelled { .. }
        )
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The store every service writes through. Implemented by SQLite (embedded)
/// and DynamoDB (at scale); both pass the conformance suite
/// (`bbws_testkit::store_conformance`).
#[async_trait]
pub trait ItemStore: Send + Sync + 'static {
    /// A strongly consistent read of one item.
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>>;

    /// Creates or replaces an item if `condition` holds; answers the new version.
    async fn put(&self, item: Item, condition: Condition) -> StoreResult<u64>;

    /// Deletes an item if `condition` holds. Deleting a missing item with
    /// [`Condition::None`] succeeds.
    async fn delete(&self, key: &Key, condition: Condition) -> StoreResult<()>;

    /// Applies every operation or none. At most [`MAX_TRANSACTION_ITEMS`]
    /// operations, each on a distinct key.
    async fn transact(&self, ops: Vec<TxOp>) -> StoreResult<()>;

    /// Writes many items without conditions or versions: each is stored at
    /// version 1, replacing whatever had its key. The call fails or every
    /// item lands, but not all or nothing as a whole (DynamoDB's
    /// BatchWriteItem, not a transaction). For append-only records with
    /// fresh keys, such as the decision log. Each item on a distinct key.
    async fn put_many(&self, items: Vec<Item>) -> StoreResult<()>;

    /// One page of a partition, in ascending sort-key order.
    async fn query(&self, query: Query) -> StoreResult<Page>;

    /// Whether the backend answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;

    /// How many writes each commit carried, where the backend groups
    /// commits (SQLite); `None` elsewhere.
    fn commit_groups(&self) -> Option<CommitGroups> {
        None
    }

    /// Deletes up to `limit` items whose expiry has passed and answers how
    /// many it deleted. Expired items are invisible either way; this gives
    /// their space back. Backends whose service expires items on its own
    /// (DynamoDB's TTL) keep this default.
    async fn purge_expired(&self, _limit: usize) -> StoreResult<usize> {
        Ok(0)
    }
}

/// The size check every backend applies to an item before writing it.
pub fn check_item_size(item: &Item) -> StoreResult<()> {
    let size = item.data.len() + item.key.pk.len() + item.key.sk.len();
    if size > MAX_ITEM_BYTES {
        return Err(StoreError::Invalid(format!(
            "item {} is {size} bytes; the limit is {MAX_ITEM_BYTES}",
            item.key
        )));
    }
    Ok(())
}

/// Validation every backend applies to a transaction before touching data.
pub fn check_transaction(ops: &[TxOp]) -> StoreResult<()> {
    if ops.is_empty() {
        return Err(StoreError::Invalid("empty transaction".into()));
    }
    if ops.len() > MAX_TRANSACTION_ITEMS {
        return Err(StoreError::Invalid(format!(
            "{} operations in one transaction; the limit is {MAX_TRANSACTION_ITEMS}",
            ops.len()
        )));
    }
    let mut keys: Vec<&Key> = ops.iter().map(TxOp::key).collect();
    keys.sort();
    if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
        return Err(StoreError::Invalid(format!(
            "key {} appears twice in one transaction",
            w[0]
        )));
    }
    Ok(())
}

/// Whether `condition` holds for an item currently at `current` (None: absent).
pub fn condition_holds(condition: Condition, current: Option<u64>) -> bool {
    match condition {
        Condition::None => true,
        Condition::NotExists => current.is_none(),
        Condition::Exists => current.is_some(),
        Condition::Version(v) => current == Some(v),
    }
}
