//! The homologation fee: invoiced once by the regulator, paid once by the applicant.

use chrono::{DateTime, Utc};
use fleuve_proto::common::v1 as common;
use fleuve_proto::homologation::v1 as pb;
use pb::DossierStatus;
use pb::dossier_event::Event;

use super::{Dossier, require_admin};
use crate::domain::{Actor, DomainError, fees, values};

impl Dossier {
    pub(super) fn invoice_fee(
        &self,
        invoice_number: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Event, DomainError> {
        require_admin(actor, "invoice the fee")?;
        // The fee is due once the regulator holds the dossier, not on a draft that may never
        // be submitted.
        self.require_status(
            &[DossierStatus::Submitted, DossierStatus::Incomplete, DossierStatus::UnderReview],
            "invoice the fee of",
        )?;
        if self.payment_status != pb::PaymentStatus::NotInvoiced {
            return Err(DomainError::Precondition("fee already invoiced".into()));
        }
        let invoice_number = values::text("invoice number", invoice_number, 100)?;
        Ok(Event::FeeInvoiced(pb::FeeInvoiced {
            invoice: Some(pb::Invoice {
                invoice_number,
                amount: Some(fees::fee_for(self.category())),
                issued_at: Some(values::timestamp(now)),
            }),
        }))
    }

    pub(super) fn record_payment(
        &self,
        reference: &str,
        amount: common::Money,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Event, DomainError> {
        require_admin(actor, "record a payment")?;
        let invoiced = match (self.payment_status, &self.invoice) {
            (pb::PaymentStatus::Invoiced, Some(invoice)) => invoice.amount.clone().unwrap_or_default(),
            (pb::PaymentStatus::Paid, _) => {
                return Err(DomainError::Precondition("fee already paid".into()));
            }
            _ => return Err(DomainError::Precondition("no invoice to pay".into())),
        };
        let reference = values::text("payment reference", reference, 100)?;
        let amount = common::Money { currency: amount.currency.trim().to_ascii_uppercase(), amount: amount.amount };
        // Partial or excess payments are settled outside the system, never recorded as paid.
        if amount != invoiced {
            return Err(DomainError::Invalid(format!(
                "payment must equal the invoiced {} {}",
                invoiced.amount, invoiced.currency
            )));
        }
        Ok(Event::PaymentRecorded(pb::PaymentRecorded {
            payment: Some(pb::Payment { reference, amount: Some(amount), paid_at: Some(values::timestamp(now)) }),
        }))
    }
}
