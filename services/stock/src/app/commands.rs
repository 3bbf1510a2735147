//! Staff commands on products. Each is ONE transaction: load the product's stream, decide,
//! append with the version it was loaded at, rewrite the product's row.

use fleuve_mesh::ServiceError;
use fleuve_proto::stock::v1 as pb;
use fleuve_store::StoreError;

use super::streams::{append_product, load_product};
use super::views::{MAX_QUANTITY, product_to_pb};
use super::{AppError, Caller, Stock, now, product_id};
use crate::domain::{DomainError, ProductCommand};

/// Longest restock reference accepted.
pub const MAX_REFERENCE_LEN: usize = 200;

/// How many times a restock without an expected version is retried after losing a race
/// (with a reservation or another restock) on the product's stream.
const CONFLICT_RETRIES: usize = 3;

impl Stock {
    /// Creates a product with its initial quantity (admin only). An existing product id is
    /// `ALREADY_EXISTS`, whatever its content.
    pub async fn create_product(
        &self,
        caller: &Caller,
        product_id: &str,
        name: &str,
        quantity: u64,
    ) -> Result<pb::Product, AppError> {
        caller.require_admin("creating a product")?;
        let id = self::product_id(product_id)?;
        if quantity > MAX_QUANTITY {
            return Err(DomainError::Invalid(format!("quantity must be at most {MAX_QUANTITY}")).into());
        }
        let command = ProductCommand::Create { product_id: id.clone(), name: name.to_owned(), quantity };
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
                let events = product.handle(command, at)?;
                let product = append_product(conn, &id, product, &events, &meta)?;
                Ok(product_to_pb(&product))
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
        let meta = caller.metadata();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (wanted, meta, reference, at) = (id.clone(), meta.clone(), reference.to_owned(), now());
            let result = self
                .db
                .transaction(move |conn| {
                    let id = wanted;
                    let product = load_product(conn, &id)?;
                    if !product.exists() {
                        return Err(ServiceError::not_found(format!("product {id} not found")).into());
                    }
                    if expected_version != 0 && expected_version != product.version {
                        let stream_id = format!("{}-{id}", crate::domain::PRODUCT_AGGREGATE);
                        return Err(StoreError::Conflict {
                            stream_id,
                            expected: expected_version,
                            actual: product.version,
                        }
                        .into());
                    }
                    let events = product.handle(ProductCommand::Restock { quantity, reference }, at)?;
                    let total = product.available.saturating_add(product.reserved).saturating_add(quantity);
                    if total > MAX_QUANTITY {
                        return Err(DomainError::Invalid(format!(
                            "restock quantity is too large: a product counts at most {MAX_QUANTITY} units"
                        ))
                        .into());
                    }
                    let product = append_product(conn, &id, product, &events, &meta)?;
                    Ok(product_to_pb(&product))
                })
                .await;
            match result {
                Err(AppError::Store(e)) if e.is_conflict() && expected_version == 0 && attempt <= CONFLICT_RETRIES => {
                    tracing::debug!(attempt, product_id = %id, "concurrent change of the product, retrying");
                }
                other => return other,
            }
        }
    }
}
