//! `fleuve bench growth`, parts 3 and 4: rebuilding a read model over a large store, and what
//! the outbox and the inbox hold after as many events.
//!
//! 3. **Rebuild speed.** The log is filled with the real events of whole dossier lives (ten
//!    events each, protobuf payloads as the homologation service writes them; `in_flight`
//!    dossiers live at a time, their events interleaved step by step, so with 10 000 (the
//!    default) every batch of 5 000 events holds 5 000 different dossiers), then the statistics
//!    read model is rebuilt by the runtime's rebuild (replay into the shadow table, swap). In
//!    the same run, for comparison: the log read alone (the ceiling), and the rebuild as it was
//!    before batches (500 events a transaction, each folded as the live consumer folds it). The
//!    two rebuilds must leave the same rows, and the expected decisions.
//! 4. **Outbox and inbox after as many events.** Every event queued for publication (as its
//!    append would have, the relay stopped throughout: the checkpoint at 0) is drained as the
//!    relay drains the log; the statistics consumer's inbox rows for every event are pruned as
//!    the node prunes them past the retention. Rows and on-disk size before and after
//!    (vacuumed, as autovacuum would). The log is the outbox, so its size is that of the
//!    relay's checkpoint and retries.

use std::sync::Arc;
use std::time::Instant;

use diesel::RunQueryDsl;
use diesel::sql_types::{Array, BigInt, Binary, Text};
use fleuve_bus::{ConsumedEvent, HandlerError, Projection, Rebuild, ReplaySource};
use fleuve_mesh::MeshConfig;
use fleuve_proto::EventType;
use fleuve_proto::homologation::v1 as pb;
use fleuve_store::{Database, DbConnection, StoreError};
use pb::dossier_event::Event;
use prost::Message;

use crate::bench::ScratchDatabase;
use crate::bench_growth::Count;

/// Events of one dossier's life.
const LIFE: i64 = 10;
/// Events inserted per fill statement.
const FILL_CHUNK: usize = 10_000;
/// Every tenth dossier is rejected, the others approved.
const REJECTED_EVERY: i64 = 10;

pub(crate) async fn rebuild_and_tables(
    config: &MeshConfig,
    admin_url: &str,
    events: i64,
    in_flight: i64,
) -> anyhow::Result<()> {
    let dossiers = (events / LIFE).max(1);
    let events = dossiers * LIFE;
    let scratch = ScratchDatabase::create(admin_url)?;
    let mut config = config.clone();
    config.database_url = scratch.url.clone();
    config.apply_migrations = true;
    let db = crate::node::open_database(&config).await?;

    let started = Instant::now();
    fill(&db, dossiers, in_flight.max(1)).await?;
    println!(
        "3. rebuilding the statistics read model over {events} dossier events ({dossiers} dossiers, {in_flight} in flight; filled in {:.1} s; target ≥ 50 000 events/s)",
        started.elapsed().as_secs_f64()
    );
    println!("{:>34} {:>12} {:>10}", "", "events/s", "seconds");
    let rate = |label: &str, events: i64, seconds: f64| {
        println!("{label:>34} {:>12.0} {seconds:>10.1}", events as f64 / seconds);
    };
    let (read, read_seconds) = read_log(&db).await?;
    anyhow::ensure!(read == events, "the log holds {read} events, not {events}");
    rate("log read alone (the ceiling)", read, read_seconds);
    let before = rebuild_checked(&db, OneByOne(fleuve_statistics::rebuild()), dossiers).await?;
    keep_rows(&db).await?;
    rate("rebuild as before, event by event", before.replayed, before.elapsed_seconds);
    let batched = rebuild_checked(&db, fleuve_statistics::rebuild(), dossiers).await?;
    same_rows(&db).await?;
    rate("rebuild (batched, as shipped)", batched.replayed, batched.elapsed_seconds);

    println!("4. the outbox and the inbox after {events} events (rows, MiB on disk)");
    println!("{:>44} {:>12} {:>9} {:>12} {:>9} {:>12}", "", "rows before", "MiB", "rows after", "MiB", "rows/s");
    let emptied = |label: &str, before: (i64, f64), after: (i64, f64), per_second: f64| {
        println!("{label:>44} {:>12} {:>9.1} {:>12} {:>9.1} {per_second:>12.0}", before.0, before.1, after.0, after.1);
    };
    // The log is the outbox: what the relay keeps beside it is a checkpoint row and the
    // retries (none here), counted with the events still to publish.
    let queued = queue_outbox(&db).await?;
    let before = outbox_size(&db).await?;
    anyhow::ensure!(before.0 == queued, "{} events wait for the relay, not {queued}", before.0);
    let drained = crate::bench_growth::drain_outbox(&db).await?;
    emptied("outbox: queued with the relay down, drained", before, outbox_size(&db).await?, drained.per_second);
    let recorded = record_inbox(&db).await?;
    let before = table_size(&db, "inbox").await?;
    anyhow::ensure!(before.0 == recorded, "the inbox holds {} rows, not {recorded}", before.0);
    let (pruned, prune_seconds) = prune_inbox(&db).await?;
    anyhow::ensure!(pruned == recorded, "pruned {pruned} inbox rows of {recorded}");
    vacuum(&db, "inbox").await?;
    let per_second = pruned as f64 / prune_seconds;
    emptied("inbox of one consumer: pruned past retention", before, table_size(&db, "inbox").await?, per_second);
    println!(
        "   (an inbox holds a retention's worth of events, {} h by default: {:.0} bytes per event on disk)",
        fleuve_mesh::MeshConfig::default().bus.inbox_retention_hours,
        before.1 * 1024.0 * 1024.0 / recorded as f64
    );
    Ok(())
}

/// The event of step `step` of dossier `dossier`'s life, at `at`.
fn life_event(dossier: i64, step: i64, at: chrono::DateTime<chrono::Utc>) -> pb::DossierEvent {
    let id = dossier_id(dossier);
    let category = [
        pb::EquipmentCategory::MobileTerminal,
        pb::EquipmentCategory::RadioEquipment,
        pb::EquipmentCategory::NetworkEquipment,
        pb::EquipmentCategory::SatelliteTerminal,
    ][usize::try_from(dossier % 4).unwrap_or(0)];
    let fee = fleuve_proto::common::v1::Money { currency: "XAF".into(), amount: 250_000 };
    let stamp = Some(fleuve_proto::time::timestamp(at));
    let document = |kind: pb::DocumentKind| {
        Event::DocumentAttached(pb::DocumentAttached {
            document: Some(pb::Document {
                document_id: format!("{id}-doc-{}", kind as i32),
                kind: kind as i32,
                file_name: format!("{}.pdf", kind.as_str_name().to_lowercase()),
                media_type: "application/pdf".into(),
                size_bytes: 120_000,
                sha256: "ab".repeat(32),
                storage_uri: format!("s3://dossiers/{id}/{}", kind as i32),
                laboratory: String::new(),
                standards: Vec::new(),
                attached_at: stamp,
            }),
        })
    };
    let event = match step {
        0 => Event::Created(pb::DossierCreated {
            dossier_id: id.clone(),
            organisation_id: format!("org-{}", dossier % 500),
            applicant_id: format!("u-applicant-{}", dossier % 500),
            equipment: Some(pb::Equipment {
                brand: "Tecno".into(),
                model: format!("Spark {}", dossier % 40),
                category: category as i32,
                frequency_bands: vec![pb::FrequencyBand { lower_khz: 880_000, upper_khz: 915_000 }],
                characteristics: vec![pb::Characteristic { name: "max output power".into(), value: "2 W".into() }],
            }),
        }),
        1 => document(pb::DocumentKind::TechnicalDatasheet),
        2 => document(pb::DocumentKind::DeclarationOfConformity),
        3 => Event::Submitted(pb::DossierSubmitted {}),
        4 => Event::ReviewerAssigned(pb::ReviewerAssigned { reviewer_id: format!("u-reviewer-{}", dossier % 20) }),
        5 => Event::FeeInvoiced(pb::FeeInvoiced {
            invoice: Some(pb::Invoice {
                invoice_number: format!("ARPCE-INV-2026-{dossier:06}"),
                amount: Some(fee.clone()),
                issued_at: stamp,
            }),
        }),
        6 => Event::PaymentRecorded(pb::PaymentRecorded {
            payment: Some(pb::Payment { reference: format!("BGFI-{dossier}"), amount: Some(fee), paid_at: stamp }),
        }),
        7 => Event::TestReportRecorded(pb::TestReportRecorded {
            report: Some(pb::TestReport {
                laboratory: "Emitech".into(),
                report_number: format!("EMI-2026-{dossier}"),
                standards: vec!["EN 301 511".into()],
                passed: true,
                reviewer_id: format!("u-reviewer-{}", dossier % 20),
            }),
        }),
        8 => Event::TechnicalOpinionGiven(pb::TechnicalOpinionGiven {
            opinion: Some(pb::TechnicalOpinion {
                favorable: true,
                comments: "conforms to the declared bands".into(),
                reviewer_id: format!("u-reviewer-{}", dossier % 20),
            }),
        }),
        _ if dossier % REJECTED_EVERY == 0 => Event::Rejected(pb::DossierRejected {
            reasons: vec!["spurious emissions above the limit".into()],
            decided_by: format!("u-reviewer-{}", dossier % 20),
        }),
        _ => Event::Approved(pb::DossierApproved {
            certificate_number: format!("ARPCE-HOM-2026-{dossier:06}"),
            valid_from: stamp,
            valid_until: Some(fleuve_proto::time::timestamp(at + chrono::Duration::days(5 * 365))),
            decided_by: format!("u-reviewer-{}", dossier % 20),
        }),
    };
    pb::DossierEvent { occurred_at: stamp, event: Some(event) }
}

fn dossier_id(dossier: i64) -> String {
    format!("d-{dossier:07}")
}

/// Appends the lives of `dossiers` dossiers, `in_flight` at a time, their events interleaved
/// (step 0 of each, then step 1 of each, ...), with their streams.
async fn fill(db: &Database, dossiers: i64, in_flight: i64) -> anyhow::Result<()> {
    let epoch = chrono::DateTime::parse_from_rfc3339("2026-01-05T08:00:00Z")?.to_utc();
    let mut order = Vec::with_capacity(usize::try_from(dossiers * LIFE)?);
    for window in (0..dossiers).step_by(usize::try_from(in_flight)?) {
        for step in 0..LIFE {
            for dossier in window..(window + in_flight).min(dossiers) {
                order.push((dossier, step));
            }
        }
    }
    for chunk in order.chunks(FILL_CHUNK) {
        let (mut ids, mut versions, mut event_ids, mut types, mut payloads) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &(dossier, step) in chunk {
            // A dossier every 10 minutes, its steps a day apart: the months vary.
            let at = epoch + chrono::Duration::minutes(10 * dossier) + chrono::Duration::days(step);
            let event = life_event(dossier, step, at);
            ids.push(dossier_id(dossier));
            versions.push(step + 1);
            event_ids.push(uuid::Uuid::now_v7().to_string());
            types.push(event.event_type().to_owned());
            payloads.push(event.encode_to_vec());
        }
        db.run(move |conn| -> anyhow::Result<usize> {
            let DbConnection::Pg(pg) = conn else { anyhow::bail!("the bench fills PostgreSQL only") };
            Ok(diesel::sql_query(
                "INSERT INTO events (stream_id, aggregate_type, aggregate_id, version, event_id, event_type, \
                 payload, correlation_id, causation_id, actor, trace_context, recorded_at) \
                 SELECT 'dossier-' || id, 'dossier', id, v, e, t, p, e, NULL, 'bench', NULL, now() AT TIME ZONE 'UTC' \
                 FROM unnest($1, $2, $3, $4, $5) AS u(id, v, e, t, p)",
            )
            .bind::<Array<Text>, _>(ids)
            .bind::<Array<BigInt>, _>(versions)
            .bind::<Array<Text>, _>(event_ids)
            .bind::<Array<Text>, _>(types)
            .bind::<Array<Binary>, _>(payloads)
            .execute(pg)?)
        })
        .await?;
    }
    db.run(|conn| -> Result<(), StoreError> {
        diesel::sql_query(
            "INSERT INTO streams (stream_id, aggregate_type, version, updated_at) \
             SELECT stream_id, 'dossier', max(version), now() AT TIME ZONE 'UTC' FROM events GROUP BY stream_id",
        )
        .execute(conn)?;
        diesel::sql_query("VACUUM ANALYZE events").execute(conn)?;
        diesel::sql_query("CHECKPOINT").execute(conn)?;
        Ok(())
    })
    .await?;
    Ok(())
}

/// Reads the whole log as a rebuild does, applying nothing; returns the events and seconds.
async fn read_log(db: &Database) -> anyhow::Result<(i64, f64)> {
    let started = Instant::now();
    let (mut position, mut read) = (0_i64, 0_i64);
    loop {
        let batch = db
            .run(move |conn| {
                fleuve_store::event_store::read_all(conn, position, fleuve_statistics::rebuild::REPLAY_BATCH)
            })
            .await?;
        let Some(last) = batch.last() else { break };
        position = last.position;
        read += i64::try_from(batch.len())?;
    }
    Ok((read, started.elapsed().as_secs_f64()))
}

/// Checks the live statistics after a rebuild: a row per dossier, each decided.
async fn check_rows(db: &Database, dossiers: i64) -> anyhow::Result<()> {
    let (approved, rejected) = db
        .run(|conn| -> Result<(i64, i64), StoreError> {
            let count = |conn: &mut DbConnection, status: pb::DossierStatus| -> Result<i64, StoreError> {
                Ok(diesel::sql_query(format!(
                    "SELECT count(*) AS n FROM stats_dossiers WHERE status = {} AND version = {LIFE} AND fee_paid IS NOT NULL",
                    status as i32
                ))
                .get_result::<Count>(conn)?
                .n)
            };
            Ok((count(conn, pb::DossierStatus::Approved)?, count(conn, pb::DossierStatus::Rejected)?))
        })
        .await?;
    let expected_rejected = (dossiers + REJECTED_EVERY - 1) / REJECTED_EVERY;
    anyhow::ensure!(
        rejected == expected_rejected && approved == dossiers - expected_rejected,
        "the rebuilt statistics hold {approved} approved and {rejected} rejected dossiers, not {} and {expected_rejected}",
        dossiers - expected_rejected
    );
    Ok(())
}

/// Keeps the live statistics rows aside (in `bench_expected`) for [`same_rows`].
async fn keep_rows(db: &Database) -> anyhow::Result<()> {
    db.run(|conn| -> Result<usize, StoreError> {
        Ok(diesel::sql_query("CREATE TABLE bench_expected AS SELECT * FROM stats_dossiers").execute(conn)?)
    })
    .await?;
    Ok(())
}

/// Checks that the live statistics rows are, column for column, the rows [`keep_rows`] kept.
async fn same_rows(db: &Database) -> anyhow::Result<()> {
    let differing = db
        .run(|conn| -> Result<i64, StoreError> {
            Ok(diesel::sql_query(
                "SELECT count(*) AS n FROM ((SELECT * FROM stats_dossiers EXCEPT SELECT * FROM bench_expected) \
                 UNION ALL (SELECT * FROM bench_expected EXCEPT SELECT * FROM stats_dossiers)) AS d",
            )
            .get_result::<Count>(conn)?
            .n)
        })
        .await?;
    anyhow::ensure!(differing == 0, "{differing} rows differ between the two rebuilds");
    Ok(())
}

/// Queues every event for publication, as their appends would have, with the relay's
/// checkpoint before them all.
async fn queue_outbox(db: &Database) -> anyhow::Result<i64> {
    let topic = fleuve_statistics::DOSSIER_TOPIC;
    Ok(db
        .run(move |conn| -> Result<usize, StoreError> {
            let queued = diesel::sql_query("UPDATE events SET topic = $1").bind::<Text, _>(topic).execute(conn)?;
            diesel::sql_query("UPDATE outbox_checkpoints SET position = 0").execute(conn)?;
            diesel::sql_query("VACUUM ANALYZE events").execute(conn)?;
            Ok(queued)
        })
        .await?
        .try_into()?)
}

/// The events waiting for the relay, and the MiB on disk of what the outbox adds to the log
/// (its checkpoint and retries tables).
async fn outbox_size(db: &Database) -> anyhow::Result<(i64, f64)> {
    let (waiting, _) = db.run(fleuve_store::event_store::outbox_backlog).await?;
    let mib = crate::bench_growth::relation_mib(db, "outbox_checkpoints").await?
        + crate::bench_growth::relation_mib(db, "outbox_retries").await?;
    Ok((waiting, mib))
}

/// Records every event as applied by the statistics consumer, as its inbox claims would have.
async fn record_inbox(db: &Database) -> anyhow::Result<i64> {
    let topic = fleuve_statistics::DOSSIER_TOPIC;
    Ok(db
        .run(move |conn| -> Result<usize, StoreError> {
            Ok(diesel::sql_query(
                "INSERT INTO inbox (consumer, event_id, topic, kafka_partition, kafka_offset, processed_at) \
                 SELECT $1, event_id, $2, 0, position, now() AT TIME ZONE 'UTC' FROM events",
            )
            .bind::<Text, _>(fleuve_statistics::NAME)
            .bind::<Text, _>(topic)
            .execute(conn)?)
        })
        .await?
        .try_into()?)
}

/// Prunes the consumer's inbox as the node does once its rows are past the retention
/// (batches of [`crate::backbone::PRUNE_BATCH`]); returns the rows deleted and the seconds.
async fn prune_inbox(db: &Database) -> anyhow::Result<(i64, f64)> {
    // Past the retention: every row was processed, and every event recorded, before now.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let cut = chrono::Utc::now();
    let started = Instant::now();
    let mut pruned = 0_i64;
    loop {
        let deleted = db
            .run(move |conn| {
                fleuve_store::consumer::inbox_prune(conn, fleuve_statistics::NAME, cut, crate::backbone::PRUNE_BATCH)
            })
            .await?;
        pruned += i64::try_from(deleted)?;
        if deleted == 0 {
            break;
        }
    }
    Ok((pruned, started.elapsed().as_secs_f64()))
}

async fn vacuum(db: &Database, table: &'static str) -> anyhow::Result<()> {
    db.run(move |conn| -> Result<usize, StoreError> {
        Ok(diesel::sql_query(format!("VACUUM {table}")).execute(conn)?)
    })
    .await?;
    Ok(())
}

/// A table's rows and its size on disk in MiB.
async fn table_size(db: &Database, table: &'static str) -> anyhow::Result<(i64, f64)> {
    let rows = db
        .run(move |conn| -> Result<Count, StoreError> {
            Ok(diesel::sql_query(format!("SELECT count(*) AS n FROM {table}")).get_result::<Count>(conn)?)
        })
        .await?
        .n;
    Ok((rows, crate::bench_growth::relation_mib(db, table).await?))
}

/// Rebuilds `model` over the whole log and checks what it replayed and the rows it left.
async fn rebuild_checked(
    db: &Database,
    model: impl Rebuild,
    dossiers: i64,
) -> anyhow::Result<fleuve_bus::rebuild::RebuildReport> {
    let report = fleuve_bus::rebuild::rebuild(db, Arc::new(model)).await?;
    let events = dossiers * LIFE;
    anyhow::ensure!(report.replayed == events, "the rebuild replayed {} events, not {events}", report.replayed);
    check_rows(db, dossiers).await?;
    Ok(report)
}

/// The statistics rebuild as it was before batches: 500 events a transaction (the default
/// [`Rebuild::replay_batch`]), each folded with its own read and write of the dossier's row as
/// the live consumer folds it (the default [`Projection::apply_batch`]).
struct OneByOne(fleuve_statistics::StatisticsRebuild);

impl Rebuild for OneByOne {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn sources(&self) -> Vec<ReplaySource> {
        self.0.sources()
    }
    fn live(&self) -> &dyn Projection {
        self.0.live()
    }
    fn shadow(&self) -> &dyn Projection {
        self
    }
    fn clear_shadow(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        self.0.clear_shadow(conn)
    }
    fn lock_live(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        self.0.lock_live(conn)
    }
    fn copy_shadow_to_live(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        self.0.copy_shadow_to_live(conn)
    }
}

impl Projection for OneByOne {
    fn name(&self) -> &str {
        self.0.shadow().name()
    }
    fn topics(&self) -> Vec<fleuve_bus::schema::TopicSchema> {
        self.0.shadow().topics()
    }
    fn apply(&self, conn: &mut DbConnection, event: &ConsumedEvent) -> Result<(), HandlerError> {
        self.0.shadow().apply(conn, event)
    }
}
