//! `fleuve bench append`: single-event appends (stream version check and the event with the
//! topic it is published to, one transaction each) beside a peer event store on the same server in the same run: Message DB
//! (the PostgreSQL event store of the Eventide project), its `write_message` driven by pgbench
//! with one stream per client, and pgbench's one-row INSERT (the server's commit ceiling).

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use diesel::{Connection, RunQueryDsl, connection::SimpleConnection, pg::PgConnection};
use fleuve_store::{
    Database, StoreError,
    event_store::{self, EventMetadata, ExpectedVersion, NewEvent, StreamRef},
};
use uuid::Uuid;

use crate::bench::{ScratchDatabase, percentile, pgbench};

/// The Message DB release the peer runs, from the npm registry (`@eventide/message-db`).
const MESSAGE_DB_VERSION: &str = "1.3.1";

/// Message DB's install scripts, in the order its `install.sh` runs them (without the role,
/// views and privileges, which a write benchmark does not use).
const MESSAGE_DB_SCRIPTS: &[&str] = &[
    "schema/message-store.sql",
    "extensions/pgcrypto.sql",
    "tables/messages.sql",
    "types/message.sql",
    "functions/message-store-version.sql",
    "functions/hash-64.sql",
    "functions/acquire-lock.sql",
    "functions/category.sql",
    "functions/is-category.sql",
    "functions/id.sql",
    "functions/cardinal-id.sql",
    "functions/stream-version.sql",
    "functions/write-message.sql",
    "functions/get-stream-messages.sql",
    "functions/get-category-messages.sql",
    "functions/get-last-stream-message.sql",
    "indexes/messages-id.sql",
    "indexes/messages-stream.sql",
    "indexes/messages-category.sql",
];

/// Message DB's functions name their tables and each other without a schema.
const MESSAGE_DB_SEARCH_PATH: &str = "-c search_path=message_store,public";

/// One write per transaction, each client on its own stream of the `bench` category, at the
/// version it expects (`-D expected=-1`, then what the last write returned): the same checks
/// as Fleuve's append. The payload and metadata are about the size of the bench's event.
const MESSAGE_DB_SCRIPT: &str = "SELECT message_store.write_message(gen_random_uuid()::varchar, \
     ('bench-' || :run::text || 'c' || :client_id::text)::varchar, 'BenchEvent'::varchar, \
     '{\"payload\": \"abababababababababababababababababababababababababababababababababababababababababababababababab\"}'::jsonb, \
     '{\"correlationId\": \"0193a5e0-7a4c-7d6e-9c1a-2b3c4d5e6f70\", \"actor\": \"bench\"}'::jsonb, \
     :expected::bigint) AS expected \\gset\n";

const INSERT_SCRIPT: &str = "INSERT INTO pgbench_rows (payload) VALUES (decode(repeat('ab', 120), 'hex'));\n";

#[derive(Debug)]
pub(crate) struct Figures {
    pub(crate) tps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
}

/// One client count's runs in one round.
struct Row {
    clients: usize,
    fleuve: Figures,
    message_db: f64,
    insert: f64,
}

pub(crate) async fn append(
    admin_url: &str,
    clients: &[usize],
    duration: Duration,
    rounds: usize,
) -> anyhow::Result<()> {
    let scripts = message_db_scripts().await?;
    println!(
        "fleuve bench append: {} s per run, {rounds} round(s), PostgreSQL at {}; peer: Message DB {MESSAGE_DB_VERSION}",
        duration.as_secs(),
        crate::node::redact(admin_url)
    );
    let scratch = ScratchDatabase::create(admin_url)?;
    let url = scratch.url.clone();
    let pool_size = u32::try_from(clients.iter().copied().max().unwrap_or(1)).unwrap_or(8) + 2;
    let db = tokio::task::spawn_blocking(move || -> anyhow::Result<Database> {
        let db = Database::connect(&url, pool_size)?;
        db.migrate(&[fleuve_store::EVENT_STORE_MIGRATIONS])?;
        Ok(db)
    })
    .await??;
    {
        let mut conn = PgConnection::establish(&scratch.url)?;
        diesel::sql_query("CREATE TABLE pgbench_rows (id BIGSERIAL PRIMARY KEY, payload BYTEA NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            .execute(&mut conn)?;
        install_message_db(&mut conn, &scripts)?;
    }
    let tag = Uuid::new_v4().simple();
    let temp = std::env::temp_dir();
    let (message_db_script, insert_script) =
        (temp.join(format!("fleuve-message-db-{tag}.sql")), temp.join(format!("fleuve-insert-{tag}.sql")));
    std::fs::write(&message_db_script, MESSAGE_DB_SCRIPT)?;
    std::fs::write(&insert_script, INSERT_SCRIPT)?;
    let outcome = runs(&db, &scratch.url, clients, duration, rounds, &message_db_script, &insert_script).await;
    let _ = std::fs::remove_file(&message_db_script);
    let _ = std::fs::remove_file(&insert_script);
    outcome
}

async fn runs(
    db: &Database,
    url: &str,
    clients: &[usize],
    duration: Duration,
    rounds: usize,
    message_db_script: &Path,
    insert_script: &Path,
) -> anyhow::Result<()> {
    println!(
        "{:>7} {:>7} {:>11} {:>8} {:>8} {:>12} {:>8} {:>12} {:>9}",
        "round", "clients", "appends/s", "p50 ms", "p99 ms", "MessageDB/s", "×MsgDB", "INSERT tps", "×INSERT"
    );
    let mut rows = Vec::new();
    for round in 1..=rounds {
        for &n in clients {
            // The three runs in a rotating order, so that none always goes first.
            let (mut fleuve, mut message_db, mut insert) = (None, None, None);
            for turn in 0..3 {
                match (turn + round - 1) % 3 {
                    0 => fleuve = Some(run_appends(db, n, duration).await?),
                    1 => {
                        let run = Uuid::new_v4().simple().to_string();
                        message_db = Some(pgbench(
                            url,
                            message_db_script,
                            n,
                            duration,
                            &[("run", run), ("expected", "-1".into())],
                            &[("PGOPTIONS", MESSAGE_DB_SEARCH_PATH)],
                        )?);
                    }
                    _ => insert = Some(pgbench(url, insert_script, n, duration, &[], &[])?),
                }
            }
            let (Some(fleuve), Some(message_db), Some(insert)) = (fleuve, message_db, insert) else {
                unreachable!("each of the three runs has its turn")
            };
            println!(
                "{:>7} {:>7} {:>11.0} {:>8.2} {:>8.2} {:>12.0} {:>8.2} {:>12.0} {:>9.2}",
                round,
                n,
                fleuve.tps,
                fleuve.p50_ms,
                fleuve.p99_ms,
                message_db,
                fleuve.tps / message_db,
                insert,
                fleuve.tps / insert
            );
            rows.push(Row { clients: n, fleuve, message_db, insert });
        }
    }
    println!(
        "Message DB takes one advisory lock per category for each write (its design: a category's \
         readers then see positions in commit order); every stream here is of the category `bench`"
    );
    if rounds > 1 {
        println!("medians over {rounds} rounds (targets: ≥ 1.25× Message DB at 1 client, ≥ 2.5× at 8; ≥ 0.6× INSERT)");
        for &n in clients {
            let of =
                |f: &dyn Fn(&Row) -> f64| crate::bench::median(rows.iter().filter(|r| r.clients == n).map(f).collect());
            println!(
                "{:>7} {:>7} {:>11.0} {:>8} {:>8} {:>12.0} {:>8.2} {:>12.0} {:>9.2}",
                "median",
                n,
                of(&|r| r.fleuve.tps),
                "",
                "",
                of(&|r| r.message_db),
                of(&|r| r.fleuve.tps / r.message_db),
                of(&|r| r.insert),
                of(&|r| r.fleuve.tps / r.insert)
            );
        }
    }
    Ok(())
}

/// Message DB's `database/` directory, installed with npm under the tools cache
/// (`$FLEUVE_TOOLS`, else `~/.cache/fleuve/tools`) on first use.
async fn message_db_scripts() -> anyhow::Result<PathBuf> {
    let tools = std::env::var_os("FLEUVE_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/fleuve/tools")));
    let prefix =
        tools.context("neither FLEUVE_TOOLS nor HOME is set")?.join(format!("message-db-{MESSAGE_DB_VERSION}"));
    let package = prefix.join("node_modules/@eventide/message-db");
    let dir = package.join("database");
    let installed = |package: &Path| -> Option<String> {
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(package.join("package.json")).ok()?).ok()?;
        manifest["version"].as_str().map(str::to_owned)
    };
    if installed(&package).as_deref() != Some(MESSAGE_DB_VERSION) {
        println!("installing Message DB {MESSAGE_DB_VERSION} (npm @eventide/message-db) into {}", prefix.display());
        std::fs::create_dir_all(&prefix)?;
        let prefix = prefix.clone();
        let status = tokio::task::spawn_blocking(move || {
            Command::new("npm")
                .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
                .arg(&prefix)
                .arg(format!("@eventide/message-db@{MESSAGE_DB_VERSION}"))
                .status()
        })
        .await?
        .context("running npm (Debian package npm)")?;
        anyhow::ensure!(status.success(), "npm install @eventide/message-db@{MESSAGE_DB_VERSION} failed");
    }
    let version = installed(&package);
    anyhow::ensure!(
        version.as_deref() == Some(MESSAGE_DB_VERSION),
        "{} holds Message DB {version:?}, not {MESSAGE_DB_VERSION}",
        package.display()
    );
    Ok(dir)
}

/// Message DB's schema, table, functions and indexes in the scratch database.
fn install_message_db(conn: &mut PgConnection, scripts: &Path) -> anyhow::Result<()> {
    conn.batch_execute("SET client_min_messages = warning; SET search_path = message_store, public")?;
    for script in MESSAGE_DB_SCRIPTS {
        let path = scripts.join(script);
        let sql = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        conn.batch_execute(&sql).with_context(|| format!("installing Message DB: {script}"))?;
    }
    Ok(())
}

/// `clients` tasks, each appending one event at a time to its own stream at the expected
/// version (stream version check + event with its topic), through the pool and blocking-thread
/// path the services use.
pub(crate) async fn run_appends(db: &Database, clients: usize, duration: Duration) -> anyhow::Result<Figures> {
    let deadline = Instant::now() + duration;
    let payload = Arc::new(vec![0xab_u8; 120]);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let db = db.clone();
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            let stream = StreamRef::new("bench", Uuid::now_v7().to_string());
            let mut version = 0_i64;
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let (s, p) = (stream.clone(), payload.clone());
                let expected = if version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(version) };
                // The append is one statement: on its own it is one atomic transaction.
                let out = db
                    .run(move |conn| -> Result<_, StoreError> {
                        let event = NewEvent::new("BenchEvent", p.as_ref().clone());
                        let meta = EventMetadata::new(Uuid::now_v7().to_string(), "bench");
                        event_store::append(conn, &s, expected, &[event], &meta, Some("bench.v1"))
                    })
                    .await?;
                version = out.last_version;
                latencies.push(t0.elapsed());
            }
            Ok::<_, StoreError>(latencies)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    tracing::debug!(appends = all.len(), "run done");
    Ok(Figures { tps: all.len() as f64 / elapsed, p50_ms: percentile(&all, 0.5), p99_ms: percentile(&all, 0.99) })
}
