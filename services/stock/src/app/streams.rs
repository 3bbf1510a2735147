//! The product and reservation streams, through the aggregate repository: each save appends
//! at the version the aggregate was loaded at and rewrites its read-model row in the caller's
//! transaction. No stock event goes to a topic: only the saga's replies leave the service.

use std::collections::BTreeMap;

use fleuve_aggregate::{Loaded, repository};
use fleuve_proto::stock::v1 as pb;
use fleuve_store::DbConnection;
use fleuve_store::event_store::{EventMetadata, OutgoingMessage};

use super::{AppError, views};
use crate::domain::{Product, Reservation};

/// The product as its stream has it (a snapshot and the events after it); not `exists()` when
/// it has no stream.
pub fn load_product(conn: &mut DbConnection, product_id: &str) -> Result<Loaded<Product>, AppError> {
    repository::load(conn, product_id)
}

/// The reservation of `order_id`; not decided while nothing was decided for it.
pub fn load_reservation(conn: &mut DbConnection, order_id: &str) -> Result<Loaded<Reservation>, AppError> {
    repository::load(conn, order_id)
}

/// The existing products among `ids`, by id.
pub(super) fn load_products<'a>(
    conn: &mut DbConnection,
    ids: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, Loaded<Product>>, AppError> {
    let mut products = BTreeMap::new();
    for id in ids {
        let product = load_product(conn, id)?;
        if product.state.exists() {
            products.insert(id.to_owned(), product);
        }
    }
    Ok(products)
}

/// Saves `events` of the product and rewrites its row; returns the product after them.
pub(super) fn save_product(
    conn: &mut DbConnection,
    product: Loaded<Product>,
    events: &[pb::ProductEvent],
    meta: &EventMetadata,
) -> Result<Product, AppError> {
    let changed = !events.is_empty();
    let saved = repository::save::<_, AppError>(conn, product, events, meta, &[])?.loaded.state;
    if changed {
        views::write_product(conn, &saved)?;
    }
    Ok(saved)
}

/// Saves `events` of the reservation with `reply` queued in the same write (on its own when
/// there are no events: a replayed request answered again), and rewrites its row.
pub(super) fn save_reservation(
    conn: &mut DbConnection,
    reservation: Loaded<Reservation>,
    events: &[pb::ReservationEvent],
    meta: &EventMetadata,
    reply: OutgoingMessage<'_>,
) -> Result<(), AppError> {
    let changed = !events.is_empty();
    let saved = repository::save::<_, AppError>(conn, reservation, events, meta, &[reply])?.loaded.state;
    if changed {
        views::write_reservation(conn, &saved)?;
    }
    Ok(())
}
