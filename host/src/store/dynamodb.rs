//! The DynamoDB backend: the [`ItemStore`] model on one table.
//!
//! Layout (single table): `pk`, `sk` (strings) are the table key; `version`
//! (number) is kept by this backend; `gsi1pk`/`gsi1sk` and `gsi2pk`/`gsi2sk`
//! are the keys of the sparse indexes `gsi1` and `gsi2` (an item without them
//! is not in the index); `expires_at` (number, epoch seconds) is the table's
//! TTL attribute; `data` (string) is the JSON document.
//!
//! How the model maps:
//! - every write is an `UpdateItem` (in transactions an `Update`) whose
//!   condition expression is the [`Condition`] and whose update expression
//!   sets every attribute, removes absent ones, and moves `version` on, so a
//!   write replaces the whole item and numbers it in one atomic step;
//! - an expired item is absent to every condition, as DynamoDB's TTL deletes
//!   lazily. A condition-free put that meets one deletes it first (what TTL
//!   would have done) so that the new item starts again at version 1;
//! - transactions are `TransactWriteItems` with a client request token, so
//!   a retry after a lost answer does not apply twice; a cancellation names
//!   the operations whose conditions failed. `TransactionConflict` (another
//!   transaction on the same item) and throttling are retried with backoff;
//! - queries are `Query` on the table (strongly consistent) or an index
//!   (eventually consistent, as DynamoDB's indexes are), filtering expired
//!   items and continuing until a page is full or the partition ends;
//! - [`ItemStore::put_many`] is `BatchWriteItem` in chunks of 25, retrying
//!   unprocessed items with backoff.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, PutRequest, ReturnValue,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification, TransactWriteItem, Update,
    WriteRequest,
};

use super::{
    Condition, Index, Item, ItemStore, Key, MAX_PAGE, Page, Query, StoreError, StoreResult, TxOp,
    check_item_size, check_transaction,
};

/// How often a write is retried when DynamoDB reports contention
/// (`TransactionConflict`) or throttling beyond the SDK's own retries.
const RETRIES: u32 = 8;
/// `BatchWriteItem`'s limit.
const BATCH: usize = 25;

const PK: &str = "pk";
const SK: &str = "sk";
const VERSION: &str = "version";
const DATA: &str = "data";
const EXPIRES: &str = "expires_at";

fn index_name(index: Index) -> Option<&'static str> {
    match index {
        Index::Primary => None,
        Index::Gsi1 => Some("gsi1"),
        Index::Gsi2 => Some("gsi2"),
    }
}

fn index_attrs(index: Index) -> (&'static str, &'static str) {
    match index {
        Index::Primary => (PK, SK),
        Index::Gsi1 => ("gsi1pk", "gsi1sk"),
        Index::Gsi2 => ("gsi2pk", "gsi2sk"),
    }
}

/// The DynamoDB backend. Cheap to clone.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

fn s(v: impl Into<String>) -> Av {
    Av::S(v.into())
}

fn n(v: impl ToString) -> Av {
    Av::N(v.to_string())
}

fn key_attrs(key: &Key) -> HashMap<String, Av> {
    HashMap::from([(PK.into(), s(&key.pk)), (SK.into(), s(&key.sk))])
}

/// Expression attribute names and values, added as they are used (DynamoDB
/// refuses unused ones).
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, Av>,
}

impl Expr {
    fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#{attr}");
        self.names.insert(placeholder.clone(), attr.to_string());
        placeholder
    }

    fn value(&mut self, v: Av) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, Av>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    /// The item is there and has not expired.
    fn live(&mut self, now: i64) -> String {
        let (pk, e, now) = (self.name(PK), self.name(EXPIRES), self.value(n(now)));
        format!("(attribute_exists({pk}) AND (attribute_not_exists({e}) OR {e} > {now}))")
    }

    /// The item is not there, or has expired.
    fn gone(&mut self, now: i64) -> String {
        let (pk, e, now) = (self.name(PK), self.name(EXPIRES), self.value(n(now)));
        format!("(attribute_not_exists({pk}) OR {e} <= {now})")
    }

    /// `condition` as a condition expression; `None` when it always holds.
    fn condition(&mut self, condition: Condition, now: i64) -> Option<String> {
        match condition {
            Condition::None => None,
            Condition::NotExists => Some(self.gone(now)),
            Condition::Exists => Some(self.live(now)),
            Condition::Version(v) => {
                let (name, v) = (self.name(VERSION), self.value(n(v)));
                Some(format!("({name} = {v} AND {})", self.live(now)))
            }
        }
    }
}

/// The update expression and condition of a put.
struct PutExpr {
    update: String,
    condition: String,
    expr: Expr,
}

/// A put of `item` under `condition`: every attribute set (absent ones
/// removed), `version` moved on. A condition-free put is conditioned on the
/// item being absent or live, so an expired item is noticed (and swept by
/// the caller) instead of lending the new item its old version.
fn put_expr(item: &Item, condition: Condition, now: i64) -> PutExpr {
    let mut x = Expr::default();
    let v = x.name(VERSION);
    let version = match condition {
        Condition::NotExists => x.value(n(1)),
        Condition::Version(old) => x.value(n(old + 1)),
        Condition::None | Condition::Exists => {
            let (zero, one) = (x.value(n(0)), x.value(n(1)));
            format!("if_not_exists({v}, {zero}) + {one}")
        }
    };
    let mut set = vec![format!("{v} = {version}")];
    let mut remove = Vec::new();
    let data = x.value(s(&item.data));
    set.push(format!("{} = {data}", x.name(DATA)));
    for (index, key) in [(Index::Gsi1, &item.gsi1), (Index::Gsi2, &item.gsi2)] {
        let (pk_attr, sk_attr) = index_attrs(index);
        match key {
            Some(k) => {
                let (pk, sk) = (x.value(s(&k.pk)), x.value(s(&k.sk)));
                set.push(format!("{} = {pk}", x.name(pk_attr)));
                set.push(format!("{} = {sk}", x.name(sk_attr)));
            }
            None => {
                remove.push(x.name(pk_attr));
                remove.push(x.name(sk_attr));
            }
        }
    }
    match item.expires_at {
        Some(at) => {
            let at = x.value(n(at));
            set.push(format!("{} = {at}", x.name(EXPIRES)));
        }
        None => remove.push(x.name(EXPIRES)),
    }
    let mut update = format!("SET {}", set.join(", "));
    if !remove.is_empty() {
        update.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }
    let condition = match x.condition(condition, now) {
        Some(c) => c,
        // Absent or live: an expired item fails this, so the caller sweeps
        // it and the new item starts again at version 1.
        None => {
            let pk = x.name(PK);
            format!("(attribute_not_exists({pk}) OR {})", x.live(now))
        }
    };
    PutExpr {
        update,
        condition,
        expr: x,
    }
}

fn item_from(mut attrs: HashMap<String, Av>) -> StoreResult<Item> {
    let mut text = |name: &str| -> Option<String> {
        match attrs.remove(name) {
            Some(Av::S(v)) => Some(v),
            _ => None,
        }
    };
    let corrupt = |what: &str| StoreError::Corrupt(format!("an item without {what}"));
    let pk = text(PK).ok_or_else(|| corrupt(PK))?;
    let sk = text(SK).ok_or_else(|| corrupt(SK))?;
    let data = text(DATA).ok_or_else(|| corrupt(DATA))?;
    let pair = |a: Option<String>, b: Option<String>| match (a, b) {
        (Some(pk), Some(sk)) => Some(Key { pk, sk }),
        _ => None,
    };
    let gsi1 = pair(text("gsi1pk"), text("gsi1sk"));
    let gsi2 = pair(text("gsi2pk"), text("gsi2sk"));
    let number = |v: Option<Av>| match v {
        Some(Av::N(n)) => n.parse::<i64>().ok(),
        _ => None,
    };
    let version = number(attrs.remove(VERSION)).ok_or_else(|| corrupt(VERSION))?;
    Ok(Item {
        key: Key { pk, sk },
        version: version as u64,
        gsi1,
        gsi2,
        expires_at: number(attrs.remove(EXPIRES)),
        data,
    })
}

fn attrs_of(item: &Item, version: u64) -> HashMap<String, Av> {
    let mut attrs = key_attrs(&item.key);
    attrs.insert(VERSION.into(), n(version));
    attrs.insert(DATA.into(), s(&item.data));
    for (index, key) in [(Index::Gsi1, &item.gsi1), (Index::Gsi2, &item.gsi2)] {
        if let Some(k) = key {
            let (pk, sk) = index_attrs(index);
            attrs.insert(pk.into(), s(&k.pk));
            attrs.insert(sk.into(), s(&k.sk));
        }
    }
    if let Some(at) = item.expires_at {
        attrs.insert(EXPIRES.into(), n(at));
    }
    attrs
}

fn is_live(item: &Item, now: i64) -> bool {
    item.expires_at.is_none_or(|at| at > now)
}

/// A service error as a store error: an oversized item is the caller's
/// fault (400 KB is DynamoDB's limit), anything else the backend's.
fn backend<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = e.as_service_error().and_then(|s| s.message()).unwrap_or("");
    if e.as_service_error().and_then(|s| s.code()) == Some("ValidationException")
        && message.contains("size")
    {
        return StoreError::Invalid(message.to_string());
    }
    StoreError::Backend(DisplayErrorContext(&e).to_string())
}

/// Backoff before retry `attempt` (0-based): 10 ms doubling, with jitter.
async fn backoff(attempt: u32) {
    let base = 10u64 << attempt.min(6);
    let jitter = rand::random::<u64>() % base.max(1);
    tokio::time::sleep(Duration::from_millis(base / 2 + jitter)).await;
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table and its indexes (on-demand capacity) and turns on
    /// TTL for `expires_at`, unless they exist; waits until it is active.
    pub async fn create_table(&self) -> StoreResult<()> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))
        };
        let schema = |pk: &str, sk: &str| -> StoreResult<Vec<KeySchemaElement>> {
            let element = |name: &str, kind| {
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(kind)
                    .build()
                    .map_err(|e| StoreError::Backend(e.to_string()))
            };
            Ok(vec![
                element(pk, KeyType::Hash)?,
                element(sk, KeyType::Range)?,
            ])
        };
        let mut create = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(schema(PK, SK)?));
        for name in [PK, SK, "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"] {
            create = create.attribute_definitions(attr(name)?);
        }
        for index in [Index::Gsi1, Index::Gsi2] {
            let (pk, sk) = index_attrs(index);
            create = create.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index_name(index).unwrap_or_default())
                    .set_key_schema(Some(schema(pk, sk)?))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(|e| StoreError::Backend(e.to_string()))?,
            );
        }
        match create.send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) => {}
            Err(e) => return Err(backend(e)),
        }
        for attempt in 0.. {
            let described = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(backend)?;
            let status = described.table().and_then(|t| t.table_status());
            if status == Some(&TableStatus::Active) {
                break;
            }
            if attempt == 120 {
                return Err(StoreError::Backend(format!(
                    "table {} did not become active (status {status:?})",
                    self.table
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let ttl = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name(EXPIRES)
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        if let Err(e) = self
            .client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
        {
            // Already enabled is fine; anything else is worth a word, not a
            // failed start: reads filter expired items either way.
            tracing::warn!(table = %self.table, error = %DisplayErrorContext(&e), "could not enable TTL");
        }
        Ok(())
    }

    /// Deletes `key` if it has expired (what TTL would do, sooner).
    async fn sweep(&self, key: &Key, now: i64) -> StoreResult<()> {
        let mut x = Expr::default();
        let (e, at) = (x.name(EXPIRES), x.value(n(now)));
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .condition_expression(format!("{e} <= {at}"))
            .set_expression_attribute_names(x.names())
            .set_expression_attribute_values(x.values())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn put_once(&self, item: &Item, condition: Condition, now: i64) -> StoreResult<u64> {
        let PutExpr {
            update,
            condition: cond,
            expr,
        } = put_expr(item, condition, now);
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(&item.key)))
            .update_expression(update)
            .condition_expression(cond)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        // Known without asking for NotExists and Version (and moto leaves a
        // value that did not change out of UPDATED_NEW).
        let known = match condition {
            Condition::NotExists => Some(1),
            Condition::Version(v) => Some(v + 1),
            Condition::None | Condition::Exists => None,
        };
        match out {
            Ok(out) => match (known, out.attributes().and_then(|a| a.get(VERSION))) {
                (Some(v), _) => Ok(v),
                (None, Some(Av::N(v))) => v
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("{}: version {v}", item.key))),
                _ => Err(StoreError::Corrupt(format!("{}: no version", item.key))),
            },
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::ConditionFailed {
                    key: item.key.clone(),
                })
            }
            Err(e) => Err(backend(e)),
        }
    }

    fn transact_item(op: &TxOp, now: i64, table: &str) -> StoreResult<Option<TransactWriteItem>> {
        let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Backend(e.to_string());
        Ok(match op {
            TxOp::Put { item, condition } => {
                let PutExpr {
                    update,
                    condition,
                    expr,
                } = put_expr(item, *condition, now);
                Some(
                    TransactWriteItem::builder()
                        .update(
                            Update::builder()
                                .table_name(table)
                                .set_key(Some(key_attrs(&item.key)))
                                .update_expression(update)
                                .condition_expression(condition)
                                .set_expression_attribute_names(expr.names())
                                .set_expression_attribute_values(expr.values())
                                .build()
                                .map_err(built)?,
                        )
                        .build(),
                )
            }
            TxOp::Delete { key, condition } => {
                let mut x = Expr::default();
                let cond = x.condition(*condition, now);
                Some(
                    TransactWriteItem::builder()
                        .delete(
                            Delete::builder()
                                .table_name(table)
                                .set_key(Some(key_attrs(key)))
                                .set_condition_expression(cond)
                                .set_expression_attribute_names(x.names())
                                .set_expression_attribute_values(x.values())
                                .build()
                                .map_err(built)?,
                        )
                        .build(),
                )
            }
            TxOp::Check { key, condition } => {
                let mut x = Expr::default();
                match x.condition(*condition, now) {
                    // A check that always holds has nothing to send.
                    None => None,
                    Some(cond) => Some(
                        TransactWriteItem::builder()
                            .condition_check(
                                ConditionCheck::builder()
                                    .table_name(table)
                                    .set_key(Some(key_attrs(key)))
                                    .condition_expression(cond)
                                    .set_expression_attribute_names(x.names())
                                    .set_expression_attribute_values(x.values())
                                    .build()
                                    .map_err(built)?,
                            )
                            .build(),
                    ),
                }
            }
        })
    }
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        match out.item {
            None => Ok(None),
            Some(attrs) => {
                let item = item_from(attrs)?;
                Ok(is_live(&item, now_unix()).then_some(item))
            }
        }
    }

    async fn put(&self, item: Item, condition: Condition) -> StoreResult<u64> {
        check_item_size(&item)?;
        for attempt in 0..RETRIES {
            let now = now_unix();
            match self.put_once(&item, condition, now).await {
                // A condition-free put fails only on an expired item: sweep
                // it and write afresh.
                Err(StoreError::ConditionFailed { .. }) if condition == Condition::None => {
                    self.sweep(&item.key, now).await?;
                    if attempt > 0 {
                        backoff(attempt).await;
                    }
                }
                other => return other,
            }
        }
        Err(StoreError::Backend(format!(
            "put of {} kept meeting an expired item",
            item.key
        )))
    }

    async fn delete(&self, key: &Key, condition: Condition) -> StoreResult<()> {
        let mut x = Expr::default();
        let cond = x.condition(condition, now_unix());
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .set_condition_expression(cond)
            .set_expression_attribute_names(x.names())
            .set_expression_attribute_values(x.values())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::ConditionFailed { key: key.clone() })
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn transact(&self, ops: Vec<TxOp>) -> StoreResult<()> {
        check_transaction(&ops)?;
        for op in &ops {
            if let TxOp::Put { item, .. } = op {
                check_item_size(item)?;
            }
        }
        // One token for every attempt of this transaction: DynamoDB applies
        // a token once, so an attempt whose answer was lost is not repeated.
        let token = uuid::Uuid::now_v7().to_string();
        for attempt in 0..RETRIES {
            let now = now_unix();
            // The position in `ops` of each item sent (checks that always
            // hold are not sent).
            let mut sent = Vec::with_capacity(ops.len());
            let mut items = Vec::with_capacity(ops.len());
            for (i, op) in ops.iter().enumerate() {
                if let Some(item) = Self::transact_item(op, now, &self.table)? {
                    sent.push(i);
                    items.push(item);
                }
            }
            if items.is_empty() {
                return Ok(());
            }
            let token = if attempt == 0 {
                token.clone()
            } else {
                // A retry after a cancellation is a new request.
                uuid::Uuid::now_v7().to_string()
            };
            let err = match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .client_request_token(token)
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
            let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                err.as_service_error()
            else {
                return Err(backend(err));
            };
            let reasons: Vec<Option<&str>> = cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| r.code())
                .collect();
            let failed: Vec<usize> = reasons
                .iter()
                .zip(&sent)
                .filter(|(code, _)| **code == Some("ConditionalCheckFailed"))
                .map(|(_, i)| *i)
                .collect();
            // Condition-free puts that failed met an expired item: sweep
            // them and try again. Other failed conditions are the answer.
            let expired: Vec<&Key> = failed
                .iter()
                .filter_map(|&i| match &ops[i] {
                    TxOp::Put {
                        item,
                        condition: Condition::None,
                    } => Some(&item.key),
                    _ => None,
                })
                .collect();
            if !failed.is_empty() && expired.len() < failed.len() {
                return Err(StoreError::TransactionCancelled {
                    failed: failed
                        .into_iter()
                        .filter(|&i| {
                            !matches!(
                                &ops[i],
                                TxOp::Put {
                                    condition: Condition::None,
                                    ..
                                }
                            )
                        })
                        .collect(),
                });
            }
            for key in expired {
                self.sweep(key, now).await?;
            }
            let retryable = reasons.iter().all(|code| {
                matches!(
                    code,
                    None | Some("None")
                        | Some("ConditionalCheckFailed")
                        | Some("TransactionConflict")
                        | Some("ThrottlingError")
                        | Some("ProvisionedThroughputExceeded")
                )
            });
            if !retryable {
                if reasons.contains(&Some("ValidationError")) {
                    return Err(StoreError::Invalid(format!(
                        "DynamoDB refused the transaction: {:?}",
                        cancelled.message()
                    )));
                }
                return Err(backend(err));
            }
            backoff(attempt).await;
        }
        Err(StoreError::Backend(
            "the transaction kept conflicting with others; try again".into(),
        ))
    }

    async fn put_many(&self, items: Vec<Item>) -> StoreResult<()> {
        for item in &items {
            check_item_size(item)?;
        }
        for chunk in items.chunks(BATCH) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| -> StoreResult<WriteRequest> {
                    Ok(WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(attrs_of(item, 1)))
                                .build()
                                .map_err(|e| StoreError::Backend(e.to_string()))?,
                        )
                        .build())
                })
                .collect::<StoreResult<_>>()?;
            let mut attempt = 0;
            while !pending.is_empty() {
                if attempt == RETRIES {
                    return Err(StoreError::Backend(format!(
                        "{} items stayed unprocessed after {RETRIES} attempts",
                        pending.len()
                    )));
                }
                if attempt > 0 {
                    backoff(attempt).await;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut pending))
                    .send()
                    .await
                    .map_err(backend)?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                attempt += 1;
            }
        }
        Ok(())
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
        let now = now_unix();
        let (pk_attr, sk_attr) = index_attrs(query.index);
        let mut x = Expr::default();
        let (pk_name, pk_value) = (x.name(pk_attr), x.value(s(&query.pk)));
        let mut key_condition = format!("{pk_name} = {pk_value}");
        if let Some(prefix) = &query.sk_prefix {
            let (sk_name, prefix) = (x.name(sk_attr), x.value(s(prefix)));
            key_condition.push_str(&format!(" AND begins_with({sk_name}, {prefix})"));
        }
        let (e, at) = (x.name(EXPIRES), x.value(n(now)));
        let filter = format!("attribute_not_exists({e}) OR {e} > {at}");
        let mut start = query.after.as_ref().map(|c| {
            let mut key = key_attrs(&c.table_key);
            if query.index != Index::Primary {
                key.insert(pk_attr.into(), s(&c.index_key.pk));
                key.insert(sk_attr.into(), s(&c.index_key.sk));
            }
            key
        });
        // One item more than the page, to know whether more follow.
        let mut items = Vec::with_capacity(limit + 1);
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index_name(query.index).map(str::to_string))
                .consistent_read(query.index == Index::Primary)
                .key_condition_expression(&key_condition)
                .filter_expression(&filter)
                .set_expression_attribute_names(x.names())
                .set_expression_attribute_values(x.values())
                .set_exclusive_start_key(start.take())
                .limit((limit + 1 - items.len()) as i32)
                .send()
                .await
                .map_err(backend)?;
            for attrs in out.items.unwrap_or_default() {
                items.push(item_from(attrs)?);
            }
            start = out.last_evaluated_key;
            if items.len() > limit || start.is_none() {
                break;
            }
        }
        Ok(Page::from_lookahead(items, limit, query.index))
    }

    async fn ping(&self) -> StoreResult<()> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map(|_| ())
            .map_err(backend)
    }
}
