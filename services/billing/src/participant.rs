//! The billing participant of the order saga: consumes `payment.request` and `payment.refund`
//! inside the consumer runtime's transaction (which already holds the inbox row), records the
//! decision on the order's charge stream and the customer's account stream, and queues the
//! reply on `payment.result` through the outbox — all or nothing.
//!
//! Exactly one charge per order: the charge stream is created at version 0 by the first
//! decision, so a concurrent duplicate loses on the expected version (retried as transient,
//! after which it finds the charge decided) and a later one finds the decision and answers
//! it again without asking the provider. After a provider timeout nothing is answered, ever.
//!
//! The provider is asked between [`precheck`] and [`settle`], inside the transaction: the port
//! is synchronous and the simulator answers at once. A network provider would hold the
//! stream rows locked during its round trip (concurrent payments of the same customer wait)
//! and may be asked again when the transaction is retried after a lost race or a crash; the
//! charge id handed to it is derived from the order id so that it can deduplicate. Moving the
//! call out of the transaction (record an authorisation intent, call, then settle in a second
//! transaction) is the step to take before plugging in a slow provider.

use std::sync::Arc;

use fleuve_handler::saga::{caused_by, topic_schemas};
use fleuve_handler::{ConsumedEvent, HandlerError, SagaParticipant, TopicSchema};
use fleuve_proto::billing::v1 as pb;
use fleuve_proto::common::v1::SagaStep;
use fleuve_store::DbConnection;
use fleuve_store::event_store::OutgoingMessage;
use pb::payment_result::Outcome;

use crate::app::ledger::{self, Effects};
use crate::domain::{PaymentDecision, PaymentProvider, Precheck, precheck, refund_for_saga, settle};
use crate::topics::{CONSUMED, PAYMENT_REFUND, PAYMENT_REQUEST, PAYMENT_RESULT};
use crate::{NAME, app};

/// The event type of the replies in the record headers.
pub const PAYMENT_RESULT_TYPE: &str = "PaymentResult";

/// Answers the saga's payment requests and refunds; see the module documentation.
#[derive(Clone)]
pub struct BillingParticipant {
    provider: Arc<dyn PaymentProvider + Send + Sync>,
}

impl std::fmt::Debug for BillingParticipant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BillingParticipant").finish_non_exhaustive()
    }
}

impl crate::Billing {
    /// The saga participant consuming `payment.request` and `payment.refund`, asking this
    /// service's provider.
    pub fn participant(&self) -> BillingParticipant {
        BillingParticipant::new(self.provider())
    }
}

impl BillingParticipant {
    pub fn new(provider: Arc<dyn PaymentProvider + Send + Sync>) -> BillingParticipant {
        BillingParticipant { provider }
    }

    fn pay(&self, conn: &mut DbConnection, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let request: pb::PaymentRequest = event.decode()?;
        let order_id = saga_id(request.step.as_ref(), "payment request")?;
        let refused = |e: crate::domain::DomainError| permanent(&order_id, "payment request", e);
        let now = app::now();
        let charge = ledger::load_charge(conn, &order_id)?;
        let account = ledger::load_account(conn, &request.customer_id)?;
        let decision = match precheck(&charge.state, &account.state, &request, &ledger::charge_id(&order_id), now)
            .map_err(refused)?
        {
            Precheck::Decided(decision) | Precheck::Declined(decision) => decision,
            Precheck::Authorize(authorization) => {
                let outcome = self.provider.authorize(&authorization);
                settle(&request, &authorization, outcome, now).map_err(refused)?
            }
        };
        let PaymentDecision { charge_events, account_events, reply } = decision;
        let meta = caused_by(event, NAME);
        let effects = Effects { charge: &charge_events, account: &account_events };
        let encoded = reply.as_ref().map(prost::Message::encode_to_vec);
        let message = encoded.as_deref().map(|payload| OutgoingMessage {
            topic: PAYMENT_RESULT,
            key: &order_id,
            message_type: PAYMENT_RESULT_TYPE,
            payload,
        });
        ledger::record(conn, (charge, account), effects, &meta, now, message)?;
        match &reply {
            Some(reply) => {
                tracing::info!(
                    order_id,
                    outcome = outcome_label(reply),
                    replayed = charge_events.is_empty(),
                    "payment answered"
                );
            }
            None => tracing::warn!(order_id, "payment provider timed out, no reply"),
        }
        Ok(())
    }

    fn refund(&self, conn: &mut DbConnection, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let request: pb::PaymentRefund = event.decode()?;
        let order_id = saga_id(request.step.as_ref(), "payment refund")?;
        let now = app::now();
        let charge = ledger::load_charge(conn, &order_id)?;
        // The account that paid, whatever the request says.
        let customer_id =
            if charge.state.is_decided() { charge.state.customer_id.clone() } else { request.customer_id.clone() };
        let account = ledger::load_account(conn, &customer_id)?;
        let decision = refund_for_saga(&charge.state, &account.state, &request, now)
            .map_err(|e| permanent(&order_id, "payment refund", e))?;
        let effects = Effects { charge: &decision.charge_events, account: &decision.account_events };
        ledger::record(conn, (charge, account), effects, &caused_by(event, NAME), now, None)?;
        if !decision.charge_events.is_empty() {
            tracing::info!(order_id, refund_id = request.refund_id, "payment refunded");
        }
        Ok(())
    }
}

impl SagaParticipant for BillingParticipant {
    fn name(&self) -> &str {
        NAME
    }

    fn topics(&self) -> Vec<TopicSchema> {
        topic_schemas(&CONSUMED)
    }

    fn handle(&self, conn: &mut DbConnection, event: &ConsumedEvent) -> Result<(), HandlerError> {
        match event.topic.as_str() {
            PAYMENT_REQUEST => self.pay(conn, event),
            PAYMENT_REFUND => self.refund(conn, event),
            other => Err(HandlerError::Permanent(format!("billing does not consume topic {other}"))),
        }
    }
}

/// The order id the message is about; without it there is no stream to load (the domain
/// refuses such a step with the same words).
fn saga_id(step: Option<&SagaStep>, what: &str) -> Result<String, HandlerError> {
    fleuve_aggregate::saga_id(step).map(str::to_owned).map_err(|e| HandlerError::Permanent(format!("{what}: {e}")))
}

fn permanent(order_id: &str, what: &str, error: crate::domain::DomainError) -> HandlerError {
    HandlerError::Permanent(format!("{what} of order {order_id} refused: {error}"))
}

fn outcome_label(reply: &pb::PaymentResult) -> &'static str {
    match &reply.outcome {
        Some(Outcome::Approved(_)) => "approved",
        Some(Outcome::Declined(_)) => "declined",
        None => "none",
    }
}
