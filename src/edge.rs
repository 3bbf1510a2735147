//! `fleuve edge envoy`: the Envoy configuration of the edge for a topology, from the
//! contracts and the servers' own list of public methods (see `fleuve-gateway`).

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use fleuve_gateway::{Edge, Rate, Tls, Topology};

/// The shipped configurations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// In front of `fleuve dev` on 127.0.0.1:50051; Envoy on 127.0.0.1:8080.
    Dev,
    /// In front of the `fleuve serve` processes at NAME:50051; Envoy on 0.0.0.0:8080.
    Split,
    /// As `split`, on TLS at 0.0.0.0:8443 (certificate in /etc/envoy/tls/).
    SplitTls,
}

impl Preset {
    /// The file of `gateway/envoy/` holding this preset's output.
    pub fn file_name(self) -> &'static str {
        match self {
            Preset::Dev => "dev.yaml",
            Preset::Split => "split.yaml",
            Preset::SplitTls => "split-tls.yaml",
        }
    }

    pub fn edge(self) -> Edge {
        let public = public_paths();
        match self {
            Preset::Dev => Edge::dev(public),
            Preset::Split => Edge::split(public),
            Preset::SplitTls => Edge::split_tls(public),
        }
    }
}

/// Methods callable without a token: the servers' own lists.
pub fn public_paths() -> Vec<String> {
    fleuve_identity::PUBLIC_METHODS
        .iter()
        .chain(fleuve_homologation::adapters::grpc::PUBLIC_METHODS)
        .map(|p| (*p).to_owned())
        .collect()
}

/// `fleuve edge envoy` options: a preset, and what to change in it.
#[derive(Debug, Clone, clap::Args)]
pub struct EnvoyArgs {
    #[arg(long, value_enum, default_value = "dev")]
    pub topology: Preset,
    /// dev: the address of `fleuve dev`.
    #[arg(long)]
    pub node: Option<String>,
    /// split: a service's address, `NAME=HOST:PORT` (repeatable; the others keep NAME:50051).
    #[arg(long = "upstream", value_parser = parse_upstream)]
    pub upstreams: Vec<(String, String)>,
    /// Envoy's public listener.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Envoy's admin interface (a loopback address).
    #[arg(long)]
    pub admin: Option<SocketAddr>,
    /// Serve TLS with this certificate chain (PEM) and `--tls-key`.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<String>,
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<String>,
    /// Browser origins granted CORS (repeatable), replacing the preset's.
    #[arg(long = "cors-origin")]
    pub cors_origins: Vec<String>,
    /// Proxies in front of Envoy whose X-Forwarded-For is trusted.
    #[arg(long)]
    pub trusted_hops: Option<u32>,
    /// OTLP/gRPC collector `HOST:PORT` for the edge's spans, or `none`.
    #[arg(long)]
    pub otlp_collector: Option<String>,
    /// Interval of the upstream health checks, in milliseconds.
    #[arg(long)]
    pub health_check_interval_ms: Option<u64>,
    /// Calls per signed-in principal, `N/SECONDS`.
    #[arg(long, value_parser = parse_rate)]
    pub principal_rate: Option<Rate>,
    /// Calls per client address without a token, `N/SECONDS`.
    #[arg(long, value_parser = parse_rate)]
    pub anonymous_rate: Option<Rate>,
    /// Login attempts per client address, `N/SECONDS`.
    #[arg(long, value_parser = parse_rate)]
    pub login_rate: Option<Rate>,
    /// Largest request body the edge lets through.
    #[arg(long)]
    pub max_request_bytes: Option<u64>,
    /// Where Envoy reads the contracts' descriptor set (`fleuve edge descriptor` writes it).
    #[arg(long)]
    pub descriptor: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

fn parse_upstream(s: &str) -> Result<(String, String), String> {
    let (name, address) = s.split_once('=').ok_or_else(|| format!("{s:?}: expected NAME=HOST:PORT"))?;
    if !fleuve_gateway::envoy::SERVICES.contains(&name) {
        return Err(format!("unknown service {name:?} (known: {})", fleuve_gateway::envoy::SERVICES.join(", ")));
    }
    Ok((name.to_owned(), address.to_owned()))
}

fn parse_rate(s: &str) -> Result<Rate, String> {
    let bad = || format!("{s:?}: expected N/SECONDS, e.g. 100/1");
    let (n, per) = s.split_once('/').ok_or_else(bad)?;
    let requests: u32 = n.parse().map_err(|_| bad())?;
    let per_seconds: u32 = per.parse().map_err(|_| bad())?;
    if requests == 0 || per_seconds == 0 {
        return Err(bad());
    }
    Ok(Rate { requests, per_seconds })
}

impl EnvoyArgs {
    /// The preset with these options applied.
    pub fn edge(&self) -> anyhow::Result<Edge> {
        let mut edge = self.topology.edge();
        match (&mut edge.topology, &self.node, self.upstreams.is_empty()) {
            (Topology::Dev { address }, node, true) => {
                if let Some(node) = node {
                    address.clone_from(node);
                }
            }
            (Topology::Split { addresses }, None, _) => {
                for (name, address) in &self.upstreams {
                    addresses.insert(name.clone(), address.clone());
                }
            }
            (Topology::Dev { .. }, _, false) => anyhow::bail!("--upstream is for the split topologies; use --node"),
            (Topology::Split { .. }, Some(_), _) => anyhow::bail!("--node is for the dev topology; use --upstream"),
        }
        if let Some(listen) = self.listen {
            edge.listen = listen;
        }
        if let Some(admin) = self.admin {
            edge.admin = admin;
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            edge.tls = Some(Tls { certificate_chain: cert.clone(), private_key: key.clone() });
        }
        if !self.cors_origins.is_empty() {
            fleuve_mesh::grpc::web::AllowedOrigins::parse(&self.cors_origins).map_err(|e| anyhow::anyhow!(e))?;
            edge.cors_origins.clone_from(&self.cors_origins);
        }
        if let Some(hops) = self.trusted_hops {
            edge.trusted_hops = hops;
        }
        match self.otlp_collector.as_deref() {
            Some("none") => edge.otlp_collector = None,
            Some(collector) => edge.otlp_collector = Some(collector.to_owned()),
            None => {}
        }
        if let Some(ms) = self.health_check_interval_ms {
            edge.health_check_interval_ms = ms;
        }
        if let Some(rate) = self.principal_rate {
            edge.limits.per_principal = rate;
        }
        if let Some(rate) = self.anonymous_rate {
            edge.limits.per_anonymous_address = rate;
        }
        if let Some(rate) = self.login_rate {
            edge.limits.login_per_address = rate;
        }
        if let Some(bytes) = self.max_request_bytes {
            edge.limits.max_request_bytes = bytes;
        }
        if let Some(path) = &self.descriptor {
            edge.descriptor_path.clone_from(path);
        }
        Ok(edge)
    }
}

/// The YAML of `edge`, headed by how to regenerate it.
pub fn render(edge: &Edge, how: &str) -> anyhow::Result<String> {
    let config = edge.config(&fleuve_gateway::rpcs()).map_err(|e| anyhow::anyhow!(e))?;
    Ok(format!(
        "# Envoy configuration of the Fleuve edge, generated by `{how}` from proto/ and the servers'\n\
         # public methods: do not edit; regenerate. Check: envoy --mode validate -c FILE\n{}",
        fleuve_gateway::to_yaml(&config)
    ))
}

/// Runs `fleuve edge envoy`.
pub fn envoy(args: &EnvoyArgs) -> anyhow::Result<()> {
    let edge = args.edge()?;
    let how = format!("fleuve edge envoy --topology {}", args.topology.file_name().trim_end_matches(".yaml"));
    let text = render(&edge, &how)?;
    match &args.out {
        Some(path) => std::fs::write(path, text).with_context(|| format!("writing {}", path.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// `fleuve edge descriptor`: the contracts' descriptor set (with their imports and comments),
/// for Envoy's JSON transcoder.
pub fn descriptor(out: &std::path::Path) -> anyhow::Result<()> {
    std::fs::write(out, fleuve_proto::FILE_DESCRIPTOR_SET).with_context(|| format!("writing {}", out.display()))
}

/// The shipped file of a preset, as the generator writes it today.
pub fn shipped(preset: Preset) -> anyhow::Result<String> {
    let how = format!("fleuve edge envoy --topology {}", preset.file_name().trim_end_matches(".yaml"));
    render(&preset.edge(), &how)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `gateway/envoy/` holds exactly what the generator writes: regenerate with
    /// `for t in dev split split-tls; do fleuve edge envoy --topology $t -o gateway/envoy/$t.yaml; done`.
    #[test]
    fn shipped_configurations_are_the_generators_output() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway/envoy");
        for preset in [Preset::Dev, Preset::Split, Preset::SplitTls] {
            let path = dir.join(preset.file_name());
            let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                on_disk == shipped(preset).unwrap(),
                "{} differs from the generator's output: run `fleuve edge envoy --topology {} -o {}`",
                path.display(),
                preset.file_name().trim_end_matches(".yaml"),
                path.display()
            );
        }
    }

    /// The transcoder of the dev preset reads `gateway/envoy/fleuve.binpb`: today's contracts.
    #[test]
    fn the_shipped_descriptor_set_is_the_contracts() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway/envoy/fleuve.binpb");
        let on_disk = std::fs::read(&path).unwrap_or_default();
        assert!(
            on_disk == fleuve_proto::FILE_DESCRIPTOR_SET,
            "{} is not today's contracts: run `fleuve edge descriptor -o {}`",
            path.display(),
            path.display()
        );
    }

    #[test]
    fn rates_and_upstreams_parse() {
        assert_eq!(parse_rate("5/60").unwrap(), Rate { requests: 5, per_seconds: 60 });
        assert!(parse_rate("5").is_err() && parse_rate("0/1").is_err());
        assert_eq!(parse_upstream("order=127.0.0.1:7001").unwrap(), ("order".into(), "127.0.0.1:7001".into()));
        assert!(parse_upstream("orders=x:1").is_err());
    }

    #[test]
    fn the_admin_interface_stays_on_loopback() {
        let mut edge = Preset::Dev.edge();
        edge.admin = SocketAddr::from(([0, 0, 0, 0], 9901));
        assert!(edge.config(&fleuve_gateway::rpcs()).unwrap_err().contains("loopback"));
    }
}
