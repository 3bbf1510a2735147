//! The wording of each notification, built from what the projection knows about the dossier or
//! certificate concerned.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{NewNotification, Reminder, kinds};

/// The applicant of a dossier and what the dossier is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DossierParty {
    pub dossier_id: String,
    pub applicant_id: String,
    pub organisation_id: String,
    /// "brand model".
    pub equipment: String,
}

/// A certificate, the applicant of its dossier and the current end of validity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateParty {
    pub certificate_number: String,
    pub dossier_id: String,
    pub applicant_id: String,
    pub organisation_id: String,
    pub equipment: String,
    pub valid_until: DateTime<Utc>,
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn about_dossier(
    source_id: &str,
    kind: &str,
    party: &DossierParty,
    subject: String,
    body: String,
    extra: &[(&str, &str)],
) -> NewNotification {
    let mut references = BTreeMap::from([
        ("dossier_id".to_owned(), party.dossier_id.clone()),
        ("organisation_id".to_owned(), party.organisation_id.clone()),
    ]);
    references.extend(extra.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    NewNotification {
        source_id: source_id.to_owned(),
        kind: kind.to_owned(),
        recipient_id: party.applicant_id.clone(),
        subject,
        body,
        references,
    }
}

fn about_certificate(
    source_id: &str,
    kind: &str,
    c: &CertificateParty,
    subject: String,
    body: String,
) -> NewNotification {
    NewNotification {
        source_id: source_id.to_owned(),
        kind: kind.to_owned(),
        recipient_id: c.applicant_id.clone(),
        subject,
        body,
        references: BTreeMap::from([
            ("certificate_number".to_owned(), c.certificate_number.clone()),
            ("dossier_id".to_owned(), c.dossier_id.clone()),
            ("organisation_id".to_owned(), c.organisation_id.clone()),
        ]),
    }
}

pub fn dossier_incomplete(source_id: &str, party: &DossierParty, reason: &str, missing: &[String]) -> NewNotification {
    let mut body = format!("Your dossier for {} was declared incomplete.", party.equipment);
    if !reason.is_empty() {
        body.push_str(&format!("\nReason: {reason}"));
    }
    if !missing.is_empty() {
        body.push_str(&format!("\nMissing documents: {}", missing.join(", ")));
    }
    body.push_str("\nAttach what is missing and submit the dossier again.");
    let subject = format!("Dossier incomplete: {}", party.equipment);
    about_dossier(source_id, kinds::DOSSIER_INCOMPLETE, party, subject, body, &[])
}

pub fn payment_due(source_id: &str, party: &DossierParty, invoice_number: &str, amount: &str) -> NewNotification {
    let subject = format!("Payment due for {}: invoice {invoice_number}", party.equipment);
    let body = format!(
        "The homologation fee of your dossier for {} was invoiced.\nInvoice: {invoice_number}\nAmount due: {amount}\nThe review goes on once the payment is recorded.",
        party.equipment
    );
    about_dossier(source_id, kinds::PAYMENT_DUE, party, subject, body, &[("invoice_number", invoice_number)])
}

pub fn dossier_approved(
    source_id: &str,
    party: &DossierParty,
    certificate_number: &str,
    valid_until: Option<DateTime<Utc>>,
) -> NewNotification {
    let subject = format!("Dossier approved: {}", party.equipment);
    let mut body = format!("Your dossier for {} was approved.\nCertificate: {certificate_number}", party.equipment);
    if let Some(end) = valid_until {
        body.push_str(&format!("\nValid until: {}", day(end)));
    }
    let extra = [("certificate_number", certificate_number)];
    about_dossier(source_id, kinds::DOSSIER_APPROVED, party, subject, body, &extra)
}

pub fn dossier_rejected(source_id: &str, party: &DossierParty, reasons: &[String]) -> NewNotification {
    let subject = format!("Dossier rejected: {}", party.equipment);
    let mut body = format!("Your dossier for {} was rejected.", party.equipment);
    for reason in reasons {
        body.push_str(&format!("\n- {reason}"));
    }
    about_dossier(source_id, kinds::DOSSIER_REJECTED, party, subject, body, &[])
}

pub fn certificate_expiring(source_id: &str, c: &CertificateParty, reminder: Reminder) -> NewNotification {
    let subject = format!("Certificate {} expires in {} days", c.certificate_number, reminder.days());
    let body = format!(
        "The homologation certificate {} for {} expires on {}.\nApply for its renewal before that date to keep the equipment on the market.",
        c.certificate_number,
        c.equipment,
        day(c.valid_until)
    );
    about_certificate(source_id, reminder.kind(), c, subject, body)
}

pub fn certificate_suspended(source_id: &str, c: &CertificateParty, reason: &str) -> NewNotification {
    let subject = format!("Certificate {} suspended", c.certificate_number);
    let mut body = format!("The homologation certificate {} for {} was suspended.", c.certificate_number, c.equipment);
    if !reason.is_empty() {
        body.push_str(&format!("\nReason: {reason}"));
    }
    about_certificate(source_id, kinds::CERTIFICATE_SUSPENDED, c, subject, body)
}

pub fn certificate_revoked(source_id: &str, c: &CertificateParty, reason: &str) -> NewNotification {
    let subject = format!("Certificate {} revoked", c.certificate_number);
    let mut body = format!("The homologation certificate {} for {} was revoked.", c.certificate_number, c.equipment);
    if !reason.is_empty() {
        body.push_str(&format!("\nReason: {reason}"));
    }
    about_certificate(source_id, kinds::CERTIFICATE_REVOKED, c, subject, body)
}

fn about_order(
    source_id: &str,
    kind: &str,
    customer_id: &str,
    order_id: &str,
    subject: String,
    body: String,
) -> NewNotification {
    NewNotification {
        source_id: source_id.to_owned(),
        kind: kind.to_owned(),
        recipient_id: customer_id.to_owned(),
        subject,
        body,
        references: BTreeMap::from([("order_id".to_owned(), order_id.to_owned())]),
    }
}

/// The order went through: stock reserved and payment taken.
pub fn order_confirmed(
    source_id: &str,
    customer_id: &str,
    order_id: &str,
    total: &str,
    charge_id: &str,
) -> NewNotification {
    let mut body = format!("Your order {order_id} is confirmed");
    if !total.is_empty() {
        body.push_str(&format!(": {total} were charged"));
    }
    if !charge_id.is_empty() {
        body.push_str(&format!(" (charge {charge_id})"));
    }
    body.push('.');
    about_order(source_id, kinds::ORDER_CONFIRMED, customer_id, order_id, format!("Order {order_id} confirmed"), body)
}

/// The order failed or was cancelled, with the reason the saga recorded.
pub fn order_failed(
    source_id: &str,
    customer_id: &str,
    order_id: &str,
    cancelled: bool,
    reason: &str,
) -> NewNotification {
    let (subject, mut body) = if cancelled {
        (format!("Order {order_id} cancelled"), format!("Your order {order_id} was cancelled."))
    } else {
        (format!("Order {order_id} failed"), format!("Your order {order_id} could not be completed."))
    };
    if !reason.is_empty() {
        body.push_str(&format!(" Reason: {reason}."));
    }
    body.push_str(" Nothing was charged and the reserved stock was released.");
    about_order(source_id, kinds::ORDER_FAILED, customer_id, order_id, subject, body)
}
