//! The read side: products and reservations from their read-model rows, paged by key. Any
//! authenticated caller may read them; the gRPC adapter makes sure there is one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::prelude::*;
use fleuve_mesh::ServiceError;
use fleuve_mesh::page::PageSize;
use fleuve_proto::stock::v1 as pb;

use super::views::{self, LineRow, ProductRow, ReservationRow};
use super::{AppError, MAX_ORDER_ID_LEN, Stock, order_id, product_id};
use crate::schema::{stock_products, stock_reservation_lines, stock_reservations};

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 500;
const PAGE_SIZE: PageSize = PageSize { default: DEFAULT_PAGE_SIZE, max: MAX_PAGE_SIZE };

/// A validated page request: `size` items after the key `after` (the last key of the
/// previous page, carried by an opaque token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub size: i64,
    pub after: Option<String>,
}

impl PageRequest {
    /// `page_size` 0 is the default (50), 1 to 500 is served, anything else is refused; the
    /// token must be one this server issued.
    pub fn parse(page_size: i32, page_token: &str) -> Result<PageRequest, ServiceError> {
        let size = PAGE_SIZE.parse(page_size)?;
        if page_token.is_empty() {
            return Ok(PageRequest { size, after: None });
        }
        let after = URL_SAFE_NO_PAD
            .decode(page_token)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .filter(|key| !key.is_empty() && key.len() <= MAX_ORDER_ID_LEN)
            .ok_or_else(|| ServiceError::invalid("page_token is not a token this server issued"))?;
        Ok(PageRequest { size, after: Some(after) })
    }

    /// The first page of `size` items.
    pub fn first(size: i64) -> PageRequest {
        PageRequest { size: size.clamp(1, MAX_PAGE_SIZE), after: None }
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest::first(DEFAULT_PAGE_SIZE)
    }
}

pub use fleuve_mesh::page::Page;

/// Which reservations ListReservations returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReservationFilter {
    /// `None`: every status.
    pub status: Option<pb::ReservationStatus>,
    /// Only the reservations holding or having held this product.
    pub product_id: Option<String>,
}

impl ReservationFilter {
    /// From the request's fields: status 0 and an empty product id filter nothing.
    pub fn parse(status: i32, product_id: &str) -> Result<ReservationFilter, ServiceError> {
        let status = match pb::ReservationStatus::try_from(status) {
            Ok(pb::ReservationStatus::Unspecified) => None,
            Ok(status) => Some(status),
            Err(_) => return Err(ServiceError::invalid(format!("unknown reservation status {status}"))),
        };
        let product_id = if product_id.trim().is_empty() {
            None
        } else {
            Some(self::product_id(product_id).map_err(|e| ServiceError::invalid(e.to_string()))?)
        };
        Ok(ReservationFilter { status, product_id })
    }
}

/// Cuts the one extra row fetched to know whether another page exists.
fn page_of<R, T>(
    mut rows: Vec<R>,
    size: i64,
    key: impl Fn(&R) -> &str,
    item: impl FnMut(R) -> Result<T, AppError>,
) -> Result<Page<T>, AppError> {
    let size = usize::try_from(size).unwrap_or(0);
    let more = rows.len() > size;
    rows.truncate(size);
    let next_token = match rows.last() {
        Some(last) if more => URL_SAFE_NO_PAD.encode(key(last)),
        _ => String::new(),
    };
    let items = rows.into_iter().map(item).collect::<Result<Vec<_>, _>>()?;
    Ok(Page { items, next_token })
}

impl Stock {
    pub async fn get_product(&self, product_id: &str) -> Result<pb::Product, AppError> {
        let id = self::product_id(product_id)?;
        self.db
            .run(move |conn| {
                let row: Option<ProductRow> =
                    stock_products::table.find(&id).select(ProductRow::as_select()).first(conn).optional()?;
                row.map(views::product_from_row)
                    .ok_or_else(|| ServiceError::not_found(format!("product {id} not found")).into())
            })
            .await
    }

    /// Products in product id order.
    pub async fn list_products(&self, page: PageRequest) -> Result<Page<pb::Product>, AppError> {
        self.db
            .run(move |conn| {
                let mut query = stock_products::table.select(ProductRow::as_select()).into_boxed();
                if let Some(after) = page.after.clone() {
                    query = query.filter(stock_products::product_id.gt(after));
                }
                let rows = query.order(stock_products::product_id.asc()).limit(page.size + 1).load(conn)?;
                page_of(rows, page.size, |r| &r.product_id, |r| Ok(views::product_from_row(r)))
            })
            .await
    }

    /// The reservation of one order: what the saga decided for it so far.
    pub async fn get_reservation(&self, order_id: &str) -> Result<pb::Reservation, AppError> {
        let id = self::order_id(order_id)?;
        self.db
            .run(move |conn| {
                let row: Option<ReservationRow> =
                    stock_reservations::table.find(&id).select(ReservationRow::as_select()).first(conn).optional()?;
                let Some(row) = row else {
                    return Err(ServiceError::not_found(format!("no reservation for order {id}")).into());
                };
                let lines = stock_reservation_lines::table
                    .filter(stock_reservation_lines::order_id.eq(&id))
                    .order(stock_reservation_lines::product_id.asc())
                    .select(LineRow::as_select())
                    .load(conn)?;
                views::reservation_from_row(row, lines)
            })
            .await
    }

    /// Reservations in order id order.
    pub async fn list_reservations(
        &self,
        filter: ReservationFilter,
        page: PageRequest,
    ) -> Result<Page<pb::Reservation>, AppError> {
        self.db
            .run(move |conn| {
                let mut query = stock_reservations::table.select(ReservationRow::as_select()).into_boxed();
                if let Some(status) = filter.status {
                    query = query.filter(stock_reservations::status.eq(status as i32));
                }
                if let Some(product_id) = filter.product_id.clone() {
                    let holding = stock_reservation_lines::table
                        .filter(stock_reservation_lines::product_id.eq(product_id))
                        .select(stock_reservation_lines::order_id);
                    query = query.filter(stock_reservations::order_id.eq_any(holding));
                }
                if let Some(after) = page.after.clone() {
                    query = query.filter(stock_reservations::order_id.gt(after));
                }
                let rows: Vec<ReservationRow> =
                    query.order(stock_reservations::order_id.asc()).limit(page.size + 1).load(conn)?;
                let ids: Vec<&str> =
                    rows.iter().take(usize::try_from(page.size).unwrap_or(0)).map(|r| r.order_id.as_str()).collect();
                let lines: Vec<LineRow> = stock_reservation_lines::table
                    .filter(stock_reservation_lines::order_id.eq_any(&ids))
                    .order((stock_reservation_lines::order_id.asc(), stock_reservation_lines::product_id.asc()))
                    .select(LineRow::as_select())
                    .load(conn)?;
                let mut lines = lines.into_iter().peekable();
                page_of(
                    rows,
                    page.size,
                    |r| &r.order_id,
                    |row| {
                        // Lines come sorted by order id, like the rows.
                        let mut own = Vec::new();
                        while let Some(line) = lines.next_if(|l| l.order_id == row.order_id) {
                            own.push(line);
                        }
                        views::reservation_from_row(row, own)
                    },
                )
            })
            .await
    }
}
