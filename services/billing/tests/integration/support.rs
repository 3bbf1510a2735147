//! The harness: a migrated database with the billing service on it, saga messages as the
//! order service sends them, and deliveries made the way the consumer runtime makes them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, SubsecRound, Utc};
use fleuve_aggregate::Aggregate as _;
use fleuve_billing::domain::{ACCOUNT_AGGREGATE, Account, CHARGE_AGGREGATE, Charge, timestamp};
use fleuve_billing::{Billing, BillingParticipant, Caller, MIGRATIONS, topics};
use fleuve_handler::apply_once;
use fleuve_handler::{ConsumedEvent, HandlerError};
use fleuve_mesh::{Principal, Role};
use fleuve_proto::billing::v1 as pb;
use fleuve_proto::common::v1::{Money, SagaStep, SagaStepKind};
use fleuve_store::event_store::{self, RecordedEvent, StreamRef};
use fleuve_store::testing::TestDatabase;
use fleuve_store::{Database, EVENT_STORE_MIGRATIONS};
use prost::Message;

pub struct Harness {
    test: TestDatabase,
    pub app: Billing,
    pub participant: BillingParticipant,
}

impl Harness {
    pub async fn sqlite() -> anyhow::Result<Harness> {
        Ok(Harness::with(TestDatabase::sqlite(&[EVENT_STORE_MIGRATIONS, MIGRATIONS]).await?))
    }

    pub async fn postgres() -> anyhow::Result<Harness> {
        Ok(Harness::with(TestDatabase::postgres(&[EVENT_STORE_MIGRATIONS, MIGRATIONS]).await?))
    }

    fn with(test: TestDatabase) -> Harness {
        let app = Billing::new(test.database().clone());
        let participant = app.participant();
        Harness { test, app, participant }
    }

    pub fn db(&self) -> &Database {
        self.test.database()
    }

    /// Opens an XAF account as staff.
    pub async fn open(&self, customer_id: &str, balance: i64, credit_limit: i64) -> anyhow::Result<pb::Account> {
        Ok(self.app.open_account(&admin(), customer_id, "XAF", balance, credit_limit).await?)
    }

    /// Delivers `event` once, as the runtime does; `Ok(false)` when the inbox had it already.
    pub async fn deliver(&self, event: &ConsumedEvent) -> Result<bool, HandlerError> {
        deliver(self.db(), &self.participant, event).await
    }

    pub async fn balance(&self, customer_id: &str) -> anyhow::Result<i64> {
        Ok(self.app.get_account(&staff(), customer_id).await?.balance)
    }

    pub async fn charge(&self, order_id: &str) -> anyhow::Result<pb::Charge> {
        Ok(self.app.get_charge(&staff(), order_id).await?)
    }

    /// The stored events of a stream.
    pub async fn stream(&self, aggregate_type: &str, id: &str) -> anyhow::Result<Vec<RecordedEvent>> {
        let stream = StreamRef::new(aggregate_type, id);
        Ok(self.db().run(move |conn| event_store::read_stream(conn, &stream, 0)).await?)
    }

    pub async fn charge_events(&self, order_id: &str) -> anyhow::Result<Vec<pb::ChargeEvent>> {
        decode_all(&self.stream(CHARGE_AGGREGATE, order_id).await?)
    }

    pub async fn account_events(&self, customer_id: &str) -> anyhow::Result<Vec<pb::AccountEvent>> {
        decode_all(&self.stream(ACCOUNT_AGGREGATE, customer_id).await?)
    }

    /// The charge replayed from its stream.
    pub async fn replayed_charge(&self, order_id: &str) -> anyhow::Result<Charge> {
        Ok(Charge::replay(&self.charge_events(order_id).await?))
    }

    /// The account replayed from its stream.
    pub async fn replayed_account(&self, customer_id: &str) -> anyhow::Result<Account> {
        Ok(Account::replay(&self.account_events(customer_id).await?))
    }

    /// Every `payment.result` queued for the order, oldest first, checked to be in the outbox
    /// for that topic: the message stream keyed by the order id, as the relay publishes it.
    pub async fn replies(&self, order_id: &str) -> anyhow::Result<Vec<(RecordedEvent, pb::PaymentResult)>> {
        let messages = self.stream(topics::PAYMENT_RESULT, order_id).await?;
        let outbox = self.db().run(|conn| event_store::outbox_pending(conn, 10_000)).await?;
        let mut replies = Vec::new();
        for message in messages {
            let queued = outbox.iter().filter(|(row, _)| row.position == message.position).collect::<Vec<_>>();
            anyhow::ensure!(queued.len() == 1, "message {} queued {} times", message.position, queued.len());
            anyhow::ensure!(queued[0].0.topic == topics::PAYMENT_RESULT, "queued on {}", queued[0].0.topic);
            anyhow::ensure!(message.event_type == "PaymentResult", "event type {}", message.event_type);
            let reply = pb::PaymentResult::decode(message.payload.as_slice()).context("reply decodes")?;
            replies.push((message, reply));
        }
        Ok(replies)
    }

    pub async fn outcomes(&self, order_id: &str) -> anyhow::Result<Vec<pb::payment_result::Outcome>> {
        let replies = self.replies(order_id).await?;
        Ok(replies.into_iter().map(|(_, r)| r.outcome.expect("a reply has an outcome")).collect())
    }
}

fn decode_all<M: Message + Default>(recorded: &[RecordedEvent]) -> anyhow::Result<Vec<M>> {
    recorded.iter().map(|r| Ok(M::decode(r.payload.as_slice())?)).collect()
}

/// Delivers `event` the way the consumer runtime does: ONE transaction holding the inbox row
/// and the participant's writes; a transient failure rolls back and is retried with backoff.
pub async fn deliver(
    db: &Database,
    participant: &BillingParticipant,
    event: &ConsumedEvent,
) -> Result<bool, HandlerError> {
    let mut attempt = 0u64;
    loop {
        attempt += 1;
        let (participant, event) = (participant.clone(), event.clone());
        let result = db.transaction(move |conn| apply_once(conn, &participant, &event)).await;
        match result {
            Err(HandlerError::Transient(_) | HandlerError::Conflict(_)) if attempt < 40 => {
                // Spread the retries of concurrent losers apart.
                tokio::time::sleep(Duration::from_millis(2 * attempt + (attempt * 7919) % 5)).await;
            }
            other => return other,
        }
    }
}

pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub fn admin() -> Caller {
    Caller { principal: staff(), correlation_id: "corr-staff".into(), trace_context: None }
}

pub fn staff() -> Principal {
    Principal { subject: "admin-1".into(), role: Role::Admin, organisation_id: "shop".into(), expires_at: 0 }
}

/// A customer's token: the subject is the customer id.
pub fn customer(customer_id: &str) -> Principal {
    Principal { subject: customer_id.into(), role: Role::Applicant, organisation_id: "shop".into(), expires_at: 0 }
}

pub fn xaf(amount: i64) -> Money {
    Money { currency: "XAF".into(), amount }
}

pub fn step(order_id: &str, kind: SagaStepKind, attempt: u32) -> SagaStep {
    SagaStep { saga_id: order_id.into(), kind: kind.into(), attempt }
}

/// A payment request as the orchestrator sends it: due within the payment timeout (60 s).
pub fn payment_request(order_id: &str, customer_id: &str, amount: i64, token: &str) -> pb::PaymentRequest {
    pb::PaymentRequest {
        occurred_at: Some(timestamp(now())),
        step: Some(step(order_id, SagaStepKind::Payment, 1)),
        customer_id: customer_id.into(),
        amount: Some(xaf(amount)),
        payment_token: token.into(),
        deadline: Some(timestamp(now() + chrono::Duration::seconds(60))),
    }
}

pub fn saga_refund(order_id: &str, customer_id: &str, amount: i64) -> pb::PaymentRefund {
    pb::PaymentRefund {
        occurred_at: Some(timestamp(now())),
        step: Some(step(order_id, SagaStepKind::PaymentRefund, 1)),
        customer_id: customer_id.into(),
        charge_id: format!("ch-{order_id}"),
        amount: Some(xaf(amount)),
        refund_id: format!("{order_id}/late-payment"),
        reason: "payment approved after the order failed".into(),
    }
}

static NEXT_EVENT: AtomicU64 = AtomicU64::new(1);

/// A record of `topic` carrying `message`, with a new event id: a resend or a redelivery
/// through another partition, which the inbox does not recognise.
pub fn consumed(topic: &str, order_id: &str, message: &impl Message) -> ConsumedEvent {
    let n = NEXT_EVENT.fetch_add(1, Ordering::Relaxed);
    let (name, event_type) = match topic {
        topics::PAYMENT_REQUEST => ("fleuve.billing.v1.PaymentRequest", "PaymentRequest"),
        _ => ("fleuve.billing.v1.PaymentRefund", "PaymentRefund"),
    };
    ConsumedEvent {
        topic: topic.into(),
        partition: 0,
        offset: i64::try_from(n).expect("few events"),
        key: Some(order_id.into()),
        message: name.into(),
        payload: message.encode_to_vec(),
        event_id: format!("0197b000-0000-7000-8000-{n:012}"),
        event_type: event_type.into(),
        aggregate_type: topic.into(),
        aggregate_id: order_id.into(),
        aggregate_version: 1,
        correlation_id: format!("corr-{order_id}"),
        causation_id: None,
        actor: "order".into(),
        traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        recorded_at: now(),
    }
}

pub fn request_event(request: &pb::PaymentRequest) -> ConsumedEvent {
    let order_id = request.step.as_ref().map(|s| s.saga_id.clone()).unwrap_or_default();
    consumed(topics::PAYMENT_REQUEST, &order_id, request)
}

pub fn refund_event(refund: &pb::PaymentRefund) -> ConsumedEvent {
    let order_id = refund.step.as_ref().map(|s| s.saga_id.clone()).unwrap_or_default();
    consumed(topics::PAYMENT_REFUND, &order_id, refund)
}

pub fn approved(order_id: &str, amount: i64) -> pb::payment_result::Outcome {
    pb::payment_result::Outcome::Approved(pb::PaymentApproved {
        charge_id: format!("ch-{order_id}"),
        amount: Some(xaf(amount)),
    })
}

pub fn declined_reason(outcome: &pb::payment_result::Outcome) -> Option<pb::DeclineReason> {
    match outcome {
        pb::payment_result::Outcome::Declined(d) => Some(d.reason()),
        pb::payment_result::Outcome::Approved(_) => None,
    }
}
