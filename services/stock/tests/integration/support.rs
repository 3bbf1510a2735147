//! The harness: a migrated database with the stock service on it, saga requests built as the
//! orchestrator sends them, delivered the way the consumer runtime delivers them (inbox row
//! and `apply` in one transaction), and the replies read back from the outbox.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use fleuve_handler::apply_once;
use fleuve_handler::{ConsumedEvent, HandlerError};
use fleuve_mesh::{Principal, Role};
use fleuve_proto::common::v1::{SagaStep, SagaStepKind};
use fleuve_proto::stock::v1 as pb;
use fleuve_stock::{Caller, MIGRATIONS, Stock, StockParticipant, topics};
use fleuve_store::event_store::{self, RecordedEvent, StreamRef};
use fleuve_store::testing::TestDatabase;
use fleuve_store::{Database, DbConnection, EVENT_STORE_MIGRATIONS};
use prost::Message;

pub struct Harness {
    pub test: TestDatabase,
    pub stock: Stock,
}

impl Harness {
    pub async fn sqlite() -> anyhow::Result<Harness> {
        Ok(Harness::with(TestDatabase::sqlite(&[EVENT_STORE_MIGRATIONS, MIGRATIONS]).await?))
    }

    pub async fn postgres() -> anyhow::Result<Harness> {
        Ok(Harness::with(TestDatabase::postgres(&[EVENT_STORE_MIGRATIONS, MIGRATIONS]).await?))
    }

    fn with(test: TestDatabase) -> Harness {
        let stock = Stock::new(test.database().clone());
        Harness { test, stock }
    }

    pub fn db(&self) -> &Database {
        self.test.database()
    }

    /// Creates products as staff would.
    pub async fn products(&self, products: &[(&str, u64)]) -> anyhow::Result<()> {
        for (id, quantity) in products {
            self.stock.create_product(&admin(), id, &format!("product {id}"), *quantity, None).await?;
        }
        Ok(())
    }

    /// Delivers `event` to the participant as the consumer runtime does: ONE transaction with
    /// the inbox row, rolled back when the participant fails.
    pub async fn deliver(&self, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let event = event.clone();
        self.db().transaction(move |conn| deliver_in(conn, &event)).await
    }

    /// Every reply queued for `order_id`, oldest first.
    pub async fn replies(&self, order_id: &str) -> anyhow::Result<Vec<pb::StockChecked>> {
        let order_id = order_id.to_owned();
        let recorded = self.db().run(move |conn| replies_of(conn, &order_id)).await?;
        Ok(recorded)
    }

    /// The events of one stream.
    pub async fn stream(&self, aggregate_type: &str, id: &str) -> anyhow::Result<Vec<RecordedEvent>> {
        let stream = StreamRef::new(aggregate_type, id);
        Ok(self.db().run(move |conn| event_store::read_stream(conn, &stream, 0)).await?)
    }

    /// How many events the store holds, all streams together.
    pub async fn event_count(&self) -> anyhow::Result<usize> {
        Ok(self.db().run(|conn| event_store::read_all(conn, 0, 100_000)).await?.len())
    }
}

/// Inbox row then `apply`, on the caller's transaction.
pub fn deliver_in(conn: &mut DbConnection, event: &ConsumedEvent) -> Result<(), HandlerError> {
    apply_once(conn, &StockParticipant::new(), event)?;
    Ok(())
}

/// The replies queued on `stock.checked` for `order_id`, decoded, after checking each has an
/// unpublished outbox row on that topic.
pub fn replies_of(conn: &mut DbConnection, order_id: &str) -> Result<Vec<pb::StockChecked>, fleuve_store::StoreError> {
    let recorded = event_store::read_stream(conn, &StreamRef::new(topics::STOCK_CHECKED, order_id), 0)?;
    let pending = event_store::outbox_pending(conn, 100_000)?;
    recorded
        .iter()
        .map(|r| {
            assert_eq!(r.event_type, "StockChecked");
            assert!(
                pending.iter().any(|(row, e)| row.topic == topics::STOCK_CHECKED && e.position == r.position),
                "reply {} has no outbox row on {}",
                r.position,
                topics::STOCK_CHECKED
            );
            Ok(pb::StockChecked::decode(r.payload.as_slice()).expect("a reply decodes"))
        })
        .collect()
}

pub fn principal(role: Role) -> Principal {
    Principal { subject: format!("{}-1", role.as_str()), role, organisation_id: "shop".into(), expires_at: 0 }
}

pub fn caller(role: Role) -> Caller {
    Caller { principal: principal(role), correlation_id: "correlation-test".into(), trace_context: None }
}

pub fn admin() -> Caller {
    caller(Role::Admin)
}

pub fn step(order_id: &str, kind: SagaStepKind, attempt: u32) -> Option<SagaStep> {
    Some(SagaStep { saga_id: order_id.into(), kind: kind as i32, attempt })
}

pub fn lines(lines: &[(&str, u32)]) -> Vec<pb::StockLine> {
    lines.iter().map(|(id, quantity)| pb::StockLine { product_id: (*id).into(), quantity: *quantity }).collect()
}

/// A `stock.check.request` for `order_id` (attempt 1), as a fresh record.
pub fn check_request(order_id: &str, wanted: &[(&str, u32)]) -> ConsumedEvent {
    let message = pb::StockCheckRequest {
        occurred_at: None,
        step: step(order_id, SagaStepKind::StockCheck, 1),
        lines: lines(wanted),
        deadline: None,
    };
    check_message(order_id, &message)
}

pub fn check_message(order_id: &str, message: &pb::StockCheckRequest) -> ConsumedEvent {
    record(topics::STOCK_CHECK_REQUEST, "fleuve.stock.v1.StockCheckRequest", order_id, message.encode_to_vec())
}

/// A `stock.release` for `order_id`, as a fresh record.
pub fn release_request(order_id: &str, reason: &str) -> ConsumedEvent {
    let message = pb::StockRelease {
        occurred_at: None,
        step: step(order_id, SagaStepKind::StockRelease, 1),
        reason: reason.into(),
        deadline: None,
    };
    record(topics::STOCK_RELEASE, "fleuve.stock.v1.StockRelease", order_id, message.encode_to_vec())
}

/// `event` delivered again as a new record (a resend by the orchestrator, or a republish):
/// same message, new event id, so the inbox does not drop it.
pub fn redelivered(event: &ConsumedEvent) -> ConsumedEvent {
    ConsumedEvent { event_id: next_event_id(), offset: event.offset + 1, ..event.clone() }
}

fn next_event_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("record-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

pub fn record(topic: &str, message: &str, key: &str, payload: Vec<u8>) -> ConsumedEvent {
    ConsumedEvent {
        topic: topic.into(),
        partition: 0,
        offset: 0,
        key: Some(key.into()),
        message: message.into(),
        payload,
        event_id: next_event_id(),
        event_type: message.rsplit('.').next().unwrap_or(message).into(),
        aggregate_type: topic.into(),
        aggregate_id: key.into(),
        aggregate_version: 1,
        correlation_id: format!("correlation-{key}"),
        causation_id: None,
        actor: "order".into(),
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        recorded_at: Utc::now(),
    }
}

/// What a reply says, for short assertions.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Reserved(Vec<(String, u32)>),
    /// (product, requested, available, unknown)
    Insufficient(Vec<(String, u32, u64, bool)>),
    Released(Vec<(String, u32)>),
}

pub fn outcome(reply: &pb::StockChecked) -> Outcome {
    use pb::stock_checked::Outcome as O;
    let pairs = |lines: &[pb::StockLine]| lines.iter().map(|l| (l.product_id.clone(), l.quantity)).collect();
    match reply.outcome.as_ref().expect("a reply has an outcome") {
        O::Reserved(r) => Outcome::Reserved(pairs(&r.lines)),
        O::Insufficient(i) => Outcome::Insufficient(
            i.shortages.iter().map(|s| (s.product_id.clone(), s.requested, s.available, s.unknown_product)).collect(),
        ),
        O::Released(r) => Outcome::Released(pairs(&r.lines)),
    }
}

pub fn reserved(lines: &[(&str, u32)]) -> Outcome {
    Outcome::Reserved(lines.iter().map(|(id, q)| ((*id).to_owned(), *q)).collect())
}

pub fn released(lines: &[(&str, u32)]) -> Outcome {
    Outcome::Released(lines.iter().map(|(id, q)| ((*id).to_owned(), *q)).collect())
}

/// (available, reserved, version) of a product as its read model has it.
pub async fn quantities(stock: &Stock, product_id: &str) -> anyhow::Result<(u64, u64, i64)> {
    let p = stock.get_product(product_id).await?;
    Ok((p.available, p.reserved, p.version))
}
