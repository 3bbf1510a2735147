//! PlaceOrder, GetOrder, ListOrders, CancelOrder and WatchOrder through the application layer.

use chrono::Utc;
use fleuve_mesh::ServiceError;
use fleuve_order::{AppError, app::ListFilter, app::PageRequest};
use fleuve_proto::order::v1 as pb;
use fleuve_store::testing::TestDatabase;

use crate::support::*;

on_both_backends!(
    placing_twice_with_one_key_gives_one_order_and_one_message,
    a_key_reused_for_another_order_is_refused,
    invalid_orders_are_refused_and_write_nothing,
    customers_see_only_their_orders,
    orders_list_newest_first_in_pages,
    cancellation_before_payment_and_refusal_after,
    concurrent_retries_of_one_key_create_one_order,
);

async fn placing_twice_with_one_key_gives_one_order_and_one_message(db: TestDatabase) -> anyhow::Result<()> {
    let orders = orders(&db);
    let alice = customer("alice");
    let first = orders.place_order(&alice, new_order("k1", &[("sku-1", 2, 1500)], "tok_ok"), Utc::now()).await?;
    assert!(first.created);
    let order = &first.order;
    assert_eq!(order.customer_id, "alice");
    assert_eq!(order.status(), pb::OrderStatus::AwaitingStock, "placing it started its saga");
    assert_eq!(order.total.as_ref().map(|m| m.amount), Some(3000));

    let retry = orders.place_order(&alice, new_order("k1", &[("sku-1", 2, 1500)], "tok_ok"), Utc::now()).await?;
    assert!(!retry.created);
    assert_eq!(retry.order.order_id, order.order_id);
    assert_eq!(retry.order.version, order.version);

    let placed = sent(&db, "order.placed", "fleuve.order.v1.OrderPlaced", &order.order_id).await?;
    assert_eq!(placed.len(), 1, "one order.placed message");
    let checks = sent(&db, "stock.check.request", "fleuve.stock.v1.StockCheckRequest", &order.order_id).await?;
    assert_eq!(checks.len(), 1, "one stock check, queued with the order");
    let message: pb::OrderPlaced = decode(&placed[0]);
    assert_eq!(message.order_id, order.order_id);
    assert_eq!(placed[0].correlation_id, "corr-alice");
    // Another customer's identical key is another order.
    let bob =
        orders.place_order(&customer("bob"), new_order("k1", &[("sku-1", 2, 1500)], "tok_ok"), Utc::now()).await?;
    assert!(bob.created);
    assert_ne!(bob.order.order_id, order.order_id);
    Ok(())
}

async fn a_key_reused_for_another_order_is_refused(db: TestDatabase) -> anyhow::Result<()> {
    let orders = orders(&db);
    let alice = customer("alice");
    let first = orders.place_order(&alice, new_order("k1", &[("sku-1", 2, 1500)], "tok_ok"), Utc::now()).await?;
    let other = orders.place_order(&alice, new_order("k1", &[("sku-1", 3, 1500)], "tok_ok"), Utc::now()).await;
    match other {
        Err(error) => assert!(matches!(ServiceError::from(error), ServiceError::FailedPrecondition(_))),
        Ok(placed) => panic!("another content under the same key was accepted: {placed:?}"),
    }
    let order = orders.get_order(&alice, first.order.order_id.clone()).await?;
    assert_eq!(order.lines[0].quantity, 2, "the first order is unchanged");
    Ok(())
}

async fn invalid_orders_are_refused_and_write_nothing(db: TestDatabase) -> anyhow::Result<()> {
    let orders = orders(&db);
    let alice = customer("alice");
    let cases = [
        new_order("", &[("sku-1", 1, 100)], "tok_ok"),
        new_order("k", &[], "tok_ok"),
        new_order("k", &[("sku-1", 0, 100)], "tok_ok"),
        new_order("k", &[("sku-1", 1, -5)], "tok_ok"),
        new_order("k", &[("sku-1", 1, 100), ("sku-1", 2, 100)], "tok_ok"),
        new_order("k", &[("", 1, 100)], "tok_ok"),
        new_order("k", &[("sku-1", 1, 100)], ""),
        new_order(&"x".repeat(200), &[("sku-1", 1, 100)], "tok_ok"),
        fleuve_order::NewOrder { currency: "euro".into(), ..new_order("k", &[("sku-1", 1, 100)], "tok_ok") },
        new_order("k", &[("sku-1", u32::MAX, i64::MAX)], "tok_ok"),
    ];
    for case in cases {
        let refused = orders.place_order(&alice, case.clone(), Utc::now()).await;
        match refused {
            Err(error) => {
                let error = ServiceError::from(error);
                assert!(matches!(error, ServiceError::InvalidArgument(_)), "{case:?} gave {error:?}");
            }
            Ok(placed) => panic!("{case:?} was accepted: {placed:?}"),
        }
    }
    let page = orders.list_orders(&admin(), ListFilter::default(), PageRequest::parse(0, "")?).await?;
    assert!(page.items.is_empty(), "nothing written");
    let others = fleuve_order::NewOrder { customer_id: "bob".into(), ..new_order("k", &[("sku-1", 1, 100)], "tok_ok") };
    let denied = orders.place_order(&alice, others, Utc::now()).await;
    assert!(matches!(denied.map_err(ServiceError::from), Err(ServiceError::PermissionDenied(_))));
    Ok(())
}

async fn customers_see_only_their_orders(db: TestDatabase) -> anyhow::Result<()> {
    let orders = orders(&db);
    let (alice, bob) = (customer("alice"), customer("bob"));
    let placed = orders.place_order(&alice, new_order("k1", &[("sku-1", 1, 100)], "tok_ok"), Utc::now()).await?;
    let id = placed.order.order_id;
    assert!(matches!(
        orders.get_order(&bob, id.clone()).await.map_err(ServiceError::from),
        Err(ServiceError::NotFound(_))
    ));
    assert!(matches!(
        orders.cancel_order(&bob, id.clone(), "no".into(), Utc::now()).await.map_err(ServiceError::from),
        Err(ServiceError::NotFound(_))
    ));
    assert!(orders.watch_order(&bob, id.clone()).await.is_err());
    let listed = orders.list_orders(&bob, ListFilter::default(), PageRequest::parse(0, "")?).await?;
    assert!(listed.items.is_empty());
    let foreign = ListFilter { customer_id: "alice".into(), ..ListFilter::default() };
    assert!(orders.list_orders(&bob, foreign.clone(), PageRequest::parse(0, "")?).await.is_err());
    assert_eq!(orders.list_orders(&admin(), foreign, PageRequest::parse(0, "")?).await?.items.len(), 1);
    let order = orders.get_order(&alice, id.clone()).await?;
    assert_eq!(order.status(), pb::OrderStatus::AwaitingStock, "bob's cancellation changed nothing");
    Ok(())
}

async fn orders_list_newest_first_in_pages(db: TestDatabase) -> anyhow::Result<()> {
    let orders = orders(&db);
    let alice = customer("alice");
    let start = Utc::now();
    let mut ids = Vec::new();
    for n in 0..7 {
        let at = start + chrono::Duration::milliseconds(n);
        ids.push(
            orders
                .place_order(&alice, new_order(&format!("k{n}"), &[("sku-1", 1, 100)], "tok_ok"), at)
                .await?
                .order
                .order_id,
        );
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = orders.list_orders(&alice, ListFilter::default(), PageRequest::parse(3, &token)?).await?;
        seen.extend(page.items.into_iter().map(|o| o.order_id));
        if page.next_token.is_empty() {
            break;
        }
        token = page.next_token;
    }
    assert_eq!(seen, ids);
    let pending = ListFilter { status: pb::OrderStatus::Confirmed, ..ListFilter::default() };
    assert!(orders.list_orders(&alice, pending, PageRequest::parse(0, "")?).await?.items.is_empty());
    assert!(PageRequest::parse(0, "not-a-token").is_err());
    assert!(PageRequest::parse(501, "").is_err());
    Ok(())
}

async fn cancellation_before_payment_and_refusal_after(db: TestDatabase) -> anyhow::Result<()> {
    let orders = orders(&db);
    let alice = customer("alice");
    // Awaiting stock (a placed order's saga has started): the stock that may be held is
    // released first, then the order is cancelled.
    let a = orders.place_order(&alice, new_order("a", &[("sku-1", 1, 100)], "tok_ok"), Utc::now()).await?.order;
    let cancelling = orders.cancel_order(&alice, a.order_id.clone(), "changed my mind".into(), Utc::now()).await?;
    assert_eq!(cancelling.status(), pb::OrderStatus::Compensating);
    assert!(cancelling.failure.as_ref().is_some_and(|f| f.reason.contains("changed my mind")));
    let again = orders.cancel_order(&alice, a.order_id.clone(), String::new(), Utc::now()).await?;
    assert_eq!(again.version, cancelling.version, "cancelling twice changes nothing");
    assert_eq!(sent(&db, "stock.release", "fleuve.stock.v1.StockRelease", &a.order_id).await?.len(), 1);
    consume(&db, &orders, released(&a.order_id, 1)).await?;
    let cancelled = orders.get_order(&alice, a.order_id.clone()).await?;
    assert_eq!(cancelled.status(), pb::OrderStatus::Cancelled);
    let failed = sent(&db, "order.failed", "fleuve.order.v1.OrderFailed", &a.order_id).await?;
    assert_eq!(failed.len(), 1);

    // Awaiting payment: refused.
    let b = orders.place_order(&alice, new_order("b", &[("sku-1", 1, 100)], "tok_ok"), Utc::now()).await?.order;
    consume(&db, &orders, reserved(&b.order_id, &[("sku-1", 1)])).await?;
    let refused = orders.cancel_order(&alice, b.order_id.clone(), String::new(), Utc::now()).await;
    match refused {
        Err(AppError::Domain(_)) => {}
        other => panic!("cancel after the payment request gave {other:?}"),
    }
    assert_eq!(orders.get_order(&alice, b.order_id).await?.status(), pb::OrderStatus::AwaitingPayment);
    Ok(())
}

async fn concurrent_retries_of_one_key_create_one_order(db: TestDatabase) -> anyhow::Result<()> {
    let orders = orders(&db);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let orders = orders.clone();
        tasks.push(tokio::spawn(async move {
            orders.place_order(&customer("alice"), new_order("same", &[("sku-1", 1, 100)], "tok_ok"), Utc::now()).await
        }));
    }
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let placed = task.await??;
        created += usize::from(placed.created);
        ids.insert(placed.order.order_id);
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1);
    let id = ids.into_iter().next().unwrap_or_default();
    assert_eq!(sent(&db, "order.placed", "fleuve.order.v1.OrderPlaced", &id).await?.len(), 1);
    Ok(())
}
