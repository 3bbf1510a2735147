//! `fleuve bench growth`: whether Fleuve stays flat as its data grows.
//!
//! 1. **Appends against the store's size.** The event log is filled (in SQL, streams of ten
//!    events, as a store of many small aggregates looks) to each size in turn, vacuumed and
//!    analysed as autovacuum would leave it, then single-event appends run at the given client
//!    count; the smallest size is the baseline. The events those appends queued for publication
//!    are then drained as the relay drains them (a batch of the log past its checkpoint, then
//!    the checkpoint moved), so the relay's reads are timed against the store's size too.
//! 2. **A command against its stream's length.** One product of the stock service is restocked
//!    (the staff command, one transaction: load from the snapshot and the events after it,
//!    decide, append, snapshot when due, rewrite the read model) until its stream holds each
//!    length; at each, the command's latency, the load alone (snapshot and tail) and, for
//!    comparison, a full replay of the stream without the snapshot.
//! 3. and 4. **A rebuild over a million events, and the outbox and inbox after them**: see
//!    [`crate::bench_rebuild`]. `--parts` picks what runs.

use std::time::{Duration, Instant};

use diesel::{QueryableByName, RunQueryDsl, sql_types::BigInt};
use fleuve_mesh::MeshConfig;
use fleuve_stock::{AppError, Caller, Stock, domain::Product};
use fleuve_store::Database;

use crate::bench::{ScratchDatabase, percentile};

/// Events per filled stream.
const FILL_STREAM_EVENTS: i64 = 10;
/// Rows inserted per fill statement (one transaction each).
const FILL_CHUNK: i64 = 500_000;
/// Commands and loads timed at each stream length.
const SAMPLES: usize = 200;

/// One `count(*) AS n` (or any bigint named `n`).
#[derive(QueryableByName)]
pub(crate) struct Count {
    #[diesel(sql_type = BigInt)]
    pub(crate) n: i64,
}

#[allow(clippy::too_many_arguments)]
pub async fn growth(
    config: &MeshConfig,
    admin_url: &str,
    sizes: &[i64],
    lengths: &[i64],
    clients: usize,
    seconds: u64,
    (rebuild_events, rebuild_in_flight): (i64, i64),
    parts: &[u8],
) -> anyhow::Result<()> {
    println!("fleuve bench growth: PostgreSQL at {}", crate::node::redact(admin_url));
    if parts.contains(&1) {
        println!("appends with {clients} client(s), {seconds} s per size");
        appends_against_size(admin_url, sizes, clients, Duration::from_secs(seconds)).await?;
    }
    if parts.contains(&2) {
        command_against_length(config, admin_url, lengths).await?;
    }
    if parts.contains(&3) || parts.contains(&4) {
        crate::bench_rebuild::rebuild_and_tables(config, admin_url, rebuild_events, rebuild_in_flight).await?;
    }
    Ok(())
}

async fn appends_against_size(
    admin_url: &str,
    sizes: &[i64],
    clients: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    let scratch = ScratchDatabase::create(admin_url)?;
    let url = scratch.url.clone();
    let db = tokio::task::spawn_blocking(move || -> anyhow::Result<Database> {
        let db = Database::connect(&url, u32::try_from(clients).unwrap_or(8) + 2)?;
        db.migrate(&[fleuve_store::EVENT_STORE_MIGRATIONS])?;
        Ok(db)
    })
    .await??;
    let mut sizes = sizes.to_vec();
    sizes.sort_unstable();
    println!(
        "1. appends against the events already stored (target: the rate at the largest within 10 % of the smallest)"
    );
    println!(
        "{:>12} {:>10} {:>10} {:>11} {:>8} {:>8} {:>7} | {:>10} {:>12} {:>12}",
        "events",
        "fill s",
        "table MiB",
        "appends/s",
        "p50 ms",
        "p99 ms",
        "ratio",
        "drained/s",
        "read p50 ms",
        "read p99 ms"
    );
    let mut baseline = None;
    for size in sizes {
        let (stored, fill_seconds) = fill(&db, size).await?;
        let mib = relation_mib(&db, "events").await?;
        let figures = crate::bench_append::run_appends(&db, clients, duration).await?;
        let base = *baseline.get_or_insert(figures.tps);
        let drained = drain_outbox(&db).await?;
        println!(
            "{:>12} {:>10.1} {:>10.0} {:>11.0} {:>8.2} {:>8.2} {:>7.2} | {:>10.0} {:>12.3} {:>12.3}",
            stored,
            fill_seconds,
            mib,
            figures.tps,
            figures.p50_ms,
            figures.p99_ms,
            figures.tps / base,
            drained.per_second,
            drained.read_p50_ms,
            drained.read_p99_ms
        );
    }
    Ok(())
}

/// How fast the outbox drained, and what each batch read cost.
pub(crate) struct Drained {
    pub(crate) per_second: f64,
    pub(crate) read_p50_ms: f64,
    pub(crate) read_p99_ms: f64,
}

/// Drains the outbox as the relay does, without a broker: advances the watermark, then reads
/// the log past the checkpoint in batches of [`fleuve_bus::relay::DEFAULT_BATCH_SIZE`] events
/// and moves the checkpoint after each.
pub(crate) async fn drain_outbox(db: &Database) -> anyhow::Result<Drained> {
    use fleuve_store::event_store::{OutboxProgress, Watermark, outbox_checkpoint, outbox_log_after, outbox_record};
    let started = Instant::now();
    let (mut after, up_to) = db
        .run(|conn| -> anyhow::Result<(i64, i64)> {
            let mut watermark = Watermark::new();
            // Nothing else writes: the second reading passes the first.
            watermark.advance(conn)?;
            Ok((outbox_checkpoint(conn)?, watermark.advance(conn)?))
        })
        .await?;
    let mut reads = Vec::new();
    let mut rows = 0_usize;
    loop {
        let (elapsed, read, last) = db
            .run(move |conn| -> anyhow::Result<_> {
                let t0 = Instant::now();
                let batch = outbox_log_after(conn, after, up_to, fleuve_bus::relay::DEFAULT_BATCH_SIZE)?;
                Ok((t0.elapsed(), batch.len(), batch.last().map(|(row, _)| row.position)))
            })
            .await?;
        let Some(last) = last else { break };
        reads.push(elapsed);
        rows += read;
        after = last;
        let progress = OutboxProgress { through: Some(last), ..OutboxProgress::default() };
        db.run(move |conn| outbox_record(conn, &progress)).await?;
    }
    reads.sort();
    Ok(Drained {
        per_second: rows as f64 / started.elapsed().as_secs_f64(),
        read_p50_ms: percentile(&reads, 0.5),
        read_p99_ms: percentile(&reads, 0.99),
    })
}

/// Fills the log up to `size` events (in streams of [`FILL_STREAM_EVENTS`]), then vacuums and
/// analyses it; returns the events stored and the seconds it took.
async fn fill(db: &Database, size: i64) -> anyhow::Result<(i64, f64)> {
    let started = Instant::now();
    let stored = db
        .run(move |conn| -> anyhow::Result<i64> {
            // The fill's own rows (the appends measured in between are not counted): later fills
            // continue its numbering, and its last stream.
            let mut have =
                diesel::sql_query("SELECT count(*) AS n FROM events WHERE aggregate_type = 'fill'").get_result::<Count>(conn)?.n;
            let others =
                diesel::sql_query("SELECT count(*) AS n FROM events WHERE aggregate_type <> 'fill'").get_result::<Count>(conn)?.n;
            while have + others < size {
                let upto = (have + FILL_CHUNK).min(size - others);
                diesel::sql_query(format!(
                    "INSERT INTO events (stream_id, aggregate_type, aggregate_id, version, event_id, event_type, \
                     payload, correlation_id, causation_id, actor, trace_context, recorded_at) \
                     SELECT 'fill-' || (i / {FILL_STREAM_EVENTS}), 'fill', (i / {FILL_STREAM_EVENTS})::text, \
                     i % {FILL_STREAM_EVENTS} + 1, gen_random_uuid()::text, 'Filled', decode(repeat('ab', 120), 'hex'), \
                     gen_random_uuid()::text, NULL, 'bench', NULL, localtimestamp \
                     FROM generate_series({have}::bigint, {}::bigint) AS i",
                    upto - 1
                ))
                .execute(conn)?;
                // The streams the chunk wrote to, at the version they reached.
                diesel::sql_query(format!(
                    "INSERT INTO streams (stream_id, aggregate_type, version, updated_at) \
                     SELECT 'fill-' || s, 'fill', LEAST({FILL_STREAM_EVENTS}, {upto} - s * {FILL_STREAM_EVENTS}), localtimestamp \
                     FROM generate_series({}::bigint, {}::bigint) AS s \
                     ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version",
                    have / FILL_STREAM_EVENTS,
                    (upto - 1) / FILL_STREAM_EVENTS
                ))
                .execute(conn)?;
                have = upto;
            }
            diesel::sql_query("VACUUM ANALYZE events").execute(conn)?;
            diesel::sql_query("VACUUM ANALYZE streams").execute(conn)?;
            // The fill's pages on disk now, not during the measured appends.
            diesel::sql_query("CHECKPOINT").execute(conn)?;
            Ok(have + others)
        })
        .await?;
    Ok((stored, started.elapsed().as_secs_f64()))
}

pub(crate) async fn relation_mib(db: &Database, table: &'static str) -> anyhow::Result<f64> {
    let bytes = db
        .run(move |conn| -> anyhow::Result<Count> {
            Ok(diesel::sql_query(format!("SELECT pg_total_relation_size('{table}') AS n")).get_result::<Count>(conn)?)
        })
        .await?
        .n;
    Ok(bytes as f64 / (1024.0 * 1024.0))
}

async fn command_against_length(config: &MeshConfig, admin_url: &str, lengths: &[i64]) -> anyhow::Result<()> {
    let scratch = ScratchDatabase::create(admin_url)?;
    let mut config = config.clone();
    config.database_url = scratch.url.clone();
    config.apply_migrations = true;
    let db = crate::node::open_database(&config).await?;
    let stock = Stock::new(db.clone());
    let caller = Caller::system("bench-growth");
    let product = "growth-1";
    stock.create_product(&caller, product, "growth", 1, None).await?;
    let mut lengths = lengths.to_vec();
    lengths.sort_unstable();
    println!(
        "2. a command on one aggregate against its stream's length (restock of a product, snapshot every {} events)",
        fleuve_stock::domain::product::PRODUCT_SNAPSHOT_EVERY
    );
    println!(
        "{:>10} {:>9} {:>12} {:>12} {:>12} {:>12} {:>14}",
        "events", "fill s", "command p50", "command p99", "load p50", "load p99", "replay (no snapshot)"
    );
    let mut length = 1_i64;
    for target in lengths {
        let started = Instant::now();
        while length < target {
            stock.restock(&caller, product, 1, "fill", 0).await?;
            length += 1;
        }
        let fill_seconds = started.elapsed().as_secs_f64();
        let timed_at = length;
        let mut commands = Vec::with_capacity(SAMPLES);
        let mut loads = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let t0 = Instant::now();
            stock.restock(&caller, product, 1, "timed", 0).await?;
            commands.push(t0.elapsed());
            let (elapsed, exists) = db
                .run(move |conn| -> Result<_, AppError> {
                    let t0 = Instant::now();
                    let product = fleuve_stock::app::load_product(conn, product)?;
                    Ok((t0.elapsed(), product.exists()))
                })
                .await?;
            anyhow::ensure!(exists, "the product is gone");
            loads.push(elapsed);
        }
        length += SAMPLES as i64;
        let (replay, version) = db
            .run(move |conn| -> Result<_, AppError> {
                let t0 = Instant::now();
                let replayed = fleuve_aggregate::repository::replay::<Product, AppError>(conn, product)?;
                Ok((t0.elapsed(), replayed.version))
            })
            .await?;
        anyhow::ensure!(version == length, "the replay ended at version {version}, not {length}");
        commands.sort();
        loads.sort();
        println!(
            "{:>10} {:>9.1} {:>9.2} ms {:>9.2} ms {:>9.3} ms {:>9.3} ms {:>11.2} ms",
            timed_at,
            fill_seconds,
            percentile(&commands, 0.5),
            percentile(&commands, 0.99),
            percentile(&loads, 0.5),
            percentile(&loads, 0.99),
            replay.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}
