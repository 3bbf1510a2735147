//! The Fleuve contracts, generated once from `proto/` for every crate: messages, gRPC clients
//! and servers, and the descriptor set that feeds reflection.

#![allow(clippy::large_enum_variant, clippy::doc_lazy_continuation)]

/// Encoded `FileDescriptorSet` of every contract, for gRPC reflection and the schema registry.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/fleuve_descriptor.bin"));

/// Every `.proto` source by its import path, for registering event schemas (with their imports
/// as references) in a schema registry.
pub const PROTO_SOURCES: &[(&str, &str)] = &[
    ("fleuve/common/v1/common.proto", include_str!("../fleuve/common/v1/common.proto")),
    (
        "fleuve/homologation/v1/certificate_service.proto",
        include_str!("../fleuve/homologation/v1/certificate_service.proto"),
    ),
    ("fleuve/homologation/v1/dossier_service.proto", include_str!("../fleuve/homologation/v1/dossier_service.proto")),
    ("fleuve/homologation/v1/events.proto", include_str!("../fleuve/homologation/v1/events.proto")),
    ("fleuve/homologation/v1/query_service.proto", include_str!("../fleuve/homologation/v1/query_service.proto")),
    ("fleuve/homologation/v1/registry_service.proto", include_str!("../fleuve/homologation/v1/registry_service.proto")),
    ("fleuve/homologation/v1/types.proto", include_str!("../fleuve/homologation/v1/types.proto")),
    ("fleuve/identity/v1/identity.proto", include_str!("../fleuve/identity/v1/identity.proto")),
];

/// The source of the `.proto` file at `path`, if it is one of the contracts.
pub fn proto_source(path: &str) -> Option<&'static str> {
    PROTO_SOURCES.iter().find(|(p, _)| *p == path).map(|(_, s)| *s)
}

pub mod common {
    pub mod v1 {
        tonic::include_proto!("fleuve.common.v1");
    }
}

pub mod identity {
    pub mod v1 {
        tonic::include_proto!("fleuve.identity.v1");
    }
}

pub mod homologation {
    pub mod v1 {
        tonic::include_proto!("fleuve.homologation.v1");
    }
}
