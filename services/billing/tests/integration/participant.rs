//! The saga participant: payments decided once per order whatever the redeliveries, declines
//! with their reasons, provider timeouts answered by silence, refunds given once, and
//! malformed messages parked.

use fleuve_billing::app::Listing;
use fleuve_billing::{PageRequest, topics};
use fleuve_handler::{HandlerError, Projection};
use fleuve_proto::billing::v1 as pb;
use fleuve_proto::common::v1::SagaStepKind;
use pb::DeclineReason;
use pb::payment_result::Outcome;

use crate::support::*;

on_both_backends!(
    an_approved_payment_debits_the_account_and_queues_one_reply,
    declines_carry_their_reason_and_take_nothing,
    an_unknown_account_is_declined,
    a_provider_timeout_answers_nothing_even_on_redelivery,
    a_request_redelivered_five_times_charges_once_and_answers_the_same,
    a_request_past_its_deadline_is_declined_without_the_provider,
    the_saga_refund_gives_the_money_back_once,
    the_saga_refund_of_an_unpaid_order_does_nothing,
    malformed_messages_are_permanent_and_write_nothing,
);

async fn an_approved_payment_debits_the_account_and_queues_one_reply(h: Harness) -> anyhow::Result<()> {
    assert_eq!(h.participant.name(), "billing");
    let consumed: Vec<_> = h.participant.topics().into_iter().map(|t| (t.topic, t.message)).collect();
    assert_eq!(
        consumed,
        [
            ("payment.request".to_owned(), "fleuve.billing.v1.PaymentRequest".to_owned()),
            ("payment.refund".to_owned(), "fleuve.billing.v1.PaymentRefund".to_owned()),
        ]
    );
    h.open("c-1", 10_000, 0).await?;
    let request = payment_request("o-1", "c-1", 7_500, "tok_visa");
    let event = request_event(&request);
    assert!(h.deliver(&event).await?);

    let charge_events = h.charge_events("o-1").await?;
    assert_eq!(charge_events.len(), 1);
    assert_eq!(
        charge_events[0].event,
        Some(pb::charge_event::Event::Approved(pb::ChargeApproved {
            charge_id: "ch-o-1".into(),
            order_id: "o-1".into(),
            customer_id: "c-1".into(),
            amount: Some(xaf(7_500)),
            provider_reference: "sim-ch-o-1".into(),
        }))
    );
    let account_events = h.account_events("c-1").await?;
    assert_eq!(account_events.len(), 2);
    assert!(matches!(account_events[1].event, Some(pb::account_event::Event::Charged(_))));

    let account = h.app.get_account(&staff(), "c-1").await?;
    assert_eq!((account.balance, account.available, account.version), (2_500, 2_500, 2));
    let charge = h.charge("o-1").await?;
    assert_eq!(charge.status(), pb::ChargeStatus::Approved);
    assert_eq!((charge.charge_id.as_str(), charge.customer_id.as_str()), ("ch-o-1", "c-1"));
    assert_eq!(charge.provider_reference, "sim-ch-o-1");

    let replies = h.replies("o-1").await?;
    assert_eq!(replies.len(), 1);
    let (message, reply) = &replies[0];
    assert_eq!(reply.step, request.step, "the reply echoes the step it answers");
    assert_eq!(reply.outcome, Some(approved("o-1", 7_500)));
    // The saga's correlation id and trace follow the reply; the request caused it.
    assert_eq!(message.aggregate_id, "o-1");
    assert_eq!(message.correlation_id, "corr-o-1");
    assert_eq!(message.causation_id.as_deref(), Some(event.event_id.as_str()));
    assert_eq!(message.trace_context, event.traceparent);
    assert_eq!(message.actor, "billing");
    // The stream events carry the same metadata.
    let stored = h.stream("charge", "o-1").await?;
    assert_eq!((stored[0].event_type.as_str(), stored[0].correlation_id.as_str()), ("ChargeApproved", "corr-o-1"));
    assert_eq!(stored[0].causation_id.as_deref(), Some(event.event_id.as_str()));

    // The same record again (same event id) is stopped by the inbox.
    assert!(!h.deliver(&event).await?);
    assert_eq!(h.replies("o-1").await?.len(), 1);
    Ok(())
}

async fn declines_carry_their_reason_and_take_nothing(h: Harness) -> anyhow::Result<()> {
    h.open("c-1", 1_000, 500).await?;
    let cases = [
        ("o-flagged", 100, "tok_flagged_4242", DeclineReason::CardFlagged, "card flagged by the provider"),
        ("o-card", 100, "tok_insufficient_1", DeclineReason::InsufficientFunds, "card has insufficient funds"),
        ("o-short", 1_501, "tok_visa", DeclineReason::InsufficientFunds, "1500 available, 1501 requested"),
        ("o-blank", 100, " ", DeclineReason::InvalidToken, "payment token is empty"),
    ];
    for (order_id, amount, token, reason, detail) in cases {
        h.deliver(&request_event(&payment_request(order_id, "c-1", amount, token))).await?;
        let outcomes = h.outcomes(order_id).await?;
        assert_eq!(
            outcomes,
            [Outcome::Declined(pb::PaymentDeclined { reason: reason.into(), detail: detail.into() })],
            "{order_id}"
        );
        let charge = h.charge(order_id).await?;
        assert_eq!(charge.status(), pb::ChargeStatus::Declined);
        assert_eq!((charge.decline_reason(), charge.decline_detail.as_str()), (reason, detail));
    }
    assert_eq!(h.balance("c-1").await?, 1_000);
    assert_eq!(h.account_events("c-1").await?.len(), 1, "a decline writes nothing to the account");

    // Balance plus credit limit exactly covers it.
    h.deliver(&request_event(&payment_request("o-edge", "c-1", 1_500, "tok_visa"))).await?;
    assert_eq!(h.outcomes("o-edge").await?, [approved("o-edge", 1_500)]);
    assert_eq!(h.balance("c-1").await?, -500);
    Ok(())
}

async fn an_unknown_account_is_declined(h: Harness) -> anyhow::Result<()> {
    h.deliver(&request_event(&payment_request("o-1", "c-404", 700, "tok_visa"))).await?;
    let outcomes = h.outcomes("o-1").await?;
    assert_eq!(outcomes.len(), 1);
    assert_eq!(declined_reason(&outcomes[0]), Some(DeclineReason::UnknownAccount));
    assert_eq!(h.charge("o-1").await?.status(), pb::ChargeStatus::Declined);
    assert!(h.account_events("c-404").await?.is_empty());
    Ok(())
}

async fn a_provider_timeout_answers_nothing_even_on_redelivery(h: Harness) -> anyhow::Result<()> {
    h.open("c-1", 10_000, 0).await?;
    h.deliver(&request_event(&payment_request("o-1", "c-1", 700, "tok_timeout_1"))).await?;
    assert!(h.replies("o-1").await?.is_empty());
    assert_eq!(h.charge("o-1").await?.status(), pb::ChargeStatus::TimedOut);
    assert_eq!(h.balance("c-1").await?, 10_000);

    // A resend, even with a token that would be approved, does not charge.
    let mut again = payment_request("o-1", "c-1", 700, "tok_visa");
    again.step = Some(step("o-1", SagaStepKind::Payment, 2));
    assert!(h.deliver(&request_event(&again)).await?);
    assert!(h.replies("o-1").await?.is_empty());
    assert_eq!(h.charge_events("o-1").await?.len(), 1);
    assert_eq!(h.account_events("c-1").await?.len(), 1);
    assert_eq!(h.balance("c-1").await?, 10_000);
    Ok(())
}

async fn a_request_redelivered_five_times_charges_once_and_answers_the_same(h: Harness) -> anyhow::Result<()> {
    h.open("c-1", 10_000, 0).await?;
    let request = payment_request("o-1", "c-1", 4_000, "tok_visa");
    for _ in 0..6 {
        assert!(h.deliver(&request_event(&request)).await?, "each delivery has a new event id");
    }
    assert_eq!(h.charge_events("o-1").await?.len(), 1);
    assert_eq!(h.account_events("c-1").await?.len(), 2);
    assert_eq!(h.balance("c-1").await?, 6_000);
    let replies = h.replies("o-1").await?;
    assert_eq!(replies.len(), 6);
    for (_, reply) in &replies {
        assert_eq!(reply.outcome, Some(approved("o-1", 4_000)));
        assert_eq!(reply.step, request.step);
    }
    Ok(())
}

async fn a_request_past_its_deadline_is_declined_without_the_provider(h: Harness) -> anyhow::Result<()> {
    h.open("c-1", 10_000, 0).await?;
    let mut late = payment_request("o-1", "c-1", 700, "tok_timeout_would_hang");
    late.deadline = Some(fleuve_billing::domain::timestamp(now() - chrono::Duration::seconds(1)));
    h.deliver(&request_event(&late)).await?;
    let outcomes = h.outcomes("o-1").await?;
    assert_eq!(outcomes.len(), 1, "the simulator would have timed out: it was not asked");
    assert_eq!(declined_reason(&outcomes[0]), Some(DeclineReason::DeadlinePassed));
    assert_eq!(h.balance("c-1").await?, 10_000);
    Ok(())
}

async fn the_saga_refund_gives_the_money_back_once(h: Harness) -> anyhow::Result<()> {
    h.open("c-1", 10_000, 0).await?;
    h.deliver(&request_event(&payment_request("o-1", "c-1", 4_000, "tok_visa"))).await?;
    assert_eq!(h.balance("c-1").await?, 6_000);

    let refund = saga_refund("o-1", "c-1", 4_000);
    for _ in 0..3 {
        assert!(h.deliver(&refund_event(&refund)).await?);
    }
    assert_eq!(h.balance("c-1").await?, 10_000);
    let charge = h.charge("o-1").await?;
    assert_eq!((charge.status(), charge.refunded, charge.refunds.len()), (pb::ChargeStatus::Refunded, 4_000, 1));
    assert_eq!(charge.refunds[0].refund_id, "o-1/late-payment");
    assert_eq!(h.charge_events("o-1").await?.len(), 2);
    assert_eq!(h.account_events("c-1").await?.len(), 3);
    let refunds = h.app.list_refunds(&staff(), "c-1", PageRequest::first(Listing::Refunds)).await?;
    assert_eq!(refunds.items.len(), 1);
    assert_eq!(refunds.items[0].amount, Some(xaf(4_000)));
    // A refund queues no reply; the payment request answered later still says approved.
    assert_eq!(h.replies("o-1").await?.len(), 1);
    h.deliver(&request_event(&payment_request("o-1", "c-1", 4_000, "tok_visa"))).await?;
    assert_eq!(h.outcomes("o-1").await?, [approved("o-1", 4_000), approved("o-1", 4_000)]);
    assert_eq!(h.balance("c-1").await?, 10_000);
    Ok(())
}

async fn the_saga_refund_of_an_unpaid_order_does_nothing(h: Harness) -> anyhow::Result<()> {
    h.open("c-1", 100, 0).await?;
    // Never charged at all.
    h.deliver(&refund_event(&saga_refund("o-0", "c-1", 4_000))).await?;
    assert!(h.charge_events("o-0").await?.is_empty());
    // Declined.
    h.deliver(&request_event(&payment_request("o-1", "c-1", 500, "tok_visa"))).await?;
    h.deliver(&refund_event(&saga_refund("o-1", "c-1", 500))).await?;
    assert_eq!(h.charge_events("o-1").await?.len(), 1);
    assert_eq!(h.balance("c-1").await?, 100);
    assert_eq!(h.account_events("c-1").await?.len(), 1);
    Ok(())
}

async fn malformed_messages_are_permanent_and_write_nothing(h: Harness) -> anyhow::Result<()> {
    h.open("c-1", 10_000, 0).await?;
    let mut no_step = payment_request("o-1", "c-1", 700, "tok_visa");
    no_step.step = None;
    let mut blank_saga = payment_request("o-1", "c-1", 700, "tok_visa");
    blank_saga.step = Some(step(" ", SagaStepKind::Payment, 1));
    let mut wrong_kind = payment_request("o-1", "c-1", 700, "tok_visa");
    wrong_kind.step = Some(step("o-1", SagaStepKind::StockCheck, 1));
    let mut refund_without_step = saga_refund("o-1", "c-1", 700);
    refund_without_step.step = None;
    let mut refund_wrong_kind = saga_refund("o-1", "c-1", 700);
    refund_wrong_kind.step = Some(step("o-1", SagaStepKind::Payment, 1));
    let mut garbage = request_event(&payment_request("o-1", "c-1", 700, "tok_visa"));
    garbage.payload = vec![0xff, 0xff, 0xff];
    let mut unknown_topic = request_event(&payment_request("o-1", "c-1", 700, "tok_visa"));
    unknown_topic.topic = "stock.check.request".into();

    let cases = [
        (consumed(topics::PAYMENT_REQUEST, "o-1", &no_step), "payment request: saga step is missing"),
        (consumed(topics::PAYMENT_REQUEST, "o-1", &blank_saga), "payment request: saga id is missing"),
        (
            consumed(topics::PAYMENT_REQUEST, "o-1", &wrong_kind),
            "payment request of order o-1 refused: expected a SAGA_STEP_KIND_PAYMENT step, got SAGA_STEP_KIND_STOCK_CHECK",
        ),
        (consumed(topics::PAYMENT_REFUND, "o-1", &refund_without_step), "payment refund: saga step is missing"),
        (
            consumed(topics::PAYMENT_REFUND, "o-1", &refund_wrong_kind),
            "payment refund of order o-1 refused: expected a SAGA_STEP_KIND_PAYMENT_REFUND step",
        ),
        (garbage, "cannot decode PaymentRequest"),
        (unknown_topic, "billing does not consume topic stock.check.request"),
    ];
    for (event, message) in cases {
        match h.deliver(&event).await {
            Err(HandlerError::Permanent(actual)) => assert!(actual.contains(message), "{actual:?} lacks {message:?}"),
            other => panic!("expected a permanent failure with {message:?}, got {other:?}"),
        }
    }
    assert!(h.charge_events("o-1").await?.is_empty());
    assert!(h.replies("o-1").await?.is_empty());
    assert_eq!(h.balance("c-1").await?, 10_000);
    let inbox = h.db().run(|conn| fleuve_store::consumer::inbox_count(conn, fleuve_billing::NAME)).await?;
    assert_eq!(inbox, 0, "each failure rolled its inbox row back with it");
    Ok(())
}
