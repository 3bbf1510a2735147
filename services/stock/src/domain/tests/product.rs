//! The product aggregate: creation and restock.

use fleuve_proto::stock::v1 as pb;
use pb::product_event::Event;

use super::super::{DomainError, Product, ProductCommand};
use super::*;

fn create(id: &str, name: &str, quantity: u64) -> ProductCommand {
    ProductCommand::Create { product_id: id.into(), name: name.into(), quantity }
}

fn restock(quantity: u64) -> ProductCommand {
    ProductCommand::Restock { quantity, reference: " BL-2026-001 ".into() }
}

#[test]
fn a_new_product_is_created_with_its_quantity() {
    let events = Product::default().handle(create(" sku-1 ", " Tecno Spark ", 12), now()).unwrap();
    assert_eq!(
        events,
        [product_event(Event::Created(pb::ProductCreated {
            product_id: "sku-1".into(),
            name: "Tecno Spark".into(),
            quantity: 12
        }))]
    );
    let product = Product::replay(&events);
    assert_eq!((product.id.as_str(), product.available, product.reserved, product.version), ("sku-1", 12, 0, 1));
    assert_eq!(product.created_at, ts());
}

#[test]
fn a_product_may_start_with_no_units() {
    let product = Product::replay(&Product::default().handle(create("sku-1", "Tecno Spark", 0), now()).unwrap());
    assert_eq!(product.available, 0);
}

#[test]
fn a_product_cannot_be_created_twice() {
    let product = Product::replay(&[created("sku-1", 5)]);
    assert_refused(product.handle(create("sku-1", "again", 1), now()), precondition("product sku-1 already exists"));
}

#[test]
fn creation_refuses_a_blank_or_oversized_id_or_name() {
    let long_id = "x".repeat(65);
    let long_name = "n".repeat(201);
    for (id, name, message) in [
        ("  ", "name", "product id must have 1 to 64 characters"),
        (long_id.as_str(), "name", "product id must have 1 to 64 characters"),
        ("sku-1", " ", "product name must have 1 to 200 characters"),
        ("sku-1", long_name.as_str(), "product name must have 1 to 200 characters"),
    ] {
        assert_refused(Product::default().handle(create(id, name, 1), now()), invalid(message));
    }
    assert!(Product::default().handle(create(&"x".repeat(64), &"n".repeat(200), 1), now()).is_ok());
}

#[test]
fn a_restock_adds_units_to_what_is_available() {
    let product = Product::replay(&[created("sku-1", 5)]);
    let events = product.handle(restock(7), now()).unwrap();
    assert_eq!(
        events,
        [product_event(Event::Restocked(pb::ProductRestocked { quantity: 7, reference: "BL-2026-001".into() }))]
    );
    let mut product = product;
    product.apply(&events[0]);
    assert_eq!((product.available, product.version), (12, 2));
}

#[test]
fn a_restock_needs_a_positive_quantity_and_an_existing_product() {
    let product = Product::replay(&[created("sku-1", 5)]);
    assert_refused(product.handle(restock(0), now()), invalid("restock quantity must be positive"));
    assert_refused(Product::default().handle(restock(3), now()), DomainError::NotFound("no such product".into()));
}

#[test]
fn a_restock_cannot_overflow_the_quantities() {
    let product = Product::replay(&[created("sku-1", u64::MAX - 1)]);
    assert_refused(product.handle(restock(2), now()), invalid("restock quantity is too large"));
    assert!(product.handle(restock(1), now()).is_ok());
}
