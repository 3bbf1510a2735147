//! The Fleuve contracts, generated once from `proto/` for every crate: messages, gRPC clients
//! and servers, and the descriptor set that feeds reflection.

#![allow(clippy::large_enum_variant, clippy::doc_lazy_continuation)]

/// Encoded `FileDescriptorSet` of every contract, for gRPC reflection and the schema registry.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/fleuve_descriptor.bin"));

/// Every `.proto` source by its import path, for registering event schemas (with their imports
/// as references) in a schema registry.
pub const PROTO_SOURCES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/proto_sources.rs"));

/// The source of the `.proto` file at `path`, if it is one of the contracts.
pub fn proto_source(path: &str) -> Option<&'static str> {
    PROTO_SOURCES.iter().find(|(p, _)| *p == path).map(|(_, s)| *s)
}

/// The event type stored and sent with an event: the name of its case, taken from the
/// contracts (see `build.rs`), so no service matches on strings of its own.
pub trait EventType {
    /// Every case's event type, in field order.
    const EVENT_TYPES: &'static [&'static str];
    /// This event's type, e.g. `ProductCreated`; the envelope's own name when no case is set.
    fn event_type(&self) -> &'static str;
}

include!(concat!(env!("OUT_DIR"), "/event_types.rs"));

pub mod time;
pub mod topics;

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

pub mod notification {
    pub mod v1 {
        tonic::include_proto!("fleuve.notification.v1");
    }
}

pub mod statistics {
    pub mod v1 {
        tonic::include_proto!("fleuve.statistics.v1");
    }
}

pub mod order {
    pub mod v1 {
        tonic::include_proto!("fleuve.order.v1");
    }
}

pub mod stock {
    pub mod v1 {
        tonic::include_proto!("fleuve.stock.v1");
    }
}

pub mod billing {
    pub mod v1 {
        tonic::include_proto!("fleuve.billing.v1");
    }
}

pub mod ops {
    pub mod v1 {
        tonic::include_proto!("fleuve.ops.v1");
    }
}
