//! Pages of a list, filtered as they are read: the store pages by key, the
//! service keeps what the caller may see and asked for, and the cursor
//! points just after the last item answered, so nothing is skipped or
//! repeated across pages.

use serde::de::DeserializeOwned;

use crate::store::record::{Versioned, decode};
use crate::store::{Cursor, Item, ItemStore, Query};

use super::{Error, Result, Services};

/// A client's page request (validated by the API: limit 1..=100).
#[derive(Clone, Debug)]
pub struct PageRequest {
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: 20,
            cursor: None,
        }
    }
}

impl PageRequest {
    pub const MAX_LIMIT: usize = 100;

    /// From the query string's `limit` and `cursor`.
    pub fn parse(limit: Option<usize>, cursor: Option<&str>) -> Result<Self> {
        let limit = limit.unwrap_or(20);
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid("limit", "must be between 1 and 100"));
        }
        let cursor = match cursor {
            None => None,
            Some(text) => Some(Cursor::decode(text).ok_or_else(invalid_cursor)?),
        };
        Ok(Self { limit, cursor })
    }
}

/// 400 `invalid_cursor`: a cursor that does not decode, or that another
/// list handed out.
pub(crate) fn invalid_cursor() -> Error {
    Error::BadRequest {
        code: "invalid_cursor",
        detail: "the cursor is not one this list handed out".into(),
    }
}

/// A page of results.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// How many store pages one API page may read before answering short (as
/// DynamoDB does when a filter drops most of what it reads).
const MAX_ROUNDS: usize = 10;

/// A walk over a query that fills one API page. The caller pulls items with
/// [`Walk::next`], keeps what it wants with [`Walk::keep`], and ends with
/// [`Walk::finish`], which places the cursor just after the last item pulled.
pub(crate) struct Walk<'s, T> {
    store: &'s dyn ItemStore,
    query: Query,
    limit: usize,
    buffered: std::collections::VecDeque<Item>,
    /// Where the store's next page starts; `None` once it is exhausted.
    after: Option<Option<Cursor>>,
    last: Option<Cursor>,
    rounds: usize,
    items: Vec<T>,
}

impl<T> Walk<'_, T> {
    /// The next item to consider, or `None` when the page is full, the
    /// partition ends, or the walk has read its share.
    pub(crate) async fn next(&mut self) -> Result<Option<Item>> {
        if self.items.len() >= self.limit {
            return Ok(None);
        }
        if self.buffered.is_empty() {
            let Some(after) = self.after.take() else {
                return Ok(None);
            };
            if let Some(cursor) = &after
                && !self.query.resumes_from(cursor)
            {
                return Err(invalid_cursor());
            }
            if self.rounds == MAX_ROUNDS {
                self.after = Some(after);
                return Ok(None);
            }
            self.rounds += 1;
            let page = self
                .store
                .query(self.query.clone().after(after).limit(self.limit))
                .await?;
            self.after = page.next.map(Some);
            self.buffered = page.items.into();
        }
        let item = self.buffered.pop_front();
        if let Some(item) = &item {
            self.last = Cursor::after(self.query.index, item);
        }
        Ok(item)
    }

    pub(crate) fn keep(&mut self, t: T) {
        self.items.push(t);
    }

    pub(crate) fn finish(self) -> Page<T> {
        let more = !self.buffered.is_empty() || self.after.is_some();
        Page {
            items: self.items,
            next_cursor: if more {
                self.last.map(|c| c.encode())
            } else {
                None
            },
        }
    }
}

/// Starts a walk of `query` in `store` from the request's cursor.
pub(crate) fn walk_in<'s, T>(
    store: &'s dyn ItemStore,
    query: Query,
    req: &PageRequest,
) -> Walk<'s, T> {
    Walk {
        store,
        query,
        limit: req.limit,
        buffered: Default::default(),
        after: Some(req.cursor.clone()),
        last: req.cursor.clone(),
        rounds: 0,
        items: Vec::with_capacity(req.limit),
    }
}

/// One page of `query` in `store`, keeping what `keep` maps to `Some`.
pub(crate) async fn page_in<T>(
    store: &dyn ItemStore,
    query: Query,
    req: &PageRequest,
    mut keep: impl FnMut(&Item) -> Result<Option<T>>,
) -> Result<Page<T>> {
    let mut walk = walk_in(store, query, req);
    while let Some(item) = walk.next().await? {
        if let Some(t) = keep(&item)? {
            walk.keep(t);
        }
    }
    Ok(walk.finish())
}

impl Services {
    /// One page of `query`, keeping what `keep` maps to `Some`.
    pub(crate) async fn page<T>(
        &self,
        query: Query,
        req: &PageRequest,
        keep: impl FnMut(&Item) -> Result<Option<T>>,
    ) -> Result<Page<T>> {
        page_in(self.store.as_ref(), query, req, keep).await
    }

    /// Every record of a partition (for bounded sets: a user's memberships,
    /// a tenant's members or children).
    pub(crate) async fn query_all<T: DeserializeOwned + Versioned>(
        &self,
        query: Query,
    ) -> Result<Vec<T>> {
        let items = self.items_all(query).await?;
        Ok(items
            .iter()
            .map(decode)
            .collect::<std::result::Result<_, _>>()?)
    }

    /// Every item of a partition, a store page at a time (for bounded sets).
    pub(crate) async fn items_all(&self, query: Query) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .query(query.clone().after(after).limit(crate::store::MAX_PAGE))
                .await?;
            out.extend(page.items);
            match page.next {
                Some(c) => after = Some(c),
                None => return Ok(out),
            }
        }
    }
}
