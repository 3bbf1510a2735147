//! Command execution: each command is ONE transaction that loads the aggregate, lets it decide,
//! appends the events with an expected-version check and their outbox rows, and updates the
//! read models. Certificate numbers come from a gapless sequence in the same transaction, so a
//! refused or conflicting approval gives its number back.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use fleuve_mesh::ServiceError;
use fleuve_proto::homologation::v1 as pb;
use fleuve_store::{
    DbConnection,
    event_store::{self, EventMetadata, ExpectedVersion, NewEvent, StreamRef},
};
use prost::Message;
use uuid::Uuid;

use super::{
    AppError, CERTIFICATE_AGGREGATE, CERTIFICATE_TOPIC, DOSSIER_AGGREGATE, DOSSIER_TOPIC, Homologation, can_see, views,
};
use crate::domain::{
    Actor,
    certificate::{self, Certificate, CertificateCommand},
    dossier::{self, Dossier, DossierCommand},
    values::{CertificateNumber, invoice_number},
};

/// Who runs a command, under which correlation and trace, at what time.
#[derive(Debug, Clone)]
pub struct CommandContext {
    pub actor: Actor,
    pub correlation_id: String,
    pub trace_context: Option<String>,
    pub now: DateTime<Utc>,
}

/// The result of a dossier command.
#[derive(Debug, Clone)]
pub struct DossierOutcome {
    pub dossier: Dossier,
    pub events: Vec<pb::DossierEvent>,
}

impl DossierOutcome {
    pub fn version(&self) -> i64 {
        self.dossier.version
    }
}

/// How many times a command without an expected version is retried after losing a race.
const CONFLICT_RETRIES: usize = 3;

type BuildCommand =
    dyn Fn(&Dossier, &mut DbConnection, &CommandContext) -> Result<DossierCommand, AppError> + Send + Sync;

impl Homologation {
    pub async fn create_dossier(
        &self,
        cx: CommandContext,
        equipment: pb::Equipment,
    ) -> Result<DossierOutcome, AppError> {
        let dossier_id = Uuid::now_v7().to_string();
        let id = dossier_id.clone();
        self.execute_dossier(
            cx,
            dossier_id,
            0,
            true,
            Arc::new(move |_, _, _| {
                Ok(DossierCommand::Create { dossier_id: id.clone(), equipment: equipment.clone() })
            }),
        )
        .await
    }

    /// Runs a command whose arguments do not depend on the database.
    pub async fn dossier_command(
        &self,
        cx: CommandContext,
        dossier_id: String,
        expected_version: i64,
        command: DossierCommand,
    ) -> Result<DossierOutcome, AppError> {
        self.execute_dossier(cx, dossier_id, expected_version, false, Arc::new(move |_, _, _| Ok(command.clone())))
            .await
    }

    /// Invoices the fee with the next gapless invoice number of the year.
    pub async fn invoice_fee(
        &self,
        cx: CommandContext,
        dossier_id: String,
        expected_version: i64,
    ) -> Result<DossierOutcome, AppError> {
        self.execute_dossier(
            cx,
            dossier_id,
            expected_version,
            false,
            Arc::new(|_, conn, cx| {
                let year = cx.now.year();
                let seq = event_store::next_sequence(conn, &format!("invoice-{year}"))?;
                Ok(DossierCommand::InvoiceFee { invoice_number: invoice_number(year, seq) })
            }),
        )
        .await
    }

    /// Approves the dossier with the next gapless certificate number and issues the certificate.
    pub async fn approve(
        &self,
        cx: CommandContext,
        dossier_id: String,
        expected_version: i64,
        validity_years: u32,
    ) -> Result<DossierOutcome, AppError> {
        let years = if validity_years == 0 { self.settings.certificate_validity_years } else { validity_years };
        self.execute_dossier(
            cx,
            dossier_id,
            expected_version,
            false,
            Arc::new(move |_, conn, cx| {
                let year = cx.now.year();
                let seq = event_store::next_sequence(conn, &CertificateNumber::sequence_name(year))?;
                Ok(DossierCommand::Approve {
                    certificate_number: CertificateNumber::format(year, seq),
                    validity_years: years,
                })
            }),
        )
        .await
    }

    async fn execute_dossier(
        &self,
        cx: CommandContext,
        dossier_id: String,
        expected_version: i64,
        create: bool,
        build: Arc<BuildCommand>,
    ) -> Result<DossierOutcome, AppError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (cx2, id, build2) = (cx.clone(), dossier_id.clone(), build.clone());
            let result = self
                .db
                .transaction(move |conn| {
                    run_dossier_command(conn, &cx2, &id, expected_version, create, build2.as_ref())
                })
                .await;
            match result {
                Err(AppError::Store(e))
                    if e.is_conflict() && expected_version == 0 && !create && attempt <= CONFLICT_RETRIES =>
                {
                    tracing::debug!(attempt, dossier_id, "concurrent change, retrying");
                }
                other => return other,
            }
        }
    }

    pub async fn certificate_command(
        &self,
        cx: CommandContext,
        number: String,
        expected_version: i64,
        command: CertificateCommand,
    ) -> Result<Certificate, AppError> {
        if cx.actor.role != fleuve_mesh::Role::Admin {
            return Err(ServiceError::denied("certificate actions need the role admin").into());
        }
        let command = match command {
            CertificateCommand::Renew { validity_years: 0 } => {
                CertificateCommand::Renew { validity_years: self.settings.certificate_validity_years }
            }
            other => other,
        };
        self.db
            .transaction(move |conn| {
                let stream = StreamRef::new(CERTIFICATE_AGGREGATE, &number);
                let state = load_certificate(conn, &stream)?;
                if state.version == 0 {
                    return Err(ServiceError::not_found(format!("certificate {number} not found")).into());
                }
                check_expected(expected_version, state.version, &stream)?;
                let events = state.handle(command, cx.now)?;
                let meta = metadata(&cx, None);
                let state = append_certificate(conn, &stream, state, &events, &meta)?;
                Ok(state)
            })
            .await
    }
}

fn run_dossier_command(
    conn: &mut DbConnection,
    cx: &CommandContext,
    dossier_id: &str,
    expected_version: i64,
    create: bool,
    build: &BuildCommand,
) -> Result<DossierOutcome, AppError> {
    let stream = StreamRef::new(DOSSIER_AGGREGATE, dossier_id);
    let state = load_dossier(conn, &stream)?;
    if !create {
        if state.version == 0 || !can_see(&cx.actor.organisation_id, cx.actor.role, &state.organisation_id) {
            return Err(ServiceError::not_found(format!("dossier {dossier_id} not found")).into());
        }
        check_expected(expected_version, state.version, &stream)?;
    }
    let command = build(&state, conn, cx)?;
    let events = state.handle(command, &cx.actor, cx.now)?;
    if events.is_empty() {
        return Ok(DossierOutcome { dossier: state, events });
    }
    let meta = metadata(cx, None);
    let expected = if state.version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(state.version) };
    let new_events: Vec<NewEvent> = events
        .iter()
        .map(|e| NewEvent {
            event_id: Uuid::now_v7(),
            event_type: dossier::event_type(e).to_owned(),
            payload: e.encode_to_vec(),
        })
        .collect();
    event_store::append(conn, &stream, expected, &new_events, &meta, Some(DOSSIER_TOPIC))?;

    let mut next = state;
    for event in &events {
        next.apply(event);
    }
    views::write_dossier(conn, &next, cx.now)?;

    // An approval issues the certificate in the same transaction: one decision, one certificate.
    for (event, stored) in events.iter().zip(&new_events) {
        if let Some(pb::dossier_event::Event::Approved(approved)) = &event.event {
            issue_certificate(conn, cx, &next, approved, &stored.event_id.to_string())?;
        }
    }
    Ok(DossierOutcome { dossier: next, events })
}

fn issue_certificate(
    conn: &mut DbConnection,
    cx: &CommandContext,
    dossier: &Dossier,
    approved: &pb::DossierApproved,
    cause: &str,
) -> Result<(), AppError> {
    let stream = StreamRef::new(CERTIFICATE_AGGREGATE, &approved.certificate_number);
    let command = CertificateCommand::Issue {
        number: approved.certificate_number.clone(),
        dossier_id: dossier.id.clone(),
        organisation_id: dossier.organisation_id.clone(),
        equipment: dossier.equipment.clone().unwrap_or_default(),
        valid_from: approved.valid_from.as_ref().map(crate::time::from_proto).unwrap_or(cx.now),
        valid_until: approved.valid_until.as_ref().map(crate::time::from_proto).unwrap_or(cx.now),
    };
    let state = Certificate::default();
    let events = state.handle(command, cx.now)?;
    append_certificate(conn, &stream, state, &events, &metadata(cx, Some(cause)))?;
    Ok(())
}

fn append_certificate(
    conn: &mut DbConnection,
    stream: &StreamRef,
    state: Certificate,
    events: &[pb::CertificateEvent],
    meta: &EventMetadata,
) -> Result<Certificate, AppError> {
    if events.is_empty() {
        return Ok(state);
    }
    let expected = if state.version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(state.version) };
    let new_events: Vec<NewEvent> = events
        .iter()
        .map(|e| NewEvent {
            event_id: Uuid::now_v7(),
            event_type: certificate::certificate_event_type(e).to_owned(),
            payload: e.encode_to_vec(),
        })
        .collect();
    event_store::append(conn, stream, expected, &new_events, meta, Some(CERTIFICATE_TOPIC))?;
    let mut next = state;
    for event in events {
        next.apply(event);
    }
    views::write_certificate(conn, &next)?;
    Ok(next)
}

pub(super) fn load_dossier(conn: &mut DbConnection, stream: &StreamRef) -> Result<Dossier, AppError> {
    let recorded = event_store::read_stream(conn, stream, 0)?;
    let events =
        recorded.iter().map(|r| pb::DossierEvent::decode(r.payload.as_slice())).collect::<Result<Vec<_>, _>>()?;
    Ok(Dossier::replay(&events))
}

pub(super) fn load_certificate(conn: &mut DbConnection, stream: &StreamRef) -> Result<Certificate, AppError> {
    let recorded = event_store::read_stream(conn, stream, 0)?;
    let events =
        recorded.iter().map(|r| pb::CertificateEvent::decode(r.payload.as_slice())).collect::<Result<Vec<_>, _>>()?;
    Ok(Certificate::replay(&events))
}

fn check_expected(expected: i64, actual: i64, stream: &StreamRef) -> Result<(), AppError> {
    if expected < 0 {
        return Err(ServiceError::invalid("expected_version must not be negative").into());
    }
    if expected != 0 && expected != actual {
        return Err(fleuve_store::StoreError::Conflict { stream_id: stream.stream_id(), expected, actual }.into());
    }
    Ok(())
}

fn metadata(cx: &CommandContext, causation_id: Option<&str>) -> EventMetadata {
    EventMetadata {
        correlation_id: cx.correlation_id.clone(),
        causation_id: causation_id.map(str::to_owned),
        actor: cx.actor.user_id.clone(),
        trace_context: cx.trace_context.clone(),
    }
}
