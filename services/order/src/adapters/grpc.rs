//! The gRPC adapter of `fleuve.order.v1.OrderService`: requests are parsed at this edge,
//! errors leave through `ServiceError` (the one mapping to status codes).

use std::pin::Pin;

use chrono::Utc;
use fleuve_mesh::{RequestContext, ServiceError};
use fleuve_proto::order::v1::{self as pb, order_service_server::OrderService};
use futures::Stream;
use tonic::{Request, Response, Status};

use crate::app::{Caller, ListFilter, NewOrder, Orders, PageRequest};

pub use pb::order_service_server::OrderServiceServer;

/// Longest reason a cancellation may give.
const MAX_REASON_LEN: usize = 500;

#[derive(Debug, Clone)]
pub struct OrderGrpc {
    app: Orders,
}

/// The order service, ready to be added to the mesh's gRPC server.
pub fn server(app: Orders) -> OrderServiceServer<OrderGrpc> {
    OrderServiceServer::new(OrderGrpc { app })
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchOrderResponse, Status>> + Send>>;

#[tonic::async_trait]
impl OrderService for OrderGrpc {
    async fn place_order(
        &self,
        request: Request<pb::PlaceOrderRequest>,
    ) -> Result<Response<pb::PlaceOrderResponse>, Status> {
        let caller = Caller::of(&RequestContext::from_request(&request))?;
        let r = request.into_inner();
        let new = NewOrder {
            idempotency_key: r.idempotency_key,
            customer_id: r.customer_id,
            lines: r.lines,
            currency: r.currency,
            payment_token: r.payment_token,
        };
        let placed = self.app.place_order(&caller, new, Utc::now()).await?;
        Ok(Response::new(pb::PlaceOrderResponse { order: Some(placed.order), created: placed.created }))
    }

    async fn get_order(&self, request: Request<pb::GetOrderRequest>) -> Result<Response<pb::GetOrderResponse>, Status> {
        let caller = Caller::of(&RequestContext::from_request(&request))?;
        let order = self.app.get_order(&caller, request.into_inner().order_id).await?;
        Ok(Response::new(pb::GetOrderResponse { order: Some(order) }))
    }

    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        let caller = Caller::of(&RequestContext::from_request(&request))?;
        let r = request.into_inner();
        let status = pb::OrderStatus::try_from(r.status)
            .map_err(|_| ServiceError::invalid(format!("unknown order status {}", r.status)))?;
        let page = PageRequest::parse(r.page_size, &r.page_token)?;
        let page = self.app.list_orders(&caller, ListFilter { status, customer_id: r.customer_id }, page).await?;
        Ok(Response::new(pb::ListOrdersResponse { orders: page.items, next_page_token: page.next_token }))
    }

    type WatchOrderStream = WatchStream;

    async fn watch_order(
        &self,
        request: Request<pb::WatchOrderRequest>,
    ) -> Result<Response<Self::WatchOrderStream>, Status> {
        let caller = Caller::of(&RequestContext::from_request(&request))?;
        let receiver = self.app.watch_order(&caller, request.into_inner().order_id).await?;
        let stream = tokio_stream::wrappers::ReceiverStream::new(receiver);
        let stream = futures::StreamExt::map(stream, |item| match item {
            Ok(order) => Ok(pb::WatchOrderResponse { order: Some(order) }),
            Err(error) => Err(Status::from(error)),
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn cancel_order(
        &self,
        request: Request<pb::CancelOrderRequest>,
    ) -> Result<Response<pb::CancelOrderResponse>, Status> {
        let caller = Caller::of(&RequestContext::from_request(&request))?;
        let r = request.into_inner();
        if r.reason.chars().count() > MAX_REASON_LEN {
            return Err(ServiceError::invalid(format!("reason must have at most {MAX_REASON_LEN} characters")).into());
        }
        let order = self.app.cancel_order(&caller, r.order_id, r.reason, Utc::now()).await?;
        Ok(Response::new(pb::CancelOrderResponse { order: Some(order) }))
    }
}
