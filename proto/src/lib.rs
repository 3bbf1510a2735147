//! The Fleuve contracts, generated once from `proto/` for every crate: messages, gRPC clients
//! and servers, and the descriptor set that feeds reflection.

#![allow(clippy::large_enum_variant, clippy::doc_lazy_continuation)]

/// Encoded `FileDescriptorSet` of every contract, for gRPC reflection and the schema registry.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/fleuve_descriptor.bin"));

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
