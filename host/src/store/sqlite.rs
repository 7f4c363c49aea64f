//! The embedded [`ItemStore`]: one SQLite file in WAL mode.
//!
//! One table holds every item, with a partial index per secondary index, so
//! the single-table layout is the same as on DynamoDB. Reads use a small
//! pool of read-only connections and run inline: a point read from the page
//! cache takes microseconds, less than a hop to a blocking thread would.
//!
//! **Group commit.** Every write goes to one writer thread, which owns the
//! only writing connection (SQLite has one writer anyway). The thread takes
//! every write waiting when it is free, up to [`MAX_GROUP`], and runs them in
//! one SQLite transaction, each inside a savepoint of its own: a write whose
//! condition fails (or that fails at all) rolls back to its savepoint and
//! fails alone, while the others go on, in arrival order, each seeing the
//! writes before it. Every caller is answered only after the group's COMMIT
//! returned; if the COMMIT fails, every write of the group fails. Under load
//! a commit (its WAL frames, the page writes of the b-trees the group
//! shares) is paid once per group rather than once per write.
//!
//! **Durability.** `journal_mode = WAL` with `synchronous = NORMAL`: a
//! COMMIT has written its frames to the WAL (the OS holds them) before any
//! caller is answered, so a killed process loses no acknowledged write
//! (`host/tests/sigkill.rs` kills a server under load to show it); the
//! WAL is fsynced at checkpoints, so a power loss may lose the last
//! commits. Grouping changes neither.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use super::{
    CommitGroups, Condition, Index, Item, ItemStore, Key, MAX_PAGE, Page, Query, StoreError,
    StoreResult, TxOp, check_item_size, check_transaction, condition_holds,
};

// A rowid table with a unique key index, not WITHOUT ROWID: a WITHOUT ROWID
// b-tree keeps rows of more than about 1 KB on overflow pages, and the
// decision log's 1 KB records then took 4.8 KB of disk each (75% of every
// page unused) and most of the write path's time.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    version INTEGER NOT NULL,
    gsi1pk TEXT, gsi1sk TEXT,
    gsi2pk TEXT, gsi2sk TEXT,
    expires_at INTEGER,
    data TEXT NOT NULL,
    UNIQUE (pk, sk)
);
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi2 ON items (gsi2pk, gsi2sk, pk, sk) WHERE gsi2pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_expiry ON items (expires_at) WHERE expires_at IS NOT NULL;
";

const COLUMNS: &str = "pk, sk, version, gsi1pk, gsi1sk, gsi2pk, gsi2sk, expires_at, data";

/// Writes one commit may group at most.
pub const MAX_GROUP: usize = 256;

/// Writes waiting for the writer at most; more make their callers wait
/// (backpressure).
const WRITE_QUEUE: usize = 4096;

/// The upper bounds of the commit group size histogram's buckets.
const GROUP_BUCKETS: [usize; 7] = [1, 2, 4, 8, 16, 64, MAX_GROUP];

/// The SQLite backend. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// To the writer thread; dropping the last one ends it.
    writes: mpsc::Sender<Write>,
    readers: Mutex<Vec<Connection>>,
    groups: Arc<GroupSizes>,
}

/// One write for the writer thread: it runs inside the group's transaction
/// and gives back how to answer its caller once the group has committed.
/// It is given no connection when its group failed before it could run.
type Write = Box<dyn FnOnce(Option<&Connection>) -> Ran + Send>;

/// A write that has run, not yet answered.
struct Ran {
    /// The write failed: roll back to its savepoint.
    failed: bool,
    /// Answers the caller, given the group's COMMIT outcome.
    answer: Answer,
}

/// Tells a write's caller how its group's COMMIT went (`Err` carries why
/// it did not commit).
type Answer = Box<dyn FnOnce(Result<(), &str>) + Send>;

/// How many writes each commit carried: a histogram.
#[derive(Default)]
struct GroupSizes {
    buckets: [AtomicU64; GROUP_BUCKETS.len()],
    commits: AtomicU64,
    writes: AtomicU64,
}

impl GroupSizes {
    fn observe(&self, size: usize) {
        let bucket = GROUP_BUCKETS.iter().position(|b| size <= *b).unwrap_or(0);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.writes.fetch_add(size as u64, Ordering::Relaxed);
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Creates `path` empty with mode 0600 if it does not exist.
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`. A new file
    /// is readable by its owner only (0600); SQLite gives its `-wal` and
    /// `-shm` files the same mode.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        create_private(&path)
            .map_err(|e| StoreError::Backend(format!("creating {}: {e}", path.display())))?;
        let writer = Connection::open(&path).map_err(backend)?;
        writer
            .execute_batch(
                // WAL lets readers run beside the writer; NORMAL syncs at
                // checkpoints, which in WAL mode loses nothing on a process
                // crash (only on power loss before a checkpoint).
                // SQLite's checkpoint every 1,000 pages stays: one every
                // 8,192 gave unpinned writes 13-17% more and tripled their
                // p99 (a 32 MiB checkpoint stalls the one writer).
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;",
            )
            .map_err(backend)?;
        configure(&writer)?;
        writer.execute_batch(SCHEMA).map_err(backend)?;
        let (writes, queue) = mpsc::channel(WRITE_QUEUE);
        let groups = Arc::new(GroupSizes::default());
        let sizes = groups.clone();
        std::thread::Builder::new()
            .name("bbws-sqlite-writer".into())
            .spawn(move || run_writer(writer, queue, &sizes))
            .map_err(|e| StoreError::Backend(format!("starting the writer thread: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                writes,
                readers: Mutex::new(Vec::new()),
                groups,
            }),
        })
    }

    /// The commits this store made so far, by how many writes each carried.
    fn groups(&self) -> CommitGroups {
        let g = &self.inner.groups;
        CommitGroups {
            buckets: GROUP_BUCKETS
                .iter()
                .zip(&g.buckets)
                .map(|(bound, n)| (*bound, n.load(Ordering::Relaxed)))
                .collect(),
            commits: g.commits.load(Ordering::Relaxed),
            writes: g.writes.load(Ordering::Relaxed),
        }
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let conn = self.inner.readers.lock().pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.inner.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(backend)?;
                configure(&c)?;
                c
            }
        };
        let out = f(&conn);
        let mut pool = self.inner.readers.lock();
        if pool.len() < 16 {
            pool.push(conn);
        }
        out
    }

    /// Runs `f` on the writer thread, in the next commit group, and
    /// answers once that group has committed. `f` runs inside a savepoint:
    /// when it fails, what it wrote is rolled back and nothing else is.
    async fn with_writer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (answer, answered) = oneshot::channel();
        let write: Write = Box::new(move |conn| {
            // `None`: the group failed before this write ran.
            let result = conn.map(f);
            Ran {
                failed: !matches!(result, Some(Ok(_))),
                answer: Box::new(move |commit| {
                    let _ = answer.send(match (commit, result) {
                        (Ok(()), Some(result)) => result,
                        // Its own failure stays the answer: it wrote nothing
                        // either way.
                        (Err(_), Some(Err(own))) => Err(own),
                        (Err(e), _) => Err(StoreError::Backend(format!("not committed: {e}"))),
                        (Ok(()), None) => Err(StoreError::Backend("not run".into())),
                    });
                }),
            }
        });
        let gone = || StoreError::Backend("the SQLite writer has stopped".into());
        self.inner.writes.send(write).await.map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}

/// The writer thread: takes what waits, commits it as one group, answers.
fn run_writer(mut conn: Connection, mut queue: mpsc::Receiver<Write>, sizes: &GroupSizes) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = queue.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(write) => group.push(write),
                Err(_) => break,
            }
        }
        sizes.observe(group.len());
        commit_group(&mut conn, group.drain(..));
    }
}

/// One transaction for every write of `group`, each in a savepoint.
fn commit_group(conn: &mut Connection, group: impl ExactSizeIterator<Item = Write>) {
    let mut ran: Vec<Ran> = Vec::with_capacity(group.len());
    let fail_all = |ran: Vec<Ran>, rest: &mut dyn Iterator<Item = Write>, why: &str| {
        for r in ran {
            (r.answer)(Err(why));
        }
        for write in rest {
            (write(None).answer)(Err(why));
        }
    };
    let mut group = group;
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        return fail_all(ran, &mut group, &e.to_string());
    }
    while let Some(write) = group.next() {
        if let Err(e) = conn.execute_batch("SAVEPOINT write") {
            let _ = conn.execute_batch("ROLLBACK");
            return fail_all(
                ran,
                &mut std::iter::once(write).chain(group),
                &e.to_string(),
            );
        }
        // A write that panics fails alone (its caller sees the writer's
        // answer dropped), as it did on a blocking task of its own; the
        // thread and the group go on.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write(Some(conn))))
            .unwrap_or_else(|_| Ran {
                failed: true,
                answer: Box::new(|_| {}),
            });
        let closed = if r.failed {
            conn.execute_batch("ROLLBACK TO write; RELEASE write")
        } else {
            conn.execute_batch("RELEASE write")
        };
        ran.push(r);
        // An I/O error or a full disk can make SQLite roll back the whole
        // transaction by itself: then the group's earlier writes are gone
        // too, and none of it may be acknowledged.
        let lost = match closed {
            Err(e) => Some(e.to_string()),
            Ok(()) if conn.is_autocommit() => Some("the transaction was rolled back".into()),
            Ok(()) => None,
        };
        if let Some(why) = lost {
            let _ = conn.execute_batch("ROLLBACK");
            return fail_all(ran, &mut group, &why);
        }
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => {
            for r in ran {
                (r.answer)(Ok(()));
            }
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            fail_all(ran, &mut group, &e.to_string());
        }
    }
}

/// Settings every connection gets.
fn configure(conn: &Connection) -> StoreResult<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(backend)?;
    // Without the query planner stability guarantee, binding a new LIMIT
    // value expires the cached statement and SQLite re-plans it on every
    // call: that was 44% of an authorized read's instructions.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map_err(backend)?;
    // Reads through a memory map instead of a pread per page: the request
    // path's reads are point look-ups, and a syscall each was measurable.
    conn.pragma_update(None, "mmap_size", 256i64 << 20)
        .map_err(backend)?;
    Ok(())
}

fn row_to_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    let pair = |a: Option<String>, b: Option<String>| match (a, b) {
        (Some(pk), Some(sk)) => Some(Key { pk, sk }),
        _ => None,
    };
    let item = Item {
        key: Key {
            pk: row.get(0)?,
            sk: row.get(1)?,
        },
        version: row.get::<_, i64>(2)? as u64,
        gsi1: pair(row.get(3)?, row.get(4)?),
        gsi2: pair(row.get(5)?, row.get(6)?),
        expires_at: row.get(7)?,
        data: row.get(8)?,
    };
    Ok(item)
}

/// The live version of an item, treating an expired one as absent.
fn current_version(conn: &Connection, key: &Key, now: i64) -> StoreResult<Option<u64>> {
    conn.prepare_cached(
        "SELECT version FROM items WHERE pk = ?1 AND sk = ?2
         AND (expires_at IS NULL OR expires_at > ?3)",
    )
    .map_err(backend)?
    .query_row(params![key.pk, key.sk, now], |r| r.get::<_, i64>(0))
    .optional()
    .map(|v| v.map(|v| v as u64))
    .map_err(backend)
}

fn write_put(conn: &Connection, item: &Item, version: u64) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO items (pk, sk, version, gsi1pk, gsi1sk, gsi2pk, gsi2sk, expires_at, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .map_err(backend)?
    .execute(params![
        item.key.pk,
        item.key.sk,
        version as i64,
        item.gsi1.as_ref().map(|k| &k.pk),
        item.gsi1.as_ref().map(|k| &k.sk),
        item.gsi2.as_ref().map(|k| &k.pk),
        item.gsi2.as_ref().map(|k| &k.sk),
        item.expires_at,
        item.data,
    ])
    .map_err(backend)?;
    Ok(())
}

fn write_delete(conn: &Connection, key: &Key) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")
        .map_err(backend)?
        .execute(params![key.pk, key.sk])
        .map_err(backend)?;
    Ok(())
}

fn query_sql(index: Index, prefix: bool, after: bool) -> String {
    let (pk, sk) = match index {
        Index::Primary => ("pk", "sk"),
        Index::Gsi1 => ("gsi1pk", "gsi1sk"),
        Index::Gsi2 => ("gsi2pk", "gsi2sk"),
    };
    let mut sql = format!(
        "SELECT {COLUMNS} FROM items WHERE {pk} = ?1 AND (expires_at IS NULL OR expires_at > ?2)"
    );
    if prefix {
        sql.push_str(&format!(
            " AND {sk} >= ?3 AND substr({sk}, 1, length(?3)) = ?3"
        ));
    }
    if after {
        match index {
            Index::Primary => sql.push_str(" AND sk > ?4"),
            _ => sql.push_str(&format!(" AND ({sk}, pk, sk) > (?4, ?5, ?6)")),
        }
    }
    match index {
        Index::Primary => sql.push_str(" ORDER BY sk"),
        _ => sql.push_str(&format!(" ORDER BY {sk}, pk, sk")),
    }
    sql.push_str(" LIMIT ?7");
    sql
}

#[async_trait]
impl ItemStore for SqliteStore {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        self.with_reader(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM items WHERE pk = ?1 AND sk = ?2
                     AND (expires_at IS NULL OR expires_at > ?3)"
                ))
                .map_err(backend)?;
            stmt.query_row(params![key.pk, key.sk, now_unix()], row_to_item)
                .optional()
                .map_err(backend)
        })
    }

    async fn put(&self, item: Item, condition: Condition) -> StoreResult<u64> {
        check_item_size(&item)?;
        self.with_writer(move |conn| {
            let current = current_version(conn, &item.key, now_unix())?;
            if !condition_holds(condition, current) {
                return Err(StoreError::ConditionFailed { key: item.key });
            }
            let version = current.unwrap_or(0) + 1;
            write_put(conn, &item, version)?;
            Ok(version)
        })
        .await
    }

    async fn delete(&self, key: &Key, condition: Condition) -> StoreResult<()> {
        let key = key.clone();
        self.with_writer(move |conn| {
            let current = current_version(conn, &key, now_unix())?;
            if !condition_holds(condition, current) {
                return Err(StoreError::ConditionFailed { key });
            }
            write_delete(conn, &key)
        })
        .await
    }

    async fn transact(&self, ops: Vec<TxOp>) -> StoreResult<()> {
        check_transaction(&ops)?;
        for op in &ops {
            if let TxOp::Put { item, .. } = op {
                check_item_size(item)?;
            }
        }
        self.with_writer(move |tx| {
            let now = now_unix();
            let mut versions = Vec::with_capacity(ops.len());
            let mut failed = Vec::new();
            for (i, op) in ops.iter().enumerate() {
                let current = current_version(tx, op.key(), now)?;
                if !condition_holds(op.condition(), current) {
                    failed.push(i);
                }
                versions.push(current);
            }
            if !failed.is_empty() {
                // Nothing was written yet (and the savepoint rolls back).
                return Err(StoreError::TransactionCancelled { failed });
            }
            for (op, current) in ops.iter().zip(versions) {
                match op {
                    TxOp::Put { item, .. } => write_put(tx, item, current.unwrap_or(0) + 1)?,
                    TxOp::Delete { key, .. } => write_delete(tx, key)?,
                    TxOp::Check { .. } => {}
                }
            }
            Ok(())
        })
        .await
    }

    async fn put_many(&self, items: Vec<Item>) -> StoreResult<()> {
        for item in &items {
            check_item_size(item)?;
        }
        self.with_writer(move |conn| {
            for item in &items {
                write_put(conn, item, 1)?;
            }
            Ok(())
        })
        .await
    }

    async fn query(&self, query: Query) -> StoreResult<Page> {
        let limit = query.limit.clamp(1, MAX_PAGE);
        if let Some(after) = &query.after
            && !query.resumes_from(after)
        {
            return Err(StoreError::Invalid(
                "a query resumed from a position in another partition".into(),
            ));
        }
        let sql = query_sql(
            query.index,
            query.sk_prefix.is_some(),
            query.after.is_some(),
        );
        let (after_sk, after_pk, after_tsk) = match &query.after {
            Some(c) if query.index == Index::Primary => (Some(c.table_key.sk.clone()), None, None),
            Some(c) => (
                Some(c.index_key.sk.clone()),
                Some(c.table_key.pk.clone()),
                Some(c.table_key.sk.clone()),
            ),
            None => (None, None, None),
        };
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
            // Ask for one more than the page so we know whether more follow.
            let rows = stmt
                // `?7` is the highest parameter in every variant, so all
                // seven bind positionally even when some go unused.
                .query_map(
                    params![
                        query.pk,
                        now_unix(),
                        query.sk_prefix,
                        after_sk,
                        after_pk,
                        after_tsk,
                        (limit + 1) as i64,
                    ],
                    row_to_item,
                )
                .map_err(backend)?;
            let mut items = Vec::with_capacity(limit + 1);
            for row in rows {
                items.push(row.map_err(backend)?);
            }
            Ok(Page::from_lookahead(items, limit, query.index))
        })
    }

    async fn purge_expired(&self, limit: usize) -> StoreResult<usize> {
        self.with_writer(move |conn| {
            conn.prepare_cached(
                "DELETE FROM items WHERE id IN (SELECT id FROM items
                 WHERE expires_at IS NOT NULL AND expires_at <= ?1 LIMIT ?2)",
            )
            .map_err(backend)?
            .execute(params![now_unix(), limit as i64])
            .map_err(backend)
        })
        .await
    }

    fn commit_groups(&self) -> Option<CommitGroups> {
        Some(self.groups())
    }

    async fn ping(&self) -> StoreResult<()> {
        self.with_reader(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(backend))
    }
}
