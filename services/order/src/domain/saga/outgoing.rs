//! The messages an order's events send: each event carrying a saga message is published, as
//! is, on that message's topic, keyed by the order id.

use fleuve_proto::billing::v1 as billing;
use fleuve_proto::order::v1 as pb;
use fleuve_proto::stock::v1 as stock;
use pb::order_event::Event;
use prost::Message;

use super::topics;

/// A message to publish on a saga topic.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    OrderPlaced(pb::OrderPlaced),
    StockCheckRequest(stock::StockCheckRequest),
    StockRelease(stock::StockRelease),
    PaymentRequest(billing::PaymentRequest),
    PaymentRefund(billing::PaymentRefund),
    OrderConfirmed(pb::OrderConfirmed),
    OrderFailed(pb::OrderFailed),
}

impl Outgoing {
    /// The message `event` sends, if any (accepted replies and bookkeeping send nothing).
    pub fn of(event: &pb::OrderEvent) -> Option<Outgoing> {
        Some(match event.event.as_ref()? {
            Event::Placed(m) => Outgoing::OrderPlaced(m.clone()),
            Event::StockCheckRequested(m) => Outgoing::StockCheckRequest(m.clone()),
            Event::StockReleaseRequested(m) => Outgoing::StockRelease(m.clone()),
            Event::PaymentRequested(m) => Outgoing::PaymentRequest(m.clone()),
            Event::PaymentRefundRequested(m) => Outgoing::PaymentRefund(m.clone()),
            Event::Confirmed(m) => Outgoing::OrderConfirmed(m.clone()),
            Event::Failed(m) => Outgoing::OrderFailed(m.clone()),
            Event::StockChecked(_)
            | Event::PaymentResult(_)
            | Event::DeadlineMissed(_)
            | Event::CompensationStarted(_) => {
                return None;
            }
        })
    }

    /// Every message `events` send, in order.
    pub fn all(events: &[pb::OrderEvent]) -> Vec<Outgoing> {
        events.iter().filter_map(Outgoing::of).collect()
    }

    pub fn topic(&self) -> &'static str {
        match self {
            Outgoing::OrderPlaced(_) => topics::ORDER_PLACED,
            Outgoing::StockCheckRequest(_) => topics::STOCK_CHECK_REQUEST,
            Outgoing::StockRelease(_) => topics::STOCK_RELEASE,
            Outgoing::PaymentRequest(_) => topics::PAYMENT_REQUEST,
            Outgoing::PaymentRefund(_) => topics::PAYMENT_REFUND,
            Outgoing::OrderConfirmed(_) => topics::ORDER_CONFIRMED,
            Outgoing::OrderFailed(_) => topics::ORDER_FAILED,
        }
    }

    /// The message's case name, for the event type header.
    pub fn event_type(&self) -> &'static str {
        match self {
            Outgoing::OrderPlaced(_) => "OrderPlaced",
            Outgoing::StockCheckRequest(_) => "StockCheckRequest",
            Outgoing::StockRelease(_) => "StockRelease",
            Outgoing::PaymentRequest(_) => "PaymentRequest",
            Outgoing::PaymentRefund(_) => "PaymentRefund",
            Outgoing::OrderConfirmed(_) => "OrderConfirmed",
            Outgoing::OrderFailed(_) => "OrderFailed",
        }
    }

    /// The protobuf payload.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Outgoing::OrderPlaced(m) => m.encode_to_vec(),
            Outgoing::StockCheckRequest(m) => m.encode_to_vec(),
            Outgoing::StockRelease(m) => m.encode_to_vec(),
            Outgoing::PaymentRequest(m) => m.encode_to_vec(),
            Outgoing::PaymentRefund(m) => m.encode_to_vec(),
            Outgoing::OrderConfirmed(m) => m.encode_to_vec(),
            Outgoing::OrderFailed(m) => m.encode_to_vec(),
        }
    }
}
