//! The saga participant: what a check request and a release do to the products and the
//! reservation, the reply each queues on `stock.checked`, and what is parked.

use fleuve_handler::{HandlerError, Projection};
use fleuve_proto::common::v1::SagaStepKind;
use fleuve_proto::stock::v1 as pb;
use fleuve_stock::domain::{PRODUCT_AGGREGATE, RESERVATION_AGGREGATE};
use fleuve_stock::{NAME, StockParticipant, topics};
use fleuve_store::event_store::{self, EventMetadata, ExpectedVersion, NewEvent, StreamRef};
use prost::Message;

use crate::support::{
    Harness, Outcome, check_message, check_request, lines, outcome, quantities, record, redelivered, release_request,
    released, reserved, step,
};

on_both_backends!(
    a_check_reserves_every_line_and_replies_reserved,
    insufficient_stock_reserves_nothing_and_lists_the_shortages,
    a_redelivered_request_appends_nothing_and_replies_the_same,
    a_release_gives_the_units_back_once,
    a_release_before_the_check_stops_a_late_check,
    malformed_requests_are_permanent_and_write_nothing,
    a_release_the_products_cannot_honour_is_permanent,
);

async fn a_check_reserves_every_line_and_replies_reserved(h: Harness) -> anyhow::Result<()> {
    h.products(&[("sku-a", 10), ("sku-b", 5)]).await?;
    // Lines of one product are added up.
    let request = check_request("order-1", &[("sku-b", 2), ("sku-a", 3), ("sku-a", 1)]);
    h.deliver(&request).await?;

    let replies = h.replies("order-1").await?;
    assert_eq!(replies.len(), 1);
    assert_eq!(outcome(&replies[0]), reserved(&[("sku-a", 4), ("sku-b", 2)]));
    let echoed = replies[0].step.clone().unwrap();
    assert_eq!((echoed.saga_id.as_str(), echoed.kind(), echoed.attempt), ("order-1", SagaStepKind::StockCheck, 1));

    // The reply travels with the request's correlation and trace, caused by it.
    let reply = &h.stream(topics::STOCK_CHECKED, "order-1").await?[0];
    assert_eq!(reply.correlation_id, request.correlation_id);
    assert_eq!(reply.causation_id.as_deref(), Some(request.event_id.as_str()));
    assert_eq!(reply.trace_context, request.traceparent);
    assert_eq!(reply.actor, NAME);

    assert_eq!(quantities(&h.stock, "sku-a").await?, (6, 4, 2));
    assert_eq!(quantities(&h.stock, "sku-b").await?, (3, 2, 2));
    let reservation = h.stock.get_reservation("order-1").await?;
    assert_eq!(reservation.status(), pb::ReservationStatus::Reserved);
    assert_eq!(reservation.lines, lines(&[("sku-a", 4), ("sku-b", 2)]));
    assert!(reservation.shortages.is_empty());

    // Stock events stay in the service: the only outbox rows are the reply's.
    let reserved_event = &h.stream(PRODUCT_AGGREGATE, "sku-a").await?[1];
    assert_eq!(reserved_event.event_type, "QuantityReserved");
    assert_eq!(reserved_event.causation_id.as_deref(), Some(request.event_id.as_str()));
    assert_eq!(h.stream(RESERVATION_AGGREGATE, "order-1").await?[0].event_type, "ReservationMade");
    let topics: Vec<String> = h
        .db()
        .run(|conn| event_store::outbox_pending(conn, 1000))
        .await?
        .into_iter()
        .map(|(row, _)| row.topic)
        .collect();
    assert_eq!(topics, [topics::STOCK_CHECKED]);
    Ok(())
}

async fn insufficient_stock_reserves_nothing_and_lists_the_shortages(h: Harness) -> anyhow::Result<()> {
    h.products(&[("sku-a", 10), ("sku-b", 1)]).await?;
    h.deliver(&check_request("order-1", &[("sku-a", 2), ("sku-b", 2), ("sku-z", 1)])).await?;

    let replies = h.replies("order-1").await?;
    let shortages = vec![("sku-b".to_owned(), 2, 1, false), ("sku-z".to_owned(), 1, 0, true)];
    assert_eq!(outcome(&replies[0]), Outcome::Insufficient(shortages.clone()));
    // Nothing is held, not even the line that was available.
    assert_eq!(quantities(&h.stock, "sku-a").await?, (10, 0, 1));
    assert_eq!(quantities(&h.stock, "sku-b").await?, (1, 0, 1));
    assert_eq!(h.stream(PRODUCT_AGGREGATE, "sku-a").await?.len(), 1);

    let reservation = h.stock.get_reservation("order-1").await?;
    assert_eq!(reservation.status(), pb::ReservationStatus::Rejected);
    assert!(reservation.lines.is_empty());
    let stored: Vec<_> = reservation
        .shortages
        .iter()
        .map(|s| (s.product_id.clone(), s.requested, s.available, s.unknown_product))
        .collect();
    assert_eq!(stored, shortages);
    Ok(())
}

async fn a_redelivered_request_appends_nothing_and_replies_the_same(h: Harness) -> anyhow::Result<()> {
    h.products(&[("sku-a", 3)]).await?;
    let first = check_request("order-1", &[("sku-a", 2)]);
    h.deliver(&first).await?;
    let short = check_request("order-2", &[("sku-a", 2)]);
    h.deliver(&short).await?;
    let events = h.event_count().await?;

    h.deliver(&redelivered(&first)).await?;
    h.deliver(&redelivered(&short)).await?;
    // A resend with the next attempt number gets the first outcome too, echoing its own step.
    let mut resent = pb::StockCheckRequest::decode(first.payload.as_slice())?;
    resent.step = step("order-1", SagaStepKind::StockCheck, 2);
    h.deliver(&check_message("order-1", &resent)).await?;

    // Only the three replies were appended (to the reply streams).
    assert_eq!(h.event_count().await?, events + 3);
    let replies = h.replies("order-1").await?;
    assert_eq!(replies.len(), 3);
    for reply in &replies {
        assert_eq!(outcome(reply), reserved(&[("sku-a", 2)]));
    }
    assert_eq!(replies[2].step.as_ref().unwrap().attempt, 2);
    let replies = h.replies("order-2").await?;
    assert_eq!(replies.len(), 2);
    assert_eq!(outcome(&replies[0]), outcome(&replies[1]));
    assert_eq!(outcome(&replies[1]), Outcome::Insufficient(vec![("sku-a".into(), 2, 1, false)]));
    assert_eq!(quantities(&h.stock, "sku-a").await?, (1, 2, 2));

    // The very same record again is dropped by the inbox: no reply at all.
    h.deliver(&first).await?;
    assert_eq!(h.replies("order-1").await?.len(), 3);
    Ok(())
}

async fn a_release_gives_the_units_back_once(h: Harness) -> anyhow::Result<()> {
    h.products(&[("sku-a", 10), ("sku-b", 5)]).await?;
    h.deliver(&check_request("order-1", &[("sku-a", 4), ("sku-b", 5)])).await?;
    assert_eq!(quantities(&h.stock, "sku-b").await?, (0, 5, 2));

    let release = release_request("order-1", "payment declined");
    h.deliver(&release).await?;
    assert_eq!(quantities(&h.stock, "sku-a").await?, (10, 0, 3));
    assert_eq!(quantities(&h.stock, "sku-b").await?, (5, 0, 3));
    let reservation = h.stock.get_reservation("order-1").await?;
    assert_eq!(reservation.status(), pb::ReservationStatus::Released);
    assert_eq!(reservation.release_reason, "payment declined");
    assert_eq!(reservation.lines, lines(&[("sku-a", 4), ("sku-b", 5)]));

    // Released again (a resend after a lost reply), then checked again: nothing moves.
    let events = h.event_count().await?;
    h.deliver(&redelivered(&release)).await?;
    h.deliver(&check_request("order-1", &[("sku-a", 4), ("sku-b", 5)])).await?;
    assert_eq!(h.event_count().await?, events + 2);
    assert_eq!(quantities(&h.stock, "sku-a").await?, (10, 0, 3));

    let replies: Vec<Outcome> = h.replies("order-1").await?.iter().map(outcome).collect();
    let back = released(&[("sku-a", 4), ("sku-b", 5)]);
    assert_eq!(replies, [reserved(&[("sku-a", 4), ("sku-b", 5)]), back.clone(), back.clone(), back]);
    Ok(())
}

async fn a_release_before_the_check_stops_a_late_check(h: Harness) -> anyhow::Result<()> {
    h.products(&[("sku-a", 10)]).await?;
    h.deliver(&release_request("order-1", "stock check timed out")).await?;
    let reservation = h.stock.get_reservation("order-1").await?;
    assert_eq!(reservation.status(), pb::ReservationStatus::Released);
    assert!(reservation.lines.is_empty());
    assert_eq!(h.stream(RESERVATION_AGGREGATE, "order-1").await?.len(), 1);

    // The check request arrives late: it reserves nothing and says so.
    h.deliver(&check_request("order-1", &[("sku-a", 1)])).await?;
    assert_eq!(quantities(&h.stock, "sku-a").await?, (10, 0, 1));
    assert_eq!(h.stream(RESERVATION_AGGREGATE, "order-1").await?.len(), 1);
    let replies: Vec<Outcome> = h.replies("order-1").await?.iter().map(outcome).collect();
    assert_eq!(replies, [released(&[]), released(&[])]);
    Ok(())
}

async fn malformed_requests_are_permanent_and_write_nothing(h: Harness) -> anyhow::Result<()> {
    h.products(&[("sku-a", 10)]).await?;
    let events = h.event_count().await?;
    let no_step = pb::StockCheckRequest { lines: lines(&[("sku-a", 1)]), ..Default::default() };
    let wrong_kind = pb::StockCheckRequest {
        step: step("order-1", SagaStepKind::Payment, 1),
        lines: lines(&[("sku-a", 1)]),
        ..Default::default()
    };
    let zero = pb::StockCheckRequest {
        step: step("order-1", SagaStepKind::StockCheck, 1),
        lines: lines(&[("sku-a", 0)]),
        ..Default::default()
    };
    let cases = [
        (check_message("order-1", &no_step), "saga step is missing"),
        (check_message("order-1", &wrong_kind), "expected a SAGA_STEP_KIND_STOCK_CHECK step"),
        (check_message("order-1", &zero), "the quantity of sku-a must be positive"),
        (
            record(topics::STOCK_CHECK_REQUEST, "fleuve.stock.v1.StockCheckRequest", "order-1", vec![0xff, 0xff]),
            "cannot decode",
        ),
        (record("order.placed", "fleuve.order.v1.OrderPlaced", "order-1", Vec::new()), "does not consume"),
    ];
    for (event, reason) in cases {
        match h.deliver(&event).await {
            Err(HandlerError::Permanent(message)) => assert!(message.contains(reason), "{message}"),
            other => panic!("{reason}: expected a permanent failure, got {other:?}"),
        }
    }
    assert_eq!(h.event_count().await?, events);
    assert!(h.replies("order-1").await?.is_empty());
    assert_eq!(quantities(&h.stock, "sku-a").await?, (10, 0, 1));
    assert_eq!(StockParticipant::new().name(), NAME);
    let consumed: Vec<_> = StockParticipant::new().topics().into_iter().map(|t| (t.topic, t.message)).collect();
    assert_eq!(
        consumed,
        [
            (topics::STOCK_CHECK_REQUEST.to_owned(), "fleuve.stock.v1.StockCheckRequest".to_owned()),
            (topics::STOCK_RELEASE.to_owned(), "fleuve.stock.v1.StockRelease".to_owned()),
        ]
    );
    Ok(())
}

/// A product stream that no longer holds what the reservation says (only a bug or a hand
/// edit can do that) makes the release a precondition failure: parked, nothing written.
async fn a_release_the_products_cannot_honour_is_permanent(h: Harness) -> anyhow::Result<()> {
    h.products(&[("sku-a", 10)]).await?;
    h.deliver(&check_request("order-1", &[("sku-a", 4)])).await?;
    let stray = pb::ProductEvent {
        occurred_at: None,
        event: Some(pb::product_event::Event::Released(pb::QuantityReleased {
            order_id: "order-x".into(),
            quantity: 2,
        })),
    };
    h.db()
        .transaction(move |conn| {
            let event = NewEvent::new("QuantityReleased", stray.encode_to_vec());
            let stream = StreamRef::new(PRODUCT_AGGREGATE, "sku-a");
            event_store::append(conn, &stream, ExpectedVersion::Exact(2), &[event], &EventMetadata::default(), None)
        })
        .await?;

    let events = h.event_count().await?;
    match h.deliver(&release_request("order-1", "cancelled")).await {
        Err(HandlerError::Permanent(message)) => {
            assert!(message.contains("stock.release for order order-1 refused"), "{message}");
            assert!(message.contains("does not hold the 4 units reserved"), "{message}");
        }
        other => panic!("expected a permanent failure, got {other:?}"),
    }
    assert_eq!(h.event_count().await?, events);
    assert_eq!(h.stock.get_reservation("order-1").await?.status(), pb::ReservationStatus::Reserved);
    Ok(())
}
