//! Reservations: all lines or none, idempotent per order, released once, never oversold.

use fleuve_proto::common::v1::SagaStepKind::{StockCheck, StockRelease};
use fleuve_proto::stock::v1 as pb;
use pb::reservation_event::Event;
use pb::stock_checked::Outcome;

use super::*;

fn reserved_event(order_id: &str, quantity: u32) -> pb::ProductEvent {
    product_event(pb::product_event::Event::Reserved(pb::QuantityReserved { order_id: order_id.into(), quantity }))
}

fn released_event(order_id: &str, quantity: u32) -> pb::ProductEvent {
    product_event(pb::product_event::Event::Released(pb::QuantityReleased { order_id: order_id.into(), quantity }))
}

#[test]
fn every_line_is_reserved_when_each_product_has_enough() {
    let mut w = Warehouse::with(&[("sku-1", 5), ("sku-2", 2)]);
    let decision = w.check(&check_request("o-1", vec![line("sku-2", 2), line("sku-1", 3)])).unwrap();
    let lines = vec![line("sku-1", 3), line("sku-2", 2)];
    assert_eq!(
        decision,
        StockDecision {
            reservation_events: vec![reservation_event(Event::Made(pb::ReservationMade {
                order_id: "o-1".into(),
                lines: lines.clone()
            }))],
            product_events: vec![
                ("sku-1".into(), reserved_event("o-1", 3)),
                ("sku-2".into(), reserved_event("o-1", 2))
            ],
            reply: reply(step("o-1", StockCheck, 1), Outcome::Reserved(pb::StockReserved { lines: lines.clone() })),
        }
    );
    assert_eq!((w.available("sku-1"), w.reserved("sku-1")), (2, 3));
    assert_eq!((w.available("sku-2"), w.reserved("sku-2")), (0, 2));
    let reservation = w.reservation("o-1");
    assert_eq!((reservation.status, reservation.lines), (pb::ReservationStatus::Reserved, lines));
}

#[test]
fn one_short_line_reserves_nothing_and_names_the_shortage() {
    let mut w = Warehouse::with(&[("sku-1", 5), ("sku-2", 1)]);
    let decision = w.check(&check_request("o-1", vec![line("sku-1", 3), line("sku-2", 2)])).unwrap();
    let shortages =
        vec![pb::Shortage { product_id: "sku-2".into(), requested: 2, available: 1, unknown_product: false }];
    assert_eq!(
        decision,
        StockDecision {
            reservation_events: vec![reservation_event(Event::Rejected(pb::ReservationRejected {
                order_id: "o-1".into(),
                shortages: shortages.clone()
            }))],
            product_events: vec![],
            reply: reply(step("o-1", StockCheck, 1), Outcome::Insufficient(pb::StockInsufficient { shortages })),
        }
    );
    assert_eq!((w.available("sku-1"), w.reserved("sku-1")), (5, 0));
    assert_eq!((w.available("sku-2"), w.reserved("sku-2")), (1, 0));
    assert_eq!(w.reservation("o-1").status, pb::ReservationStatus::Rejected);
}

#[test]
fn an_unknown_product_is_a_shortage() {
    let mut w = Warehouse::with(&[("sku-1", 5)]);
    let decision = w.check(&check_request("o-1", vec![line("sku-1", 1), line("sku-404", 1)])).unwrap();
    assert_eq!(
        decision.reply.outcome,
        Some(Outcome::Insufficient(pb::StockInsufficient {
            shortages: vec![pb::Shortage {
                product_id: "sku-404".into(),
                requested: 1,
                available: 0,
                unknown_product: true
            }]
        }))
    );
    assert_eq!(w.available("sku-1"), 5);
}

#[test]
fn the_last_units_can_be_reserved_but_not_one_more() {
    let mut w = Warehouse::with(&[("sku-1", 3)]);
    assert!(matches!(
        w.check(&check_request("o-1", vec![line("sku-1", 3)])).unwrap().reply.outcome,
        Some(Outcome::Reserved(_))
    ));
    assert!(matches!(
        w.check(&check_request("o-2", vec![line("sku-1", 1)])).unwrap().reply.outcome,
        Some(Outcome::Insufficient(_))
    ));
    assert_eq!((w.available("sku-1"), w.reserved("sku-1")), (0, 3));
}

#[test]
fn lines_of_the_same_product_are_added_up() {
    let mut w = Warehouse::with(&[("sku-1", 3)]);
    let decision = w.check(&check_request("o-1", vec![line("sku-1", 2), line(" sku-1 ", 2)])).unwrap();
    assert_eq!(
        decision.reply.outcome,
        Some(Outcome::Insufficient(pb::StockInsufficient {
            shortages: vec![pb::Shortage {
                product_id: "sku-1".into(),
                requested: 4,
                available: 3,
                unknown_product: false
            }]
        }))
    );
}

#[test]
fn a_redelivered_check_gets_the_same_reservation_and_takes_nothing_more() {
    let mut w = Warehouse::with(&[("sku-1", 5)]);
    let first = w.check(&check_request("o-1", vec![line("sku-1", 2)])).unwrap();
    let mut resent = check_request("o-1", vec![line("sku-1", 2)]);
    resent.step = Some(step("o-1", StockCheck, 2));
    let again = w.check(&resent).unwrap();
    assert!(again.reservation_events.is_empty() && again.product_events.is_empty());
    // The reply echoes the step it answers, with the first outcome.
    assert_eq!(again.reply, reply(step("o-1", StockCheck, 2), first.reply.outcome.clone().unwrap()));
    assert_eq!((w.available("sku-1"), w.reserved("sku-1")), (3, 2));
}

#[test]
fn a_rejected_order_stays_rejected_even_after_a_restock() {
    let mut w = Warehouse::with(&[("sku-1", 1)]);
    let first = w.check(&check_request("o-1", vec![line("sku-1", 2)])).unwrap();
    let restocked = product_event(pb::product_event::Event::Restocked(pb::ProductRestocked {
        quantity: 10,
        reference: String::new(),
    }));
    w.products.get_mut("sku-1").unwrap().apply(&restocked);
    let again = w.check(&check_request("o-1", vec![line("sku-1", 2)])).unwrap();
    assert!(again.reservation_events.is_empty() && again.product_events.is_empty());
    assert_eq!(again.reply, first.reply);
    assert_eq!(w.available("sku-1"), 11);
}

#[test]
fn a_release_gives_every_reserved_unit_back() {
    let mut w = Warehouse::with(&[("sku-1", 5), ("sku-2", 2)]);
    w.check(&check_request("o-1", vec![line("sku-1", 3), line("sku-2", 2)])).unwrap();
    let decision = w.release(&release_request("o-1", 1)).unwrap();
    let lines = vec![line("sku-1", 3), line("sku-2", 2)];
    assert_eq!(
        decision,
        StockDecision {
            reservation_events: vec![reservation_event(Event::Released(pb::ReservationReleased {
                order_id: "o-1".into(),
                lines: lines.clone(),
                reason: "payment declined".into()
            }))],
            product_events: vec![
                ("sku-1".into(), released_event("o-1", 3)),
                ("sku-2".into(), released_event("o-1", 2))
            ],
            reply: reply(step("o-1", StockRelease, 1), Outcome::Released(pb::StockReleased { lines })),
        }
    );
    assert_eq!((w.available("sku-1"), w.reserved("sku-1")), (5, 0));
    assert_eq!((w.available("sku-2"), w.reserved("sku-2")), (2, 0));
    assert_eq!(w.reservation("o-1").status, pb::ReservationStatus::Released);
    assert_eq!(w.reservation("o-1").held_products(), Vec::<String>::new());
}

#[test]
fn a_second_release_changes_nothing_and_answers_the_same() {
    let mut w = Warehouse::with(&[("sku-1", 5)]);
    w.check(&check_request("o-1", vec![line("sku-1", 3)])).unwrap();
    let first = w.release(&release_request("o-1", 1)).unwrap();
    let again = w.release(&release_request("o-1", 2)).unwrap();
    assert!(again.reservation_events.is_empty() && again.product_events.is_empty());
    assert_eq!(again.reply, reply(step("o-1", StockRelease, 2), first.reply.outcome.unwrap()));
    assert_eq!((w.available("sku-1"), w.reserved("sku-1")), (5, 0));
}

#[test]
fn a_release_before_the_check_is_recorded_and_the_late_check_reserves_nothing() {
    let mut w = Warehouse::with(&[("sku-1", 5)]);
    let release = w.release(&release_request("o-1", 1)).unwrap();
    assert_eq!(
        release.reservation_events,
        [reservation_event(Event::Released(pb::ReservationReleased {
            order_id: "o-1".into(),
            lines: vec![],
            reason: "payment declined".into()
        }))]
    );
    assert_eq!(release.reply.outcome, Some(Outcome::Released(pb::StockReleased { lines: vec![] })));
    let late = w.check(&check_request("o-1", vec![line("sku-1", 2)])).unwrap();
    assert!(late.reservation_events.is_empty() && late.product_events.is_empty());
    assert_eq!(late.reply, reply(step("o-1", StockCheck, 1), Outcome::Released(pb::StockReleased { lines: vec![] })));
    assert_eq!((w.available("sku-1"), w.reserved("sku-1")), (5, 0));
}

#[test]
fn releasing_a_rejected_order_holds_nothing_to_give_back() {
    let mut w = Warehouse::with(&[("sku-1", 1)]);
    w.check(&check_request("o-1", vec![line("sku-1", 2)])).unwrap();
    let decision = w.release(&release_request("o-1", 1)).unwrap();
    assert!(decision.reservation_events.is_empty() && decision.product_events.is_empty());
    assert_eq!(decision.reply.outcome, Some(Outcome::Released(pb::StockReleased { lines: vec![] })));
    assert_eq!((w.available("sku-1"), w.reserved("sku-1")), (1, 0));
}

#[test]
fn a_release_refuses_products_that_do_not_hold_the_reservation() {
    let mut w = Warehouse::with(&[("sku-1", 5)]);
    w.check(&check_request("o-1", vec![line("sku-1", 3)])).unwrap();
    w.products.remove("sku-1");
    assert_refused(
        w.release(&release_request("o-1", 1)),
        precondition("product sku-1 does not hold the 3 units reserved for order o-1"),
    );
}

#[test]
fn malformed_requests_are_refused() {
    let mut w = Warehouse::with(&[("sku-1", 5)]);
    let spoilers: [Spoil<pb::StockCheckRequest>; 6] = [
        (|r| r.step = None, "saga step is missing"),
        (|r| r.step.as_mut().unwrap().saga_id = " ".into(), "saga id is missing"),
        (
            |r| r.step.as_mut().unwrap().kind = StockRelease.into(),
            "expected a SAGA_STEP_KIND_STOCK_CHECK step, got SAGA_STEP_KIND_STOCK_RELEASE",
        ),
        (|r| r.lines.clear(), "a reservation needs 1 to 100 lines"),
        (|r| r.lines[0].product_id = "".into(), "a line has no product id"),
        (|r| r.lines[0].quantity = 0, "the quantity of sku-1 must be positive"),
    ];
    for (spoil, message) in spoilers {
        let mut request = check_request("o-1", vec![line("sku-1", 1)]);
        spoil(&mut request);
        assert_refused(w.check(&request), invalid(message));
    }
    let mut too_many = check_request("o-1", vec![line("sku-1", 1); 101]);
    assert_refused(w.check(&too_many), invalid("a reservation needs 1 to 100 lines"));
    too_many.lines = vec![line("sku-1", u32::MAX), line("sku-1", 1)];
    assert_refused(w.check(&too_many), invalid("too many units of sku-1"));
    let mut wrong_kind = release_request("o-1", 1);
    wrong_kind.step.as_mut().unwrap().kind = StockCheck.into();
    assert_refused(w.release(&wrong_kind), invalid("expected a SAGA_STEP_KIND_STOCK_RELEASE step"));
    assert_eq!(w.available("sku-1"), 5);
    assert!(w.reservations.values().all(|r| r.version == 0));
}

#[test]
fn a_reservation_answers_only_its_own_order() {
    let mut w = Warehouse::with(&[("sku-1", 5)]);
    w.check(&check_request("o-1", vec![line("sku-1", 1)])).unwrap();
    let reservation = w.reservation("o-1");
    assert_refused(
        super::super::check(&reservation, &w.products, &check_request("o-2", vec![line("sku-1", 1)]), now()),
        precondition("reservation of order o-1 cannot answer saga o-2"),
    );
    assert_refused(
        super::super::release(&reservation, &w.products, &release_request("o-2", 1), now()),
        precondition("reservation of order o-1 cannot answer saga o-2"),
    );
}

#[test]
fn many_orders_never_oversell_and_releases_make_room_again() {
    let mut w = Warehouse::with(&[("sku-1", 100), ("sku-2", 40)]);
    let mut reserved = Vec::new();
    for n in 0..60 {
        let order = format!("o-{n}");
        let decision = w.check(&check_request(&order, vec![line("sku-1", 3), line("sku-2", 1)])).unwrap();
        if matches!(decision.reply.outcome, Some(Outcome::Reserved(_))) {
            reserved.push(order);
        }
        for id in ["sku-1", "sku-2"] {
            let product = &w.products[id];
            assert_eq!(product.available + product.reserved, if id == "sku-1" { 100 } else { 40 });
        }
    }
    // sku-1 allows 33 orders, sku-2 allows 40: the tighter one wins, and nothing is held by the others.
    assert_eq!(reserved.len(), 33);
    assert_eq!((w.available("sku-1"), w.reserved("sku-1")), (1, 99));
    assert_eq!((w.available("sku-2"), w.reserved("sku-2")), (7, 33));
    for order in reserved.iter().take(10) {
        w.release(&release_request(order, 1)).unwrap();
    }
    assert_eq!((w.available("sku-1"), w.reserved("sku-1")), (31, 69));
    let late = w.check(&check_request("o-late", vec![line("sku-1", 31)])).unwrap();
    assert!(matches!(late.reply.outcome, Some(Outcome::Reserved(_))));
    assert_eq!(w.available("sku-1"), 0);
}

/// The reservation aggregate on its own, through the given/when/then framework: its share of
/// a decision, with the products it decides on in the context.
mod aggregate {
    use fleuve_aggregate::testing::given;

    use super::super::super::{ReservationCommand, ReservationContext};
    use super::*;

    fn with_products(products: &[(&str, u64)]) -> ReservationContext {
        let products = products.iter().map(|(id, quantity)| ((*id).into(), Product::replay(&[created(id, *quantity)])));
        ReservationContext { products: products.collect(), now: now() }
    }

    fn made(order_id: &str, lines: Vec<pb::StockLine>) -> pb::ReservationEvent {
        reservation_event(Event::Made(pb::ReservationMade { order_id: order_id.into(), lines }))
    }

    #[test]
    fn a_check_with_enough_stock_makes_the_reservation() {
        let cx = with_products(&[("sku-1", 5)]);
        let check = ReservationCommand::Check(check_request("o-1", vec![line("sku-1", 3)]));
        let reservation = given::<Reservation>(&[]).when(check, &cx).then(&[made("o-1", vec![line("sku-1", 3)])]);
        assert_eq!((reservation.status, reservation.version), (pb::ReservationStatus::Reserved, 1));
    }

    #[test]
    fn a_short_check_records_the_rejection_and_an_unknown_product() {
        let cx = with_products(&[("sku-1", 1)]);
        let check = ReservationCommand::Check(check_request("o-1", vec![line("sku-1", 2), line("sku-9", 1)]));
        let shortages = vec![
            pb::Shortage { product_id: "sku-1".into(), requested: 2, available: 1, unknown_product: false },
            pb::Shortage { product_id: "sku-9".into(), requested: 1, available: 0, unknown_product: true },
        ];
        given::<Reservation>(&[])
            .when(check, &cx)
            .then(&[reservation_event(Event::Rejected(pb::ReservationRejected { order_id: "o-1".into(), shortages }))]);
    }

    #[test]
    fn a_decided_reservation_answers_a_replayed_check_with_no_event() {
        let history = [made("o-1", vec![line("sku-1", 3)])];
        let check = ReservationCommand::Check(check_request("o-1", vec![line("sku-1", 3)]));
        given::<Reservation>(&history).when(check, &with_products(&[])).then_nothing();
    }

    #[test]
    fn a_release_gives_the_held_lines_back_once() {
        let history = [made("o-1", vec![line("sku-1", 3)])];
        let mut cx = with_products(&[("sku-1", 5)]);
        cx.products.get_mut("sku-1").unwrap().apply(&reserved_event("o-1", 3));
        let released = reservation_event(Event::Released(pb::ReservationReleased {
            order_id: "o-1".into(),
            lines: vec![line("sku-1", 3)],
            reason: "payment declined".into(),
        }));
        let reservation = given::<Reservation>(&history)
            .when(ReservationCommand::Release(release_request("o-1", 1)), &cx)
            .then(std::slice::from_ref(&released));
        assert_eq!(reservation.status, pb::ReservationStatus::Released);
        given::<Reservation>(&[made("o-1", vec![line("sku-1", 3)]), released])
            .when(ReservationCommand::Release(release_request("o-1", 2)), &cx)
            .then_nothing();
    }

    #[test]
    fn a_request_of_another_order_or_kind_is_refused() {
        let history = [made("o-1", vec![line("sku-1", 3)])];
        let other = ReservationCommand::Check(check_request("o-2", vec![line("sku-1", 1)]));
        given::<Reservation>(&history)
            .when(other, &with_products(&[("sku-1", 5)]))
            .then_err(precondition("reservation of order o-1 cannot answer saga o-2"));
        let mut wrong_kind = release_request("o-1", 1);
        wrong_kind.step = Some(step("o-1", StockCheck, 1));
        given::<Reservation>(&history)
            .when(ReservationCommand::Release(wrong_kind), &with_products(&[]))
            .then_err(invalid("expected a SAGA_STEP_KIND_STOCK_RELEASE step"));
    }
}
