//! The fold of one dossier event into the dossier's statistics row, without the database:
//! the version guard, then the same status transitions as the homologation aggregate.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use diesel::Queryable;
use fleuve_handler::{ConsumedEvent, HandlerError};
use fleuve_proto::homologation::v1 as pb;
use pb::dossier_event::Event;

/// One dossier as the statistics see it: a row of `stats_dossiers` (or its shadow).
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct DossierStats {
    pub dossier_id: String,
    pub organisation_id: String,
    /// `pb::EquipmentCategory` number.
    pub category: i32,
    /// `pb::DossierStatus` number.
    pub status: i32,
    pub reviewer_assigned: bool,
    pub created_at: NaiveDateTime,
    pub submitted_at: Option<NaiveDateTime>,
    /// `YYYY-MM` of `submitted_at`.
    pub submitted_month: Option<String>,
    /// When the dossier was approved, rejected or withdrawn.
    pub decided_at: Option<NaiveDateTime>,
    /// JSON array of the rejection reasons.
    pub rejection_reasons: String,
    pub fee_currency: Option<String>,
    pub fee_invoiced: Option<i64>,
    pub invoiced_at: Option<NaiveDateTime>,
    pub fee_paid: Option<i64>,
    pub paid_at: Option<NaiveDateTime>,
    /// Aggregate version of the last event folded in.
    pub version: i64,
}

/// What to do with the dossier's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// The row already reflects the event (redelivery, or a rebuild's catch-up).
    Ignore,
    Insert(DossierStats),
    Update(DossierStats),
}

/// Folds `envelope` (the decoded payload of `event`) into `current`, the dossier's row if any.
///
/// Events must come in version order without gaps: a gap means an earlier event was parked or
/// lost, and folding past it would leave the row silently wrong, so it is a permanent failure
/// (the event is parked too, until a redrive or a rebuild).
pub(super) fn fold(
    current: Option<DossierStats>,
    event: &ConsumedEvent,
    envelope: &pb::DossierEvent,
) -> Result<Step, HandlerError> {
    let id = &event.aggregate_id;
    let version = event.aggregate_version;
    let reflected = current.as_ref().map_or(0, |row| row.version);
    if version <= reflected {
        return Ok(Step::Ignore);
    }
    if version != reflected + 1 {
        return Err(HandlerError::Permanent(format!(
            "dossier {id} is at version {reflected} and event {} has version {version}: an earlier event is missing",
            event.event_id
        )));
    }
    let at = occurred_at(event, envelope)?;
    let Some(mut row) = current else {
        return match &envelope.event {
            Some(Event::Created(created)) => Ok(Step::Insert(created_row(id, created, at, version)?)),
            _ => Err(HandlerError::Permanent(format!(
                "first event of dossier {id} is {}, not DossierCreated",
                event.event_type
            ))),
        };
    };
    row.version = version;
    match &envelope.event {
        Some(Event::Created(_)) => {
            return Err(HandlerError::Permanent(format!("dossier {id} created a second time at version {version}")));
        }
        Some(Event::Submitted(_)) => {
            row.status = pb::DossierStatus::Submitted as i32;
            row.submitted_at = Some(at);
            row.submitted_month = Some(at.format("%Y-%m").to_string());
        }
        Some(Event::DeclaredIncomplete(_)) => row.status = pb::DossierStatus::Incomplete as i32,
        Some(Event::Completed(_)) => {
            // Back to whoever had the dossier when it was sent back, as the aggregate does.
            row.status = if row.reviewer_assigned {
                pb::DossierStatus::UnderReview as i32
            } else {
                pb::DossierStatus::Submitted as i32
            };
        }
        Some(Event::ReviewerAssigned(_)) => {
            row.reviewer_assigned = true;
            row.status = pb::DossierStatus::UnderReview as i32;
        }
        Some(Event::FeeInvoiced(invoiced)) => invoice(&mut row, invoiced, at)?,
        Some(Event::PaymentRecorded(recorded)) => payment(&mut row, recorded, at)?,
        Some(Event::Approved(_)) => decide(&mut row, pb::DossierStatus::Approved, at),
        Some(Event::Rejected(rejected)) => {
            decide(&mut row, pb::DossierStatus::Rejected, at);
            row.rejection_reasons = reasons_json(&rejected.reasons);
        }
        Some(Event::Withdrawn(_)) => decide(&mut row, pb::DossierStatus::Withdrawn, at),
        // Documents, evidence and opinions change no figure; an unknown case (a newer producer)
        // neither. The version still moves so the guard stays exact.
        Some(
            Event::DocumentAttached(_)
            | Event::TestReportRecorded(_)
            | Event::ForeignCertificateRecognized(_)
            | Event::TechnicalOpinionGiven(_),
        )
        | None => {}
    }
    Ok(Step::Update(row))
}

fn created_row(
    id: &str,
    created: &pb::DossierCreated,
    at: NaiveDateTime,
    version: i64,
) -> Result<DossierStats, HandlerError> {
    if created.dossier_id != id {
        return Err(HandlerError::Permanent(format!(
            "DossierCreated names dossier {} on the stream of {id}",
            created.dossier_id
        )));
    }
    Ok(DossierStats {
        dossier_id: id.to_owned(),
        organisation_id: created.organisation_id.clone(),
        category: created.equipment.as_ref().map_or(0, |e| e.category),
        status: pb::DossierStatus::Draft as i32,
        reviewer_assigned: false,
        created_at: at,
        submitted_at: None,
        submitted_month: None,
        decided_at: None,
        rejection_reasons: reasons_json(&[]),
        fee_currency: None,
        fee_invoiced: None,
        invoiced_at: None,
        fee_paid: None,
        paid_at: None,
        version,
    })
}

fn decide(row: &mut DossierStats, status: pb::DossierStatus, at: NaiveDateTime) {
    row.status = status as i32;
    row.decided_at = Some(at);
}

fn invoice(row: &mut DossierStats, invoiced: &pb::FeeInvoiced, at: NaiveDateTime) -> Result<(), HandlerError> {
    let invoice = invoiced.invoice.as_ref();
    let amount = invoice.and_then(|i| i.amount.as_ref()).ok_or_else(|| {
        HandlerError::Permanent(format!("fee of dossier {} invoiced without an amount", row.dossier_id))
    })?;
    row.fee_currency = Some(amount.currency.clone());
    row.fee_invoiced = Some(amount.amount);
    row.invoiced_at = Some(match invoice.and_then(|i| i.issued_at.as_ref()) {
        Some(issued) => naive(issued)?,
        None => at,
    });
    Ok(())
}

fn payment(row: &mut DossierStats, recorded: &pb::PaymentRecorded, at: NaiveDateTime) -> Result<(), HandlerError> {
    let payment = recorded.payment.as_ref();
    let amount = payment
        .and_then(|p| p.amount.as_ref())
        .ok_or_else(|| HandlerError::Permanent(format!("payment of dossier {} without an amount", row.dossier_id)))?;
    // The aggregate only records a payment equal to the invoice, so one currency per row.
    if row.fee_currency.as_deref() != Some(amount.currency.as_str()) {
        return Err(HandlerError::Permanent(format!(
            "payment of dossier {} in {:?} does not match the invoice currency {:?}",
            row.dossier_id, amount.currency, row.fee_currency
        )));
    }
    row.fee_paid = Some(amount.amount);
    row.paid_at = Some(match payment.and_then(|p| p.paid_at.as_ref()) {
        Some(paid) => naive(paid)?,
        None => at,
    });
    Ok(())
}

/// The event's own time, else the time it was recorded.
fn occurred_at(event: &ConsumedEvent, envelope: &pb::DossierEvent) -> Result<NaiveDateTime, HandlerError> {
    match &envelope.occurred_at {
        Some(t) => naive(t),
        None => Ok(truncate(event.recorded_at)),
    }
}

fn naive(t: &prost_types::Timestamp) -> Result<NaiveDateTime, HandlerError> {
    let nanos = u32::try_from(t.nanos).ok();
    nanos
        .and_then(|n| DateTime::from_timestamp(t.seconds, n))
        .map(truncate)
        .ok_or_else(|| HandlerError::Permanent(format!("timestamp {}s {}ns out of range", t.seconds, t.nanos)))
}

/// Microseconds, what PostgreSQL keeps: both backends then store and compute the same values.
fn truncate(t: DateTime<Utc>) -> NaiveDateTime {
    t.trunc_subsecs(6).naive_utc()
}

fn reasons_json(reasons: &[String]) -> String {
    serde_json::Value::from(reasons.iter().map(|r| r.trim()).collect::<Vec<_>>()).to_string()
}

#[cfg(test)]
mod tests;
