//! The application layer: every change — a staff command or a saga request — is ONE
//! transaction that loads the streams it decides on, lets the domain decide, appends the
//! events with the versions it read and rewrites the read-model rows of what changed. Queries
//! read those rows.

mod commands;
mod queries;
pub(crate) mod saga;
mod streams;
mod views;

use chrono::{DateTime, SubsecRound, Utc};

use fleuve_store::Database;

pub use commands::MAX_REFERENCE_LEN;
pub use queries::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest, ReservationFilter};
pub use streams::{load_product, load_reservation};
pub use views::{product_to_pb, reservation_to_pb};

use crate::domain::DomainError;
use crate::domain::product::MAX_ID_LEN;
pub use fleuve_aggregate::AppError;

/// The stock service: staff commands, queries and the saga participant over one database.
#[derive(Debug, Clone)]
pub struct Stock {
    db: Database,
}

impl Stock {
    pub fn new(db: Database) -> Stock {
        Stock { db }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }
}

pub use fleuve_aggregate::Caller;

/// Longest order id accepted by the queries (orders are named by UUIDs).
pub const MAX_ORDER_ID_LEN: usize = 128;

/// A product id from a request: trimmed, 1 to [`MAX_ID_LEN`] bytes, as the domain names them.
fn product_id(raw: &str) -> Result<String, DomainError> {
    let id = raw.trim();
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(DomainError::Invalid(format!("product id must have 1 to {MAX_ID_LEN} characters")));
    }
    Ok(id.to_owned())
}

/// An order id from a request: trimmed, 1 to [`MAX_ORDER_ID_LEN`] bytes.
fn order_id(raw: &str) -> Result<String, DomainError> {
    let id = raw.trim();
    if id.is_empty() || id.len() > MAX_ORDER_ID_LEN {
        return Err(DomainError::Invalid(format!("order id must have 1 to {MAX_ORDER_ID_LEN} characters")));
    }
    Ok(id.to_owned())
}

/// The current time as both backends store it (microseconds), so that an event's time and
/// its read-model row agree.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use fleuve_mesh::ServiceError;
    use fleuve_store::StoreError;
    use tonic::Code;

    use super::*;

    fn code(error: AppError) -> Code {
        tonic::Status::from(error).code()
    }

    #[test]
    fn each_error_maps_to_one_code() {
        assert_eq!(code(DomainError::Invalid("bad".into()).into()), Code::InvalidArgument);
        assert_eq!(code(DomainError::Precondition("state".into()).into()), Code::FailedPrecondition);
        assert_eq!(code(DomainError::NotFound("none".into()).into()), Code::NotFound);
        let conflict = StoreError::Conflict { stream_id: "product-a".into(), expected: 1, actual: 2 };
        assert_eq!(code(conflict.into()), Code::Aborted);
        assert_eq!(code(ServiceError::AlreadyExists("a".into()).into()), Code::AlreadyExists);
        assert_eq!(code(ServiceError::denied("admin").into()), Code::PermissionDenied);
        assert_eq!(code(diesel::result::Error::NotFound.into()), Code::Internal);
        assert_eq!(code(AppError::Internal("bug".into())), Code::Internal);
    }

    #[test]
    fn internal_errors_say_nothing_of_their_cause() {
        let status = tonic::Status::from(AppError::Internal("stored line x of order y".into()));
        assert_eq!(status.message(), "internal error");
    }

    #[test]
    fn ids_are_trimmed_and_bounded() {
        assert_eq!(product_id("  sku-1 ").unwrap(), "sku-1");
        assert!(product_id(" ").is_err());
        assert!(product_id(&"x".repeat(MAX_ID_LEN + 1)).is_err());
        assert_eq!(product_id(&"x".repeat(MAX_ID_LEN)).unwrap().len(), MAX_ID_LEN);
        assert!(order_id("").is_err());
        assert!(order_id(&"o".repeat(MAX_ORDER_ID_LEN + 1)).is_err());
    }
}
