//! The gRPC adapter: who may call what, and the status code every refusal gets.

use fleuve_mesh::Role;
use fleuve_proto::stock::v1::{self as pb, stock_service_server::StockService};
use fleuve_stock::StockGrpc;
use tonic::{Code, Request};

use crate::support::{Harness, check_request, principal};

async fn service() -> anyhow::Result<(Harness, StockGrpc)> {
    let h = Harness::sqlite().await?;
    h.products(&[("sku-1", 5), ("sku-2", 1)]).await?;
    h.deliver(&check_request("order-1", &[("sku-1", 2)])).await?;
    let grpc = StockGrpc::new(h.stock.clone());
    Ok((h, grpc))
}

fn request<T>(role: Option<Role>, message: T) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(role) = role {
        request.extensions_mut().insert(principal(role));
    }
    request
}

fn create(id: &str, name: &str, quantity: u64) -> pb::CreateProductRequest {
    pb::CreateProductRequest { product_id: id.into(), name: name.into(), quantity, price: None }
}

fn restock(id: &str, quantity: u64, expected_version: i64) -> pb::RestockProductRequest {
    pb::RestockProductRequest { product_id: id.into(), quantity, reference: "bl-1".into(), expected_version }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_for_admins_and_queries_for_any_caller() -> anyhow::Result<()> {
    let (_h, grpc) = service().await?;
    for role in [Role::Applicant, Role::Reviewer] {
        let denied = grpc.create_product(request(Some(role), create("sku-3", "Widget", 1))).await.unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
        let denied = grpc.restock_product(request(Some(role), restock("sku-1", 1, 0))).await.unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
    }
    let anonymous = grpc.create_product(request(None, create("sku-3", "Widget", 1))).await.unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    let anonymous = grpc.get_product(request(None, pb::GetProductRequest { product_id: "sku-1".into() })).await;
    assert_eq!(anonymous.unwrap_err().code(), Code::Unauthenticated);
    let anonymous = grpc.list_reservations(request(None, pb::ListReservationsRequest::default())).await;
    assert_eq!(anonymous.unwrap_err().code(), Code::Unauthenticated);

    let created = grpc.create_product(request(Some(Role::Admin), create("sku-3", "Widget", 4))).await?.into_inner();
    assert_eq!(created.product.unwrap().available, 4);
    let restocked =
        grpc.restock_product(request(Some(Role::Admin), restock("sku-3", 6, 1))).await?.into_inner().product.unwrap();
    assert_eq!((restocked.available, restocked.version), (10, 2));

    let who = Some(Role::Applicant);
    let product = grpc.get_product(request(who, pb::GetProductRequest { product_id: "sku-1".into() })).await?;
    let product = product.into_inner().product.unwrap();
    assert_eq!((product.available, product.reserved), (3, 2));
    let listed =
        grpc.list_products(request(who, pb::ListProductsRequest { page_size: 2, page_token: "".into() })).await?;
    let listed = listed.into_inner();
    assert_eq!(listed.products.len(), 2);
    let rest = pb::ListProductsRequest { page_size: 2, page_token: listed.next_page_token };
    let rest = grpc.list_products(request(who, rest)).await?.into_inner();
    assert_eq!(rest.products.iter().map(|p| p.product_id.as_str()).collect::<Vec<_>>(), ["sku-3"]);
    assert!(rest.next_page_token.is_empty());

    let reservation =
        grpc.get_reservation(request(who, pb::GetReservationRequest { order_id: "order-1".into() })).await?;
    let reservation = reservation.into_inner().reservation.unwrap();
    assert_eq!(reservation.status(), pb::ReservationStatus::Reserved);
    let by_product = pb::ListReservationsRequest { product_id: "sku-1".into(), ..Default::default() };
    let listed = grpc.list_reservations(request(who, by_product)).await?.into_inner();
    assert_eq!(listed.reservations, [reservation]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_has_its_code() -> anyhow::Result<()> {
    let (_h, grpc) = service().await?;
    let admin = Some(Role::Admin);
    let creates = [
        (create("sku-1", "Again", 1), Code::AlreadyExists),
        (create("", "Widget", 1), Code::InvalidArgument),
        (create(&"x".repeat(65), "Widget", 1), Code::InvalidArgument),
        (create("sku-9", "", 1), Code::InvalidArgument),
        (create("sku-9", "Widget", u64::MAX), Code::InvalidArgument),
    ];
    for (message, expected) in creates {
        let status = grpc.create_product(request(admin, message.clone())).await.unwrap_err();
        assert_eq!(status.code(), expected, "{message:?}: {status:?}");
    }
    let restocks = [
        (restock("sku-1", 1, 1), Code::Aborted),
        (restock("sku-1", 0, 0), Code::InvalidArgument),
        (restock("sku-1", 1, -3), Code::InvalidArgument),
        (restock("sku-9", 1, 0), Code::NotFound),
        (restock(" ", 1, 0), Code::InvalidArgument),
    ];
    for (message, expected) in restocks {
        let status = grpc.restock_product(request(admin, message.clone())).await.unwrap_err();
        assert_eq!(status.code(), expected, "{message:?}: {status:?}");
    }

    let who = Some(Role::Reviewer);
    let get = |id: &str| request(who, pb::GetProductRequest { product_id: id.into() });
    assert_eq!(grpc.get_product(get("sku-9")).await.unwrap_err().code(), Code::NotFound);
    assert_eq!(grpc.get_product(get("")).await.unwrap_err().code(), Code::InvalidArgument);
    let reservation = |id: &str| request(who, pb::GetReservationRequest { order_id: id.into() });
    assert_eq!(grpc.get_reservation(reservation("order-9")).await.unwrap_err().code(), Code::NotFound);
    assert_eq!(grpc.get_reservation(reservation("")).await.unwrap_err().code(), Code::InvalidArgument);
    let bad_pages = [
        pb::ListProductsRequest { page_size: -1, page_token: "".into() },
        pb::ListProductsRequest { page_size: 1, page_token: "%%%".into() },
    ];
    for message in bad_pages {
        let status = grpc.list_products(request(who, message.clone())).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{message:?}");
    }
    let bad_filters = [
        pb::ListReservationsRequest { status: 42, ..Default::default() },
        pb::ListReservationsRequest { product_id: "y".repeat(65), ..Default::default() },
        pb::ListReservationsRequest { page_token: "!".into(), ..Default::default() },
    ];
    for message in bad_filters {
        let status = grpc.list_reservations(request(who, message.clone())).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{message:?}");
    }
    Ok(())
}
