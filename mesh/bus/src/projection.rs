//! What a consumer of the event bus implements, defined in `fleuve-handler` so that services
//! build without this crate; re-exported here for the runtime and its users.

pub use fleuve_handler::{BatchError, ConsumedEvent, HandlerError, HookFuture, Projection, Rebuild, ReplaySource};
