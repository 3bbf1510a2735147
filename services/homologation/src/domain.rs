//! The homologation domain: dossier and certificate aggregates, fees and value rules, free of I/O.
//!
//! Aggregates are synchronous and side-effect free: `handle` decides (all business rules live
//! there) and returns the events to append, `apply` only folds an event into the state. The clock
//! and the caller are passed in so that every decision is reproducible from its inputs.

pub mod certificate;
pub mod dossier;
pub mod fees;
pub mod values;

#[cfg(test)]
mod tests;

pub use fleuve_aggregate::DomainError;

/// Aggregate type names in the event store.
pub const DOSSIER_AGGREGATE: &str = "dossier";
pub const CERTIFICATE_AGGREGATE: &str = "certificate";

/// Who issues a command, as established by the gRPC edge from the verified token.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    pub user_id: String,
    pub role: fleuve_mesh::Role,
    pub organisation_id: String,
}
