//! The read side: accounts, charges and refunds from the read models, with the visibility
//! rule applied here, once: staff (admin) see everything, a customer only its own.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::prelude::*;
use fleuve_mesh::page::PageSize;
use fleuve_mesh::{Principal, Role, ServiceError};
use fleuve_proto::billing::v1 as pb;
use fleuve_store::DbConnection;

use super::views::{self, AccountRow, ChargeRow, RefundRow};
use super::{AppError, Billing};
use crate::schema::{billing_accounts, billing_charges, billing_refunds};

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 100;
const PAGE_SIZE: PageSize = PageSize { default: DEFAULT_PAGE_SIZE, max: MAX_PAGE_SIZE };

/// Which listing a page token belongs to: a token of one is refused by the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Charges,
    Refunds,
}

impl Listing {
    fn tag(self) -> &'static str {
        match self {
            Listing::Charges => "charges",
            Listing::Refunds => "refunds",
        }
    }
}

/// A validated page request: up to `size` items, newest first, older than the item the
/// token names. Tokens are opaque to clients (the event-store position of the last item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub listing: Listing,
    pub size: i64,
    pub before: Option<i64>,
}

impl PageRequest {
    /// `page_size` 0 means the default, 1 to the maximum is served, anything else is refused;
    /// an empty token is the first page.
    pub fn parse(listing: Listing, page_size: i32, page_token: &str) -> Result<PageRequest, ServiceError> {
        let size = PAGE_SIZE.parse(page_size)?;
        let before = if page_token.is_empty() { None } else { Some(parse_token(listing, page_token)?) };
        Ok(PageRequest { listing, size, before })
    }

    fn expect(&self, listing: Listing) -> Result<(), ServiceError> {
        if self.listing == listing {
            Ok(())
        } else {
            Err(ServiceError::invalid(format!("a page of {} cannot continue {}", self.listing.tag(), listing.tag())))
        }
    }

    /// The first page of `listing` with the default size.
    pub fn first(listing: Listing) -> PageRequest {
        PageRequest { listing, size: DEFAULT_PAGE_SIZE, before: None }
    }
}

fn page_token(listing: Listing, position: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{position}", listing.tag()))
}

fn parse_token(listing: Listing, token: &str) -> Result<i64, ServiceError> {
    let bad = || ServiceError::invalid("page_token is not a token this server issued for this listing");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (tag, position) = text.split_once(':').ok_or_else(bad)?;
    if tag != listing.tag() {
        return Err(bad());
    }
    // Digits only: `i64::from_str` would also take a sign.
    if position.is_empty() || !position.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    position.parse::<i64>().ok().filter(|p| *p > 0).ok_or_else(bad)
}

pub use fleuve_mesh::page::Page;

fn is_admin(principal: &Principal) -> bool {
    principal.role == Role::Admin
}

/// The customer whose items a listing shows: anyone's (or everyone's, when empty) for staff,
/// the caller's own for a customer, who may not name another.
fn listed_customer(principal: &Principal, customer_id: &str) -> Result<Option<String>, ServiceError> {
    let customer_id = customer_id.trim();
    if is_admin(principal) {
        return Ok((!customer_id.is_empty()).then(|| customer_id.to_owned()));
    }
    if customer_id.is_empty() || customer_id == principal.subject {
        Ok(Some(principal.subject.clone()))
    } else {
        Err(ServiceError::denied("a customer may only list its own charges and refunds"))
    }
}

/// Splits the extra row fetched to know whether another page exists.
fn paged<R>(mut rows: Vec<R>, page: &PageRequest, position: impl Fn(&R) -> i64) -> (Vec<R>, String) {
    let size = usize::try_from(page.size).unwrap_or(0);
    let more = rows.len() > size;
    rows.truncate(size);
    let next_token = match rows.last() {
        Some(last) if more => page_token(page.listing, position(last)),
        _ => String::new(),
    };
    (rows, next_token)
}

/// The refunds of `charges`, oldest first, grouped by charge.
fn refunds_of(conn: &mut DbConnection, charges: &[ChargeRow]) -> QueryResult<Vec<Vec<RefundRow>>> {
    let ids: Vec<&str> = charges.iter().map(|c| c.charge_id.as_str()).collect();
    let refunds: Vec<RefundRow> = billing_refunds::table
        .filter(billing_refunds::charge_id.eq_any(&ids))
        .order(billing_refunds::position.asc())
        .select(RefundRow::as_select())
        .load(conn)?;
    Ok(charges.iter().map(|c| refunds.iter().filter(|r| r.charge_id == c.charge_id).cloned().collect()).collect())
}

impl Billing {
    /// An account, for staff or the customer itself.
    pub async fn get_account(&self, principal: &Principal, customer_id: &str) -> Result<pb::Account, AppError> {
        let customer_id = customer_id.trim().to_owned();
        if customer_id.is_empty() {
            return Err(ServiceError::invalid("customer_id is missing").into());
        }
        if !is_admin(principal) && principal.subject != customer_id {
            return Err(ServiceError::denied("only staff or the customer itself may read an account").into());
        }
        self.db
            .run(move |conn| {
                let row: Option<AccountRow> = billing_accounts::table
                    .find(&customer_id)
                    .select(AccountRow::as_select())
                    .first(conn)
                    .optional()?;
                row.map(views::account_row_to_pb)
                    .ok_or_else(|| ServiceError::not_found(format!("no account for customer {customer_id}")).into())
            })
            .await
    }

    /// The charge of an order. A customer asking for another's order is told it does not exist.
    pub async fn get_charge(&self, principal: &Principal, order_id: &str) -> Result<pb::Charge, AppError> {
        let order_id = order_id.trim().to_owned();
        if order_id.is_empty() {
            return Err(ServiceError::invalid("order_id is missing").into());
        }
        let principal = principal.clone();
        self.db
            .run(move |conn| {
                let row: Option<ChargeRow> = billing_charges::table
                    .filter(billing_charges::order_id.eq(&order_id))
                    .select(ChargeRow::as_select())
                    .first(conn)
                    .optional()?;
                match row {
                    Some(row) if is_admin(&principal) || row.customer_id == principal.subject => {
                        let mut refunds = refunds_of(conn, std::slice::from_ref(&row))?;
                        Ok(views::charge_row_to_pb(row, refunds.pop().unwrap_or_default()))
                    }
                    _ => Err(ServiceError::not_found(format!("no charge for order {order_id}")).into()),
                }
            })
            .await
    }

    /// Charges, newest first, of one customer (or all, for staff) and optionally one status.
    pub async fn list_charges(
        &self,
        principal: &Principal,
        customer_id: &str,
        status: pb::ChargeStatus,
        page: PageRequest,
    ) -> Result<Page<pb::Charge>, AppError> {
        page.expect(Listing::Charges)?;
        let customer = listed_customer(principal, customer_id)?;
        self.db
            .run(move |conn| {
                let mut query = billing_charges::table.select(ChargeRow::as_select()).into_boxed();
                if let Some(customer) = customer {
                    query = query.filter(billing_charges::customer_id.eq(customer));
                }
                if status != pb::ChargeStatus::Unspecified {
                    query = query.filter(billing_charges::status.eq(status as i32));
                }
                if let Some(before) = page.before {
                    query = query.filter(billing_charges::position.lt(before));
                }
                let rows = query.order(billing_charges::position.desc()).limit(page.size + 1).load(conn)?;
                let (rows, next_token) = paged(rows, &page, |r| r.position);
                let refunds = refunds_of(conn, &rows)?;
                let items = rows.into_iter().zip(refunds).map(|(c, r)| views::charge_row_to_pb(c, r)).collect();
                Ok(Page { items, next_token })
            })
            .await
    }

    /// Refunds, newest first, of one customer (or all, for staff).
    pub async fn list_refunds(
        &self,
        principal: &Principal,
        customer_id: &str,
        page: PageRequest,
    ) -> Result<Page<pb::Refund>, AppError> {
        page.expect(Listing::Refunds)?;
        let customer = listed_customer(principal, customer_id)?;
        self.db
            .run(move |conn| {
                let mut query = billing_refunds::table.select(RefundRow::as_select()).into_boxed();
                if let Some(customer) = customer {
                    query = query.filter(billing_refunds::customer_id.eq(customer));
                }
                if let Some(before) = page.before {
                    query = query.filter(billing_refunds::position.lt(before));
                }
                let rows = query.order(billing_refunds::position.desc()).limit(page.size + 1).load(conn)?;
                let (rows, next_token) = paged(rows, &page, |r| r.position);
                Ok(Page { items: rows.into_iter().map(views::refund_row_to_pb).collect(), next_token })
            })
            .await
    }
}
