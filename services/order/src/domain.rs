//! The order domain: the order aggregate and the saga orchestrator, free of I/O.
//!
//! The order's stream is the persisted state of its saga: the orchestrator decides from the
//! order's state and one input (the start, a reply, a missed deadline, a cancellation) the
//! events to append; the messages to publish and the next deadline follow from those events,
//! so a restart resumes from the stream alone.

pub mod order;
pub mod saga;

#[cfg(test)]
mod tests;

pub use fleuve_aggregate::DomainError;
pub use order::{Order, OrderCommand, OrderContext, PlaceOrder};
pub use saga::{Deadline, Orchestrator, Outgoing, SagaInput, SagaTimeouts};

/// Aggregate type name in the event store.
pub const ORDER_AGGREGATE: &str = "order";

pub use fleuve_proto::time::{instant, timestamp};
