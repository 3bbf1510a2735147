//! Staff commands on products. Each is ONE transaction: load the product's stream, decide,
//! append with the version it was loaded at, rewrite the product's row.

use fleuve_aggregate::{Aggregate, Retries, repository};
use fleuve_mesh::ServiceError;
use fleuve_proto::stock::v1 as pb;
use fleuve_store::StoreError;

use super::streams::{load_product, save_product};
use super::views::MAX_QUANTITY;
use super::{AppError, Caller, Stock, now, product_id};
use crate::domain::{DomainError, ProductCommand};

/// Longest restock reference accepted.
pub const MAX_REFERENCE_LEN: usize = 200;

impl Stock {
    /// Creates a product with its initial quantity (admin only). An existing product id is
    /// `ALREADY_EXISTS`, whatever its content.
    pub async fn create_product(
        &self,
        caller: &Caller,
        product_id: &str,
        name: &str,
        quantity: u64,
        price: Option<fleuve_proto::common::v1::Money>,
    ) -> Result<pb::Product, AppError> {
        caller.require_admin("creating a product")?;
        let id = self::product_id(product_id)?;
        if quantity > MAX_QUANTITY {
            return Err(DomainError::Invalid(format!("quantity must be at most {MAX_QUANTITY}")).into());
        }
        let command = ProductCommand::Create { product_id: id.clone(), name: name.to_owned(), quantity, price };
        let (meta, at) = (caller.metadata(), now());
        let exists = |id: &str| ServiceError::AlreadyExists(format!("product {id} already exists"));
        let wanted = id.clone();
        let result = self
            .db
            .transaction(move |conn| {
                let product = load_product(conn, &id)?;
                if product.exists() {
                    return Err(exists(&id).into());
                }
                let events = product.state.handle(command, &at)?;
                Ok(save_product(conn, product, &events, &meta)?.to_pb())
            })
            .await;
        match result {
            // Another transaction created it between our read and our append.
            Err(AppError::Store(StoreError::Conflict { .. })) => Err(exists(&wanted).into()),
            other => other,
        }
    }

    /// Adds delivered units to a product (admin only). `expected_version` 0 does not check the
    /// version (and retries a lost race); any other value turns a mismatch into `ABORTED`.
    pub async fn restock(
        &self,
        caller: &Caller,
        product_id: &str,
        quantity: u64,
        reference: &str,
        expected_version: i64,
    ) -> Result<pb::Product, AppError> {
        caller.require_admin("restocking a product")?;
        let id = self::product_id(product_id)?;
        if expected_version < 0 {
            return Err(DomainError::Invalid("expected_version must not be negative".into()).into());
        }
        if reference.trim().chars().count() > MAX_REFERENCE_LEN {
            return Err(DomainError::Invalid(format!(
                "restock reference must have at most {MAX_REFERENCE_LEN} characters"
            ))
            .into());
        }
        let (meta, reference) = (caller.metadata(), reference.to_owned());
        // Without an expected version a lost race (with a reservation or another restock) is
        // decided again on the new state.
        repository::transact(&self.db, Retries::unless_expected(expected_version), move |conn| {
            let product = load_product(conn, &id)?;
            if !product.exists() {
                return Err(ServiceError::not_found(format!("product {id} not found")).into());
            }
            product.check_expected(expected_version)?;
            let restock = ProductCommand::Restock { quantity, reference: reference.clone() };
            let events = product.state.handle(restock, &now())?;
            let state = &product.state;
            if state.available.saturating_add(state.reserved).saturating_add(quantity) > MAX_QUANTITY {
                return Err(DomainError::Invalid(format!(
                    "restock quantity is too large: a product counts at most {MAX_QUANTITY} units"
                ))
                .into());
            }
            Ok(save_product(conn, product, &events, &meta)?.to_pb())
        })
        .await
    }
}
