//! `NotificationProjection`: homologation events in, notification rows (and reminders) out,
//! written in the consumer runtime's transaction so each event notifies once.

use fleuve_handler::HookFuture;
use fleuve_handler::{ConsumedEvent, HandlerError, Projection, TopicSchema};
use fleuve_proto::homologation::v1::{self as pb, certificate_event, dossier_event};
use fleuve_proto::order::v1 as order;
use fleuve_store::DbConnection;

use super::{Hub, parties, reminders, store};
use crate::domain::messages::{self, CertificateParty, DossierParty};
use crate::domain::{Channel, NewNotification};
use crate::time;

/// The topics of the homologation context this projection consumes.
pub use fleuve_proto::topics::{CERTIFICATE as CERTIFICATE_TOPIC, DOSSIER as DOSSIER_TOPIC};
const DOSSIER_MESSAGE: &str = "fleuve.homologation.v1.DossierEvent";
const CERTIFICATE_MESSAGE: &str = "fleuve.homologation.v1.CertificateEvent";
const EVENTS_FILE: &str = "fleuve/homologation/v1/events.proto";
/// The order saga's outcomes (commerce context), addressed to the customer.
pub use fleuve_proto::topics::{ORDER_CONFIRMED as ORDER_CONFIRMED_TOPIC, ORDER_FAILED as ORDER_FAILED_TOPIC};
const ORDER_CONFIRMED_MESSAGE: &str = "fleuve.order.v1.OrderConfirmed";
const ORDER_FAILED_MESSAGE: &str = "fleuve.order.v1.OrderFailed";
const ORDER_SAGA_FILE: &str = "fleuve/order/v1/saga.proto";
/// The event types that create a notification: only these wake watchers and the worker (the
/// others would cost every watcher a query for nothing; a missed wake-up is caught by polling).
const NOTIFYING: [&str; 8] = [
    "OrderConfirmed",
    "OrderFailed",
    "DossierDeclaredIncomplete",
    "FeeInvoiced",
    "DossierApproved",
    "DossierRejected",
    "CertificateSuspended",
    "CertificateRevoked",
];

/// Turns dossier and certificate events into notifications for the applicant: dossier declared
/// incomplete, fee invoiced (payment due), approved or rejected (decision), certificate
/// suspended or revoked; schedules the expiry reminders when a certificate is issued or renewed
/// and cancels them when it is revoked or expires.
#[derive(Debug, Clone)]
pub struct NotificationProjection {
    channels: Vec<Channel>,
    hub: Hub,
}

impl NotificationProjection {
    pub(crate) fn new(channels: Vec<Channel>, hub: Hub) -> NotificationProjection {
        NotificationProjection { channels, hub }
    }

    fn notify(&self, conn: &mut DbConnection, event: &ConsumedEvent, new: NewNotification) -> Result<(), HandlerError> {
        store::record(conn, &new, &self.channels, event.recorded_at)?;
        Ok(())
    }

    fn dossier(&self, conn: &mut DbConnection, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let decoded: pb::DossierEvent = event.decode()?;
        let Some(body) = decoded.event else {
            return Err(HandlerError::Permanent(format!("dossier event {} has no case", event.event_id)));
        };
        let source = event.event_id.as_str();
        match body {
            dossier_event::Event::Created(created) => {
                let equipment = created.equipment.as_ref().map(describe).unwrap_or_default();
                let party = DossierParty {
                    dossier_id: created.dossier_id,
                    applicant_id: created.applicant_id,
                    organisation_id: created.organisation_id,
                    equipment,
                };
                parties::record_dossier(conn, &party)?;
            }
            dossier_event::Event::DeclaredIncomplete(incomplete) => {
                let party = dossier_party(conn, event)?;
                let missing: Vec<String> = incomplete.missing_documents.iter().map(|k| document_kind(*k)).collect();
                self.notify(conn, event, messages::dossier_incomplete(source, &party, &incomplete.reason, &missing))?;
            }
            dossier_event::Event::FeeInvoiced(invoiced) => {
                let party = dossier_party(conn, event)?;
                let invoice = invoiced.invoice.unwrap_or_default();
                let amount = invoice.amount.map(|m| format!("{} {}", m.amount, m.currency)).unwrap_or_default();
                self.notify(conn, event, messages::payment_due(source, &party, &invoice.invoice_number, &amount))?;
            }
            dossier_event::Event::Approved(approved) => {
                let party = dossier_party(conn, event)?;
                let valid_until = approved.valid_until.as_ref().and_then(time::from_proto);
                let new = messages::dossier_approved(source, &party, &approved.certificate_number, valid_until);
                self.notify(conn, event, new)?;
            }
            dossier_event::Event::Rejected(rejected) => {
                let party = dossier_party(conn, event)?;
                self.notify(conn, event, messages::dossier_rejected(source, &party, &rejected.reasons))?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The customer learns how the order's saga ended.
    fn order(&self, conn: &mut DbConnection, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let source = event.event_id.as_str();
        let new = if event.message == ORDER_CONFIRMED_MESSAGE {
            let confirmed: order::OrderConfirmed = event.decode()?;
            let total = confirmed.total.map(|m| format!("{} {}", m.amount, m.currency)).unwrap_or_default();
            messages::order_confirmed(source, &confirmed.customer_id, &confirmed.order_id, &total, &confirmed.charge_id)
        } else {
            let failed: order::OrderFailed = event.decode()?;
            let failure = failed.failure.unwrap_or_default();
            let cancelled = failure.code() == order::FailureCode::Cancelled;
            messages::order_failed(source, &failed.customer_id, &failed.order_id, cancelled, &failure.reason)
        };
        if new.recipient_id.is_empty() {
            return Err(HandlerError::Permanent(format!("{} {} names no customer", event.event_type, event.event_id)));
        }
        self.notify(conn, event, new)
    }

    fn certificate(&self, conn: &mut DbConnection, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let decoded: pb::CertificateEvent = event.decode()?;
        let Some(body) = decoded.event else {
            return Err(HandlerError::Permanent(format!("certificate event {} has no case", event.event_id)));
        };
        let source = event.event_id.as_str();
        let number = event.aggregate_id.as_str();
        match body {
            certificate_event::Event::Issued(issued) => {
                let valid_until = required_time(event, "valid_until", issued.valid_until.as_ref())?;
                let Some(dossier) = parties::find_dossier(conn, &issued.dossier_id)? else {
                    // The dossier topic lags behind; retried until DossierCreated is applied.
                    return Err(HandlerError::Transient(format!(
                        "certificate {number}: dossier {} not known yet",
                        issued.dossier_id
                    )));
                };
                let equipment = issued.equipment.as_ref().map(describe).unwrap_or(dossier.equipment);
                let party = CertificateParty {
                    certificate_number: number.to_owned(),
                    dossier_id: issued.dossier_id,
                    applicant_id: dossier.applicant_id,
                    organisation_id: issued.organisation_id,
                    equipment,
                    valid_until,
                };
                parties::record_certificate(conn, &party)?;
                reminders::schedule(conn, number, valid_until)?;
            }
            certificate_event::Event::Renewed(renewed) => {
                let valid_until = required_time(event, "valid_until", renewed.valid_until.as_ref())?;
                certificate_party(conn, event)?;
                parties::set_valid_until(conn, number, valid_until)?;
                reminders::cancel_open(conn, number, Some(valid_until), event.recorded_at)?;
                reminders::schedule(conn, number, valid_until)?;
            }
            certificate_event::Event::Suspended(suspended) => {
                let party = certificate_party(conn, event)?;
                self.notify(conn, event, messages::certificate_suspended(source, &party, &suspended.reason))?;
            }
            certificate_event::Event::Revoked(revoked) => {
                let party = certificate_party(conn, event)?;
                reminders::cancel_open(conn, number, None, event.recorded_at)?;
                self.notify(conn, event, messages::certificate_revoked(source, &party, &revoked.reason))?;
            }
            certificate_event::Event::Expired(_) => {
                certificate_party(conn, event)?;
                reminders::cancel_open(conn, number, None, event.recorded_at)?;
            }
            certificate_event::Event::Reinstated(_) => {}
        }
        Ok(())
    }
}

impl Projection for NotificationProjection {
    fn name(&self) -> &str {
        crate::NAME
    }

    fn topics(&self) -> Vec<TopicSchema> {
        vec![
            TopicSchema::new(DOSSIER_TOPIC, DOSSIER_MESSAGE, EVENTS_FILE),
            TopicSchema::new(CERTIFICATE_TOPIC, CERTIFICATE_MESSAGE, EVENTS_FILE),
            TopicSchema::new(ORDER_CONFIRMED_TOPIC, ORDER_CONFIRMED_MESSAGE, ORDER_SAGA_FILE),
            TopicSchema::new(ORDER_FAILED_TOPIC, ORDER_FAILED_MESSAGE, ORDER_SAGA_FILE),
        ]
    }

    fn apply(&self, conn: &mut DbConnection, event: &ConsumedEvent) -> Result<(), HandlerError> {
        match event.message.as_str() {
            DOSSIER_MESSAGE => self.dossier(conn, event),
            CERTIFICATE_MESSAGE => self.certificate(conn, event),
            ORDER_CONFIRMED_MESSAGE | ORDER_FAILED_MESSAGE => self.order(conn, event),
            other => Err(HandlerError::Permanent(format!("{} does not consume {other}", crate::NAME))),
        }
    }

    fn applied<'a>(&'a self, event: &'a ConsumedEvent) -> HookFuture<'a> {
        if NOTIFYING.contains(&event.event_type.as_str()) {
            self.hub.wake();
        }
        Box::pin(async {})
    }
}

/// The dossier of a dossier event; an event before its DossierCreated is not applied yet.
fn dossier_party(conn: &mut DbConnection, event: &ConsumedEvent) -> Result<DossierParty, HandlerError> {
    parties::find_dossier(conn, &event.aggregate_id)?.ok_or_else(|| {
        // A stream's events arrive in order, so this means the dossier's creation was lost.
        HandlerError::Permanent(format!("{} for unknown dossier {}", event.event_type, event.aggregate_id))
    })
}

fn certificate_party(conn: &mut DbConnection, event: &ConsumedEvent) -> Result<CertificateParty, HandlerError> {
    parties::find_certificate(conn, &event.aggregate_id)?.ok_or_else(|| {
        // Issued may still be waiting for its dossier: retry.
        HandlerError::Transient(format!("{} for certificate {} not issued yet", event.event_type, event.aggregate_id))
    })
}

fn required_time(
    event: &ConsumedEvent,
    field: &str,
    value: Option<&prost_types::Timestamp>,
) -> Result<chrono::DateTime<chrono::Utc>, HandlerError> {
    value
        .and_then(time::from_proto)
        .ok_or_else(|| HandlerError::Permanent(format!("{} {} has no valid {field}", event.event_type, event.event_id)))
}

fn describe(equipment: &pb::Equipment) -> String {
    format!("{} {}", equipment.brand, equipment.model).trim().to_owned()
}

/// `DOCUMENT_KIND_TEST_REPORT` → `test report`.
fn document_kind(value: i32) -> String {
    let name = pb::DocumentKind::try_from(value).map(|k| k.as_str_name()).unwrap_or("DOCUMENT_KIND_UNSPECIFIED");
    name.trim_start_matches("DOCUMENT_KIND_").replace('_', " ").to_lowercase()
}
