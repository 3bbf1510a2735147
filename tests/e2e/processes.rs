//! Processes of the `fleuve` binary as the end-to-end tests start them: children killed on
//! drop, free ports, waiting for a listener, and `fleuve infra` (broker and registry alone).

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::support::fleuve_command;

/// A child process killed (SIGKILL) on drop.
pub struct Process(pub Child);

impl Process {
    /// SIGKILL, and reap it.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A process stopped with SIGTERM on drop (SIGKILL after 15 s): a graceful stop, so what it
/// started itself (`fleuve dev`'s Envoy) stops with it.
pub struct Graceful(pub Process);

impl Drop for Graceful {
    fn drop(&mut self) {
        let child = &mut (self.0).0;
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A port nothing listens on, never handed out twice in this test binary, and taken below the
/// kernel's ephemeral range: a port from `bind(0)` is one the kernel hands out again, to the
/// next `bind(0)` of any process (an admin server on port 0, an embedded broker) or to an
/// outgoing connection, before the test's process binds it. Below the range, only tests
/// bind.
pub fn free_port() -> u16 {
    static NEXT: std::sync::Mutex<Option<u16>> = std::sync::Mutex::new(None);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next().and_then(|low| low.parse::<u16>().ok()))
        .unwrap_or(32768);
    let (low, high) = (ephemeral_low.saturating_sub(12_000).max(1024), ephemeral_low);
    let mut next = NEXT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Start where another run of this binary (another pid) is unlikely to be.
    let mut port = next.unwrap_or_else(|| low + (std::process::id() % 97) as u16 * 100);
    loop {
        if port >= high {
            port = low;
        }
        let candidate = port;
        port += 1;
        if TcpListener::bind(("127.0.0.1", candidate)).is_ok() {
            *next = Some(port);
            return candidate;
        }
    }
}

/// Prints, for each `*.log` file in `dir` (the JSON logs of the processes a failed test
/// kept), its warnings and errors grouped by message (digits masked), with how often and when
/// each was seen, then its last lines: the CI log then says what went wrong and when, after
/// the machine that ran the test and its kept files are gone.
pub fn print_log_digest(dir: &std::path::Path) {
    const GROUPS: usize = 10;
    const LAST: usize = 3;
    const WIDTH: usize = 300;
    let cut = |line: &str| line.char_indices().nth(WIDTH).map_or(line.len(), |(i, _)| i);
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut logs: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    logs.retain(|p| p.extension().is_some_and(|e| e == "log"));
    logs.sort();
    for path in logs {
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        // By (level, message masked), in order of last sighting.
        let mut groups: Vec<((String, String), Sightings)> = Vec::new();
        for line in text.lines() {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            let level = event["level"].as_str().unwrap_or_default();
            if level != "WARN" && level != "ERROR" {
                continue;
            }
            let message = event["message"].as_str().unwrap_or_default();
            let masked: String = message.chars().take(100).map(|c| if c.is_ascii_digit() { '#' } else { c }).collect();
            let at = event["timestamp"].as_str().unwrap_or_default().to_owned();
            let mut example = format!("{}: {message}", event["target"].as_str().unwrap_or_default());
            if let Some(error) = event["error"].as_str() {
                example = format!("{example} ({error})");
            }
            example.truncate(cut(&example));
            let key = (level.to_owned(), masked);
            match groups.iter().position(|(k, _)| *k == key) {
                Some(i) => {
                    let (key, seen) = groups.remove(i);
                    groups.push((key, Sightings { count: seen.count + 1, last: at, example, ..seen }));
                }
                None => groups.push((key, Sightings { count: 1, first: at.clone(), last: at, example })),
            }
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        eprintln!("--- {name}: {} lines; warnings and errors by message, last seen last:", text.lines().count());
        for ((level, _), seen) in &groups[groups.len().saturating_sub(GROUPS)..] {
            let Sightings { count, first, last, example } = seen;
            eprintln!("  {level} x{count} {first} .. {last}: {example}");
        }
        eprintln!("  the last lines:");
        let lines: Vec<&str> = text.lines().collect();
        for line in &lines[lines.len().saturating_sub(LAST)..] {
            eprintln!("  {}", &line[..cut(line)]);
        }
    }
}

/// One message of a log: how often, when first and last, and its last occurrence.
struct Sightings {
    count: usize,
    first: String,
    last: String,
    example: String,
}

pub fn wait_for_port(port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `fleuve infra` (broker and registry on their own, in memory) and reads its `export`
/// lines.
pub fn start_infra() -> (Process, HashMap<String, String>) {
    infra(&["--kafka-listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0"], None)
}

/// Starts `fleuve infra` on these ports, keeping its broker and registry in `dir` (a restart on
/// the same directory and ports finds them again). Its log is appended to `<dir>.log`, one
/// file across restarts.
pub fn start_infra_kept(dir: &std::path::Path, kafka: u16, registry: u16) -> (Process, HashMap<String, String>) {
    let kafka = format!("127.0.0.1:{kafka}");
    let registry = format!("127.0.0.1:{registry}");
    let log = dir.with_extension("log");
    let dir = dir.display().to_string();
    infra(&["--kafka-listen", &kafka, "--registry-listen", &registry, "--data-dir", &dir], Some(&log))
}

fn infra(args: &[&str], log: Option<&std::path::Path>) -> (Process, HashMap<String, String>) {
    let stderr = match log {
        Some(path) => Stdio::from(
            std::fs::OpenOptions::new().create(true).append(true).open(path).expect("fleuve infra's log file"),
        ),
        None => Stdio::null(),
    };
    let mut child = fleuve_command()
        .arg("infra")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start fleuve infra");
    let stdout = child.stdout.take().unwrap();
    let process = Process(child);
    let mut vars = HashMap::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("infra banner");
        if let Some((k, v)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            vars.insert(k.to_owned(), v.to_owned());
        }
        if vars.len() == 2 {
            break;
        }
    }
    assert_eq!(vars.len(), 2, "fleuve infra printed its addresses");
    (process, vars)
}
