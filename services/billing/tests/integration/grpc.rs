//! The gRPC adapter: who may call what, what a customer sees of others, pagination through
//! page tokens, and what a malformed request gets.

use fleuve_billing::BillingGrpc;
use fleuve_mesh::Principal;
use fleuve_proto::billing::v1::{self as pb, billing_service_server::BillingService};
use tonic::{Code, Request};

use crate::support::*;

on_both_backends!(commands_are_for_staff_only, customers_see_their_own_only, listings_are_paginated_by_tokens);

fn request<T>(caller: Option<Principal>, message: T) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(principal) = caller {
        request.extensions_mut().insert(principal);
    }
    request
}

async fn service(h: &Harness) -> anyhow::Result<BillingGrpc> {
    let grpc = BillingGrpc::new(h.app.clone());
    for (customer_id, balance) in [("c-1", 10_000), ("c-2", 10_000)] {
        let open = pb::OpenAccountRequest {
            customer_id: customer_id.into(),
            currency: "XAF".into(),
            credit_limit: 0,
            opening_balance: balance,
        };
        grpc.open_account(request(Some(staff()), open)).await?;
    }
    for (order_id, customer_id) in [("o-1", "c-1"), ("o-2", "c-1"), ("o-3", "c-2"), ("o-4", "c-1"), ("o-5", "c-1")] {
        h.deliver(&request_event(&payment_request(order_id, customer_id, 1_000, "tok_visa"))).await?;
    }
    Ok(grpc)
}

async fn commands_are_for_staff_only(h: Harness) -> anyhow::Result<()> {
    let grpc = service(&h).await?;
    let open = || pb::OpenAccountRequest { customer_id: "c-9".into(), currency: "XAF".into(), ..Default::default() };
    let credit = |amount| pb::CreditAccountRequest { customer_id: "c-1".into(), amount, reference: "r".into() };
    let refund =
        |amount| pb::RefundRequest { order_id: "o-1".into(), amount, reason: "".into(), refund_id: "r-1".into() };
    for caller in [None, Some(customer("c-1"))] {
        let code = if caller.is_none() { Code::Unauthenticated } else { Code::PermissionDenied };
        let results = [
            grpc.open_account(request(caller.clone(), open())).await.map(|_| ()),
            grpc.credit_account(request(caller.clone(), credit(Some(xaf(5))))).await.map(|_| ()),
            grpc.set_credit_limit(request(caller.clone(), pb::SetCreditLimitRequest::default())).await.map(|_| ()),
            grpc.refund(request(caller.clone(), refund(Some(xaf(5))))).await.map(|_| ()),
        ];
        for result in results {
            assert_eq!(result.unwrap_err().code(), code);
        }
    }
    let missing = grpc.credit_account(request(Some(staff()), credit(None))).await.unwrap_err();
    assert_eq!((missing.code(), missing.message()), (Code::InvalidArgument, "amount is missing"));
    let missing = grpc.refund(request(Some(staff()), refund(None))).await.unwrap_err();
    assert_eq!((missing.code(), missing.message()), (Code::InvalidArgument, "amount is missing"));

    let credited = grpc.credit_account(request(Some(staff()), credit(Some(xaf(5))))).await?.into_inner();
    assert_eq!(credited.account.unwrap().balance, 10_000 - 4_000 + 5);
    let refunded = grpc.refund(request(Some(staff()), refund(Some(xaf(5))))).await?.into_inner();
    assert_eq!(refunded.charge.unwrap().refunded, 5);
    let again = grpc
        .open_account(request(
            Some(staff()),
            pb::OpenAccountRequest { customer_id: "c-1".into(), currency: "XAF".into(), ..Default::default() },
        ))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    Ok(())
}

async fn customers_see_their_own_only(h: Harness) -> anyhow::Result<()> {
    let grpc = service(&h).await?;
    let get_account =
        |caller, id: &str| grpc.get_account(request(Some(caller), pb::GetAccountRequest { customer_id: id.into() }));
    assert_eq!(get_account(customer("c-1"), "c-1").await?.into_inner().account.unwrap().balance, 6_000);
    assert_eq!(get_account(staff(), "c-2").await?.into_inner().account.unwrap().balance, 9_000);
    assert_eq!(get_account(customer("c-1"), "c-2").await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(get_account(staff(), "c-9").await.unwrap_err().code(), Code::NotFound);
    assert_eq!(get_account(staff(), "").await.unwrap_err().code(), Code::InvalidArgument);
    let anonymous = grpc.get_account(request(None, pb::GetAccountRequest { customer_id: "c-1".into() })).await;
    assert_eq!(anonymous.unwrap_err().code(), Code::Unauthenticated);

    let get_charge =
        |caller, id: &str| grpc.get_charge(request(Some(caller), pb::GetChargeRequest { order_id: id.into() }));
    let own = get_charge(customer("c-2"), "o-3").await?.into_inner().charge.unwrap();
    assert_eq!((own.charge_id.as_str(), own.status()), ("ch-o-3", pb::ChargeStatus::Approved));
    let other = get_charge(customer("c-2"), "o-1").await.unwrap_err();
    assert_eq!((other.code(), other.message()), (Code::NotFound, "no charge for order o-1"));
    assert_eq!(get_charge(staff(), "o-9").await.unwrap_err().code(), Code::NotFound);

    // A customer's listing is its own, whether it names itself or nobody; naming another is refused.
    for customer_id in ["", "c-2"] {
        let list = pb::ListChargesRequest { customer_id: customer_id.into(), ..Default::default() };
        let charges = grpc.list_charges(request(Some(customer("c-2")), list)).await?.into_inner().charges;
        let orders: Vec<String> = charges.into_iter().map(|c| c.order_id).collect();
        assert_eq!(orders, ["o-3"]);
    }
    let list = pb::ListChargesRequest { customer_id: "c-1".into(), ..Default::default() };
    assert_eq!(
        grpc.list_charges(request(Some(customer("c-2")), list)).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let list = pb::ListRefundsRequest { customer_id: "c-1".into(), ..Default::default() };
    assert_eq!(
        grpc.list_refunds(request(Some(customer("c-2")), list)).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    Ok(())
}

async fn listings_are_paginated_by_tokens(h: Harness) -> anyhow::Result<()> {
    let grpc = service(&h).await?;
    let list = |customer_id: &str, page_token: String| pb::ListChargesRequest {
        customer_id: customer_id.into(),
        status: 0,
        page_size: 3,
        page_token,
    };
    let first = grpc.list_charges(request(Some(staff()), list("", String::new()))).await?.into_inner();
    let orders: Vec<&str> = first.charges.iter().map(|c| c.order_id.as_str()).collect();
    assert_eq!(orders, ["o-5", "o-4", "o-3"]);
    assert!(!first.next_page_token.is_empty());
    let second = grpc.list_charges(request(Some(staff()), list("", first.next_page_token.clone()))).await?.into_inner();
    let orders: Vec<&str> = second.charges.iter().map(|c| c.order_id.as_str()).collect();
    assert_eq!(orders, ["o-2", "o-1"]);
    assert!(second.next_page_token.is_empty());

    let mine = grpc.list_charges(request(Some(customer("c-1")), list("", String::new()))).await?.into_inner();
    let orders: Vec<&str> = mine.charges.iter().map(|c| c.order_id.as_str()).collect();
    assert_eq!(orders, ["o-5", "o-4", "o-2"]);
    let rest = grpc.list_charges(request(Some(customer("c-1")), list("", mine.next_page_token))).await?.into_inner();
    assert_eq!(rest.charges.iter().map(|c| c.order_id.as_str()).collect::<Vec<_>>(), ["o-1"]);

    for token in ["garbage", "Y2hhcmdlczox=", &first.next_page_token[1..]] {
        let bad = grpc.list_charges(request(Some(staff()), list("", token.to_owned()))).await.unwrap_err();
        assert_eq!(bad.code(), Code::InvalidArgument, "{token}");
    }
    let refunds_token = pb::ListRefundsRequest { page_token: first.next_page_token.clone(), ..Default::default() };
    let bad = grpc.list_refunds(request(Some(staff()), refunds_token)).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "a charges token does not page refunds");
    let bad_status = pb::ListChargesRequest { status: 99, ..Default::default() };
    let bad = grpc.list_charges(request(Some(staff()), bad_status)).await.unwrap_err();
    assert_eq!((bad.code(), bad.message()), (Code::InvalidArgument, "status 99 is not a charge status"));
    let negative = pb::ListChargesRequest { page_size: -1, ..Default::default() };
    assert_eq!(grpc.list_charges(request(Some(staff()), negative)).await.unwrap_err().code(), Code::InvalidArgument);

    let approved = pb::ListChargesRequest { status: pb::ChargeStatus::Approved as i32, ..Default::default() };
    assert_eq!(grpc.list_charges(request(Some(staff()), approved)).await?.into_inner().charges.len(), 5);
    let declined = pb::ListChargesRequest { status: pb::ChargeStatus::Declined as i32, ..Default::default() };
    assert!(grpc.list_charges(request(Some(staff()), declined)).await?.into_inner().charges.is_empty());
    Ok(())
}
