//! No oversell: check requests racing for the last units of a product, each in its own
//! transaction on its own connection, as several stock processes would run them.

use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use fleuve_handler::HandlerError;
use fleuve_stock::domain::PRODUCT_AGGREGATE;
use fleuve_store::Database;

use crate::support::{Harness, Outcome, check_request, deliver_in, outcome, quantities, replies_of, reserved};

on_both_backends!(ten_orders_race_for_five_units);

/// Runs `event` in its own transactions until it is not transient any more, as the consumer
/// runtime does; returns how many attempts lost a race.
fn deliver_with_retries(db: &Database, event: &fleuve_handler::ConsumedEvent) -> Result<usize, HandlerError> {
    let mut lost = 0;
    loop {
        match db.transaction_blocking(|conn| deliver_in(conn, event)) {
            Ok(()) => return Ok(lost),
            Err(HandlerError::Transient(_) | HandlerError::Conflict(_)) if lost < 200 => lost += 1,
            Err(error) => return Err(error),
        }
    }
}

async fn ten_orders_race_for_five_units(h: Harness) -> anyhow::Result<()> {
    h.products(&[("sku-1", 5)]).await?;
    let url = h.test.url().to_owned();
    let db = tokio::task::spawn_blocking(move || Database::connect(&url, 12)).await??;

    let orders: Vec<String> = (0..10).map(|i| format!("order-{i:02}")).collect();
    let start = Arc::new(Barrier::new(orders.len()));
    let racers: Vec<_> = orders
        .iter()
        .map(|order| {
            let (db, start, event) = (db.clone(), start.clone(), check_request(order, &[("sku-1", 1)]));
            std::thread::spawn(move || {
                start.wait();
                deliver_with_retries(&db, &event)
            })
        })
        .collect();
    let lost = tokio::task::spawn_blocking(move || {
        racers.into_iter().map(|r| r.join().expect("racer panicked")).collect::<Result<Vec<_>, _>>()
    })
    .await??;
    eprintln!("{:?}: races lost and retried: {}", h.test.backend(), lost.iter().sum::<usize>());

    let mut won = Vec::new();
    let mut refused = 0;
    for order in &orders {
        let id = order.clone();
        let replies = h.db().run(move |conn| replies_of(conn, &id)).await?;
        assert_eq!(replies.len(), 1, "{order}");
        match outcome(&replies[0]) {
            o if o == reserved(&[("sku-1", 1)]) => won.push(order.clone()),
            Outcome::Insufficient(shortages) => {
                assert_eq!(shortages, [("sku-1".to_owned(), 1, 0, false)]);
                refused += 1;
            }
            other => panic!("{order}: {other:?}"),
        }
    }
    assert_eq!((won.len(), refused), (5, 5));
    assert_eq!(quantities(&h.stock, "sku-1").await?, (0, 5, 6));

    // The product's stream is contiguous and holds exactly the winners' reservations.
    let events = h.stream(PRODUCT_AGGREGATE, "sku-1").await?;
    let versions: Vec<i64> = events.iter().map(|e| e.version).collect();
    assert_eq!(versions, [1, 2, 3, 4, 5, 6]);
    let mut holders: Vec<String> = events[1..]
        .iter()
        .map(|e| {
            use prost::Message;
            let event = fleuve_proto::stock::v1::ProductEvent::decode(e.payload.as_slice()).expect("decodes");
            match event.event {
                Some(fleuve_proto::stock::v1::product_event::Event::Reserved(r)) => r.order_id,
                other => panic!("unexpected {other:?}"),
            }
        })
        .collect();
    holders.sort();
    assert_eq!(holders, won);
    Ok(())
}

#[derive(QueryableByName)]
struct Waiting {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Transactions of this database waiting for a lock.
fn lock_waiters(conn: &mut PgConnection) -> anyhow::Result<i64> {
    let waiting: Waiting = diesel::sql_query(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .get_result(conn)?;
    Ok(waiting.n)
}

/// The interleaving that oversells without the expected version, forced step by step: B reads
/// the last unit while A's reservation of it is not committed yet, then A commits. B's append
/// to the product must fail as a transient conflict, and B's retry must see no unit left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_race_on_a_product_is_transient_and_the_retry_decides_again() -> anyhow::Result<()> {
    let h = Harness::postgres().await?;
    h.products(&[("sku-1", 1)]).await?;
    let url = h.test.url().to_owned();
    let db = h.db().clone();

    let (applied_tx, applied_rx) = mpsc::channel();
    let (commit_tx, commit_rx) = mpsc::channel::<()>();
    let a = {
        let (db, event) = (db.clone(), check_request("order-a", &[("sku-1", 1)]));
        std::thread::spawn(move || {
            db.transaction_blocking(|conn| {
                deliver_in(conn, &event)?;
                applied_tx.send(()).expect("the test waits");
                commit_rx.recv().expect("the test says when");
                Ok::<_, HandlerError>(())
            })
        })
    };
    let b_event = check_request("order-b", &[("sku-1", 1)]);
    let (b, b_event) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        applied_rx.recv()?;
        let b = {
            let (db, event) = (db.clone(), b_event.clone());
            std::thread::spawn(move || db.transaction_blocking(|conn| deliver_in(conn, &event)))
        };
        // B has read version 1 and now waits on A's lock of the product's stream row.
        let mut observer = PgConnection::establish(&url)?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while lock_waiters(&mut observer)? < 1 {
            anyhow::ensure!(Instant::now() < deadline, "B never waited for A's lock");
            std::thread::sleep(Duration::from_millis(10));
        }
        commit_tx.send(())?;
        Ok((b.join().expect("B panicked"), b_event))
    })
    .await??;
    a.join().expect("A panicked")?;

    match b {
        Err(HandlerError::Conflict(message)) => {
            assert!(message.contains("product-sku-1"), "{message}");
        }
        other => panic!("B should have lost the race, got {other:?}"),
    }
    // Nothing of B's first attempt remains; its retry decides on the new quantities.
    assert!(h.replies("order-b").await?.is_empty());
    assert_eq!(quantities(&h.stock, "sku-1").await?, (0, 1, 2));
    let retry = b_event.clone();
    h.db().transaction(move |conn| deliver_in(conn, &retry)).await?;
    let replies = h.replies("order-b").await?;
    assert_eq!(outcome(&replies[0]), Outcome::Insufficient(vec![("sku-1".into(), 1, 0, false)]));
    assert_eq!(outcome(&h.replies("order-a").await?[0]), reserved(&[("sku-1", 1)]));
    assert_eq!(quantities(&h.stock, "sku-1").await?, (0, 1, 2));
    Ok(())
}
