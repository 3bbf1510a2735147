//! The delivery worker: takes due deliveries from the table, sends them through their channel
//! and writes the outcome back, retrying failures with exponential backoff up to
//! `max_attempts`.
//!
//! A delivery is taken by moving its `next_attempt_at` a lease ahead in a conditional update,
//! so two workers never send the same delivery at once, and a worker that dies mid-send leaves
//! it to be tried again once the lease has passed (at-least-once).

use fleuve_aggregate::AppError;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use fleuve_metrics::DeliveryOutcome;
use fleuve_store::{Database, DbConnection, execute_prepared};
use tokio::task::JoinHandle;

use super::{Hub, Notifications, store};
use crate::channels::{ChannelConfigError, LogChannel, SendError, Sender, SmtpChannel, WebhookChannel};
use crate::directory::Directory;
use crate::domain::{Channel, DeliveryStatus, Notification, retry_delay};
use crate::schema::notification_deliveries as deliveries;
use crate::settings::Settings;
use crate::time;

/// A delivery this worker took, with what it sends.
struct Taken {
    notification: Notification,
    channel: Channel,
    /// The attempt this is (1 for the first).
    attempt: i32,
}

/// Sends due deliveries through the configured channels.
pub struct DeliveryWorker {
    db: Database,
    hub: Hub,
    settings: Arc<Settings>,
    senders: HashMap<Channel, Arc<dyn Sender>>,
}

impl std::fmt::Debug for DeliveryWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryWorker").field("channels", &self.senders.keys().collect::<Vec<_>>()).finish()
    }
}

impl Notifications {
    /// The delivery worker for the configured channels; the email channel looks addresses up in
    /// `directory`. Fails when a channel's settings cannot be used.
    pub fn delivery_worker(&self, directory: Arc<dyn Directory>) -> Result<DeliveryWorker, ChannelConfigError> {
        let mut senders: HashMap<Channel, Arc<dyn Sender>> = HashMap::new();
        if self.settings.log {
            senders.insert(Channel::Log, Arc::new(LogChannel));
        }
        if let Some(smtp) = &self.settings.smtp {
            senders.insert(Channel::Email, Arc::new(SmtpChannel::new(smtp, directory)?));
        }
        if let Some(webhook) = &self.settings.webhook {
            senders.insert(Channel::Webhook, Arc::new(WebhookChannel::new(webhook)?));
        }
        Ok(DeliveryWorker { db: self.db.clone(), hub: self.hub.clone(), settings: self.settings.clone(), senders })
    }

    /// Starts the delivery worker until `shutdown` resolves (sends in flight are finished).
    pub fn spawn_delivery_worker(
        &self,
        directory: Arc<dyn Directory>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<JoinHandle<()>, ChannelConfigError> {
        let worker = self.delivery_worker(directory)?;
        Ok(tokio::spawn(worker.run(shutdown)))
    }
}

impl DeliveryWorker {
    /// Sends one batch of the deliveries due at `now` and records the outcomes; returns how
    /// many were attempted.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<usize, AppError> {
        let limit = i64::from(self.settings.batch_size.max(1));
        let lease_until = now + time::from_std(self.settings.claim_lease);
        let taken = self.db.transaction(move |conn| take_due(conn, now, lease_until, limit)).await?;
        let count = taken.len();
        let outcomes = futures::future::join_all(taken.into_iter().map(|t| self.send(t))).await;
        let observed: Vec<(&'static str, DeliveryOutcome)> = outcomes
            .iter()
            .map(|(taken, outcome)| {
                let result = match outcome {
                    Ok(()) => DeliveryOutcome::delivered,
                    Err(SendError::Transient(_)) if taken.attempt < self.settings.max_attempts as i32 => {
                        DeliveryOutcome::retried
                    }
                    Err(_) => DeliveryOutcome::failed,
                };
                (taken.channel.as_str(), result)
            })
            .collect();
        let settings = self.settings.clone();
        self.db
            .transaction(move |conn| {
                let now = Utc::now();
                // Sent: one update per (channel, attempt); the rest row by row.
                let mut sent: BTreeMap<(Channel, i32), Vec<i64>> = BTreeMap::new();
                for (taken, outcome) in &outcomes {
                    match outcome {
                        Ok(()) => sent.entry((taken.channel, taken.attempt)).or_default().push(taken.notification.id),
                        Err(_) => record_outcome(conn, taken, outcome, now, &settings)?,
                    }
                }
                for ((channel, attempt), ids) in &sent {
                    record_sent(conn, *channel, *attempt, ids, now)?;
                }
                Ok::<_, AppError>(())
            })
            .await?;
        let metrics = fleuve_metrics::metrics();
        for (channel, outcome) in observed {
            metrics.notification_delivery(channel, outcome);
        }
        Ok(count)
    }

    async fn send(&self, taken: Taken) -> (Taken, Result<(), SendError>) {
        let outcome = match self.senders.get(&taken.channel) {
            Some(sender) => sender.send(&taken.notification).await,
            None => Err(SendError::Permanent(format!("the {} channel is not configured", taken.channel.as_str()))),
        };
        if let Err(error) = &outcome {
            tracing::warn!(
                notification_id = taken.notification.id,
                channel = taken.channel.as_str(),
                attempt = taken.attempt,
                %error,
                "delivery failed"
            );
        }
        (taken, outcome)
    }

    /// Delivers until `shutdown` resolves: after each round it sleeps until the next delivery
    /// falls due, a new notification is recorded in this process, or `worker_poll` passes.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let mut wake = self.hub.subscribe();
        let poll = self.settings.worker_poll;
        tokio::pin!(shutdown);
        loop {
            wake.borrow_and_update();
            let pause = match self.run_once(Utc::now()).await {
                Ok(n) if n >= self.settings.batch_size as usize => Duration::ZERO,
                Ok(_) => match self.db.run(next_due).await {
                    Ok(Some(due)) => time::to_std(time::utc(due) - Utc::now()).min(poll),
                    Ok(None) => poll,
                    Err(error) => {
                        tracing::warn!(%error, "cannot read the next delivery time");
                        poll
                    }
                },
                Err(error) => {
                    tracing::warn!(%error, "delivery round failed");
                    poll
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = async { if wake.changed().await.is_err() { std::future::pending::<()>().await } } => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
        tracing::debug!("delivery worker stopped");
    }
}

/// Takes up to `limit` deliveries due at `now`, hiding them from other workers until
/// `lease_until`, and counts the attempt: one read (deliveries with their notifications, locked
/// on PostgreSQL) and one update per channel.
fn take_due(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Taken>, AppError> {
    let at = time::naive(now);
    let due = store::due_deliveries(conn, at, limit)?;
    let mut by_channel: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (id, channel, _, _) in &due {
        by_channel.entry(channel.as_str()).or_default().push(*id);
    }
    for (channel, ids) in &by_channel {
        let rows = deliveries::table
            .filter(deliveries::channel.eq(*channel))
            .filter(deliveries::notification_id.eq_any(ids))
            .filter(deliveries::status.eq(DeliveryStatus::Pending.as_str()))
            .filter(deliveries::next_attempt_at.le(at));
        // On PostgreSQL the id list is one array parameter: one shape, kept prepared.
        let won = execute_prepared(
            conn,
            diesel::update(rows).set((
                deliveries::next_attempt_at.eq(Some(time::naive(lease_until))),
                deliveries::attempts.eq(deliveries::attempts + 1),
                deliveries::updated_at.eq(at),
            )),
        )?;
        // The rows are locked (PostgreSQL) or the database has one writer (SQLite), so they
        // are all still due; if not, this round takes nothing and the next one reads again.
        if won != ids.len() {
            // Another worker got there first.
            return Err(AppError::Service(fleuve_mesh::ServiceError::Conflict(format!(
                "{won} of {} {channel} deliveries still due when taken",
                ids.len()
            ))));
        }
    }
    due.into_iter()
        .map(|(id, channel_name, attempts, notification)| {
            let channel = Channel::parse(&channel_name)
                .ok_or_else(|| super::corrupt(id, format!("unknown channel {channel_name:?}")))?;
            Ok(Taken { notification, channel, attempt: attempts + 1 })
        })
        .collect()
}

/// Marks the deliveries `ids` on `channel` sent by their attempt `attempt`, except those another
/// worker took since (their lease ran out): then that worker's outcome counts.
fn record_sent(
    conn: &mut DbConnection,
    channel: Channel,
    attempt: i32,
    ids: &[i64],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let at = time::naive(now);
    let none: Option<NaiveDateTime> = None;
    let rows = deliveries::table
        .filter(deliveries::channel.eq(channel.as_str()))
        .filter(deliveries::notification_id.eq_any(ids))
        .filter(deliveries::status.eq(DeliveryStatus::Pending.as_str()))
        .filter(deliveries::attempts.eq(attempt));
    execute_prepared(
        conn,
        diesel::update(rows).set((
            deliveries::status.eq(DeliveryStatus::Sent.as_str()),
            deliveries::next_attempt_at.eq(none),
            deliveries::delivered_at.eq(Some(at)),
            deliveries::updated_at.eq(at),
        )),
    )?;
    Ok(())
}

/// Writes the failed outcome of an attempt, unless another worker took the delivery since (its
/// lease ran out): then that worker's outcome counts.
fn record_outcome(
    conn: &mut DbConnection,
    taken: &Taken,
    outcome: &Result<(), SendError>,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<(), AppError> {
    let at = time::naive(now);
    let row = deliveries::table
        .find((taken.notification.id, taken.channel.as_str()))
        .filter(deliveries::status.eq(DeliveryStatus::Pending.as_str()))
        .filter(deliveries::attempts.eq(taken.attempt));
    let none: Option<NaiveDateTime> = None;
    let (status, next, error) = match outcome {
        Ok(()) => return record_sent(conn, taken.channel, taken.attempt, &[taken.notification.id], now),
        Err(SendError::Permanent(error)) => (DeliveryStatus::Failed, none, error.clone()),
        Err(SendError::Transient(error)) if taken.attempt >= settings.max_attempts as i32 => {
            (DeliveryStatus::Failed, none, format!("{error} (gave up after {} attempts)", taken.attempt))
        }
        Err(SendError::Transient(error)) => {
            let attempts = u32::try_from(taken.attempt).unwrap_or(1);
            let wait = retry_delay(attempts, settings.retry_base, settings.retry_max);
            (DeliveryStatus::Pending, Some(time::naive(now + time::from_std(wait))), error.clone())
        }
    };
    diesel::update(row)
        .set((
            deliveries::status.eq(status.as_str()),
            deliveries::next_attempt_at.eq(next),
            deliveries::last_error.eq(Some(error)),
            deliveries::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// When the earliest pending delivery falls due.
fn next_due(conn: &mut DbConnection) -> Result<Option<NaiveDateTime>, AppError> {
    Ok(deliveries::table
        .filter(deliveries::status.eq(DeliveryStatus::Pending.as_str()))
        .select(diesel::dsl::min(deliveries::next_attempt_at))
        .first::<Option<NaiveDateTime>>(conn)?)
}
