//! Any Kafka client talks to the embedded broker, not only the librdkafka Fleuve links: Debian's
//! `kcat` (librdkafka 2.0.2, which reads a tagged field's length one byte short) and
//! kafka-python (a client written without librdkafka) each run the handshake, metadata,
//! produce, fetch and a consumer group's commit, and the bundled librdkafka reads what they
//! wrote and the offsets they committed.
//!
//! `kcat` is Debian's package; kafka-python is in `${FLEUVE_TOOLS:-~/.cache/fleuve/tools}/venv`
//! (both installed by `scripts/test`).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use fleuve_bus::EmbeddedBroker;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::time::{Instant, timeout};

const OP_TIMEOUT: Duration = Duration::from_secs(20);

async fn start_broker() -> Result<EmbeddedBroker> {
    let listen: SocketAddr = "127.0.0.1:0".parse()?;
    Ok(timeout(OP_TIMEOUT, EmbeddedBroker::start(listen)).await.context("broker start timed out")??)
}

/// Runs `program` with `args` (and `stdin`), bounded by a minute; its stdout, or an error with
/// its stderr.
async fn run(program: PathBuf, args: Vec<String>, stdin: Option<String>) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        // Cargo points LD_LIBRARY_PATH at the build's native libraries, which would make kcat
        // load the bundled librdkafka instead of its own.
        let mut child = Command::new(&program)
            .env_remove("LD_LIBRARY_PATH")
            .args(&args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("start {}", program.display()))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes())?;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while child.try_wait()?.is_none() {
            if std::time::Instant::now() > deadline {
                child.kill()?;
                anyhow::bail!("{} {args:?} did not finish within a minute", program.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output()?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        ensure!(out.status.success(), "{} {args:?} failed ({}):\n{stderr}\n{stdout}", program.display(), out.status);
        Ok(stdout)
    })
    .await?
}

async fn kcat(addr: &str, args: &[&str], stdin: Option<String>) -> Result<String> {
    let mut all = vec!["-b".to_owned(), addr.to_owned()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    run(PathBuf::from("kcat"), all, stdin).await
}

/// What the broker holds as `group`'s committed offsets of `topic`'s partitions.
async fn committed(broker: &EmbeddedBroker, group: &str, topic: &str, partitions: i32) -> Result<Vec<i64>> {
    let consumer: BaseConsumer = broker.bus_config().consumer_config(group).create()?;
    let mut list = TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition(topic, partition);
    }
    let offsets = tokio::task::spawn_blocking(move || consumer.committed_offsets(list, OP_TIMEOUT)).await??;
    (0..partitions)
        .map(|p| match offsets.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(n)) => Ok(n),
            Some(Offset::Invalid) | None => Ok(-1),
            Some(other) => anyhow::bail!("partition {p}: unexpected committed offset {other:?}"),
        })
        .collect()
}

/// Every record of `topic` read with the bundled librdkafka: (partition, offset, key, value).
async fn read_all(broker: &EmbeddedBroker, topic: &str, count: usize) -> Result<Vec<(i32, i64, String, String)>> {
    let consumer: StreamConsumer = broker.bus_config().consumer_config("fleuve-reader").create()?;
    consumer.subscribe(&[topic])?;
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut out = Vec::new();
    while out.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = timeout(left, consumer.recv())
            .await
            .with_context(|| format!("read {} of {count} records of {topic}", out.len()))??;
        let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
        out.push((message.partition(), message.offset(), text(message.key()), text(message.payload())));
    }
    tokio::task::block_in_place(|| drop(consumer));
    out.sort();
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_of_librdkafka_2_0_lists_produces_consumes_and_commits() -> Result<()> {
    let broker = start_broker().await?;
    let addr = broker.bootstrap_servers();
    let topic = "kcat.records";
    timeout(OP_TIMEOUT, fleuve_bus::ensure_topics(&broker.bus_config(), &[topic], 2, 1)).await??;

    // kcat runs its own librdkafka, an older one than the bundled.
    let version = run(PathBuf::from("kcat"), vec!["-V".into()], None).await?;
    let (_, bundled) = rdkafka::util::get_rdkafka_version();
    let linked = version.split("librdkafka ").nth(1).and_then(|v| v.split(' ').next()).context("kcat -V")?;
    ensure!(linked != bundled, "kcat runs the bundled librdkafka {bundled}:\n{version}");

    // The handshake (ApiVersions v3) and metadata: the broker and the topic's two partitions.
    let metadata: serde_json::Value = serde_json::from_str(&kcat(&addr, &["-L", "-J", "-t", topic], None).await?)?;
    let brokers = metadata["brokers"].as_array().context("brokers")?;
    ensure!(brokers.len() == 1, "one broker expected: {metadata}");
    ensure!(brokers[0]["name"].as_str().is_some_and(|n| n.ends_with(&format!(":{}", broker.addr().port()))));
    let listed = metadata["topics"].as_array().context("topics")?;
    ensure!(listed.len() == 1 && listed[0]["topic"] == topic, "{metadata}");
    ensure!(listed[0]["partitions"].as_array().map(Vec::len) == Some(2), "{metadata}");

    // Produce, keyed: each key's records stay in one partition and in order.
    let lines: String = (0..20).map(|i| format!("key-{}:kcat-{i}\n", i % 4)).collect();
    kcat(&addr, &["-P", "-t", topic, "-K", ":"], Some(lines)).await?;

    // Fetch from the beginning until the end of every partition.
    let fetched = kcat(&addr, &["-C", "-t", topic, "-o", "beginning", "-e", "-f", "%p %o %k %s\\n"], None).await?;
    let mut by_key: BTreeMap<String, Vec<(i32, i64, u32)>> = BTreeMap::new();
    for line in fetched.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        ensure!(fields.len() == 4, "kcat printed {line:?}");
        let n: u32 = fields[3].strip_prefix("kcat-").context("value")?.parse()?;
        by_key.entry(fields[2].to_owned()).or_default().push((fields[0].parse()?, fields[1].parse()?, n));
    }
    ensure!(by_key.values().map(Vec::len).sum::<usize>() == 20, "kcat fetched:\n{fetched}");
    for (key, records) in &by_key {
        ensure!(
            records.windows(2).all(|w| w[0].0 == w[1].0 && w[0].1 < w[1].1 && w[0].2 < w[1].2),
            "{key}: {records:?}"
        );
    }

    // A balanced consumer (JoinGroup, SyncGroup, OffsetFetch, Heartbeat, OffsetCommit on close).
    let grouped =
        kcat(&addr, &["-G", "kcat-group", "-X", "auto.offset.reset=earliest", "-e", "-f", "%s\\n", topic], None)
            .await?;
    ensure!(grouped.lines().count() == 20, "the group read:\n{grouped}");

    // The bundled librdkafka sees what kcat wrote and the offsets kcat's group committed.
    let read = read_all(&broker, topic, 20).await?;
    let mut ends = [0i64; 2];
    for (partition, offset, _, _) in &read {
        ends[*partition as usize] = ends[*partition as usize].max(offset + 1);
    }
    ensure!(read.iter().all(|(_, _, k, v)| k.starts_with("key-") && v.starts_with("kcat-")), "{read:?}");
    let committed = committed(&broker, "kcat-group", topic, 2).await?;
    ensure!(committed == ends.map(|e| if e == 0 { -1 } else { e }), "committed {committed:?}, ends {ends:?}");

    broker.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_produces_consumes_and_commits() -> Result<()> {
    let broker = start_broker().await?;
    let topic = "python.records";
    timeout(OP_TIMEOUT, fleuve_bus::ensure_topics(&broker.bus_config(), &[topic], 2, 1)).await??;
    let tools = std::env::var_os("FLEUVE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/fleuve/tools"));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/kafka_python.py");
    let args = [script.display().to_string(), broker.bootstrap_servers(), topic.into(), "py-group".into(), "12".into()];
    let out = run(tools.join("venv/bin/python"), args.to_vec(), None).await?;
    let report: serde_json::Value = serde_json::from_str(out.trim()).with_context(|| out.clone())?;

    let produced = report["produced"].as_array().context("produced")?;
    let consumed = report["consumed"].as_array().context("consumed")?;
    ensure!(produced.len() == 12 && consumed.len() == 12, "{report}");
    let mut values: Vec<&str> = consumed.iter().filter_map(|c| c["value"].as_str()).collect();
    values.sort_unstable();
    let mut expected: Vec<String> = (0..12).map(|i| format!("python-{i}")).collect();
    expected.sort_unstable();
    ensure!(values == expected, "consumed {values:?}");

    // The bundled librdkafka reads the same records at the offsets the producer was told, and
    // the group's commit is the end of each partition.
    let read = read_all(&broker, topic, 12).await?;
    let mut told: Vec<(i32, i64, String)> = produced
        .iter()
        .map(|p| {
            let partition = p["partition"].as_i64().unwrap_or(-1) as i32;
            (partition, p["offset"].as_i64().unwrap_or(-1), p["value"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    told.sort();
    let seen: Vec<(i32, i64, String)> = read.iter().map(|(p, o, _, v)| (*p, *o, v.clone())).collect();
    ensure!(seen == told, "librdkafka read {seen:?}, kafka-python was told {told:?}");
    let mut ends = [-1i64; 2];
    for (partition, offset, _) in &told {
        ends[*partition as usize] = ends[*partition as usize].max(offset + 1);
    }
    let committed = committed(&broker, "py-group", topic, 2).await?;
    for partition in 0..2 {
        let by_python = report["committed"][partition.to_string()].as_i64();
        ensure!(
            ends[partition] == -1 || (committed[partition] == ends[partition] && by_python == Some(ends[partition])),
            "partition {partition}: committed {committed:?} (kafka-python saw {by_python:?}), ends {ends:?}"
        );
    }

    broker.shutdown().await;
    Ok(())
}
