//! Given/when/then tests of an aggregate: given past events, when a command, then exactly these
//! events (and the state they lead to) or this refusal.
//!
//! ```
//! # use fleuve_aggregate::{Aggregate, testing::given};
//! # fn demo<A: Aggregate>(history: &[A::Event], command: A::Command, cx: &A::Context, expected: &[A::Event])
//! # where A::Event: PartialEq + std::fmt::Debug, A::Error: std::fmt::Debug {
//! let state = given::<A>(history).when(command, cx).then(expected);
//! # }
//! ```

use std::fmt::Debug;
use std::mem::discriminant;

use crate::{Aggregate, DomainError};

/// The refusal [`DomainError::Invalid`] with `message`, to compare with [`assert_refused`] or
/// [`Then::then_err`].
pub fn invalid(message: &str) -> DomainError {
    DomainError::Invalid(message.into())
}

/// The refusal [`DomainError::Precondition`] with `message`.
pub fn precondition(message: &str) -> DomainError {
    DomainError::Precondition(message.into())
}

/// Asserts a refusal: the same variant, and a message that contains the expected one.
#[track_caller]
pub fn assert_refused<T: Debug, E: Debug + std::fmt::Display>(result: Result<T, E>, expected: E) {
    match result {
        Ok(value) => panic!("expected error {expected:?}, got {value:?}"),
        Err(actual) => {
            assert_eq!(discriminant(&actual), discriminant(&expected), "expected {expected:?}, got {actual:?}");
            assert!(
                actual.to_string().contains(&expected.to_string()),
                "expected a message containing {:?}, got {:?}",
                expected.to_string(),
                actual.to_string()
            );
        }
    }
}

/// The state `events` lead to, ready for a command.
#[derive(Debug)]
pub struct Given<A> {
    state: A,
}

/// A decision, to assert on.
#[derive(Debug)]
#[must_use = "a decision is asserted with then, then_nothing or then_err"]
pub struct Then<A: Aggregate> {
    state: A,
    result: Result<Vec<A::Event>, A::Error>,
}

/// Starts a test from the state `events` lead to (none: a new aggregate).
pub fn given<A: Aggregate>(events: &[A::Event]) -> Given<A> {
    Given { state: A::replay(events) }
}

/// Starts a test from a state built some other way (a snapshot, a state another test returned).
pub fn given_state<A: Aggregate>(state: A) -> Given<A> {
    Given { state }
}

impl<A: Aggregate> Given<A> {
    /// Decides `command` in `cx`.
    pub fn when(self, command: A::Command, cx: &A::Context) -> Then<A> {
        let result = self.state.handle(command, cx);
        Then { state: self.state, result }
    }

    /// The state before any command.
    pub fn state(&self) -> &A {
        &self.state
    }
}

impl<A> Then<A>
where
    A: Aggregate,
    A::Event: PartialEq + Debug,
    A::Error: Debug,
{
    /// Asserts the exact events and returns the state once they are applied.
    #[track_caller]
    pub fn then(self, expected: &[A::Event]) -> A {
        let events = self.decided(&format!("events {expected:?}"));
        assert_eq!(events, expected);
        self.fold(&events)
    }

    /// Asserts that the command changes nothing (an idempotent replay) and returns the state.
    #[track_caller]
    pub fn then_nothing(self) -> A {
        self.then(&[])
    }

    /// Asserts how many events were decided, for tests that look at the state rather than at
    /// each event; returns the state once they are applied.
    #[track_caller]
    pub fn then_count(self, count: usize) -> A {
        let events = self.decided(&format!("{count} events"));
        assert_eq!(events.len(), count, "decided {events:?}");
        self.fold(&events)
    }

    /// Hands the decided events to `check` and returns the state once they are applied.
    #[track_caller]
    pub fn then_events(self, check: impl FnOnce(&[A::Event])) -> A {
        let events = self.decided("events");
        check(&events);
        self.fold(&events)
    }

    /// The decided events, asserting only that the command was not refused: for building the
    /// history of the next step of a test.
    #[track_caller]
    pub fn into_events(self) -> Vec<A::Event> {
        self.decided("events")
    }

    #[track_caller]
    fn decided(&self, wanted: &str) -> Vec<A::Event> {
        match &self.result {
            Ok(events) => events.clone(),
            Err(error) => panic!("expected {wanted}, got error {error:?}"),
        }
    }

    fn fold(self, events: &[A::Event]) -> A {
        let mut state = self.state;
        for event in events {
            state.apply(event);
        }
        state
    }
}

impl<A> Then<A>
where
    A: Aggregate,
    A::Event: Debug,
    A::Error: Debug + std::fmt::Display,
{
    /// Asserts the refusal: the same variant, and a message that contains the expected one.
    #[track_caller]
    pub fn then_err(self, expected: A::Error) {
        assert_refused(self.result, expected);
    }
}

/// Asserts that a snapshot taken after any prefix of `events`, restored and followed by the
/// rest, is the state a full replay gives: what the repository's snapshot + tail load relies on.
#[track_caller]
pub fn assert_snapshots_replay<A>(events: &[A::Event])
where
    A: Aggregate + PartialEq + Debug,
{
    let policy = A::SNAPSHOTS.expect("the aggregate has a snapshot policy");
    let full = A::replay(events);
    let mut state = A::default();
    for split in 0..=events.len() {
        let mut restored = (policy.decode)(&(policy.encode)(&state)).expect("a snapshot decodes");
        for event in &events[split..] {
            restored.apply(event);
        }
        assert_eq!(restored, full, "snapshot after {split} of {} events, then the rest", events.len());
        if let Some(event) = events.get(split) {
            state.apply(event);
        }
    }
}
