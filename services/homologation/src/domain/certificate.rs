//! The certificate aggregate: the type-approval certificate issued on an approved dossier, and
//! its life until it is revoked or expires.
//!
//! Certificate commands are admin-only (or issued by the server itself), which the edge checks;
//! the aggregate therefore takes no actor.

use chrono::{DateTime, Utc};
use fleuve_proto::homologation::v1 as pb;
use pb::CertificateStatus;
use pb::certificate_event::Event;

use fleuve_aggregate::Aggregate;
use fleuve_proto::topics;

use super::values::{self, CertificateNumber};
use super::{CERTIFICATE_AGGREGATE, DomainError};

/// A certificate's state, folded from its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Certificate {
    pub number: String,
    pub dossier_id: String,
    pub organisation_id: String,
    pub equipment: Option<pb::Equipment>,
    /// `Unspecified` until the certificate is issued.
    pub status: CertificateStatus,
    pub valid_from: Option<prost_types::Timestamp>,
    pub valid_until: Option<prost_types::Timestamp>,
    /// Why the certificate is in its current status (suspension or revocation reason,
    /// reinstatement note); empty when active after issue or renewal.
    pub status_reason: String,
    /// The number of events applied.
    pub version: i64,
}

/// What the regulator (or the server, for issue) asks of a certificate.
#[derive(Debug, Clone, PartialEq)]
pub enum CertificateCommand {
    Issue {
        number: String,
        dossier_id: String,
        organisation_id: String,
        equipment: pb::Equipment,
        valid_from: DateTime<Utc>,
        valid_until: DateTime<Utc>,
    },
    Suspend {
        reason: String,
    },
    Reinstate {
        note: String,
    },
    Revoke {
        reason: String,
    },
    /// The caller resolves a default validity before calling; 0 is refused.
    Renew {
        validity_years: u32,
    },
    Expire,
}

impl Aggregate for Certificate {
    const KIND: &'static str = CERTIFICATE_AGGREGATE;
    const TOPIC: Option<&'static str> = Some(topics::CERTIFICATE);
    type Event = pb::CertificateEvent;
    type Command = CertificateCommand;
    type Context = DateTime<Utc>;
    type Error = DomainError;

    /// Decides a command: the events to append, or why it is refused. Every event carries `now`.
    fn handle(
        &self,
        command: CertificateCommand,
        now: &DateTime<Utc>,
    ) -> Result<Vec<pb::CertificateEvent>, DomainError> {
        let now = *now;
        if !matches!(command, CertificateCommand::Issue { .. }) && self.version == 0 {
            return Err(DomainError::Precondition("certificate does not exist".into()));
        }
        let event = match command {
            CertificateCommand::Issue { number, dossier_id, organisation_id, equipment, valid_from, valid_until } => {
                if self.version != 0 {
                    return Err(DomainError::Precondition("certificate already issued".into()));
                }
                if valid_until <= valid_from {
                    return Err(DomainError::Invalid("validity must end after it starts".into()));
                }
                Event::Issued(pb::CertificateIssued {
                    certificate_number: CertificateNumber::parse(&number)?,
                    dossier_id: values::text("dossier id", &dossier_id, 100)?,
                    organisation_id: values::text("organisation id", &organisation_id, 100)?,
                    equipment: Some(values::equipment(&equipment)?),
                    valid_from: Some(values::timestamp(valid_from)),
                    valid_until: Some(values::timestamp(valid_until)),
                })
            }
            CertificateCommand::Suspend { reason } => {
                self.require_status(&[CertificateStatus::Active], "suspend")?;
                let reason = values::text("reason", &reason, 1000)?;
                Event::Suspended(pb::CertificateSuspended { reason })
            }
            CertificateCommand::Reinstate { note } => {
                self.require_status(&[CertificateStatus::Suspended], "reinstate")?;
                // Reinstating past the end of validity would show an active certificate that is
                // not valid; such a certificate is expired (and may then be renewed).
                if !self.is_before_end(now) {
                    return Err(DomainError::Precondition("certificate validity has ended: expire it instead".into()));
                }
                let note = values::optional_text("note", &note, 1000)?;
                Event::Reinstated(pb::CertificateReinstated { note })
            }
            CertificateCommand::Revoke { reason } => {
                self.require_status(&[CertificateStatus::Active, CertificateStatus::Suspended], "revoke")?;
                let reason = values::text("reason", &reason, 1000)?;
                Event::Revoked(pb::CertificateRevoked { reason })
            }
            CertificateCommand::Renew { validity_years } => {
                self.require_status(&[CertificateStatus::Active, CertificateStatus::Expired], "renew")?;
                let years = values::validity_years(validity_years)?;
                // Renewing early must not shorten the current validity; renewing late starts now.
                let base = self.end().map_or(now, |end| end.max(now));
                let valid_until = values::add_years(base, years)?;
                Event::Renewed(pb::CertificateRenewed { valid_until: Some(values::timestamp(valid_until)) })
            }
            CertificateCommand::Expire => {
                self.require_status(&[CertificateStatus::Active, CertificateStatus::Suspended], "expire")?;
                if self.is_before_end(now) {
                    let until = self.end().map(|end| end.to_rfc3339()).unwrap_or_default();
                    return Err(DomainError::Precondition(format!("certificate still valid until {until}")));
                }
                Event::Expired(pb::CertificateExpired {})
            }
        };
        Ok(vec![pb::CertificateEvent { occurred_at: Some(values::timestamp(now)), event: Some(event) }])
    }

    /// Folds one event into the state. No rule is checked here: the event already happened.
    fn apply(&mut self, event: &pb::CertificateEvent) {
        self.version += 1;
        let Some(event) = &event.event else { return };
        match event {
            Event::Issued(e) => {
                self.number.clone_from(&e.certificate_number);
                self.dossier_id.clone_from(&e.dossier_id);
                self.organisation_id.clone_from(&e.organisation_id);
                self.equipment.clone_from(&e.equipment);
                self.status = CertificateStatus::Active;
                self.valid_from = e.valid_from;
                self.valid_until = e.valid_until;
                self.status_reason.clear();
            }
            Event::Suspended(e) => {
                self.status = CertificateStatus::Suspended;
                self.status_reason.clone_from(&e.reason);
            }
            Event::Reinstated(e) => {
                self.status = CertificateStatus::Active;
                self.status_reason.clone_from(&e.note);
            }
            Event::Revoked(e) => {
                self.status = CertificateStatus::Revoked;
                self.status_reason.clone_from(&e.reason);
            }
            Event::Renewed(e) => {
                self.status = CertificateStatus::Active;
                self.valid_until = e.valid_until;
                self.status_reason.clear();
            }
            Event::Expired(_) => {
                self.status = CertificateStatus::Expired;
                self.status_reason.clear();
            }
        }
    }
}

impl Certificate {
    /// Active and `now` within `[valid_from, valid_until)`: what the public registry answers.
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        let started = self.valid_from.as_ref().and_then(values::datetime).is_some_and(|from| from <= now);
        self.status == CertificateStatus::Active && started && self.is_before_end(now)
    }

    fn end(&self) -> Option<DateTime<Utc>> {
        self.valid_until.as_ref().and_then(values::datetime)
    }

    fn is_before_end(&self, now: DateTime<Utc>) -> bool {
        self.end().is_some_and(|end| now < end)
    }

    fn require_status(&self, allowed: &[CertificateStatus], action: &str) -> Result<(), DomainError> {
        if allowed.contains(&self.status) {
            Ok(())
        } else {
            Err(DomainError::Precondition(format!(
                "cannot {action} a certificate that is {}",
                status_label(self.status)
            )))
        }
    }
}
fn status_label(status: CertificateStatus) -> &'static str {
    match status {
        CertificateStatus::Unspecified => "not issued",
        CertificateStatus::Active => "active",
        CertificateStatus::Suspended => "suspended",
        CertificateStatus::Revoked => "revoked",
        CertificateStatus::Expired => "expired",
    }
}
