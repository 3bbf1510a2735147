//! The product and reservation streams in the event store: loading an aggregate by replaying
//! its stream, and appending what the domain decided with the version it was loaded at. No
//! stock event goes to a topic: only the saga's replies leave the service.

use std::collections::BTreeMap;

use fleuve_proto::stock::v1 as pb;
use fleuve_store::DbConnection;
use fleuve_store::event_store::{self, EventMetadata, ExpectedVersion, NewEvent, OutgoingMessage, StreamRef};
use prost::Message;

use super::{AppError, views};
use crate::domain::{PRODUCT_AGGREGATE, Product, RESERVATION_AGGREGATE, Reservation};

/// The event type stored with a product event, e.g. `QuantityReserved`.
pub fn product_event_type(event: &pb::ProductEvent) -> &'static str {
    use pb::product_event::Event;
    match &event.event {
        Some(Event::Created(_)) => "ProductCreated",
        Some(Event::Restocked(_)) => "ProductRestocked",
        Some(Event::Reserved(_)) => "QuantityReserved",
        Some(Event::Released(_)) => "QuantityReleased",
        None => "ProductEvent",
    }
}

/// The event type stored with a reservation event, e.g. `ReservationMade`.
pub fn reservation_event_type(event: &pb::ReservationEvent) -> &'static str {
    use pb::reservation_event::Event;
    match &event.event {
        Some(Event::Made(_)) => "ReservationMade",
        Some(Event::Rejected(_)) => "ReservationRejected",
        Some(Event::Released(_)) => "ReservationReleased",
        None => "ReservationEvent",
    }
}

fn product_stream(product_id: &str) -> StreamRef {
    StreamRef::new(PRODUCT_AGGREGATE, product_id)
}

fn reservation_stream(order_id: &str) -> StreamRef {
    StreamRef::new(RESERVATION_AGGREGATE, order_id)
}

/// The product as its stream has it; `Product::default()` (not `exists()`) when it has none.
///
/// A product's stream grows with every reservation, so replaying it on each decision would
/// cost more with every sale. Its read-model row is rewritten in the transaction of every
/// append, so when the row is at the stream's version it is the state, read in one row (with
/// the stream's version, in one statement); only a row that does not match its stream (never
/// expected) falls back to the replay. The append that follows still checks the version, so a
/// concurrent change is a conflict either way.
pub fn load_product(conn: &mut DbConnection, product_id: &str) -> Result<Product, AppError> {
    if let Some((product, stream_version)) =
        views::product_state(conn, product_id, &product_stream(product_id).stream_id())?
    {
        if stream_version == product.version {
            return Ok(product);
        }
        tracing::warn!(product_id, version = product.version, "product row behind its stream, replaying");
    }
    replay_product(conn, product_id)
}

/// The product folded from every event of its stream.
pub fn replay_product(conn: &mut DbConnection, product_id: &str) -> Result<Product, AppError> {
    let recorded = event_store::read_stream(conn, &product_stream(product_id), 0)?;
    let events =
        recorded.iter().map(|r| pb::ProductEvent::decode(r.payload.as_slice())).collect::<Result<Vec<_>, _>>()?;
    Ok(Product::replay(&events))
}

/// The reservation of `order_id`; `Reservation::default()` while nothing was decided for it.
pub fn load_reservation(conn: &mut DbConnection, order_id: &str) -> Result<Reservation, AppError> {
    let recorded = event_store::read_stream(conn, &reservation_stream(order_id), 0)?;
    let events =
        recorded.iter().map(|r| pb::ReservationEvent::decode(r.payload.as_slice())).collect::<Result<Vec<_>, _>>()?;
    Ok(Reservation::replay(&events))
}

/// The existing products among `ids`, by id.
pub(super) fn load_products<'a>(
    conn: &mut DbConnection,
    ids: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, Product>, AppError> {
    let mut products = BTreeMap::new();
    for id in ids {
        let product = load_product(conn, id)?;
        if product.exists() {
            products.insert(id.to_owned(), product);
        }
    }
    Ok(products)
}

/// Appends `events` to the product's stream if it is still at `product.version`, and
/// rewrites its read-model row. A stream that moved meanwhile is `StoreError::Conflict`.
pub(super) fn append_product(
    conn: &mut DbConnection,
    product_id: &str,
    product: Product,
    events: &[pb::ProductEvent],
    meta: &EventMetadata,
) -> Result<Product, AppError> {
    if events.is_empty() {
        return Ok(product);
    }
    let new_events: Vec<NewEvent> =
        events.iter().map(|e| NewEvent::new(product_event_type(e), e.encode_to_vec())).collect();
    event_store::append(
        conn,
        &product_stream(product_id),
        ExpectedVersion::Exact(product.version),
        &new_events,
        meta,
        None,
    )?;
    let mut next = product;
    for event in events {
        next.apply(event);
    }
    views::write_product(conn, &next)?;
    Ok(next)
}

/// Appends `events` to the reservation's stream if it is still at `reservation.version`, and
/// rewrites its read-model row.
pub(super) fn append_reservation(
    conn: &mut DbConnection,
    order_id: &str,
    reservation: Reservation,
    events: &[pb::ReservationEvent],
    meta: &EventMetadata,
    message: OutgoingMessage<'_>,
) -> Result<bool, AppError> {
    if events.is_empty() {
        return Ok(false);
    }
    let new_events: Vec<NewEvent> =
        events.iter().map(|e| NewEvent::new(reservation_event_type(e), e.encode_to_vec())).collect();
    event_store::append_with_messages(
        conn,
        &reservation_stream(order_id),
        ExpectedVersion::Exact(reservation.version),
        &new_events,
        meta,
        None,
        &[message],
    )?;
    let mut next = reservation;
    for event in events {
        next.apply(event);
    }
    views::write_reservation(conn, &next)?;
    Ok(true)
}
