//! Staff commands and the queries through the application layer: what is refused with which
//! code, and that the read models say what replaying the streams says.

use fleuve_aggregate::{Loaded, repository};
use fleuve_mesh::{Role, ServiceError};
use fleuve_proto::stock::v1 as pb;
use fleuve_stock::app::{load_product, load_reservation, product_to_pb, reservation_to_pb};
use fleuve_stock::domain::PRODUCT_AGGREGATE;
use fleuve_stock::domain::Product;
use fleuve_stock::{AppError, PageRequest, ReservationFilter};
use tonic::Code;

use crate::support::{Harness, admin, caller, check_request, quantities, release_request};

on_both_backends!(
    create_and_restock,
    a_product_is_created_once,
    restock_honours_the_expected_version,
    refused_commands_change_nothing,
    the_read_models_equal_the_replayed_streams,
    a_product_row_behind_its_stream_is_not_trusted,
    products_are_listed_page_by_page,
    reservations_are_filtered_by_status_and_product,
);

fn code<T: std::fmt::Debug>(result: Result<T, AppError>) -> Code {
    ServiceError::from(result.expect_err("the call must fail")).code()
}

async fn create_and_restock(h: Harness) -> anyhow::Result<()> {
    let created = h.stock.create_product(&admin(), "  sku-1 ", "  Blue widget ", 5, None).await?;
    assert_eq!((created.product_id.as_str(), created.name.as_str()), ("sku-1", "Blue widget"));
    assert_eq!((created.available, created.reserved, created.version), (5, 0, 1));
    assert!(created.created_at.is_some());
    assert_eq!(h.stock.get_product("sku-1").await?, created);

    let restocked = h.stock.restock(&admin(), "sku-1", 3, "delivery note 42", 1).await?;
    assert_eq!((restocked.available, restocked.version), (8, 2));
    assert_eq!(restocked.created_at, created.created_at);
    // No expected version: no check.
    let restocked = h.stock.restock(&admin(), "sku-1", 2, "", 0).await?;
    assert_eq!((restocked.available, restocked.version), (10, 3));
    assert_eq!(h.stock.get_product("sku-1").await?, restocked);

    // Events carry the caller and the request's correlation id.
    let events = h.stream(PRODUCT_AGGREGATE, "sku-1").await?;
    let types: Vec<_> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["ProductCreated", "ProductRestocked", "ProductRestocked"]);
    assert!(events.iter().all(|e| e.actor == "admin-1" && e.correlation_id == "correlation-test"));
    Ok(())
}

async fn a_product_is_created_once(h: Harness) -> anyhow::Result<()> {
    h.stock.create_product(&admin(), "sku-1", "Widget", 5, None).await?;
    assert_eq!(code(h.stock.create_product(&admin(), "sku-1", "Widget", 5, None).await), Code::AlreadyExists);
    assert_eq!(code(h.stock.create_product(&admin(), " sku-1", "Other", 1, None).await), Code::AlreadyExists);
    assert_eq!(quantities(&h.stock, "sku-1").await?, (5, 0, 1));
    Ok(())
}

async fn restock_honours_the_expected_version(h: Harness) -> anyhow::Result<()> {
    h.stock.create_product(&admin(), "sku-1", "Widget", 5, None).await?;
    // A reservation moves the product to version 2 behind the caller's back.
    h.deliver(&check_request("order-1", &[("sku-1", 2)])).await?;
    let stale = h.stock.restock(&admin(), "sku-1", 10, "", 1).await;
    let error = ServiceError::from(stale.expect_err("version 1 is stale"));
    assert_eq!(error.code(), Code::Aborted);
    assert!(error.to_string().contains("expected version 1, found 2"), "{error}");
    assert_eq!(quantities(&h.stock, "sku-1").await?, (3, 2, 2));

    let fresh = h.stock.restock(&admin(), "sku-1", 10, "", 2).await?;
    assert_eq!((fresh.available, fresh.reserved, fresh.version), (13, 2, 3));
    Ok(())
}

async fn refused_commands_change_nothing(h: Harness) -> anyhow::Result<()> {
    let s = &h.stock;
    s.create_product(&admin(), "sku-1", "Widget", 5, None).await?;
    let long = "x".repeat(65);
    let events = h.event_count().await?;

    assert_eq!(
        code(s.create_product(&caller(Role::Reviewer), "sku-2", "Widget", 5, None).await),
        Code::PermissionDenied
    );
    assert_eq!(
        code(s.create_product(&caller(Role::Applicant), "sku-2", "Widget", 5, None).await),
        Code::PermissionDenied
    );
    assert_eq!(code(s.restock(&caller(Role::Applicant), "sku-1", 5, "", 0).await), Code::PermissionDenied);
    assert_eq!(code(s.create_product(&admin(), "  ", "Widget", 5, None).await), Code::InvalidArgument);
    assert_eq!(code(s.create_product(&admin(), &long, "Widget", 5, None).await), Code::InvalidArgument);
    assert_eq!(code(s.create_product(&admin(), "sku-2", " ", 5, None).await), Code::InvalidArgument);
    assert_eq!(code(s.create_product(&admin(), "sku-2", &"n".repeat(201), 5, None).await), Code::InvalidArgument);
    assert_eq!(code(s.create_product(&admin(), "sku-2", "Widget", u64::MAX, None).await), Code::InvalidArgument);
    assert_eq!(code(s.restock(&admin(), "sku-1", 0, "", 0).await), Code::InvalidArgument);
    assert_eq!(code(s.restock(&admin(), "sku-1", i64::MAX as u64, "", 0).await), Code::InvalidArgument);
    assert_eq!(code(s.restock(&admin(), "sku-1", 1, "", -1).await), Code::InvalidArgument);
    assert_eq!(code(s.restock(&admin(), "sku-1", 1, &"r".repeat(201), 0).await), Code::InvalidArgument);
    assert_eq!(code(s.restock(&admin(), "", 1, "", 0).await), Code::InvalidArgument);
    assert_eq!(code(s.restock(&admin(), "sku-9", 1, "", 0).await), Code::NotFound);
    assert_eq!(code(s.get_product("sku-9").await), Code::NotFound);
    assert_eq!(code(s.get_product(&long).await), Code::InvalidArgument);
    assert_eq!(code(s.get_reservation("order-9").await), Code::NotFound);
    assert_eq!(code(s.get_reservation(" ").await), Code::InvalidArgument);

    assert_eq!(h.event_count().await?, events);
    assert_eq!(quantities(s, "sku-1").await?, (5, 0, 1));
    assert_eq!(code(s.get_product("sku-2").await), Code::NotFound);
    Ok(())
}

async fn a_product_row_behind_its_stream_is_not_trusted(h: Harness) -> anyhow::Result<()> {
    h.products(&[("sku-a", 5)]).await?;
    h.stock.restock(&admin(), "sku-a", 4, "", 0).await?;
    // The row says what the product was before the restock (as if a write had been lost).
    let stale = h
        .db()
        .run(|conn| {
            use diesel::RunQueryDsl as _;
            diesel::sql_query("UPDATE stock_products SET available = 5, version = 1 WHERE product_id = 'sku-a'")
                .execute(conn)
                .map_err(fleuve_store::StoreError::from)
        })
        .await?;
    assert_eq!(stale, 1);
    let (loaded, replayed) = h
        .db()
        .run(|conn| Ok::<_, fleuve_stock::AppError>((load_product(conn, "sku-a")?, replay(conn, "sku-a")?)))
        .await?;
    assert_eq!((loaded.state.available, loaded.version), (9, 2), "the stream's state, not the row's");
    assert_eq!(loaded, replayed);
    Ok(())
}

async fn the_read_models_equal_the_replayed_streams(h: Harness) -> anyhow::Result<()> {
    h.products(&[("sku-a", 5), ("sku-b", 2), ("sku-c", 1)]).await?;
    h.stock.restock(&admin(), "sku-c", 4, "", 0).await?;
    h.deliver(&check_request("order-1", &[("sku-a", 2), ("sku-b", 2)])).await?;
    h.deliver(&check_request("order-2", &[("sku-a", 1), ("sku-c", 9)])).await?;
    h.deliver(&check_request("order-3", &[("sku-a", 1), ("sku-c", 5)])).await?;
    h.deliver(&release_request("order-3", "payment declined")).await?;
    h.deliver(&release_request("order-4", "cancelled")).await?;

    let products = h.stock.list_products(PageRequest::default()).await?.items;
    assert_eq!(products.len(), 3);
    for product in products {
        let id = product.product_id.clone();
        let (loaded, replayed) = h
            .db()
            .run(move |conn| Ok::<_, fleuve_stock::AppError>((load_product(conn, &id)?, replay(conn, &id)?)))
            .await?;
        // The state the decisions load is the state the stream folds to, and so is the view.
        assert_eq!(loaded, replayed);
        assert_eq!(product, product_to_pb(&replayed.state));
    }
    let reservations = h.stock.list_reservations(ReservationFilter::default(), PageRequest::default()).await?.items;
    let statuses: Vec<_> = reservations.iter().map(|r| (r.order_id.as_str(), r.status())).collect();
    use pb::ReservationStatus as S;
    assert_eq!(
        statuses,
        [("order-1", S::Reserved), ("order-2", S::Rejected), ("order-3", S::Released), ("order-4", S::Released)]
    );
    for reservation in reservations {
        let id = reservation.order_id.clone();
        let replayed = h.db().run(move |conn| load_reservation(conn, &id)).await?;
        assert_eq!(reservation, reservation_to_pb(&replayed.state));
        assert_eq!(h.stock.get_reservation(&reservation.order_id).await?, reservation);
    }
    // Created, reserved by orders 1 and 3, released by order 3.
    assert_eq!(quantities(&h.stock, "sku-a").await?, (3, 2, 4));
    Ok(())
}

async fn products_are_listed_page_by_page(h: Harness) -> anyhow::Result<()> {
    h.products(&[("p-3", 1), ("p-1", 1), ("p-5", 1), ("p-2", 1), ("p-4", 1)]).await?;
    let mut ids = Vec::new();
    let mut page = PageRequest::parse(2, "")?;
    let mut pages = 0;
    loop {
        let listed = h.stock.list_products(page).await?;
        pages += 1;
        assert!(listed.items.len() <= 2);
        ids.extend(listed.items.into_iter().map(|p| p.product_id));
        if listed.next_token.is_empty() {
            break;
        }
        page = PageRequest::parse(2, &listed.next_token)?;
    }
    assert_eq!(pages, 3);
    assert_eq!(ids, ["p-1", "p-2", "p-3", "p-4", "p-5"]);

    // Exactly one full page: no token for an empty next page.
    let all = h.stock.list_products(PageRequest::parse(5, "")?).await?;
    assert_eq!((all.items.len(), all.next_token.as_str()), (5, ""));

    assert_eq!(PageRequest::parse(0, "")?.size, 50);
    assert_eq!(PageRequest::parse(500, "")?.size, 500);
    // "_w" is valid base64 of a byte that is not UTF-8.
    for (size, token) in [(-1, ""), (501, ""), (10_000, ""), (10, "not base64!"), (10, "_w")] {
        let refused = PageRequest::parse(size, token).expect_err("a bad page request");
        assert_eq!(refused.code(), Code::InvalidArgument, "{size} {token:?}");
    }
    Ok(())
}

async fn reservations_are_filtered_by_status_and_product(h: Harness) -> anyhow::Result<()> {
    h.products(&[("sku-a", 10), ("sku-b", 10)]).await?;
    h.deliver(&check_request("order-1", &[("sku-a", 1)])).await?;
    h.deliver(&check_request("order-2", &[("sku-a", 1), ("sku-b", 1)])).await?;
    h.deliver(&check_request("order-3", &[("sku-b", 1)])).await?;
    h.deliver(&check_request("order-4", &[("sku-b", 99)])).await?;
    h.deliver(&release_request("order-2", "cancelled")).await?;

    let list = |status: i32, product: &str| {
        let filter = ReservationFilter::parse(status, product);
        let stock = h.stock.clone();
        async move {
            let page = stock.list_reservations(filter?, PageRequest::default()).await?;
            Ok::<_, AppError>(page.items.into_iter().map(|r| r.order_id).collect::<Vec<_>>())
        }
    };
    use pb::ReservationStatus as S;
    assert_eq!(list(0, "").await?, ["order-1", "order-2", "order-3", "order-4"]);
    assert_eq!(list(S::Reserved as i32, "").await?, ["order-1", "order-3"]);
    assert_eq!(list(S::Released as i32, "").await?, ["order-2"]);
    assert_eq!(list(S::Rejected as i32, "").await?, ["order-4"]);
    // Holding or having held the product: a rejection never held anything.
    assert_eq!(list(0, "sku-b").await?, ["order-2", "order-3"]);
    assert_eq!(list(S::Reserved as i32, "sku-b").await?, ["order-3"]);
    assert_eq!(list(0, "sku-z").await?, Vec::<String>::new());
    assert_eq!(code(list(9, "").await), Code::InvalidArgument);
    assert_eq!(code(list(0, &"x".repeat(65)).await), Code::InvalidArgument);

    // Pages of one with the filter on.
    let filter = ReservationFilter::parse(0, "sku-b")?;
    let first = h.stock.list_reservations(filter.clone(), PageRequest::parse(1, "")?).await?;
    assert_eq!(first.items[0].order_id, "order-2");
    assert_eq!(first.items[0].lines.len(), 2);
    let second = h.stock.list_reservations(filter, PageRequest::parse(1, &first.next_token)?).await?;
    assert_eq!(second.items[0].order_id, "order-3");
    assert_eq!(second.next_token, "");
    Ok(())
}

/// The product folded from its whole stream, whatever its snapshot holds.
fn replay(conn: &mut fleuve_store::DbConnection, id: &str) -> Result<Loaded<Product>, fleuve_stock::AppError> {
    repository::replay(conn, id)
}
