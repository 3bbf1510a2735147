//! The gRPC adapter of `fleuve.stock.v1.StockService`: requests are parsed at this edge,
//! commands need the `admin` role (checked by the app), queries any authenticated caller, and
//! errors leave through `ServiceError`, the one mapping to status codes.

use fleuve_mesh::RequestContext;
use fleuve_proto::stock::v1::{self as pb, stock_service_server::StockService};
use tonic::{Request, Response, Status};

use crate::app::{Caller, PageRequest, ReservationFilter, Stock};

pub use pb::stock_service_server::StockServiceServer;

#[derive(Debug, Clone)]
pub struct StockGrpc {
    app: Stock,
}

impl StockGrpc {
    pub fn new(app: Stock) -> StockGrpc {
        StockGrpc { app }
    }
}

/// The stock service, ready to be added to the mesh's gRPC server.
pub fn server(app: Stock) -> StockServiceServer<StockGrpc> {
    StockServiceServer::new(StockGrpc::new(app))
}

/// Queries only need an authenticated caller.
fn authenticated<T>(request: &Request<T>) -> Result<(), Status> {
    RequestContext::from_request(request).principal()?;
    Ok(())
}

#[tonic::async_trait]
impl StockService for StockGrpc {
    async fn create_product(
        &self,
        request: Request<pb::CreateProductRequest>,
    ) -> Result<Response<pb::CreateProductResponse>, Status> {
        let caller = Caller::of(&RequestContext::from_request(&request))?;
        let r = request.into_inner();
        let product = self.app.create_product(&caller, &r.product_id, &r.name, r.quantity, r.price).await?;
        Ok(Response::new(pb::CreateProductResponse { product: Some(product) }))
    }

    async fn restock_product(
        &self,
        request: Request<pb::RestockProductRequest>,
    ) -> Result<Response<pb::RestockProductResponse>, Status> {
        let caller = Caller::of(&RequestContext::from_request(&request))?;
        let r = request.into_inner();
        let product = self.app.restock(&caller, &r.product_id, r.quantity, &r.reference, r.expected_version).await?;
        Ok(Response::new(pb::RestockProductResponse { product: Some(product) }))
    }

    async fn get_product(
        &self,
        request: Request<pb::GetProductRequest>,
    ) -> Result<Response<pb::GetProductResponse>, Status> {
        authenticated(&request)?;
        let product = self.app.get_product(&request.into_inner().product_id).await?;
        Ok(Response::new(pb::GetProductResponse { product: Some(product) }))
    }

    async fn list_products(
        &self,
        request: Request<pb::ListProductsRequest>,
    ) -> Result<Response<pb::ListProductsResponse>, Status> {
        authenticated(&request)?;
        let r = request.into_inner();
        let page = self.app.list_products(PageRequest::parse(r.page_size, &r.page_token)?).await?;
        Ok(Response::new(pb::ListProductsResponse { products: page.items, next_page_token: page.next_token }))
    }

    async fn get_reservation(
        &self,
        request: Request<pb::GetReservationRequest>,
    ) -> Result<Response<pb::GetReservationResponse>, Status> {
        authenticated(&request)?;
        let reservation = self.app.get_reservation(&request.into_inner().order_id).await?;
        Ok(Response::new(pb::GetReservationResponse { reservation: Some(reservation) }))
    }

    async fn list_reservations(
        &self,
        request: Request<pb::ListReservationsRequest>,
    ) -> Result<Response<pb::ListReservationsResponse>, Status> {
        authenticated(&request)?;
        let r = request.into_inner();
        let filter = ReservationFilter::parse(r.status, &r.product_id)?;
        let page = self.app.list_reservations(filter, PageRequest::parse(r.page_size, &r.page_token)?).await?;
        Ok(Response::new(pb::ListReservationsResponse { reservations: page.items, next_page_token: page.next_token }))
    }
}
