//! Orders, callers and the saga's replies as stock and billing would send them, and helpers
//! that feed records through the orchestrator's consumer the way the runtime does.

use chrono::{DateTime, Utc};
use fleuve_handler::{ConsumedEvent, HandlerError, Projection};
use fleuve_mesh::{Principal, Role};
use fleuve_order::app::NewOrder;
use fleuve_order::{Caller, Orders, Settings};
use fleuve_proto::billing::v1 as billing;
use fleuve_proto::common::v1::{SagaStep, SagaStepKind};
use fleuve_proto::order::v1 as pb;
use fleuve_proto::stock::v1 as stock;
use fleuve_store::event_store::{self, StreamRef};
use fleuve_store::testing::TestDatabase;
use prost::Message;

pub async fn sqlite() -> anyhow::Result<TestDatabase> {
    Ok(TestDatabase::sqlite(&[fleuve_store::EVENT_STORE_MIGRATIONS, fleuve_order::MIGRATIONS]).await?)
}

pub async fn postgres() -> anyhow::Result<TestDatabase> {
    Ok(TestDatabase::postgres(&[fleuve_store::EVENT_STORE_MIGRATIONS, fleuve_order::MIGRATIONS]).await?)
}

pub fn orders(db: &TestDatabase) -> Orders {
    Orders::new(db.database().clone(), Settings::default())
}

pub fn customer(name: &str) -> Caller {
    Caller {
        principal: Principal {
            subject: name.into(),
            role: Role::Applicant,
            organisation_id: "org-shop".into(),
            expires_at: 0,
        },
        correlation_id: format!("corr-{name}"),
        trace_context: None,
    }
}

pub fn admin() -> Caller {
    Caller {
        principal: Principal {
            subject: "admin-1".into(),
            role: Role::Admin,
            organisation_id: "org-shop".into(),
            expires_at: 0,
        },
        correlation_id: "corr-admin".into(),
        trace_context: None,
    }
}

pub fn new_order(key: &str, lines: &[(&str, u32, i64)], token: &str) -> NewOrder {
    NewOrder {
        idempotency_key: key.into(),
        customer_id: String::new(),
        lines: lines
            .iter()
            .map(|(id, quantity, price)| pb::OrderLine {
                product_id: (*id).into(),
                quantity: *quantity,
                unit_price: *price,
            })
            .collect(),
        currency: "XAF".into(),
        payment_token: token.into(),
    }
}

/// The messages queued on `topic` for `order_id`, oldest first, as the consumer would see them.
pub async fn sent(db: &TestDatabase, topic: &str, message: &str, order_id: &str) -> anyhow::Result<Vec<ConsumedEvent>> {
    let stream = StreamRef::new(topic, order_id);
    let (topic, message) = (topic.to_owned(), message.to_owned());
    let recorded = db.database().run(move |conn| event_store::read_stream(conn, &stream, 1)).await?;
    Ok(recorded.iter().map(|e| ConsumedEvent::from_recorded(e, &topic, &message)).collect())
}

pub fn decode<M: Message + Default>(event: &ConsumedEvent) -> M {
    M::decode(event.payload.as_slice()).expect("queued message decodes")
}

/// A record as it arrives on `topic` (a new event id each time, like a re-produced record).
pub fn record<M: Message>(topic: &str, message: &str, order_id: &str, body: &M) -> ConsumedEvent {
    ConsumedEvent {
        topic: topic.into(),
        partition: 0,
        offset: 0,
        key: Some(order_id.into()),
        message: message.into(),
        payload: body.encode_to_vec(),
        event_id: uuid::Uuid::now_v7().to_string(),
        event_type: message.rsplit('.').next().unwrap_or_default().into(),
        aggregate_type: topic.into(),
        aggregate_id: order_id.into(),
        aggregate_version: 1,
        correlation_id: "corr-reply".into(),
        causation_id: None,
        actor: "test".into(),
        traceparent: None,
        recorded_at: Utc::now(),
    }
}

/// Applies `event` through the orchestrator's consumer in one transaction, as the runtime does.
/// Applies `event` in one transaction, then reports the commit, as the consumer runtime does.
pub async fn consume(db: &TestDatabase, orders: &Orders, event: ConsumedEvent) -> Result<(), HandlerError> {
    let saga = orders.participant();
    let (applying, applied) = (saga.clone(), event.clone());
    db.database().transaction(move |conn| applying.apply(conn, &applied)).await?;
    saga.applied(&event).await;
    Ok(())
}

pub fn step(order_id: &str, kind: SagaStepKind, attempt: u32) -> Option<SagaStep> {
    Some(SagaStep { saga_id: order_id.into(), kind: kind.into(), attempt })
}

pub fn reserved(order_id: &str, lines: &[(&str, u32)]) -> ConsumedEvent {
    let lines = lines.iter().map(|(id, q)| stock::StockLine { product_id: (*id).into(), quantity: *q }).collect();
    let reply = stock::StockChecked {
        occurred_at: None,
        step: step(order_id, SagaStepKind::StockCheck, 1),
        outcome: Some(stock::stock_checked::Outcome::Reserved(stock::StockReserved { lines })),
    };
    record("stock.checked", "fleuve.stock.v1.StockChecked", order_id, &reply)
}

pub fn insufficient(order_id: &str, product: &str, requested: u32, available: u64) -> ConsumedEvent {
    let shortage = stock::Shortage { product_id: product.into(), requested, available, unknown_product: false };
    let reply = stock::StockChecked {
        occurred_at: None,
        step: step(order_id, SagaStepKind::StockCheck, 1),
        outcome: Some(stock::stock_checked::Outcome::Insufficient(stock::StockInsufficient {
            shortages: vec![shortage],
        })),
    };
    record("stock.checked", "fleuve.stock.v1.StockChecked", order_id, &reply)
}

pub fn released(order_id: &str, attempt: u32) -> ConsumedEvent {
    let reply = stock::StockChecked {
        occurred_at: None,
        step: step(order_id, SagaStepKind::StockRelease, attempt),
        outcome: Some(stock::stock_checked::Outcome::Released(stock::StockReleased { lines: Vec::new() })),
    };
    record("stock.checked", "fleuve.stock.v1.StockChecked", order_id, &reply)
}

pub fn approved(order_id: &str, amount: i64) -> ConsumedEvent {
    let reply = billing::PaymentResult {
        occurred_at: None,
        step: step(order_id, SagaStepKind::Payment, 1),
        outcome: Some(billing::payment_result::Outcome::Approved(billing::PaymentApproved {
            charge_id: format!("ch-{order_id}"),
            amount: Some(fleuve_proto::common::v1::Money { currency: "XAF".into(), amount }),
        })),
    };
    record("payment.result", "fleuve.billing.v1.PaymentResult", order_id, &reply)
}

pub fn declined(order_id: &str) -> ConsumedEvent {
    let reply = billing::PaymentResult {
        occurred_at: None,
        step: step(order_id, SagaStepKind::Payment, 1),
        outcome: Some(billing::payment_result::Outcome::Declined(billing::PaymentDeclined {
            reason: billing::DeclineReason::CardFlagged.into(),
            detail: "card flagged by the provider".into(),
        })),
    };
    record("payment.result", "fleuve.billing.v1.PaymentResult", order_id, &reply)
}

/// The `order.placed` record of a placed order, as the relay would publish it.
pub async fn placed_record(db: &TestDatabase, order_id: &str) -> anyhow::Result<ConsumedEvent> {
    let mut placed = sent(db, "order.placed", "fleuve.order.v1.OrderPlaced", order_id).await?;
    anyhow::ensure!(placed.len() == 1, "one order.placed per order, got {}", placed.len());
    Ok(placed.remove(0))
}

pub fn later(seconds: i64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(seconds)
}
