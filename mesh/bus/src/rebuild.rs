//! Rebuilding a read model from the event store while it keeps answering queries.
//!
//! 1. Empty the shadow table; replay every stored event of the model's sources into it
//!    (batches of [`Rebuild::replay_batch`] events, each its own transaction, applied with
//!    [`Projection::apply_batch`]), remembering the last position `P`.
//! 2. ONE swap transaction: lock the live table against writers (readers go on and see the
//!    old rows until commit), replace its rows by the shadow's, apply the events recorded after
//!    `P` to the live table (the consumer may have applied some of them already: live rows
//!    ignore versions they reflect), and record them in the inbox so the consumer skips them.
//! 3. After commit, the model's `swapped` hook (cache flush).
//!
//! The event store and the read model must share a database, which is how Fleuve deploys
//! them (one database per service, the service's projections beside its events).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use fleuve_store::consumer::inbox_record;
use fleuve_store::event_store::{last_position, read_all};
use fleuve_store::{Database, DbConnection};

use crate::BusError;
use crate::projection::{BatchError, ConsumedEvent, HandlerError, Projection, Rebuild};
use crate::schema::TopicSchema;

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RebuildReport {
    /// Events replayed into the shadow table.
    pub replayed: i64,
    /// Events applied to the live table inside the swap.
    pub caught_up: i64,
    pub elapsed_seconds: f64,
}

/// How far a rebuild's replay has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildProgress {
    /// Events of the model's sources replayed into the shadow table so far.
    pub replayed: i64,
    /// The event store position reached.
    pub position: i64,
    /// The store's last position when the rebuild started: where the replay ends (the swap
    /// then applies what came after).
    pub last_position: i64,
}

/// Rebuilds `model` (see the module documentation).
pub async fn rebuild(db: &Database, model: Arc<dyn Rebuild>) -> Result<RebuildReport, BusError> {
    rebuild_reporting(db, model, |_| {}).await
}

/// [`rebuild`], calling `progress` after every replayed batch.
pub async fn rebuild_reporting(
    db: &Database,
    model: Arc<dyn Rebuild>,
    progress: impl Fn(RebuildProgress) + Send + Sync,
) -> Result<RebuildReport, BusError> {
    let started = Instant::now();
    let sources: HashMap<String, TopicSchema> =
        model.sources().into_iter().map(|s| (s.aggregate_type, s.schema)).collect();
    let sources = Arc::new(sources);
    let batch = model.replay_batch().max(1);
    tracing::info!(model = model.name(), batch, "rebuild started");

    let clearing = model.clone();
    let end = db
        .transaction::<_, BusError, _>(move |conn| {
            clearing.clear_shadow(conn)?;
            Ok(last_position(conn)?)
        })
        .await?;
    progress(RebuildProgress { replayed: 0, position: 0, last_position: end });

    let mut position = 0i64;
    let mut replayed = 0i64;
    loop {
        let (model, sources) = (model.clone(), sources.clone());
        let (last, applied) = db
            .transaction::<_, BusError, _>(move |conn| {
                let events = read_all(conn, position, batch)?;
                let last = events.last().map(|e| e.position);
                let applied = replay(conn, model.shadow(), &sources, &events, false)?;
                Ok((last, applied))
            })
            .await?;
        replayed += applied;
        match last {
            Some(last) => position = last,
            None => break,
        }
        progress(RebuildProgress { replayed, position: position.min(end), last_position: end });
    }

    let (swapping, swap_sources) = (model.clone(), sources.clone());
    let caught_up = db
        .transaction::<_, BusError, _>(move |conn| {
            swapping.lock_live(conn)?;
            swapping.copy_shadow_to_live(conn)?;
            let mut caught_up = 0;
            let mut after = position;
            loop {
                let events = read_all(conn, after, batch)?;
                let Some(last) = events.last() else { break };
                after = last.position;
                caught_up += replay(conn, swapping.live(), &swap_sources, &events, true)?;
            }
            Ok(caught_up)
        })
        .await?;
    model.swapped().await;
    let report = RebuildReport { replayed, caught_up, elapsed_seconds: started.elapsed().as_secs_f64() };
    tracing::info!(model = model.name(), ?report, "rebuild swapped in");
    Ok(report)
}

/// Applies the events of `sources` to `projection` as one batch; with `inbox`, also records
/// them as applied by the live consumer. Returns how many were applied.
fn replay(
    conn: &mut DbConnection,
    projection: &dyn Projection,
    sources: &HashMap<String, TopicSchema>,
    events: &[fleuve_store::event_store::RecordedEvent],
    inbox: bool,
) -> Result<i64, BusError> {
    let mut batch = Vec::with_capacity(events.len());
    for stored in events {
        let Some(schema) = sources.get(&stored.aggregate_type) else { continue };
        let event = ConsumedEvent::from_recorded(stored, &schema.topic, &schema.message);
        if inbox {
            inbox_record(conn, &event.inbox_entry(projection.name()))?;
        }
        batch.push(event);
    }
    projection.apply_batch(conn, &batch).map_err(|BatchError { index, error }| {
        let reason = match error {
            HandlerError::Transient(reason)
            | HandlerError::Permanent(reason)
            | HandlerError::Conflict(reason)
            | HandlerError::Unavailable(reason) => reason,
        };
        BusError::Rebuild(match index.and_then(|i| batch.get(i)) {
            Some(event) => {
                format!("{} at position {} ({}): {reason}", projection.name(), event.offset, event.event_type)
            }
            None => match (batch.first(), batch.last()) {
                (Some(first), Some(last)) => {
                    format!("{} at positions {} to {}: {reason}", projection.name(), first.offset, last.offset)
                }
                _ => format!("{}: {reason}", projection.name()),
            },
        })
    })?;
    Ok(i64::try_from(batch.len()).unwrap_or(i64::MAX))
}
