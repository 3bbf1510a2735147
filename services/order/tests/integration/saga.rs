//! The orchestrator's consumer and deadlines: each path of SAGA.md, driven by the replies
//! stock and billing would send, with the messages it queues read back from the outbox.

use chrono::Utc;
use fleuve_handler::{HandlerError, Projection as _};
use fleuve_order::{Orders, Settings};
use fleuve_proto::billing::v1 as billing;
use fleuve_proto::common::v1::SagaStepKind;
use fleuve_proto::order::v1 as pb;
use fleuve_proto::stock::v1 as stock;
use fleuve_store::testing::TestDatabase;
use prost::Message;

use crate::support::*;

on_both_backends!(
    happy_path_confirms_and_queues_each_message,
    insufficient_stock_fails_without_payment,
    declined_payment_releases_stock_then_fails,
    duplicate_and_late_replies_change_nothing,
    missed_payment_deadline_compensates_after_a_restart,
    replies_that_cannot_belong_are_parked,
    watch_follows_the_order_to_its_end,
    a_watch_never_sees_a_decision_that_did_not_commit,
    an_order_placed_by_an_earlier_version_is_started_by_its_deadline,
    deadlines_survive_the_move_into_the_order_row,
);

/// Places an order, which starts its saga (the stock check is queued with it).
async fn start(orders: &Orders, key: &str, token: &str) -> anyhow::Result<String> {
    let placed =
        orders.place_order(&customer("alice"), new_order(key, &[("sku-1", 2, 1500)], token), Utc::now()).await?;
    Ok(placed.order.order_id)
}

async fn status(orders: &Orders, id: &str) -> anyhow::Result<pb::Order> {
    Ok(orders.get_order(&admin(), id.to_owned()).await?)
}

async fn happy_path_confirms_and_queues_each_message(db: TestDatabase) -> anyhow::Result<()> {
    let orders = orders(&db);
    let id = start(&orders, "k", "tok_ok").await?;
    let order = status(&orders, &id).await?;
    assert_eq!(order.status(), pb::OrderStatus::AwaitingStock);
    assert!(order.step_deadline.is_some());
    let checks = sent(&db, "stock.check.request", "fleuve.stock.v1.StockCheckRequest", &id).await?;
    assert_eq!(checks.len(), 1);
    let check: stock::StockCheckRequest = decode(&checks[0]);
    assert_eq!(check.lines, vec![stock::StockLine { product_id: "sku-1".into(), quantity: 2 }]);
    assert_eq!(check.step.as_ref().map(|s| s.kind()), Some(SagaStepKind::StockCheck));
    // The saga's messages carry the PlaceOrder correlation id.
    assert_eq!(checks[0].correlation_id, "corr-alice");
    assert_eq!(sent(&db, "order.placed", "fleuve.order.v1.OrderPlaced", &id).await?.len(), 1);

    consume(&db, &orders, reserved(&id, &[("sku-1", 2)])).await?;
    assert_eq!(status(&orders, &id).await?.status(), pb::OrderStatus::AwaitingPayment);
    let payments = sent(&db, "payment.request", "fleuve.billing.v1.PaymentRequest", &id).await?;
    assert_eq!(payments.len(), 1);
    let payment: billing::PaymentRequest = decode(&payments[0]);
    assert_eq!(payment.customer_id, "alice");
    assert_eq!(payment.amount.as_ref().map(|m| m.amount), Some(3000));
    assert_eq!(payment.payment_token, "tok_ok");

    consume(&db, &orders, approved(&id, 3000)).await?;
    let order = status(&orders, &id).await?;
    assert_eq!(order.status(), pb::OrderStatus::Confirmed);
    assert_eq!(order.charge_id, format!("ch-{id}"));
    assert!(order.step_deadline.is_none());
    let confirmed = sent(&db, "order.confirmed", "fleuve.order.v1.OrderConfirmed", &id).await?;
    assert_eq!(confirmed.len(), 1);
    let confirmed: pb::OrderConfirmed = decode(&confirmed[0]);
    assert_eq!(confirmed.customer_id, "alice");
    // No deadline is left to fire.
    assert_eq!(orders.fire_due_deadlines(later(3600)).await?, 0);
    Ok(())
}

async fn insufficient_stock_fails_without_payment(db: TestDatabase) -> anyhow::Result<()> {
    let orders = orders(&db);
    let id = start(&orders, "k", "tok_ok").await?;
    consume(&db, &orders, insufficient(&id, "sku-1", 2, 1)).await?;
    let order = status(&orders, &id).await?;
    assert_eq!(order.status(), pb::OrderStatus::Failed);
    let failure = order.failure.unwrap_or_default();
    assert_eq!(failure.code(), pb::FailureCode::OutOfStock);
    assert_eq!(failure.reason, "insufficient stock: sku-1 (requested 2, available 1)");
    assert!(sent(&db, "payment.request", "fleuve.billing.v1.PaymentRequest", &id).await?.is_empty());
    assert!(sent(&db, "stock.release", "fleuve.stock.v1.StockRelease", &id).await?.is_empty());
    assert_eq!(sent(&db, "order.failed", "fleuve.order.v1.OrderFailed", &id).await?.len(), 1);
    Ok(())
}

async fn declined_payment_releases_stock_then_fails(db: TestDatabase) -> anyhow::Result<()> {
    let orders = orders(&db);
    let id = start(&orders, "k", "tok_flagged").await?;
    consume(&db, &orders, reserved(&id, &[("sku-1", 2)])).await?;
    consume(&db, &orders, declined(&id)).await?;
    let order = status(&orders, &id).await?;
    assert_eq!(order.status(), pb::OrderStatus::Compensating);
    let releases = sent(&db, "stock.release", "fleuve.stock.v1.StockRelease", &id).await?;
    assert_eq!(releases.len(), 1);
    let release: stock::StockRelease = decode(&releases[0]);
    assert_eq!(release.reason, "payment declined: card flagged by the provider");
    assert!(
        sent(&db, "order.failed", "fleuve.order.v1.OrderFailed", &id).await?.is_empty(),
        "not failed before the release"
    );

    consume(&db, &orders, released(&id, 1)).await?;
    let order = status(&orders, &id).await?;
    assert_eq!(order.status(), pb::OrderStatus::Failed);
    let failure = order.failure.unwrap_or_default();
    assert_eq!(failure.code(), pb::FailureCode::PaymentDeclined);
    assert!(failure.compensation_confirmed);
    assert_eq!(sent(&db, "order.failed", "fleuve.order.v1.OrderFailed", &id).await?.len(), 1);
    Ok(())
}

async fn duplicate_and_late_replies_change_nothing(db: TestDatabase) -> anyhow::Result<()> {
    let orders = orders(&db);
    let id = start(&orders, "k", "tok_ok").await?;
    // order.placed is not the orchestrator's: delivered to it, it is refused for good.
    let refused = consume(&db, &orders, placed_record(&db, &id).await?).await;
    assert!(matches!(refused, Err(HandlerError::Permanent(_))), "{refused:?}");
    assert_eq!(sent(&db, "stock.check.request", "fleuve.stock.v1.StockCheckRequest", &id).await?.len(), 1);
    consume(&db, &orders, reserved(&id, &[("sku-1", 2)])).await?;
    let before = status(&orders, &id).await?;
    consume(&db, &orders, reserved(&id, &[("sku-1", 2)])).await?;
    consume(&db, &orders, insufficient(&id, "sku-1", 2, 0)).await?;
    assert_eq!(status(&orders, &id).await?.version, before.version);
    assert_eq!(sent(&db, "payment.request", "fleuve.billing.v1.PaymentRequest", &id).await?.len(), 1);
    consume(&db, &orders, approved(&id, 3000)).await?;
    let confirmed = status(&orders, &id).await?;
    consume(&db, &orders, approved(&id, 3000)).await?;
    consume(&db, &orders, declined(&id)).await?;
    let after = status(&orders, &id).await?;
    assert_eq!(after.version, confirmed.version);
    assert_eq!(after.status(), pb::OrderStatus::Confirmed);
    assert_eq!(sent(&db, "order.confirmed", "fleuve.order.v1.OrderConfirmed", &id).await?.len(), 1);
    assert!(sent(&db, "payment.refund", "fleuve.billing.v1.PaymentRefund", &id).await?.is_empty());
    Ok(())
}

async fn missed_payment_deadline_compensates_after_a_restart(db: TestDatabase) -> anyhow::Result<()> {
    let orders = orders(&db);
    let id = start(&orders, "k", "tok_timeout").await?;
    consume(&db, &orders, reserved(&id, &[("sku-1", 2)])).await?;
    // Early firings decide nothing.
    assert_eq!(orders.fire_due_deadlines(Utc::now()).await?, 0);
    // A restart: a new service instance on the same database finds the deadline.
    drop(orders);
    let restarted = Orders::new(db.database().clone(), Settings::default());
    assert_eq!(restarted.fire_due_deadlines(later(61)).await?, 1);
    let order = status(&restarted, &id).await?;
    assert_eq!(order.status(), pb::OrderStatus::Compensating);
    assert_eq!(order.failure.as_ref().map(|f| f.code()), Some(pb::FailureCode::PaymentTimedOut));
    assert_eq!(sent(&db, "stock.release", "fleuve.stock.v1.StockRelease", &id).await?.len(), 1);
    // The release is not confirmed: resent with the next attempt on its own deadline.
    assert_eq!(restarted.fire_due_deadlines(later(61 + 31)).await?, 1);
    let releases = sent(&db, "stock.release", "fleuve.stock.v1.StockRelease", &id).await?;
    assert_eq!(releases.len(), 2);
    let second: stock::StockRelease = decode(&releases[1]);
    assert_eq!(second.step.map(|s| s.attempt), Some(2));
    // The first attempt's late confirmation ends the saga.
    consume(&db, &restarted, released(&id, 1)).await?;
    let order = status(&restarted, &id).await?;
    assert_eq!(order.status(), pb::OrderStatus::Failed);
    assert!(order.failure.is_some_and(|f| f.compensation_confirmed));
    // An approval arriving after the saga gave up is refunded, once.
    consume(&db, &restarted, approved(&id, 3000)).await?;
    consume(&db, &restarted, approved(&id, 3000)).await?;
    let refunds = sent(&db, "payment.refund", "fleuve.billing.v1.PaymentRefund", &id).await?;
    assert_eq!(refunds.len(), 1);
    assert_eq!(restarted.fire_due_deadlines(later(3600)).await?, 0);
    Ok(())
}

async fn replies_that_cannot_belong_are_parked(db: TestDatabase) -> anyhow::Result<()> {
    let orders = orders(&db);
    let id = start(&orders, "k", "tok_ok").await?;
    // A reply for an order that does not exist.
    let stray = reserved("00000000-0000-0000-0000-000000000000", &[("sku-1", 1)]);
    assert!(matches!(consume(&db, &orders, stray).await, Err(HandlerError::Permanent(_))));
    // A reply without a step.
    let mut no_step = reserved(&id, &[("sku-1", 2)]);
    no_step.payload = stock::StockChecked { occurred_at: None, step: None, outcome: None }.encode_to_vec();
    assert!(matches!(consume(&db, &orders, no_step).await, Err(HandlerError::Permanent(_))));
    // Bytes that are not the message.
    let mut garbage = reserved(&id, &[("sku-1", 2)]);
    garbage.payload = vec![0xff, 0xff, 0xff];
    assert!(matches!(consume(&db, &orders, garbage).await, Err(HandlerError::Permanent(_))));
    assert_eq!(status(&orders, &id).await?.status(), pb::OrderStatus::AwaitingStock);
    Ok(())
}

async fn watch_follows_the_order_to_its_end(db: TestDatabase) -> anyhow::Result<()> {
    let orders = orders(&db);
    let placed =
        orders.place_order(&customer("alice"), new_order("w", &[("sku-1", 1, 100)], "tok_ok"), Utc::now()).await?;
    let id = placed.order.order_id;
    let mut watch = orders.watch_order(&customer("alice"), id.clone()).await?;
    let first = watch.recv().await.expect("current state")?;
    assert_eq!(first.status(), pb::OrderStatus::AwaitingStock);
    consume(&db, &orders, reserved(&id, &[("sku-1", 1)])).await?;
    consume(&db, &orders, approved(&id, 100)).await?;
    let mut statuses = Vec::new();
    while let Some(update) = tokio::time::timeout(std::time::Duration::from_secs(10), watch.recv()).await? {
        statuses.push(update?.status());
    }
    assert_eq!(statuses.last(), Some(&pb::OrderStatus::Confirmed), "ends on the terminal state: {statuses:?}");
    Ok(())
}

async fn a_watch_never_sees_a_decision_that_did_not_commit(db: TestDatabase) -> anyhow::Result<()> {
    let orders = orders(&db);
    let placed =
        orders.place_order(&customer("alice"), new_order("r", &[("sku-1", 1, 100)], "tok_ok"), Utc::now()).await?;
    let id = placed.order.order_id;
    let mut watch = orders.watch_order(&customer("alice"), id.clone()).await?;
    assert_eq!(watch.recv().await.expect("current state")?.status(), pb::OrderStatus::AwaitingStock);

    // The stock reply is decided (payment requested), but its transaction rolls back.
    let saga = orders.participant();
    let reply = reserved(&id, &[("sku-1", 1)]);
    let (applying, event) = (saga.clone(), reply.clone());
    let rolled_back = db
        .database()
        .transaction(move |conn| {
            applying.apply(conn, &event)?;
            Err::<(), _>(HandlerError::Transient("the commit fails".into()))
        })
        .await;
    assert!(rolled_back.is_err());
    // Meanwhile the customer cancels through another replica (this one's watches hear nothing
    // of it); the retried reply then decides nothing, and commits.
    let replica = fleuve_order::Orders::new(db.database().clone(), Settings::default());
    let cancelled = replica.cancel_order(&customer("alice"), id.clone(), "changed my mind".into(), Utc::now()).await?;
    let (applying, event) = (saga.clone(), reply.clone());
    db.database().transaction(move |conn| applying.apply(conn, &event)).await?;
    saga.applied(&reply).await;

    // Everything the watch shows up to the cancellation (the poll reads it, if nothing else).
    let mut statuses = Vec::new();
    loop {
        let update = tokio::time::timeout(std::time::Duration::from_secs(10), watch.recv()).await?.expect("open")?;
        statuses.push(update.status());
        if update.version >= cancelled.version {
            break;
        }
    }
    assert!(!statuses.contains(&pb::OrderStatus::AwaitingPayment), "a rolled-back decision was shown: {statuses:?}");
    assert_eq!(statuses.last(), Some(&cancelled.status()), "{statuses:?}");
    Ok(())
}

/// Turns a placed order back into one placed by an earlier version, whose saga started only
/// when `order.placed` came back: its stream holds `placed` alone, no stock check is queued, and
/// its row shows it pending and waits on the start deadline (step kind UNSPECIFIED, attempt 0)
/// at the same instant as the stock check's.
async fn as_placed_by_an_earlier_version(db: &TestDatabase, placed: &pb::Order) -> anyhow::Result<()> {
    use diesel::RunQueryDsl;
    let id = placed.order_id.clone();
    let (order, check) = (format!("order-{id}"), format!("stock.check.request-{id}"));
    let pending = pb::OrderStatus::Pending as i32;
    let view =
        pb::Order { status: pending, version: 1, step_deadline: None, updated_at: placed.placed_at, ..placed.clone() }
            .encode_to_vec();
    let hex: String = view.iter().map(|b| format!("{b:02x}")).collect();
    db.database()
        .run(move |conn| -> anyhow::Result<()> {
            let view = match conn {
                fleuve_store::DbConnection::Pg(_) => format!("'\\x{hex}'::bytea"),
                fleuve_store::DbConnection::Sqlite(_) => format!("X'{hex}'"),
            };
            let statements = [
                format!("DELETE FROM events WHERE (stream_id = '{order}' AND version > 1) OR stream_id = '{check}'"),
                format!("DELETE FROM streams WHERE stream_id = '{check}'"),
                format!("UPDATE streams SET version = 1 WHERE stream_id = '{order}'"),
                format!(
                    "UPDATE order_view SET status = {pending}, version = 1, view = {view}, due_step_kind = 0, \
                     due_attempt = 0 WHERE order_id = '{id}'"
                ),
            ];
            for statement in &statements {
                anyhow::ensure!(
                    diesel::sql_query(statement.as_str()).execute(conn)? > 0,
                    "{statement} changed nothing"
                );
            }
            Ok(())
        })
        .await
}

async fn an_order_placed_by_an_earlier_version_is_started_by_its_deadline(db: TestDatabase) -> anyhow::Result<()> {
    let orders = orders(&db);
    let placed =
        orders.place_order(&customer("alice"), new_order("s", &[("sku-1", 1, 100)], "tok_ok"), Utc::now()).await?;
    let id = placed.order.order_id.clone();
    as_placed_by_an_earlier_version(&db, &placed.order).await?;
    assert!(sent(&db, "stock.check.request", "fleuve.stock.v1.StockCheckRequest", &id).await?.is_empty());
    // Its order.placed is no longer consumed: nothing happens before the deadline...
    assert_eq!(orders.fire_due_deadlines(Utc::now()).await?, 0);
    assert_eq!(status(&orders, &id).await?.status(), pb::OrderStatus::Pending);
    // ...and at it, the ticker starts the saga, once.
    assert_eq!(orders.fire_due_deadlines(later(31)).await?, 1);
    assert_eq!(status(&orders, &id).await?.status(), pb::OrderStatus::AwaitingStock);
    assert_eq!(sent(&db, "stock.check.request", "fleuve.stock.v1.StockCheckRequest", &id).await?.len(), 1);
    assert_eq!(orders.fire_due_deadlines(later(31)).await?, 0);
    // A cancelled one is not started by its stale start deadline.
    let other =
        orders.place_order(&customer("alice"), new_order("c", &[("sku-1", 1, 100)], "tok_ok"), Utc::now()).await?;
    let other_id = other.order.order_id.clone();
    as_placed_by_an_earlier_version(&db, &other.order).await?;
    orders.cancel_order(&customer("alice"), other_id.clone(), String::new(), Utc::now()).await?;
    assert_eq!(orders.fire_due_deadlines(later(31)).await?, 0);
    assert_eq!(status(&orders, &other_id).await?.status(), pb::OrderStatus::Cancelled);
    Ok(())
}

/// Migration 601 (the deadline moved from `order_deadlines` into the order's row) over open
/// sagas, down and up again: each still fires at its deadline, and only then.
async fn deadlines_survive_the_move_into_the_order_row(db: TestDatabase) -> anyhow::Result<()> {
    let orders = orders(&db);
    let paying = start(&orders, "pay", "tok_timeout").await?;
    consume(&db, &orders, reserved(&paying, &[("sku-1", 2)])).await?;
    let placed =
        orders.place_order(&customer("alice"), new_order("new", &[("sku-1", 1, 100)], "tok_ok"), Utc::now()).await?;
    let checking = placed.order.order_id;
    drop(orders);

    let database = db.database().clone();
    let reverted =
        tokio::task::spawn_blocking(move || database.revert_last_migration(&fleuve_order::MIGRATIONS)).await??;
    assert!(reverted.ends_with("601"), "{reverted}");
    let database = db.database().clone();
    tokio::task::spawn_blocking(move || {
        database.migrate(&[fleuve_store::EVENT_STORE_MIGRATIONS, fleuve_order::MIGRATIONS])
    })
    .await??;

    let restarted = Orders::new(db.database().clone(), Settings::default());
    assert_eq!(restarted.fire_due_deadlines(Utc::now()).await?, 0, "nothing is due yet");
    assert_eq!(restarted.fire_due_deadlines(later(61)).await?, 2, "the payment and the stock check deadline");
    let order = status(&restarted, &paying).await?;
    assert_eq!(order.status(), pb::OrderStatus::Compensating);
    assert_eq!(order.failure.as_ref().map(|f| f.code()), Some(pb::FailureCode::PaymentTimedOut));
    let order = status(&restarted, &checking).await?;
    assert_eq!(order.status(), pb::OrderStatus::Compensating);
    assert_eq!(order.failure.as_ref().map(|f| f.code()), Some(pb::FailureCode::StockCheckTimedOut));
    Ok(())
}
