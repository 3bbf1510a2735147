//! Saga participants on the bus, defined in `fleuve-handler`; re-exported here.

pub use fleuve_handler::saga::{PARTICIPANT_CONCURRENCY, SagaParticipant, caused_by, topic_schemas};
