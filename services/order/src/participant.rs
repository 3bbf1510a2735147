//! The orchestrator's consumer: `stock.checked` and `payment.result` answer an order's saga
//! steps (the saga starts in PlaceOrder's transaction, so `order.placed` is not consumed
//! here). Each record goes through the orchestrator inside the consumer runtime's
//! transaction (inbox row included), so a redelivered record is dropped by the inbox and a
//! duplicate or late reply by the saga's state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::Utc;
use fleuve_handler::saga::caused_by;
use fleuve_handler::{ConsumedEvent, HandlerError, SagaParticipant, TopicSchema};
use fleuve_proto::billing::v1 as billing;
use fleuve_proto::order::v1 as pb;
use fleuve_proto::stock::v1 as stock;
use fleuve_store::DbConnection;

use crate::app::{Finished, Orders, advance, order_to_pb};
use crate::domain::SagaInput;
use crate::topics;

/// Orders decided in transactions not yet reported committed, at most (beyond it, the
/// watches read the order instead).
const DECIDED: usize = 1024;

/// What a transaction made of an order: the order for the watches, and the saga's end if it
/// ended (reported to the metrics once committed).
type Decided = (pb::Order, Option<Finished>);

/// The saga consumer of the order service.
#[derive(Debug, Clone)]
pub struct OrderSaga {
    orders: Orders,
    /// Event id → the order its transaction made, handed to the watches once the runtime
    /// reports the transaction committed ([`Projection::applied`]).
    decided: Arc<Mutex<HashMap<String, Decided>>>,
}

impl crate::Orders {
    /// The saga consumer feeding `stock.checked` and `payment.result` to this service.
    pub fn participant(&self) -> OrderSaga {
        OrderSaga::new(self.clone())
    }
}

impl OrderSaga {
    pub fn new(orders: Orders) -> OrderSaga {
        OrderSaga { orders, decided: Arc::default() }
    }

    /// The order a record is about and what it tells its saga.
    fn input(event: &ConsumedEvent) -> Result<(String, SagaInput), HandlerError> {
        match event.topic.as_str() {
            topics::STOCK_CHECKED => {
                let reply: stock::StockChecked = event.decode()?;
                Ok((saga_id(reply.step.as_ref())?, SagaInput::StockChecked(reply)))
            }
            topics::PAYMENT_RESULT => {
                let reply: billing::PaymentResult = event.decode()?;
                Ok((saga_id(reply.step.as_ref())?, SagaInput::PaymentResult(reply)))
            }
            other => Err(HandlerError::Permanent(format!("the order saga does not consume {other}"))),
        }
    }
}

fn saga_id(step: Option<&fleuve_proto::common::v1::SagaStep>) -> Result<String, HandlerError> {
    step.map(|s| s.saga_id.clone())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| HandlerError::Permanent("reply has no saga step".into()))
}

impl SagaParticipant for OrderSaga {
    fn name(&self) -> &str {
        crate::NAME
    }

    fn topics(&self) -> Vec<TopicSchema> {
        vec![
            TopicSchema::new(topics::STOCK_CHECKED, "fleuve.stock.v1.StockChecked", "fleuve/stock/v1/saga.proto"),
            TopicSchema::new(topics::PAYMENT_RESULT, "fleuve.billing.v1.PaymentResult", "fleuve/billing/v1/saga.proto"),
        ]
    }

    fn handle(&self, conn: &mut DbConnection, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let (order_id, input) = OrderSaga::input(event)?;
        let meta = caused_by(event, crate::NAME);
        let advanced = advance(conn, self.orders.orchestrator(), &order_id, input, &meta, Utc::now())?;
        // A retry of this event replaces (or drops) what an attempt that did not commit left.
        let mut decided = self.decided.lock().unwrap_or_else(PoisonError::into_inner);
        if advanced.changed() {
            if decided.len() >= DECIDED {
                decided.clear();
            }
            decided.insert(event.event_id.clone(), (order_to_pb(&advanced.order), advanced.finished));
        } else {
            decided.remove(&event.event_id);
        }
        Ok(())
    }

    fn handled<'a>(&'a self, event: &'a ConsumedEvent) -> fleuve_handler::HookFuture<'a> {
        Box::pin(async move {
            if let Ok((order_id, _)) = OrderSaga::input(event) {
                let decided = self.decided.lock().unwrap_or_else(PoisonError::into_inner).remove(&event.event_id);
                if let Some((_, Some(finished))) = &decided {
                    finished.report(event.traceparent.as_deref());
                }
                self.orders.changed(&order_id, decided.map(|(order, _)| order));
            }
        })
    }
}
