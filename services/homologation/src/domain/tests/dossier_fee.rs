//! The fee and the reviewer: invoice, payment, assignment.

use fleuve_proto::common::v1::Money;
use fleuve_proto::homologation::v1 as pb;

use super::*;
use crate::domain::dossier::DossierCommand as C;

pub(super) fn invoice() -> C {
    C::InvoiceFee { invoice_number: "ARPCE-INV-2026-000007".into() }
}

pub(super) fn pay(amount: Money) -> C {
    C::RecordPayment { reference: "BGFI-778812".into(), amount }
}

// ---- fee ----

#[test]
fn an_admin_invoices_the_category_fee() {
    let state = given(&submitted()).when(invoice(), &admin()).then(&[fee_invoiced()]);
    assert_eq!(state.payment_status, pb::PaymentStatus::Invoiced);
}

#[test]
fn the_fee_is_invoiced_once_after_submission_by_an_admin() {
    given(&draft())
        .when(invoice(), &admin())
        .then_err(precondition("cannot invoice the fee of a dossier that is a draft"));
    given(&with(submitted(), [fee_invoiced()]))
        .when(invoice(), &admin())
        .then_err(precondition("fee already invoiced"));
    given(&submitted()).when(invoice(), &reviewer()).then_err(forbidden("only an admin may invoice the fee"));
    given(&submitted())
        .when(C::InvoiceFee { invoice_number: String::new() }, &admin())
        .then_err(invalid("invoice number is required"));
}

#[test]
fn an_admin_records_the_exact_payment() {
    let events = with(under_review(), [fee_invoiced()]);
    let state = given(&events).when(pay(fee()), &admin()).then(&[payment_recorded()]);
    assert_eq!(state.payment_status, pb::PaymentStatus::Paid);
}

#[test]
fn payment_needs_an_open_invoice() {
    given(&submitted()).when(pay(fee()), &admin()).then_err(precondition("no invoice"));
    let paid = with(submitted(), [fee_invoiced(), payment_recorded()]);
    given(&paid).when(pay(fee()), &admin()).then_err(precondition("already paid"));
}

#[test]
fn payment_must_equal_the_invoice() {
    let events = with(submitted(), [fee_invoiced()]);
    let short = Money { currency: "XAF".into(), amount: 200_000 };
    given(&events).when(pay(short), &admin()).then_err(invalid("payment must equal the invoiced 250000 XAF"));
    let euros = Money { currency: "EUR".into(), amount: 250_000 };
    given(&events).when(pay(euros), &admin()).then_err(invalid("payment must equal"));
    given(&events)
        .when(C::RecordPayment { reference: " ".into(), amount: fee() }, &admin())
        .then_err(invalid("payment reference is required"));
    given(&events).when(pay(fee()), &applicant()).then_err(forbidden("only an admin may record a payment"));
}

// ---- reviewer ----

#[test]
fn assigning_a_reviewer_puts_the_dossier_under_review() {
    let state = given(&submitted())
        .when(C::AssignReviewer { reviewer_id: "u-reviewer".into() }, &admin())
        .then(&[reviewer_assigned("u-reviewer")]);
    assert_eq!(state.status, pb::DossierStatus::UnderReview);
    assert_eq!(state.reviewer_id.as_deref(), Some("u-reviewer"));
}

#[test]
fn a_reviewer_may_be_reassigned() {
    given(&under_review())
        .when(C::AssignReviewer { reviewer_id: "u-other-reviewer".into() }, &admin())
        .then(&[reviewer_assigned("u-other-reviewer")]);
}

#[test]
fn assignment_is_refused_on_drafts_incomplete_dossiers_and_for_non_admins() {
    let assign = || C::AssignReviewer { reviewer_id: "u-reviewer".into() };
    given(&draft())
        .when(assign(), &admin())
        .then_err(precondition("cannot assign a reviewer to a dossier that is a draft"));
    given(&with(submitted(), [declared_incomplete(&[])]))
        .when(assign(), &admin())
        .then_err(precondition("that is incomplete"));
    given(&submitted()).when(assign(), &reviewer()).then_err(forbidden("only an admin may assign a reviewer"));
    given(&submitted())
        .when(C::AssignReviewer { reviewer_id: String::new() }, &admin())
        .then_err(invalid("reviewer id is required"));
}
