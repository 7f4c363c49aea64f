//! [`Queue`] on Amazon SQS (the deployment at scale): a standard queue for
//! the jobs and a second one, `<name>-dead`, for dead letters.
//!
//! How the model maps:
//! - `send` is `SendMessage` with `DelaySeconds` (whole seconds, rounded up,
//!   at most SQS's 900);
//! - `receive` is `ReceiveMessage` (at most 10 a call; more calls without
//!   waiting fill a larger `max`) with `VisibilityTimeout` (whole seconds,
//!   rounded up, at most 12 hours) and `WaitTimeSeconds` (rounded up, at most
//!   20 a call, repeated until `wait` has passed). `attempts` is SQS's
//!   `ApproximateReceiveCount`;
//! - `ack` is `DeleteMessage`, `extend` is `ChangeMessageVisibility`;
//! - `dead_letter` first extends the lease (which fails if the message is
//!   gone, so it is not moved twice), then sends the body to the dead queue
//!   with the reason, the attempts and the original id as message
//!   attributes, then deletes the original. A crash between the last two
//!   steps leaves the message to be received (and dead-lettered) again: the
//!   queue is at least once here too;
//! - `dead_letters` peeks: it receives from the dead queue with a short
//!   visibility timeout until nothing more comes (at most
//!   [`DEAD_LETTER_SCAN`] messages), sets their visibility back to zero and
//!   answers them ordered by the time they were moved.
//!
//! Leases are SQS's, with SQS's guarantees, which are weaker than
//! [`super::store_queue::StoreQueue`]'s in one respect: SQS accepts a
//! receipt handle from an earlier delivery of a message for as long as the
//! message exists. `DeleteMessage` with one answers success (and, per the
//! SQS documentation, "might not" delete the message; moto does delete it),
//! and `ChangeMessageVisibility` with one moves the current lease. Only a
//! receipt of a message that is gone (acknowledged, dead-lettered) is
//! refused, and that becomes [`QueueError::LeaseLost`]. Handlers stay
//! correct either way, since they check state before each step.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, Message, MessageAttributeValue,
    MessageSystemAttributeName, QueueAttributeName,
};

use super::{DeadLetter, Delivery, Queue, QueueError};

/// SQS's largest `DelaySeconds`.
const MAX_DELAY_SECONDS: u64 = 900;
/// SQS's largest visibility timeout (12 hours).
const MAX_VISIBILITY_SECONDS: u64 = 43_200;
/// SQS's largest `WaitTimeSeconds`.
const MAX_WAIT_SECONDS: u64 = 20;
/// SQS's largest `MaxNumberOfMessages`.
const MAX_BATCH: usize = 10;
/// How many dead letters a call of [`Queue::dead_letters`] reads at most
/// (to order them; a queue with more answers the oldest of those read).
pub const DEAD_LETTER_SCAN: usize = 1000;
/// How long a dead letter being peeked at stays hidden if resetting its
/// visibility fails.
const PEEK_VISIBILITY_SECONDS: i32 = 30;
/// How long `dead_letter` holds the message while moving it.
const MOVE_VISIBILITY_SECONDS: i32 = 60;
/// The longest reason kept with a dead letter, in bytes.
const MAX_REASON_BYTES: usize = 8 * 1024;

/// Message attributes of a dead letter.
const ATTR_REASON: &str = "reason";
const ATTR_ATTEMPTS: &str = "attempts";
const ATTR_ORIGINAL_ID: &str = "originalId";

/// A queue on SQS. See the module documentation.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    dead_letter_url: String,
}

impl SqsQueue {
    /// A queue on existing SQS queues, named by their URLs.
    pub fn new(config: &aws_config::SdkConfig, queue_url: String, dead_letter_url: String) -> Self {
        Self {
            client: Client::new(config),
            queue_url,
            dead_letter_url,
        }
    }

    /// Creates the queues `<name>` and `<name>-dead` unless they exist, and
    /// answers the queue on them.
    pub async fn create(config: &aws_config::SdkConfig, name: &str) -> anyhow::Result<SqsQueue> {
        let client = Client::new(config);
        let queue_url = create_queue(&client, name).await?;
        let dead_letter_url = create_queue(&client, &format!("{name}-dead")).await?;
        Ok(Self {
            client,
            queue_url,
            dead_letter_url,
        })
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    pub fn dead_letter_url(&self) -> &str {
        &self.dead_letter_url
    }

    /// One `ReceiveMessage` on the job queue.
    async fn receive_once(
        &self,
        max: usize,
        visibility_seconds: i32,
        wait_seconds: i32,
    ) -> Result<Vec<Delivery>, QueueError> {
        let answer = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.clamp(1, MAX_BATCH) as i32)
            .visibility_timeout(visibility_seconds)
            .wait_time_seconds(wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(backend)?;
        Ok(answer
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let attempts =
                    system_attribute(&m, MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(1);
                Some(Delivery {
                    id: m.message_id?,
                    receipt: m.receipt_handle?,
                    body: m.body.unwrap_or_default(),
                    attempts,
                })
            })
            .collect())
    }

    async fn change_visibility(&self, delivery: &Delivery, seconds: i32) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(&delivery.receipt)
            .visibility_timeout(seconds)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| lease_error(e, &delivery.id))
    }
}

/// Creates a queue (a no-op answering its URL if it exists, even with other
/// attributes) and answers its URL.
async fn create_queue(client: &Client, name: &str) -> anyhow::Result<String> {
    let created = client
        .create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::MessageRetentionPeriod,
            // 14 days, SQS's longest, so dead letters wait for someone to look.
            "1209600",
        )
        .send()
        .await;
    let url = match created {
        Ok(created) => created.queue_url,
        Err(e)
            if e.as_service_error()
                .and_then(|s| s.code())
                .is_some_and(|c| {
                    c.contains("QueueAlreadyExists") || c.contains("QueueNameExists")
                }) =>
        {
            client
                .get_queue_url()
                .queue_name(name)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("GetQueueUrl {name}: {}", DisplayErrorContext(&e)))?
                .queue_url
        }
        Err(e) => anyhow::bail!("CreateQueue {name}: {}", DisplayErrorContext(&e)),
    };
    url.ok_or_else(|| anyhow::anyhow!("CreateQueue {name} answered no URL"))
}

/// Whole seconds, rounded up, at most `max`.
fn seconds_up(d: Duration, max: u64) -> i32 {
    let whole = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    whole.min(max) as i32
}

fn system_attribute(message: &Message, name: MessageSystemAttributeName) -> Option<&str> {
    message.attributes.as_ref()?.get(&name).map(String::as_str)
}

fn message_attribute<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .message_attributes
        .as_ref()?
        .get(name)?
        .string_value()
}

fn string_attribute(
    data_type: &str,
    value: impl Into<String>,
) -> Result<MessageAttributeValue, QueueError> {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .map_err(|e| QueueError::Backend(e.to_string()))
}

/// A reason SQS accepts as an attribute value: its allowed characters only,
/// and not too long.
fn clean_reason(reason: &str) -> String {
    let mut clean = String::new();
    for c in reason.chars() {
        let c = match c {
            '\t'
            | '\n'
            | '\r'
            | '\u{20}'..='\u{D7FF}'
            | '\u{E000}'..='\u{FFFD}'
            | '\u{10000}'.. => c,
            _ => '\u{FFFD}',
        };
        if clean.len() + c.len_utf8() > MAX_REASON_BYTES {
            break;
        }
        clean.push(c);
    }
    clean
}

fn error_code<E, R>(e: &SdkError<E, R>) -> (&str, &str)
where
    E: ProvideErrorMetadata,
{
    let service = e.as_service_error();
    (
        service.and_then(|s| s.code()).unwrap_or(""),
        service.and_then(|s| s.message()).unwrap_or(""),
    )
}

fn backend<E, R>(e: SdkError<E, R>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    QueueError::Backend(DisplayErrorContext(&e).to_string())
}

/// A call with a receipt: an invalid or unusable receipt handle means the
/// lease is lost (the message is gone, or SQS no longer has it in flight).
fn lease_error<E, R>(e: SdkError<E, R>, id: &str) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let (code, message) = error_code(&e);
    let lost = code.contains("ReceiptHandleIsInvalid")
        || code.contains("MessageNotInflight")
        // Real SQS on a message that is gone: "Value ... for parameter
        // ReceiptHandle is invalid. Reason: Message does not exist or is not
        // available for visibility timeout change."
        || (code.contains("InvalidParameterValue") && message.contains("ReceiptHandle"));
    if lost {
        QueueError::LeaseLost(id.to_string())
    } else {
        backend(e)
    }
}

/// When a wait that starts now ends (a wait too long to represent ends in a
/// century).
fn deadline(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, body: &str, delay: Duration) -> Result<String, QueueError> {
        let sent = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(seconds_up(delay, MAX_DELAY_SECONDS))
            .send()
            .await
            .map_err(backend)?;
        sent.message_id
            .ok_or_else(|| QueueError::Backend("SendMessage answered no message id".into()))
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let visibility = seconds_up(visibility, MAX_VISIBILITY_SECONDS);
        let deadline = deadline(wait);
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let wait_seconds = seconds_up(remaining, MAX_WAIT_SECONDS);
            let mut received = self.receive_once(max, visibility, wait_seconds).await?;
            if !received.is_empty() {
                // Fill a `max` above SQS's batch from what is there now.
                let mut last = received.len();
                while received.len() < max && last == MAX_BATCH {
                    let more = self
                        .receive_once(max - received.len(), visibility, 0)
                        .await?;
                    last = more.len();
                    received.extend(more);
                }
                return Ok(received);
            }
            if wait_seconds == 0 || Instant::now() >= deadline {
                return Ok(received);
            }
        }
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(&delivery.receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| lease_error(e, &delivery.id))
    }

    async fn extend(&self, delivery: &Delivery, delay: Duration) -> Result<(), QueueError> {
        self.change_visibility(delivery, seconds_up(delay, MAX_VISIBILITY_SECONDS))
            .await
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> Result<(), QueueError> {
        // Fails if the message is gone; keeps it hidden while it moves.
        self.change_visibility(delivery, MOVE_VISIBILITY_SECONDS)
            .await?;
        let reason = clean_reason(reason);
        let mut send = self
            .client
            .send_message()
            .queue_url(&self.dead_letter_url)
            .message_body(&delivery.body)
            .message_attributes(ATTR_ORIGINAL_ID, string_attribute("String", &delivery.id)?)
            .message_attributes(
                ATTR_ATTEMPTS,
                string_attribute("Number", delivery.attempts.to_string())?,
            );
        // SQS refuses empty attribute values: no attribute is no reason.
        if !reason.is_empty() {
            send = send.message_attributes(ATTR_REASON, string_attribute("String", reason)?);
        }
        send.send().await.map_err(backend)?;
        self.ack(delivery).await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut seen: HashMap<String, (i64, DeadLetter, String)> = HashMap::new();
        let mut receipts = Vec::new();
        while seen.len() < DEAD_LETTER_SCAN {
            let answer = self
                .client
                .receive_message()
                .queue_url(&self.dead_letter_url)
                .max_number_of_messages(MAX_BATCH as i32)
                .visibility_timeout(PEEK_VISIBILITY_SECONDS)
                // A long poll asks every SQS server; it answers at once
                // when there are messages, after a second when not.
                .wait_time_seconds(1)
                .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(backend)?;
            let messages = answer.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                let (Some(message_id), Some(receipt)) =
                    (m.message_id.clone(), m.receipt_handle.clone())
                else {
                    continue;
                };
                receipts.push(receipt);
                let sent = system_attribute(&m, MessageSystemAttributeName::SentTimestamp)
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(i64::MAX);
                let letter = DeadLetter {
                    id: message_attribute(&m, ATTR_ORIGINAL_ID)
                        .unwrap_or(&message_id)
                        .to_string(),
                    attempts: message_attribute(&m, ATTR_ATTEMPTS)
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0),
                    reason: message_attribute(&m, ATTR_REASON).unwrap_or("").to_string(),
                    body: m.body.unwrap_or_default(),
                };
                seen.insert(message_id.clone(), (sent, letter, message_id));
            }
        }
        // Visible again at once for the next look.
        for (n, chunk) in receipts.chunks(MAX_BATCH).enumerate() {
            let mut reset = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.dead_letter_url);
            for (i, receipt) in chunk.iter().enumerate() {
                let entry = ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(format!("m{n}-{i}"))
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .build()
                    .map_err(|e| QueueError::Backend(e.to_string()))?;
                reset = reset.entries(entry);
            }
            if let Err(e) = reset.send().await {
                tracing::warn!(error = %DisplayErrorContext(&e), "dead letters stay hidden for {PEEK_VISIBILITY_SECONDS}s");
            }
        }
        let mut letters: Vec<_> = seen.into_values().collect();
        letters.sort_by(|a, b| (a.0, &a.2).cmp(&(b.0, &b.2)));
        Ok(letters
            .into_iter()
            .take(limit)
            .map(|(_, letter, _)| letter)
            .collect())
    }
}
