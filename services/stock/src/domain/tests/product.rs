//! The product aggregate: creation and restock, given past events, when a staff command.

use fleuve_aggregate::testing::given;
use fleuve_proto::stock::v1 as pb;
use pb::product_event::Event;

use super::super::{DomainError, Product, ProductCommand};
use super::*;

fn create(id: &str, name: &str, quantity: u64) -> ProductCommand {
    ProductCommand::Create { product_id: id.into(), name: name.into(), quantity, price: None }
}

fn restock(quantity: u64) -> ProductCommand {
    ProductCommand::Restock { quantity, reference: " BL-2026-001 ".into() }
}

#[test]
fn a_new_product_is_created_with_its_quantity() {
    let product = given::<Product>(&[]).when(create(" sku-1 ", " Tecno Spark ", 12), &now()).then(&[product_event(
        Event::Created(pb::ProductCreated {
            product_id: "sku-1".into(),
            name: "Tecno Spark".into(),
            quantity: 12,
            price: None,
        }),
    )]);
    assert_eq!((product.id.as_str(), product.available, product.reserved, product.version), ("sku-1", 12, 0, 1));
    assert_eq!(product.created_at, ts());
}

#[test]
fn a_catalogue_price_is_kept_upper_cased_and_must_be_positive() {
    use fleuve_proto::common::v1::Money;
    let priced = |currency: &str, amount: i64| ProductCommand::Create {
        product_id: "sku-1".into(),
        name: "Pen".into(),
        quantity: 1,
        price: Some(Money { currency: currency.into(), amount }),
    };
    let product = given::<Product>(&[]).when(priced(" xaf ", 250), &now()).then_count(1);
    assert_eq!(product.price, Some(Money { currency: "XAF".into(), amount: 250 }));
    assert_eq!(product.to_pb().price, product.price, "the view and the snapshot carry it");
    given::<Product>(&[])
        .when(priced("XAF", 0), &now())
        .then_err(DomainError::Invalid("price amount must be positive".into()));
    given::<Product>(&[])
        .when(priced("francs", 10), &now())
        .then_err(DomainError::Invalid("price currency must be a three-letter code".into()));
}

#[test]
fn a_product_may_start_with_no_units() {
    let product = given::<Product>(&[]).when(create("sku-1", "Tecno Spark", 0), &now()).then_count(1);
    assert_eq!(product.available, 0);
}

#[test]
fn a_product_cannot_be_created_twice() {
    given::<Product>(&[created("sku-1", 5)])
        .when(create("sku-1", "again", 1), &now())
        .then_err(precondition("product sku-1 already exists"));
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
        given::<Product>(&[]).when(create(id, name, 1), &now()).then_err(invalid(message));
    }
    given::<Product>(&[]).when(create(&"x".repeat(64), &"n".repeat(200), 1), &now()).then_count(1);
}

#[test]
fn a_restock_adds_units_to_what_is_available() {
    let product = given::<Product>(&[created("sku-1", 5)]).when(restock(7), &now()).then(&[product_event(
        Event::Restocked(pb::ProductRestocked { quantity: 7, reference: "BL-2026-001".into() }),
    )]);
    assert_eq!((product.available, product.version), (12, 2));
}

#[test]
fn a_restock_needs_a_positive_quantity_and_an_existing_product() {
    given::<Product>(&[created("sku-1", 5)])
        .when(restock(0), &now())
        .then_err(invalid("restock quantity must be positive"));
    given::<Product>(&[]).when(restock(3), &now()).then_err(DomainError::NotFound("no such product".into()));
}

#[test]
fn a_restock_cannot_overflow_the_quantities() {
    let full = [created("sku-1", u64::MAX - 1)];
    given::<Product>(&full).when(restock(2), &now()).then_err(invalid("restock quantity is too large"));
    given::<Product>(&full).when(restock(1), &now()).then_count(1);
}

#[test]
fn a_snapshot_restores_the_state_it_was_taken_of() {
    use fleuve_aggregate::Aggregate as _;
    let product = given::<Product>(&[created("sku-1", 5)]).when(restock(7), &now()).then_count(1);
    let policy = Product::SNAPSHOTS.expect("products are snapshotted");
    assert_eq!((policy.decode)(&(policy.encode)(&product)).unwrap(), product);
}

/// Random staff restocks and saga reservations and releases of a product: a snapshot taken at
/// any point, followed by the events after it, gives the state of the full replay.
mod snapshots {
    use proptest::prelude::*;

    use super::super::{Warehouse, check_request, line, release_request};
    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Restock(u64),
        Reserve(u8, u32),
        Release(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1u64..50).prop_map(Op::Restock),
            (0u8..12, 1u32..8).prop_map(|(order, qty)| Op::Reserve(order, qty)),
            (0u8..12).prop_map(Op::Release),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn snapshot_and_tail_equal_the_full_replay(ops in proptest::collection::vec(op(), 0..60)) {
            let mut w = Warehouse::with(&[("sku-1", 10)]);
            let mut history = vec![created("sku-1", 10)];
            for op in ops {
                let events = match op {
                    Op::Restock(quantity) => {
                        let events = w.products["sku-1"].handle(restock(quantity), &now()).unwrap();
                        for event in &events {
                            w.products.get_mut("sku-1").unwrap().apply(event);
                        }
                        events
                    }
                    Op::Reserve(order, quantity) => w
                        .check(&check_request(&format!("o-{order}"), vec![line("sku-1", quantity)]))
                        .map(|d| d.product_events.into_iter().map(|(_, e)| e).collect())
                        .unwrap_or_default(),
                    Op::Release(order) => w
                        .release(&release_request(&format!("o-{order}"), 1))
                        .map(|d| d.product_events.into_iter().map(|(_, e)| e).collect())
                        .unwrap_or_default(),
                };
                history.extend(events);
            }
            fleuve_aggregate::testing::assert_snapshots_replay::<Product>(&history);
            prop_assert_eq!(&Product::replay(&history), &w.products["sku-1"]);
        }
    }
}
