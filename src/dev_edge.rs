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

/// Writes the descriptor set and the configuration of the dev preset under `data_dir/edge/`,
/// starts `envoy` and waits (up to 20 s) for its listener on `listen`.
pub fn start(envoy: &Path, data_dir: &Path, node: SocketAddr, listen: SocketAddr) -> anyhow::Result<DevEdge> {
    start_with(envoy, data_dir, node, listen, crate::edge::Preset::Dev.edge())
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
        .args(["--concurrency", "1", "--use-dynamic-base-id", "-l", "warning", "--log-path"])
        .arg(dir.join("envoy.log"))
        .arg("-c")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::from(access_log))
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", envoy.display()))?;
    let mut edge = DevEdge { child, addr: listen, admin, dir };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect_timeout(&listen, Duration::from_millis(200)).is_err() {
        if let Some(status) = edge.child.try_wait()? {
            let log = std::fs::read_to_string(edge.dir.join("envoy.log")).unwrap_or_default();
            let last: Vec<&str> = log.lines().rev().take(5).collect();
            anyhow::bail!("envoy exited ({status}): {}", last.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        anyhow::ensure!(Instant::now() < deadline, "envoy did not listen on {listen} within 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(edge)
}
