//! The read models: one row per product and one per reservation (its lines in a child table),
//! rewritten from the aggregate's state in the transaction of the append, and turned back into
//! the gRPC views.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use fleuve_proto::stock::v1 as pb;
use fleuve_store::{DbConnection, execute_prepared};
use serde::{Deserialize, Serialize};

use super::AppError;
use crate::domain::{DomainError, Product, Reservation};
use crate::schema::{stock_products, stock_reservation_lines, stock_reservations};

#[derive(Debug, Clone, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = stock_products)]
pub(super) struct ProductRow {
    pub product_id: String,
    pub name: String,
    pub available: i64,
    pub reserved: i64,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub price_amount: Option<i64>,
    pub price_currency: Option<String>,
}

#[derive(Debug, Clone, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = stock_reservations)]
pub(super) struct ReservationRow {
    pub order_id: String,
    pub status: i32,
    pub shortages: String,
    pub release_reason: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = stock_reservation_lines)]
pub(super) struct LineRow {
    pub order_id: String,
    pub product_id: String,
    pub quantity: i64,
}

/// A shortage as stored in `stock_reservations.shortages`.
#[derive(Debug, Serialize, Deserialize)]
struct StoredShortage {
    product_id: String,
    requested: u32,
    available: u64,
    unknown_product: bool,
}

/// The largest quantity a product may count: what the BIGINT columns hold.
pub(super) const MAX_QUANTITY: u64 = i64::MAX as u64;

pub fn product_to_pb(p: &Product) -> pb::Product {
    p.to_pb()
}

pub fn reservation_to_pb(r: &Reservation) -> pb::Reservation {
    pb::Reservation {
        order_id: r.order_id.clone(),
        status: r.status as i32,
        lines: r.lines.clone(),
        shortages: r.shortages.clone(),
        release_reason: r.release_reason.clone(),
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

fn naive(t: Option<prost_types::Timestamp>) -> NaiveDateTime {
    let t = t.unwrap_or_default();
    let nanos = u32::try_from(t.nanos).unwrap_or(0);
    chrono::DateTime::from_timestamp(t.seconds, nanos).unwrap_or_default().naive_utc()
}

fn timestamp(t: NaiveDateTime) -> Option<prost_types::Timestamp> {
    Some(crate::domain::timestamp(t.and_utc()))
}

fn column(quantity: u64) -> Result<i64, AppError> {
    i64::try_from(quantity).map_err(|_| DomainError::Invalid(format!("a quantity cannot exceed {MAX_QUANTITY}")).into())
}

/// Upserts the product's row. The product's stream row is locked by the append of the same
/// transaction, so update-then-insert cannot race with another writer of this row.
pub(super) fn write_product(conn: &mut DbConnection, p: &Product) -> Result<(), AppError> {
    let row = ProductRow {
        product_id: p.id.clone(),
        name: p.name.clone(),
        available: column(p.available)?,
        reserved: column(p.reserved)?,
        version: p.version,
        created_at: naive(p.created_at),
        updated_at: naive(p.updated_at),
        price_amount: p.price.as_ref().map(|m| m.amount),
        price_currency: p.price.as_ref().map(|m| m.currency.clone()),
    };
    let updated = execute_prepared(conn, diesel::update(stock_products::table.find(&row.product_id)).set(&row))?;
    if updated == 0 {
        diesel::insert_into(stock_products::table).values(&row).execute(conn)?;
    }
    Ok(())
}

/// Upserts the reservation's row and replaces its lines.
pub(super) fn write_reservation(conn: &mut DbConnection, r: &Reservation) -> Result<(), AppError> {
    let shortages: Vec<StoredShortage> = r
        .shortages
        .iter()
        .map(|s| StoredShortage {
            product_id: s.product_id.clone(),
            requested: s.requested,
            available: s.available,
            unknown_product: s.unknown_product,
        })
        .collect();
    let row = ReservationRow {
        order_id: r.order_id.clone(),
        status: r.status as i32,
        shortages: serde_json::to_string(&shortages).map_err(AppError::internal)?,
        release_reason: r.release_reason.clone(),
        version: r.version,
        created_at: naive(r.created_at),
        updated_at: naive(r.updated_at),
    };
    let updated = execute_prepared(conn, diesel::update(stock_reservations::table.find(&row.order_id)).set(&row))?;
    if updated == 0 {
        execute_prepared(conn, diesel::insert_into(stock_reservations::table).values(&row))?;
    }
    diesel::delete(stock_reservation_lines::table.filter(stock_reservation_lines::order_id.eq(&r.order_id)))
        .execute(conn)?;
    // One statement per line: MultiBackend has no multi-row INSERT.
    for line in &r.lines {
        let line = LineRow {
            order_id: r.order_id.clone(),
            product_id: line.product_id.clone(),
            quantity: i64::from(line.quantity),
        };
        execute_prepared(conn, diesel::insert_into(stock_reservation_lines::table).values(&line))?;
    }
    Ok(())
}

pub(super) fn product_from_row(row: ProductRow) -> pb::Product {
    product_to_pb(&product_of_row(row))
}

fn product_of_row(row: ProductRow) -> Product {
    Product {
        id: row.product_id,
        name: row.name,
        // The columns are checked non-negative.
        available: row.available.unsigned_abs(),
        reserved: row.reserved.unsigned_abs(),
        created_at: timestamp(row.created_at),
        updated_at: timestamp(row.updated_at),
        version: row.version,
        price: row
            .price_amount
            .zip(row.price_currency)
            .map(|(amount, currency)| fleuve_proto::common::v1::Money { currency, amount }),
    }
}

/// The view of a reservation row with its lines (in product id order).
pub(super) fn reservation_from_row(row: ReservationRow, lines: Vec<LineRow>) -> Result<pb::Reservation, AppError> {
    let shortages: Vec<StoredShortage> = serde_json::from_str(&row.shortages)
        .map_err(|e| AppError::internal(format!("stored shortages cannot be decoded: {e}")))?;
    let lines = lines
        .into_iter()
        .map(|l| {
            let quantity = u32::try_from(l.quantity).map_err(|_| {
                AppError::Internal(format!(
                    "stored line {} of order {} has quantity {}",
                    l.product_id, l.order_id, l.quantity
                ))
            })?;
            Ok(pb::StockLine { product_id: l.product_id, quantity })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    Ok(pb::Reservation {
        order_id: row.order_id,
        status: row.status,
        lines,
        shortages: shortages
            .into_iter()
            .map(|s| pb::Shortage {
                product_id: s.product_id,
                requested: s.requested,
                available: s.available,
                unknown_product: s.unknown_product,
            })
            .collect(),
        release_reason: row.release_reason,
        created_at: timestamp(row.created_at),
        updated_at: timestamp(row.updated_at),
    })
}
