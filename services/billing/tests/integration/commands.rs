//! Staff commands through the application layer, and the read models checked against the
//! streams they are written beside.

use fleuve_billing::app::{Listing, account_to_pb, charge_to_pb};
use fleuve_billing::{AppError, PageRequest};
use fleuve_proto::billing::v1 as pb;
use fleuve_proto::common::v1::Money;
use tonic::Code;

use crate::support::*;

on_both_backends!(
    open_credit_limit_and_refund,
    refusals_map_to_their_codes,
    the_read_models_equal_the_replayed_aggregates,
);

#[track_caller]
fn refused<T: std::fmt::Debug>(result: Result<T, AppError>, code: Code, message: &str) {
    let status = tonic::Status::from(result.expect_err("refused"));
    assert_eq!((status.code(), status.message()), (code, message));
}

async fn open_credit_limit_and_refund(h: Harness) -> anyhow::Result<()> {
    let cx = admin();
    let opened = h.app.open_account(&cx, " c-1 ", "XAF", 10_000, 0).await?;
    assert_eq!(
        (opened.customer_id.as_str(), opened.currency.as_str(), opened.balance, opened.available, opened.version),
        ("c-1", "XAF", 10_000, 10_000, 1)
    );
    let credited = h.app.credit_account(&cx, "c-1", xaf(2_500), "transfer 42").await?;
    assert_eq!((credited.balance, credited.version), (12_500, 2));
    let limited = h.app.set_credit_limit(&cx, "c-1", 1_000).await?;
    assert_eq!((limited.credit_limit, limited.available, limited.version), (1_000, 13_500, 3));
    let unchanged = h.app.set_credit_limit(&cx, "c-1", 1_000).await?;
    assert_eq!(unchanged.version, 3, "the same limit again appends nothing");

    h.deliver(&request_event(&payment_request("o-1", "c-1", 5_000, "tok_visa"))).await?;
    assert_eq!(h.balance("c-1").await?, 7_500);

    let charge = h.app.refund(&cx, "o-1", "r-1", xaf(2_000), "damaged parcel").await?;
    assert_eq!((charge.status(), charge.refunded, charge.refunds.len()), (pb::ChargeStatus::Approved, 2_000, 1));
    assert_eq!(charge.refunds[0].reason, "damaged parcel");
    let again = h.app.refund(&cx, "o-1", "r-1", xaf(2_000), "damaged parcel").await?;
    assert_eq!(again, charge, "the same refund id refunds nothing more");
    assert_eq!(h.balance("c-1").await?, 9_500);
    let rest = h.app.refund(&cx, "o-1", "r-2", xaf(3_000), "returned").await?;
    assert_eq!((rest.status(), rest.refunded), (pb::ChargeStatus::Refunded, 5_000));
    refused(
        h.app.refund(&cx, "o-1", "r-3", xaf(1), "").await,
        Code::FailedPrecondition,
        "charge is already refunded in full",
    );
    assert_eq!(h.balance("c-1").await?, 12_500);

    // A staff refund writes both streams like the saga's, under the caller's correlation id.
    let charge_stream = h.stream("charge", "o-1").await?;
    let types: Vec<&str> = charge_stream.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["ChargeApproved", "ChargeRefunded", "ChargeRefunded"]);
    assert_eq!((charge_stream[1].actor.as_str(), charge_stream[1].correlation_id.as_str()), ("admin-1", "corr-staff"));
    let account_stream = h.stream("account", "c-1").await?;
    let types: Vec<&str> = account_stream.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "AccountOpened",
            "AccountCredited",
            "CreditLimitChanged",
            "AccountCharged",
            "AccountRefunded",
            "AccountRefunded"
        ]
    );
    assert_eq!(account_stream[0].actor, "admin-1");

    let refunds = h.app.list_refunds(&staff(), "", PageRequest::first(Listing::Refunds)).await?;
    let ids: Vec<&str> = refunds.items.iter().map(|r| r.refund_id.as_str()).collect();
    assert_eq!(ids, ["r-2", "r-1"], "newest first");
    Ok(())
}

async fn refusals_map_to_their_codes(h: Harness) -> anyhow::Result<()> {
    let cx = admin();
    h.open("c-1", 10_000, 0).await?;
    refused(
        h.app.open_account(&cx, "c-1", "XAF", 0, 0).await,
        Code::FailedPrecondition,
        "account of c-1 is already open",
    );
    refused(
        h.app.open_account(&cx, "c-2", "xaf", 0, 0).await,
        Code::InvalidArgument,
        "currency \"xaf\" is not an ISO 4217 code",
    );
    refused(
        h.app.open_account(&cx, "c-2", "XAF", -1, 0).await,
        Code::InvalidArgument,
        "credit limit and opening balance cannot be negative",
    );
    refused(h.app.open_account(&cx, "  ", "XAF", 0, 0).await, Code::InvalidArgument, "customer id is missing");
    refused(h.app.credit_account(&cx, "c-9", xaf(1), "").await, Code::NotFound, "no account for customer c-9");
    refused(
        h.app.credit_account(&cx, "c-1", Money { currency: "EUR".into(), amount: 1 }, "").await,
        Code::InvalidArgument,
        "amount is in EUR, the account is in XAF",
    );
    refused(h.app.credit_account(&cx, "c-1", xaf(0), "").await, Code::InvalidArgument, "amount must be positive");
    refused(h.app.set_credit_limit(&cx, "c-1", -5).await, Code::InvalidArgument, "credit limit cannot be negative");
    refused(h.app.refund(&cx, "o-9", "r-1", xaf(1), "").await, Code::NotFound, "no charge for order o-9");

    // Staff only.
    let customer_cx = fleuve_billing::Caller { principal: customer("c-1"), ..admin() };
    let denied = "this action needs the role admin (caller is applicant)";
    refused(h.app.open_account(&customer_cx, "c-3", "XAF", 0, 0).await, Code::PermissionDenied, denied);
    refused(h.app.credit_account(&customer_cx, "c-1", xaf(1), "").await, Code::PermissionDenied, denied);
    refused(h.app.set_credit_limit(&customer_cx, "c-1", 9).await, Code::PermissionDenied, denied);
    refused(h.app.refund(&customer_cx, "o-1", "r-1", xaf(1), "").await, Code::PermissionDenied, denied);

    // Refusals of a refund, and a refund id already used for another order.
    h.deliver(&request_event(&payment_request("o-1", "c-1", 1_000, "tok_visa"))).await?;
    h.deliver(&request_event(&payment_request("o-2", "c-1", 1_000, "tok_visa"))).await?;
    h.deliver(&request_event(&payment_request("o-3", "c-1", 1_000, "tok_flagged"))).await?;
    refused(
        h.app.refund(&cx, "o-1", "r-1", xaf(1_001), "").await,
        Code::FailedPrecondition,
        "refund of 1001 exceeds the 1000 left to refund",
    );
    refused(
        h.app.refund(&cx, "o-3", "r-1", xaf(1), "").await,
        Code::FailedPrecondition,
        "only an approved charge can be refunded",
    );
    refused(h.app.refund(&cx, "o-1", " ", xaf(1), "").await, Code::InvalidArgument, "refund id is missing");
    h.app.refund(&cx, "o-1", "r-1", xaf(100), "").await?;
    refused(
        h.app.refund(&cx, "o-1", "r-1", xaf(200), "").await,
        Code::FailedPrecondition,
        "refund r-1 was for 100, not 200",
    );
    refused(
        h.app.refund(&cx, "o-2", "r-1", xaf(100), "").await,
        Code::FailedPrecondition,
        "refund id r-1 is already used for order o-1",
    );
    assert_eq!(h.balance("c-1").await?, 8_100);
    assert_eq!(h.charge_events("o-2").await?.len(), 1, "the refused refund appended nothing");
    Ok(())
}

async fn the_read_models_equal_the_replayed_aggregates(h: Harness) -> anyhow::Result<()> {
    let cx = admin();
    h.open("c-1", 5_000, 1_000).await?;
    h.open("c-2", 300, 0).await?;
    h.app.credit_account(&cx, "c-2", xaf(700), "top-up").await?;
    let requests = [
        ("o-1", "c-1", 2_000, "tok_visa"),
        ("o-2", "c-1", 9_000, "tok_visa"),
        ("o-3", "c-2", 500, "tok_timeout"),
        ("o-4", "c-2", 800, "tok_visa"),
        ("o-5", "c-1", 100, "tok_flagged"),
        ("o-6", "c-404", 100, "tok_visa"),
        ("o-7", "c-1", 1_500, "tok_visa"),
    ];
    for (order_id, customer_id, amount, token) in requests {
        h.deliver(&request_event(&payment_request(order_id, customer_id, amount, token))).await?;
    }
    h.app.refund(&cx, "o-1", "r-1", xaf(500), "partial").await?;
    h.deliver(&refund_event(&saga_refund("o-4", "c-2", 800))).await?;
    h.app.set_credit_limit(&cx, "c-2", 250).await?;

    for customer_id in ["c-1", "c-2"] {
        let read = h.app.get_account(&staff(), customer_id).await?;
        assert_eq!(read, account_to_pb(&h.replayed_account(customer_id).await?), "{customer_id}");
    }
    let mut expected = Vec::new();
    for (order_id, ..) in requests {
        let read = h.charge(order_id).await?;
        let replayed = charge_to_pb(&h.replayed_charge(order_id).await?);
        assert_eq!(read, replayed, "{order_id}");
        expected.push(replayed);
    }
    let statuses: Vec<pb::ChargeStatus> = expected.iter().map(|c| c.status()).collect();
    use pb::ChargeStatus::{Approved, Declined, Refunded, TimedOut};
    assert_eq!(statuses, [Approved, Declined, TimedOut, Refunded, Declined, Declined, Approved]);

    // Listed page by page (2 at a time), newest first, every charge exactly once.
    let mut listed = Vec::new();
    let mut token = String::new();
    loop {
        let page = PageRequest::parse(Listing::Charges, 2, &token)?;
        let page = h.app.list_charges(&staff(), "", pb::ChargeStatus::Unspecified, page).await?;
        assert!(page.items.len() <= 2);
        listed.extend(page.items);
        if page.next_token.is_empty() {
            break;
        }
        token = page.next_token;
    }
    expected.reverse();
    assert_eq!(listed, expected);

    let page = PageRequest::first(Listing::Charges);
    let declined = h.app.list_charges(&staff(), "c-1", Declined, page).await?;
    let orders: Vec<&str> = declined.items.iter().map(|c| c.order_id.as_str()).collect();
    assert_eq!(orders, ["o-5", "o-2"]);
    Ok(())
}
