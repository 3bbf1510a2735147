//! The edge in front of Fleuve: Envoy's configuration, generated from the contracts so the
//! one-node (`fleuve dev`) and the split (`fleuve serve` per service) topologies cannot drift.
//!
//! Every route comes from an RPC of `proto/`: its path, the service (by protobuf package) that
//! answers it, whether it is a read (`idempotency_level = NO_SIDE_EFFECTS`: retried on an
//! unavailable upstream) and whether it streams (no route timeout). Which RPCs need no token
//! is the servers' own list, passed in by the binary. `gateway/envoy/*.yaml` are this
//! generator's output for the shipped defaults (`fleuve edge envoy --topology ...`); a test
//! regenerates them and fails on any difference.

pub mod envoy;
pub mod openapi;
mod yaml;

pub use envoy::{Edge, Limits, Rate, Tls, Topology};
pub use yaml::to_yaml;

/// Methods whose request carries a whole file: allowed `Limits::max_upload_request_bytes`.
pub const UPLOAD_RPCS: &[&str] = &["/fleuve.homologation.v1.DossierService/UploadDocument"];

/// One RPC of the contracts, as the edge routes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rpc {
    /// `/fleuve.order.v1.OrderService/GetOrder`
    pub path: String,
    /// `fleuve.order.v1`
    pub package: String,
    /// Declared `NO_SIDE_EFFECTS`: safe to retry.
    pub read_only: bool,
    /// A server stream (`WatchOrder`): no route timeout.
    pub server_streaming: bool,
}

impl Rpc {
    /// The upstream service that answers this RPC in the split topology (`order` for
    /// `fleuve.order.v1`), or `None` for the operations API (`fleuve.ops.v1`, present on every
    /// process on the bus): the edge routes it by the `x-fleuve-node` header instead, and keeps
    /// it off the REST surface.
    pub fn service(&self) -> Option<&str> {
        exposed_service(&self.package)
    }
}

/// Whether `path` is public by `public`: an entry ending in `/` covers a whole service, any
/// other one method (the servers' rule).
pub fn is_public(public: &[String], path: &str) -> bool {
    public.iter().any(|p| if p.ends_with('/') { path.starts_with(p.as_str()) } else { path == p })
}

/// The service a package belongs to, if the edge exposes it (not `fleuve.ops.v1`).
pub fn exposed_service(package: &str) -> Option<&str> {
    let name = package.strip_prefix("fleuve.")?.strip_suffix(".v1")?;
    (name != "ops").then_some(name)
}

/// Every RPC of the contracts, in descriptor order.
pub fn rpcs() -> Vec<Rpc> {
    use prost::Message;
    use prost_types::method_options::IdempotencyLevel;
    let set = prost_types::FileDescriptorSet::decode(fleuve_proto::FILE_DESCRIPTOR_SET)
        .expect("fleuve-proto's descriptor set decodes");
    let mut rpcs = Vec::new();
    for file in &set.file {
        let package = file.package().to_owned();
        for service in &file.service {
            for method in &service.method {
                let read_only =
                    method.options.as_ref().is_some_and(|o| o.idempotency_level() == IdempotencyLevel::NoSideEffects);
                rpcs.push(Rpc {
                    path: format!("/{package}.{}/{}", service.name(), method.name()),
                    package: package.clone(),
                    read_only,
                    server_streaming: method.server_streaming(),
                });
            }
        }
    }
    rpcs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpcs_carry_their_package_reads_and_streams() {
        let rpcs = rpcs();
        let find = |path: &str| rpcs.iter().find(|r| r.path == path).unwrap_or_else(|| panic!("{path}"));
        let watch = find("/fleuve.order.v1.OrderService/WatchOrder");
        assert!(watch.read_only && watch.server_streaming);
        assert_eq!(watch.service(), Some("order"));
        let place = find("/fleuve.order.v1.OrderService/PlaceOrder");
        assert!(!place.read_only && !place.server_streaming);
        assert!(find("/fleuve.homologation.v1.CertificateRegistryService/VerifyCertificate").read_only);
        assert_eq!(find("/fleuve.ops.v1.OperationsService/ListDeadLetters").service(), None);
        assert!(rpcs.len() >= 60, "{}", rpcs.len());
    }
}
