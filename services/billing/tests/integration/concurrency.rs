//! Deliveries racing each other on separate connections and transactions, retried on
//! transient failures as the runtime retries them. On SQLite the write transactions take
//! turns, so the races are real only on PostgreSQL; the invariants hold on both.

use fleuve_proto::billing::v1 as pb;
use pb::DeclineReason;

use crate::support::*;

on_both_backends!(
    the_same_order_paid_concurrently_is_charged_once,
    concurrent_orders_never_overdraw_the_credit_limit,
    staff_commands_racing_payments_keep_every_movement,
);

/// Runs every event's delivery at once, each on its own task (and so its own connection).
async fn deliver_all(h: &Harness, events: Vec<fleuve_handler::ConsumedEvent>) -> anyhow::Result<()> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(events.len()));
    let tasks: Vec<_> = events
        .into_iter()
        .map(|event| {
            let (db, participant, barrier) = (h.db().clone(), h.participant.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                deliver(&db, &participant, &event).await
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await??, "every delivery has its own event id");
    }
    Ok(())
}

async fn the_same_order_paid_concurrently_is_charged_once(h: Harness) -> anyhow::Result<()> {
    h.open("c-1", 10_000, 0).await?;
    // Approvals write both streams; a decline or a timeout only the charge's.
    for (order_id, token) in [("o-0", "tok_visa"), ("o-1", "tok_visa"), ("o-2", "tok_flagged"), ("o-3", "tok_timeout")]
    {
        let request = payment_request(order_id, "c-1", 1_000, token);
        deliver_all(&h, (0..4).map(|_| request_event(&request)).collect()).await?;
        assert_eq!(h.charge_events(order_id).await?.len(), 1, "{order_id}");
        let outcomes = h.outcomes(order_id).await?;
        match token {
            "tok_visa" => assert_eq!(outcomes, vec![approved(order_id, 1_000); 4]),
            "tok_flagged" => {
                let reasons: Vec<_> = outcomes.iter().map(declined_reason).collect();
                assert_eq!(reasons, vec![Some(DeclineReason::CardFlagged); 4]);
            }
            _ => assert!(outcomes.is_empty(), "a timeout is never answered"),
        }
    }
    assert_eq!(h.balance("c-1").await?, 8_000);
    assert_eq!(h.account_events("c-1").await?.len(), 3);
    Ok(())
}

async fn concurrent_orders_never_overdraw_the_credit_limit(h: Harness) -> anyhow::Result<()> {
    // 1 500 available: three orders of 400 fit, the fourth would leave -100 below the limit.
    h.open("c-1", 1_000, 500).await?;
    let orders: Vec<String> = (0..8).map(|n| format!("o-{n}")).collect();
    let events = orders.iter().map(|o| request_event(&payment_request(o, "c-1", 400, "tok_visa"))).collect();
    deliver_all(&h, events).await?;

    let (mut approved_orders, mut declined) = (0, 0);
    for order_id in &orders {
        let outcomes = h.outcomes(order_id).await?;
        assert_eq!(outcomes.len(), 1, "{order_id}");
        match declined_reason(&outcomes[0]) {
            None => approved_orders += 1,
            Some(DeclineReason::InsufficientFunds) => declined += 1,
            Some(other) => panic!("{order_id} declined for {other:?}"),
        }
    }
    assert_eq!((approved_orders, declined), (3, 5));
    let account = h.app.get_account(&staff(), "c-1").await?;
    assert_eq!((account.balance, account.available), (-200, 300));
    assert!(account.balance >= -account.credit_limit);
    // The read model agrees with the stream it was written beside.
    let replayed = h.replayed_account("c-1").await?;
    assert_eq!((replayed.balance, replayed.version), (account.balance, account.version));
    Ok(())
}

async fn staff_commands_racing_payments_keep_every_movement(h: Harness) -> anyhow::Result<()> {
    h.open("c-1", 100_000, 0).await?;
    let events = (0..4).map(|n| request_event(&payment_request(&format!("o-{n}"), "c-1", 1_000, "tok_visa"))).collect();
    let payments = deliver_all(&h, events);
    let credits = async {
        let mut credited = 0;
        for n in 0..4 {
            // A command that lost its race more often than it retries gets ABORTED; the
            // movement is then not made, which the total below accounts for.
            match h.app.credit_account(&admin(), "c-1", xaf(500), &format!("top-up {n}")).await {
                Ok(_) => credited += 500,
                Err(error) => assert_eq!(tonic::Status::from(error).code(), tonic::Code::Aborted),
            }
        }
        anyhow::Ok(credited)
    };
    let (paid, credited) = tokio::join!(payments, credits);
    paid?;
    let credited = credited?;
    assert!(credited > 0, "at least one top-up got through");
    assert_eq!(h.balance("c-1").await?, 100_000 - 4 * 1_000 + credited);
    assert_eq!(h.replayed_account("c-1").await?.balance, 100_000 - 4 * 1_000 + credited);
    Ok(())
}
