//! The Envoy edge `fleuve dev` runs in front of its node when Envoy is installed: the same
//! configuration as `gateway/envoy/dev.yaml` (generated for the node's actual address), so
//! REST/JSON, the docs' "try it" and the edge's JWT, CORS and limits work out of the box with
//! one transcoding engine, Envoy's.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context;

/// A running Envoy child; killed when dropped.
#[derive(Debug)]
pub struct DevEdge {
    child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub dir: PathBuf,
}

impl Drop for DevEdge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Envoy's worker threads: `FLEUVE_ENVOY_WORKERS`, 1 by default (a development machine's edge
/// leaves the cores to the node).
fn workers() -> usize {
    std::env::var("FLEUVE_ENVOY_WORKERS").ok().and_then(|w| w.parse().ok()).filter(|w| *w > 0).unwrap_or(1)
}

/// The Envoy binary: `FLEUVE_ENVOY`, or `envoy` on `PATH`.
pub fn find_envoy() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("FLEUVE_ENVOY") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("envoy"))
        .find(|candidate| candidate.is_file())
}

/// Writes the descriptor set and the configuration of the dev preset (with the node's token
/// issuer, audience, CORS origins and request limits) under `data_dir/edge/`, starts `envoy`
/// and waits (up to 20 s) until it is ready.
pub fn start(
    envoy: &Path,
    data_dir: &Path,
    config: &fleuve_mesh::MeshConfig,
    node: SocketAddr,
    listen: SocketAddr,
) -> anyhow::Result<DevEdge> {
    let mut edge = crate::edge::Preset::Dev.edge();
    edge.issuer.clone_from(&config.auth.issuer);
    edge.audience.clone_from(&config.auth.audience);
    if !config.cors.allowed_origins.is_empty() {
        edge.cors_origins.clone_from(&config.cors.allowed_origins);
    }
    edge.limits.max_request_bytes = u64::try_from(config.limits.max_request_bytes).unwrap_or(u64::MAX);
    edge.limits.max_deadline_seconds = config.limits.max_deadline_seconds;
    let uploads = config.section::<fleuve_homologation::Settings>().max_upload_bytes
        + fleuve_homologation::app::UPLOAD_OVERHEAD_BYTES;
    edge.limits.max_upload_request_bytes = u64::try_from(uploads).unwrap_or(u64::MAX);
    start_with(envoy, data_dir, node, listen, edge)
}

/// [`start`] with `edge` as the configuration (its topology, addresses and descriptor path are
/// set here).
pub fn start_with(
    envoy: &Path,
    data_dir: &Path,
    node: SocketAddr,
    listen: SocketAddr,
    mut edge: fleuve_gateway::Edge,
) -> anyhow::Result<DevEdge> {
    let dir = data_dir.join("edge");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let descriptor = dir.join("fleuve.binpb");
    crate::edge::descriptor(&descriptor)?;
    let admin = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").context("choosing the edge's admin port")?;
        probe.local_addr()?
    };
    edge.topology = fleuve_gateway::Topology::Dev { address: node.to_string() };
    edge.listen = listen;
    edge.admin = admin;
    edge.descriptor_path = descriptor.display().to_string();
    let config = dir.join("envoy.yaml");
    std::fs::write(&config, crate::edge::render(&edge, "fleuve dev")?)
        .with_context(|| format!("writing {}", config.display()))?;
    let access_log = std::fs::File::create(dir.join("access.log")).context("creating the edge's access log")?;
    let child = Command::new(envoy)
        .args(["--concurrency", &workers().to_string(), "--use-dynamic-base-id", "-l", "warning", "--log-path"])
        .arg(dir.join("envoy.log"))
        .arg("-c")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::from(access_log))
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", envoy.display()))?;
    let mut edge = DevEdge { child, addr: listen, admin, dir };
    // Ready when its own admin interface says LIVE (not when something answers on `listen`: a
    // stale process could), and still running.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = edge.child.try_wait()? {
            let log = std::fs::read_to_string(edge.dir.join("envoy.log")).unwrap_or_default();
            let last: Vec<&str> = log.lines().rev().take(5).collect();
            anyhow::bail!("envoy exited ({status}): {}", last.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        if admin_ready(admin) {
            return Ok(edge);
        }
        anyhow::ensure!(Instant::now() < deadline, "envoy was not ready within 20 s (see {})", edge.dir.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET /ready` on Envoy's admin interface answers 200 `LIVE`.
fn admin_ready(admin: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&admin, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"GET /ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer.starts_with(b"HTTP/1.1 200")
}
