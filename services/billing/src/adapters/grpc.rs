//! The gRPC adapter of `fleuve.billing.v1.BillingService`: requests are parsed at this edge,
//! errors leave through `ServiceError` (the one mapping to status codes).

use fleuve_mesh::{Principal, RequestContext, ServiceError};
use fleuve_proto::billing::v1::{self as pb, billing_service_server::BillingService};
use fleuve_proto::common::v1::Money;
use tonic::{Request, Response, Status};

use crate::app::{Billing, Caller, Listing, PageRequest};

pub use pb::billing_service_server::BillingServiceServer;

#[derive(Debug, Clone)]
pub struct BillingGrpc {
    app: Billing,
}

impl BillingGrpc {
    pub fn new(app: Billing) -> BillingGrpc {
        BillingGrpc { app }
    }
}

/// The billing service, ready to be added to the mesh's gRPC server.
pub fn server(app: Billing) -> BillingServiceServer<BillingGrpc> {
    BillingServiceServer::new(BillingGrpc::new(app))
}

/// Splits a command request into its context (caller, correlation, trace) and message.
fn command<T>(request: Request<T>) -> Result<(Caller, T), Status> {
    let cx = Caller::of(&RequestContext::from_request(&request))?;
    Ok((cx, request.into_inner()))
}

/// Splits a query request into its caller and message.
fn query<T>(request: Request<T>) -> Result<(Principal, T), Status> {
    let principal = RequestContext::from_request(&request).principal()?.clone();
    Ok((principal, request.into_inner()))
}

fn amount(amount: Option<Money>) -> Result<Money, ServiceError> {
    amount.ok_or_else(|| ServiceError::invalid("amount is missing"))
}

fn charge_status(value: i32) -> Result<pb::ChargeStatus, ServiceError> {
    pb::ChargeStatus::try_from(value)
        .map_err(|_| ServiceError::invalid(format!("status {value} is not a charge status")))
}

#[tonic::async_trait]
impl BillingService for BillingGrpc {
    async fn open_account(
        &self,
        request: Request<pb::OpenAccountRequest>,
    ) -> Result<Response<pb::OpenAccountResponse>, Status> {
        let (cx, r) = command(request)?;
        let account =
            self.app.open_account(&cx, &r.customer_id, &r.currency, r.opening_balance, r.credit_limit).await?;
        Ok(Response::new(pb::OpenAccountResponse { account: Some(account) }))
    }

    async fn credit_account(
        &self,
        request: Request<pb::CreditAccountRequest>,
    ) -> Result<Response<pb::CreditAccountResponse>, Status> {
        let (cx, r) = command(request)?;
        let account = self.app.credit_account(&cx, &r.customer_id, amount(r.amount)?, &r.reference).await?;
        Ok(Response::new(pb::CreditAccountResponse { account: Some(account) }))
    }

    async fn set_credit_limit(
        &self,
        request: Request<pb::SetCreditLimitRequest>,
    ) -> Result<Response<pb::SetCreditLimitResponse>, Status> {
        let (cx, r) = command(request)?;
        let account = self.app.set_credit_limit(&cx, &r.customer_id, r.credit_limit).await?;
        Ok(Response::new(pb::SetCreditLimitResponse { account: Some(account) }))
    }

    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::GetAccountResponse>, Status> {
        let (caller, r) = query(request)?;
        let account = self.app.get_account(&caller, &r.customer_id).await?;
        Ok(Response::new(pb::GetAccountResponse { account: Some(account) }))
    }

    async fn get_charge(
        &self,
        request: Request<pb::GetChargeRequest>,
    ) -> Result<Response<pb::GetChargeResponse>, Status> {
        let (caller, r) = query(request)?;
        let charge = self.app.get_charge(&caller, &r.order_id).await?;
        Ok(Response::new(pb::GetChargeResponse { charge: Some(charge) }))
    }

    async fn list_charges(
        &self,
        request: Request<pb::ListChargesRequest>,
    ) -> Result<Response<pb::ListChargesResponse>, Status> {
        let (caller, r) = query(request)?;
        let page = PageRequest::parse(Listing::Charges, r.page_size, &r.page_token)?;
        let page = self.app.list_charges(&caller, &r.customer_id, charge_status(r.status)?, page).await?;
        Ok(Response::new(pb::ListChargesResponse { charges: page.items, next_page_token: page.next_token }))
    }

    async fn list_refunds(
        &self,
        request: Request<pb::ListRefundsRequest>,
    ) -> Result<Response<pb::ListRefundsResponse>, Status> {
        let (caller, r) = query(request)?;
        let page = PageRequest::parse(Listing::Refunds, r.page_size, &r.page_token)?;
        let page = self.app.list_refunds(&caller, &r.customer_id, page).await?;
        Ok(Response::new(pb::ListRefundsResponse { refunds: page.items, next_page_token: page.next_token }))
    }

    async fn refund(&self, request: Request<pb::RefundRequest>) -> Result<Response<pb::RefundResponse>, Status> {
        let (cx, r) = command(request)?;
        let charge = self.app.refund(&cx, &r.order_id, &r.refund_id, amount(r.amount)?, &r.reason).await?;
        Ok(Response::new(pb::RefundResponse { charge: Some(charge) }))
    }
}
