//! The read side: GetOrder and ListOrders over `order_view`, with the visibility rule
//! (customers see their own orders, admins every order) applied here, once.

use chrono::{DateTime, NaiveDateTime};
use diesel::prelude::*;
use fleuve_mesh::ServiceError;
use fleuve_mesh::page::PageSize;
use fleuve_proto::order::v1 as pb;

use super::views::{self, OrderRow};
use super::{AppError, Caller, Orders};
use crate::schema::order_view;

const PAGE_SIZE: PageSize = PageSize { default: 50, max: 500 };

/// A validated page request: `size` orders after the opaque token, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    pub size: i64,
    /// (placed_at, order_id) of the last order of the previous page.
    pub after: Option<(NaiveDateTime, String)>,
}

impl PageRequest {
    pub fn parse(page_size: i32, page_token: &str) -> Result<PageRequest, ServiceError> {
        let size = PAGE_SIZE.parse(page_size)?;
        if page_token.is_empty() {
            return Ok(PageRequest { size, after: None });
        }
        let bad = || ServiceError::invalid("page_token is not a token this server issued");
        let (micros, order_id) = page_token.split_once('.').ok_or_else(bad)?;
        let micros: i64 = micros.parse().map_err(|_| bad())?;
        let placed_at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?.naive_utc();
        if order_id.is_empty() || order_id.len() > 64 || !order_id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err(bad());
        }
        Ok(PageRequest { size, after: Some((placed_at, order_id.to_owned())) })
    }

    fn token(row: &OrderRow) -> String {
        format!("{}.{}", row.placed_at.and_utc().timestamp_micros(), row.order_id)
    }
}

pub use fleuve_mesh::page::Page;

/// What ListOrders filters on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListFilter {
    /// `Unspecified`: every status.
    pub status: pb::OrderStatus,
    /// Empty: every customer (admins) or the caller (customers).
    pub customer_id: String,
}

impl Orders {
    pub async fn get_order(&self, caller: &Caller, order_id: String) -> Result<pb::Order, AppError> {
        let id = order_id.trim().to_owned();
        if id.is_empty() || id.len() > 64 {
            return Err(ServiceError::invalid("order_id must have 1 to 64 characters").into());
        }
        let row = self.db.run(move |conn| views::find(conn, &id)).await?;
        match row {
            Some(row) if super::can_see(caller, &row.customer_id) => row.order(),
            _ => Err(ServiceError::not_found(format!("order {} not found", order_id.trim())).into()),
        }
    }

    pub async fn list_orders(
        &self,
        caller: &Caller,
        filter: ListFilter,
        page: PageRequest,
    ) -> Result<Page<pb::Order>, AppError> {
        let customer = filter.customer_id.trim().to_owned();
        let customer = if caller.is_admin() {
            (!customer.is_empty()).then_some(customer)
        } else if customer.is_empty() || customer == caller.principal.subject {
            Some(caller.principal.subject.clone())
        } else {
            return Err(ServiceError::denied("customers list only their own orders").into());
        };
        let status = (filter.status != pb::OrderStatus::Unspecified).then_some(filter.status as i32);
        let size = page.size;
        let mut rows = self
            .db
            .run(move |conn| -> Result<Vec<OrderRow>, AppError> {
                let mut query = order_view::table.select(OrderRow::as_select()).into_boxed();
                if let Some(customer) = customer {
                    query = query.filter(order_view::customer_id.eq(customer));
                }
                if let Some(status) = status {
                    query = query.filter(order_view::status.eq(status));
                }
                if let Some((placed_at, order_id)) = page.after {
                    query = query.filter(
                        order_view::placed_at
                            .lt(placed_at)
                            .or(order_view::placed_at.eq(placed_at).and(order_view::order_id.lt(order_id))),
                    );
                }
                Ok(query
                    .order((order_view::placed_at.desc(), order_view::order_id.desc()))
                    .limit(size + 1)
                    .load(conn)?)
            })
            .await?;
        let more = rows.len() as i64 > size;
        rows.truncate(usize::try_from(size).unwrap_or(0));
        let next_token = if more { rows.last().map(PageRequest::token).unwrap_or_default() } else { String::new() };
        let items = rows.iter().map(OrderRow::order).collect::<Result<_, _>>()?;
        Ok(Page { items, next_token })
    }
}

impl Orders {
    /// How many orders are in each saga state (every state, zeros included), for the
    /// `fleuve_saga_orders` gauge.
    pub async fn count_by_state(&self) -> Result<Vec<(&'static str, i64)>, AppError> {
        let counts: Vec<(i32, i64)> = self
            .db
            .run(|conn| -> Result<_, AppError> {
                Ok(order_view::table
                    .group_by(order_view::status)
                    .select((order_view::status, diesel::dsl::count_star()))
                    .load::<(i32, i64)>(conn)?)
            })
            .await?;
        let states = [
            (pb::OrderStatus::Pending, "pending"),
            (pb::OrderStatus::AwaitingStock, "awaiting_stock"),
            (pb::OrderStatus::AwaitingPayment, "awaiting_payment"),
            (pb::OrderStatus::Compensating, "compensating"),
            (pb::OrderStatus::Confirmed, "confirmed"),
            (pb::OrderStatus::Failed, "failed"),
            (pb::OrderStatus::Cancelled, "cancelled"),
        ];
        Ok(states
            .into_iter()
            .map(|(state, name)| (name, counts.iter().filter(|(s, _)| *s == state as i32).map(|(_, n)| *n).sum()))
            .collect())
    }
}

impl Orders {
    /// Orders whose saga deadline passed before `now` and is still set (the ticker fires and
    /// clears a deadline within its interval), for the `fleuve_saga_overdue_orders` gauge.
    pub async fn count_overdue(&self, now: chrono::DateTime<chrono::Utc>) -> Result<i64, AppError> {
        let now = now.naive_utc();
        self.db
            .run(move |conn| -> Result<_, AppError> {
                Ok(order_view::table
                    .filter(order_view::due_at.lt(now))
                    .select(diesel::dsl::count_star())
                    .first::<i64>(conn)?)
            })
            .await
    }
}
