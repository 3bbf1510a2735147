//! The stock service's saga consumer: `stock.check.request` reserves an order's lines (all or
//! none), `stock.release` gives them back. Each request is decided and recorded in the
//! consumer runtime's transaction, inbox row included, and its reply is queued there on
//! `stock.checked` through the outbox: a crash before the commit redelivers the request, and
//! a redelivered or resent request appends nothing and gets the first outcome again (the
//! orchestrator ignores the duplicate reply).

use fleuve_handler::saga::{caused_by, topic_schemas};
use fleuve_handler::{ConsumedEvent, HandlerError, SagaParticipant, TopicSchema};
use fleuve_proto::stock::v1 as pb;
use fleuve_store::DbConnection;

use crate::app::{AppError, saga};
use crate::{NAME, topics};

pub use crate::app::saga::REPLY_EVENT_TYPE;

/// Consumes the saga's stock requests; stateless, every decision reads the database.
#[derive(Debug, Clone, Default)]
pub struct StockParticipant;

impl crate::Stock {
    /// The saga consumer answering `stock.check.request` and `stock.release`.
    pub fn participant(&self) -> StockParticipant {
        StockParticipant::new()
    }
}

impl StockParticipant {
    pub fn new() -> StockParticipant {
        StockParticipant
    }
}

impl SagaParticipant for StockParticipant {
    fn name(&self) -> &str {
        NAME
    }

    fn topics(&self) -> Vec<TopicSchema> {
        topic_schemas(&topics::CONSUMED)
    }

    fn handle(&self, conn: &mut DbConnection, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let meta = caused_by(event, NAME);
        let now = crate::app::now();
        let (order_id, decided) = match event.topic.as_str() {
            topics::STOCK_CHECK_REQUEST => {
                let request: pb::StockCheckRequest = event.decode()?;
                let order_id = saga::order_of(request.step.as_ref()).to_owned();
                let decided = saga::check(conn, &request, &meta, now);
                (order_id, decided)
            }
            topics::STOCK_RELEASE => {
                let request: pb::StockRelease = event.decode()?;
                let order_id = saga::order_of(request.step.as_ref()).to_owned();
                let decided = saga::release(conn, &request, &meta, now);
                (order_id, decided)
            }
            other => return Err(HandlerError::Permanent(format!("the stock participant does not consume {other}"))),
        };
        // The reply is queued with the decision.
        decided.map_err(|e| handler_error(&event.topic, &order_id, e))?;
        Ok(())
    }
}

/// Refusals of the domain and broken stored data cannot be helped by a retry: parked. A
/// database failure or a lost race on a stream (a concurrent reservation of the same product)
/// is retried on fresh state.
fn handler_error(topic: &str, order_id: &str, error: AppError) -> HandlerError {
    let order = if order_id.is_empty() { "without an order id".to_owned() } else { format!("for order {order_id}") };
    match error {
        AppError::Store(e) => HandlerError::from_store(&e, format_args!("{topic} {order}")),
        AppError::Database(e) => HandlerError::from_diesel(&e, format_args!("{topic} {order}")),
        refused => HandlerError::Permanent(format!("{topic} {order} refused: {refused}")),
    }
}

#[cfg(test)]
mod tests {
    use fleuve_store::StoreError;

    use super::*;
    use crate::domain::DomainError;

    #[test]
    fn refusals_are_parked_and_lost_races_retried() {
        let conflict = StoreError::Conflict { stream_id: "product-a".into(), expected: 1, actual: 2 };
        let retried = handler_error(topics::STOCK_CHECK_REQUEST, "o-1", AppError::Store(conflict));
        assert!(
            matches!(&retried, HandlerError::Conflict(m) if m.contains("for order o-1") && m.contains("product-a"))
        );
        let invalid =
            handler_error(topics::STOCK_CHECK_REQUEST, "", DomainError::Invalid("saga step is missing".into()).into());
        assert_eq!(
            invalid,
            HandlerError::Permanent("stock.check.request without an order id refused: saga step is missing".into())
        );
        let precondition =
            handler_error(topics::STOCK_RELEASE, "o-1", DomainError::Precondition("not held".into()).into());
        assert_eq!(precondition, HandlerError::Permanent("stock.release for order o-1 refused: not held".into()));
        let corrupt = handler_error(topics::STOCK_RELEASE, "o-1", AppError::Internal("bad row".into()));
        assert!(matches!(corrupt, HandlerError::Permanent(_)));
    }
}
