//! Placing an order: validation, the total, and retries with the idempotency key.

use super::*;

#[test]
fn a_valid_order_is_placed_with_its_total_and_its_saga_started() {
    // The stock check is requested by the same decision (one transaction), not after
    // `order.placed` came back from Kafka.
    let order = given(&[]).when_placed(place(), 0).then(&awaiting_stock());
    assert_eq!(order.status, pb::OrderStatus::AwaitingStock);
    assert_eq!(order.total, xaf(7_000));
    assert_eq!(order.placed_at, ts(0));
    let deadline = order.deadline().expect("the stock check's deadline");
    assert_eq!((deadline.step, deadline.at), (step(SagaStepKind::StockCheck, 1), t(30)));
}

#[test]
fn values_are_trimmed() {
    let mut command = place();
    command.customer_id = " c-1 ".into();
    command.idempotency_key = " k-1 ".into();
    command.lines[0].product_id = " sku-1 ".into();
    command.payment_token = " tok_visa ".into();
    command.currency = " XAF ".into();
    given(&[]).when_placed(command, 0).then(&awaiting_stock());
}

#[test]
fn placing_again_with_the_same_key_and_order_returns_the_same_order() {
    let order = given(&[placed()]).when_placed(place(), 5).then_nothing();
    assert_eq!(order.version, 1);
    // Later in the saga, too.
    given(&awaiting_payment()).when_placed(place(), 9).then_nothing();
}

#[test]
fn the_same_key_for_another_order_is_refused() {
    let mut other = place();
    other.lines[0].quantity = 3;
    given(&[placed()])
        .when_placed(other, 5)
        .then_err(DomainError::Precondition("idempotency key \"k-1\" was used for another order".into()));
    let mut other_key = place();
    other_key.idempotency_key = "k-2".into();
    given(&[placed()]).when_placed(other_key, 5).then_err(DomainError::Precondition("order o-1 already exists".into()));
}

#[test]
fn invalid_orders_are_refused() {
    let spoilers: [Spoil<PlaceOrder>; 13] = [
        (|p| p.order_id = " ".into(), "order id is missing"),
        (|p| p.customer_id = "".into(), "customer id is missing"),
        (|p| p.idempotency_key = "".into(), "idempotency key must have 1 to 128 characters"),
        (|p| p.idempotency_key = "k".repeat(129), "idempotency key must have 1 to 128 characters"),
        (|p| p.currency = "xaf".into(), "currency \"xaf\" is not an ISO 4217 code"),
        (|p| p.currency = "".into(), "currency \"\" is not an ISO 4217 code"),
        (|p| p.payment_token = " ".into(), "payment token is missing"),
        (|p| p.lines.clear(), "an order needs 1 to 100 lines"),
        (
            |p| p.lines = (0..101).map(|n| order_line(&format!("sku-{n}"), 1, 1)).collect(),
            "an order needs 1 to 100 lines",
        ),
        (|p| p.lines[1].product_id = "".into(), "a line has no product id"),
        (|p| p.lines[1].product_id = "sku-1 ".into(), "product sku-1 appears on two lines"),
        (|p| p.lines[0].quantity = 0, "the quantity of sku-1 must be positive"),
        (|p| p.lines[0].unit_price = -1, "the unit price of sku-1 cannot be negative"),
    ];
    for (spoil, message) in spoilers {
        let mut command = place();
        spoil(&mut command);
        given(&[]).when_placed(command, 0).then_err(DomainError::Invalid(message.into()));
    }
}

#[test]
fn a_total_that_overflows_is_refused() {
    let mut command = place();
    command.lines = vec![order_line("sku-1", 2, i64::MAX / 2 + 1)];
    given(&[]).when_placed(command, 0).then_err(DomainError::Invalid("order total is too large".into()));
    let mut command = place();
    command.lines = vec![order_line("sku-1", 1, i64::MAX), order_line("sku-2", 1, 1)];
    given(&[]).when_placed(command, 0).then_err(DomainError::Invalid("order total is too large".into()));
}

#[test]
fn free_items_are_allowed() {
    let mut command = place();
    command.lines = vec![order_line("sku-1", 1, 0)];
    let order = given(&[]).when_placed(command, 0).then_count(2);
    assert_eq!(order.total, xaf(0));
}
