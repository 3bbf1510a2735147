//! The saga's two requests as transactions on the caller's connection (the consumer runtime's
//! transaction, inbox row included): load the order's reservation and the products it
//! touches, let the domain decide, append to the reservation's stream and then to each
//! product's stream in product id order, each at the version it was read at.
//!
//! The expected version of a product is what keeps two stock processes from overselling it:
//! the second to append finds the stream moved, fails with `StoreError::Conflict`, and the
//! runtime retries the whole request in a new transaction on the new quantities. Appending
//! in product id order makes concurrent requests lock product rows in one order (PostgreSQL
//! never sees a lock cycle between them).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use fleuve_aggregate::Loaded;
use fleuve_proto::common::v1::SagaStep;
use fleuve_proto::stock::v1 as pb;
use fleuve_store::DbConnection;
use fleuve_store::event_store::{EventMetadata, OutgoingMessage};
use prost::Message as _;

use super::AppError;
use super::streams::{load_products, load_reservation, save_product, save_reservation};
use crate::domain::{self, Product, Reservation, StockDecision};
use crate::topics;

/// The event type naming replies in the record headers.
pub const REPLY_EVENT_TYPE: &str = "StockChecked";

/// The order a saga message is about: its step's saga id (empty when it has none).
pub(crate) fn order_of(step: Option<&SagaStep>) -> &str {
    step.map_or("", |s| s.saga_id.as_str())
}

/// The reservation of `order_id`, or none for a message naming no order (which the domain
/// then refuses).
fn reservation_of(conn: &mut DbConnection, order_id: &str) -> Result<Loaded<Reservation>, AppError> {
    if order_id.trim().is_empty() { Ok(Loaded::new(order_id)) } else { load_reservation(conn, order_id) }
}

/// The states of loaded products, as the domain decides on them.
fn states(products: &BTreeMap<String, Loaded<Product>>) -> BTreeMap<String, Product> {
    products.iter().map(|(id, p)| (id.clone(), p.state.clone())).collect()
}

/// Decides a `stock.check.request`, records it and queues its reply; returns the reply.
pub(crate) fn check(
    conn: &mut DbConnection,
    request: &pb::StockCheckRequest,
    meta: &EventMetadata,
    now: DateTime<Utc>,
) -> Result<pb::StockChecked, AppError> {
    let order_id = order_of(request.step.as_ref());
    let reservation = reservation_of(conn, order_id)?;
    // A decided order gets its recorded outcome again: its products are not needed.
    let products = if reservation.state.status == pb::ReservationStatus::Unspecified {
        let ids: BTreeSet<&str> =
            request.lines.iter().map(|l| l.product_id.trim()).filter(|id| !id.is_empty()).collect();
        load_products(conn, ids)?
    } else {
        BTreeMap::new()
    };
    let decision = domain::check(&reservation.state, &states(&products), request, now)?;
    record(conn, order_id, reservation, products, decision, meta)
}

/// Decides a `stock.release`, records it and queues its reply; returns the reply.
pub(crate) fn release(
    conn: &mut DbConnection,
    request: &pb::StockRelease,
    meta: &EventMetadata,
    now: DateTime<Utc>,
) -> Result<pb::StockChecked, AppError> {
    let order_id = order_of(request.step.as_ref());
    let reservation = reservation_of(conn, order_id)?;
    let held = reservation.state.held_products();
    let products = load_products(conn, held.iter().map(String::as_str))?;
    let decision = domain::release(&reservation.state, &states(&products), request, now)?;
    record(conn, order_id, reservation, products, decision, meta)
}

fn record(
    conn: &mut DbConnection,
    order_id: &str,
    reservation: Loaded<Reservation>,
    mut products: BTreeMap<String, Loaded<Product>>,
    decision: StockDecision,
    meta: &EventMetadata,
) -> Result<pb::StockChecked, AppError> {
    // The reply goes out with the reservation's append (one statement on PostgreSQL), or on
    // its own when the reservation does not change (a replayed request).
    let reply = decision.reply.encode_to_vec();
    let message = OutgoingMessage {
        topic: topics::STOCK_CHECKED,
        key: order_id,
        message_type: REPLY_EVENT_TYPE,
        payload: &reply,
    };
    save_reservation(conn, reservation, &decision.reservation_events, meta, message)?;
    let mut by_product: BTreeMap<String, Vec<pb::ProductEvent>> = BTreeMap::new();
    for (id, event) in decision.product_events {
        by_product.entry(id).or_default().push(event);
    }
    for (id, events) in by_product {
        let product = products
            .remove(&id)
            .ok_or_else(|| AppError::Internal(format!("decided events for product {id}, which was not loaded")))?;
        save_product(conn, product, &events, meta)?;
    }
    Ok(decision.reply)
}
