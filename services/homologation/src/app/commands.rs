//! Command execution: each command is ONE transaction that loads the aggregate, lets it decide,
//! appends the events with an expected-version check and their outbox rows, and updates the
//! read models. Certificate numbers come from a gapless sequence in the same transaction, so a
//! refused or conflicting approval gives its number back.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use fleuve_aggregate::{Aggregate as _, Loaded, Retries, repository};
use fleuve_mesh::ServiceError;
use fleuve_proto::homologation::v1 as pb;
use fleuve_store::{
    DbConnection,
    event_store::{self, EventMetadata},
};
use uuid::Uuid;

use super::{AppError, Homologation, can_see, views};
use crate::domain::{
    Actor,
    certificate::{Certificate, CertificateCommand},
    dossier::{Dossier, DossierCommand, DossierContext},
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

    /// Uploads a file and attaches it as `document` in one transaction: the event and the stored
    /// file commit together, or neither does. `document` carries what [`values::uploaded_file`]
    /// verified (its size and digest are the content's).
    pub async fn upload_document(
        &self,
        cx: CommandContext,
        dossier_id: String,
        expected_version: i64,
        document: pb::Document,
        content: bytes::Bytes,
    ) -> Result<DossierOutcome, AppError> {
        use crate::schema::document_files;
        use diesel::{ExpressionMethods, RunQueryDsl};
        let retries = Retries::unless_expected(expected_version);
        repository::transact(&self.db, retries, move |conn| {
            let command = DossierCommand::AttachDocument { document: document.clone() };
            let out = run_dossier_command(conn, &cx, &dossier_id, expected_version, false, &move |_, _, _| {
                Ok(command.clone())
            })?;
            let attached = out.dossier.documents.iter().find(|d| d.document_id == document.document_id);
            let attached = attached.ok_or_else(|| AppError::internal("the uploaded document was not attached"))?;
            diesel::insert_into(document_files::table)
                .values((
                    document_files::document_id.eq(&attached.document_id),
                    document_files::dossier_id.eq(&dossier_id),
                    document_files::media_type.eq(&attached.media_type),
                    document_files::sha256.eq(&attached.sha256),
                    document_files::size_bytes.eq(content.len() as i64),
                    document_files::content.eq(content.as_ref()),
                    document_files::stored_at.eq(cx.now.naive_utc()),
                ))
                .execute(conn)?;
            Ok(out)
        })
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

    /// Without an expected version a command that lost a race is decided again on the new
    /// state; a creation never races (its id is new).
    async fn execute_dossier(
        &self,
        cx: CommandContext,
        dossier_id: String,
        expected_version: i64,
        create: bool,
        build: Arc<BuildCommand>,
    ) -> Result<DossierOutcome, AppError> {
        let retries = if create { Retries::None } else { Retries::unless_expected(expected_version) };
        repository::transact(&self.db, retries, move |conn| {
            run_dossier_command(conn, &cx, &dossier_id, expected_version, create, build.as_ref())
        })
        .await
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
        check_expected_version(expected_version)?;
        self.db
            .transaction(move |conn| {
                let certificate = load_certificate(conn, &number)?;
                if !certificate.exists() {
                    return Err(ServiceError::not_found(format!("certificate {number} not found")).into());
                }
                certificate.check_expected(expected_version)?;
                let events = certificate.state.handle(command, &cx.now)?;
                save_certificate(conn, certificate, &events, &metadata(&cx, None))
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
    check_expected_version(expected_version)?;
    let dossier = load_dossier(conn, dossier_id)?;
    if !create {
        if !dossier.exists() || !can_see(&cx.actor.organisation_id, cx.actor.role, &dossier.state.organisation_id) {
            return Err(ServiceError::not_found(format!("dossier {dossier_id} not found")).into());
        }
        dossier.check_expected(expected_version)?;
    }
    let command = build(&dossier.state, conn, cx)?;
    let decide = DossierContext { actor: cx.actor.clone(), now: cx.now };
    let events = dossier.state.handle(command, &decide)?;
    if events.is_empty() {
        return Ok(DossierOutcome { dossier: dossier.state, events });
    }
    let saved = repository::save::<_, AppError>(conn, dossier, &events, &metadata(cx, None), &[])?;
    let next = saved.loaded.state;
    views::write_dossier(conn, &next, cx.now)?;

    // An approval issues the certificate in the same transaction: one decision, one certificate.
    for (event, stored) in events.iter().zip(&saved.events) {
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
    let command = CertificateCommand::Issue {
        number: approved.certificate_number.clone(),
        dossier_id: dossier.id.clone(),
        organisation_id: dossier.organisation_id.clone(),
        equipment: dossier.equipment.clone().unwrap_or_default(),
        valid_from: approved.valid_from.as_ref().and_then(crate::time::instant).unwrap_or(cx.now),
        valid_until: approved.valid_until.as_ref().and_then(crate::time::instant).unwrap_or(cx.now),
    };
    let certificate = Loaded::<Certificate>::new(&approved.certificate_number);
    let events = certificate.state.handle(command, &cx.now)?;
    save_certificate(conn, certificate, &events, &metadata(cx, Some(cause)))?;
    Ok(())
}

/// Saves the certificate's events and rewrites its row.
fn save_certificate(
    conn: &mut DbConnection,
    certificate: Loaded<Certificate>,
    events: &[pb::CertificateEvent],
    meta: &EventMetadata,
) -> Result<Certificate, AppError> {
    let next = repository::save::<_, AppError>(conn, certificate, events, meta, &[])?.loaded.state;
    if !events.is_empty() {
        views::write_certificate(conn, &next)?;
    }
    Ok(next)
}

pub(super) fn load_dossier(conn: &mut DbConnection, dossier_id: &str) -> Result<Loaded<Dossier>, AppError> {
    repository::load(conn, dossier_id)
}

pub(super) fn load_certificate(conn: &mut DbConnection, number: &str) -> Result<Loaded<Certificate>, AppError> {
    repository::load(conn, number)
}

fn check_expected_version(expected: i64) -> Result<(), AppError> {
    if expected < 0 {
        return Err(ServiceError::invalid("expected_version must not be negative").into());
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
