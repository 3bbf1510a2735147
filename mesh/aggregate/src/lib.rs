//! fleuve-aggregate: the event-sourcing core every Fleuve aggregate goes through.
//!
//! An aggregate implements [`Aggregate`]: a pure `handle` that decides a command into events
//! and an `apply` that folds an event into the state. The [`repository`] loads it (from a
//! snapshot and the events after it when the aggregate has a snapshot policy, else by
//! replaying its stream), saves what it decided (one append at the version it was loaded at,
//! the events' topic and saga messages, a snapshot when one is due) in the caller's transaction,
//! and [`repository::transact`] retries that transaction a bounded number of times when
//! another writer moved the stream first. [`testing`] gives every aggregate the same
//! given/when/then tests.
//!
//! An eighth aggregate is one impl of the trait and one test file:
//!
//! ```
//! use fleuve_aggregate::{Aggregate, DomainError, testing::given};
//! use fleuve_proto::stock::v1 as pb;
//!
//! /// Units counted on a shelf.
//! #[derive(Debug, Clone, Default, PartialEq)]
//! struct Shelf {
//!     units: u64,
//! }
//!
//! impl Aggregate for Shelf {
//!     const KIND: &'static str = "shelf";
//!     type Event = pb::ProductEvent;
//!     type Command = u64;
//!     type Context = ();
//!     type Error = DomainError;
//!
//!     fn handle(&self, quantity: u64, _: &()) -> Result<Vec<pb::ProductEvent>, DomainError> {
//!         if quantity == 0 {
//!             return Err(DomainError::Invalid("quantity must be positive".into()));
//!         }
//!         let restocked = pb::ProductRestocked { quantity, reference: String::new() };
//!         Ok(vec![pb::ProductEvent { occurred_at: None, event: Some(pb::product_event::Event::Restocked(restocked)) }])
//!     }
//!
//!     fn apply(&mut self, event: &pb::ProductEvent) {
//!         if let Some(pb::product_event::Event::Restocked(e)) = &event.event {
//!             self.units += e.quantity;
//!         }
//!     }
//! }
//!
//! let shelf = given::<Shelf>(&[]).when(3, &()).then_count(1);
//! assert_eq!(shelf.units, 3);
//! given::<Shelf>(&[]).when(0, &()).then_err(DomainError::Invalid("quantity must be positive".into()));
//! ```
//!
//! Loading and saving it inside a service's transaction:
//!
//! ```text
//! let shelf = repository::load::<Shelf, AppError>(conn, "shelf-1")?;
//! let events = shelf.state.handle(2, &())?;
//! let shelf = repository::save(conn, shelf, &events, &meta, &[])?.loaded;
//! ```

mod caller;
mod error;
pub mod repository;
mod snapshot;
pub mod testing;

pub use caller::Caller;
pub use error::{AppError, DomainError, IsConflict, Violations, saga_id, saga_step};
pub use fleuve_proto::EventType;
pub use repository::{Loaded, Retries, Saved};
pub use snapshot::Snapshots;

/// A consistency boundary of the domain: its state, what it decides and how it changes.
///
/// `handle` and `apply` are pure and synchronous: no clock (the time comes in the context), no
/// I/O. The repository gives the state its stream version; the state need not count.
pub trait Aggregate: Default + Clone + Send + Sync + 'static {
    /// The stream kind, stored as the events' aggregate type (e.g. `product`).
    const KIND: &'static str;
    /// The topic every event of this aggregate is published on; `None` keeps them inside the
    /// service (its saga replies leave as messages instead).
    const TOPIC: Option<&'static str> = None;
    /// How the state is snapshotted; `None` replays the whole stream on every load. Streams
    /// that grow without bound (a product's, an account's) set one.
    const SNAPSHOTS: Option<Snapshots<Self>> = None;

    /// The event envelope of the contracts; its event type names come from the descriptors.
    type Event: prost::Message + Default + EventType + Clone + Send + Sync + 'static;
    type Command;
    /// What a decision needs besides the state: the time, the caller, settings, other
    /// aggregates' states.
    type Context;
    type Error;

    /// Decides `command` against the current state: the events to append (none when the
    /// command changes nothing), or why it is refused.
    fn handle(&self, command: Self::Command, cx: &Self::Context) -> Result<Vec<Self::Event>, Self::Error>;

    /// Folds one event into the state. No rule is checked here: the event already happened.
    fn apply(&mut self, event: &Self::Event);

    /// The state after `events`, from the initial state.
    fn replay<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self {
        let mut state = Self::default();
        for event in events {
            state.apply(event);
        }
        state
    }
}
