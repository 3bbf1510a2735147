//! fleuve-notification: one notification per event that matters to a user (dossier incomplete,
//! payment due, decision, certificate expiring in 60 and 30 days, suspended, revoked), delivered
//! through the configured channels (log, SMTP, webhook) with a status per channel and retries,
//! listed and watched over gRPC.
//!
//! What a node wires: [`MIGRATIONS`] (after the event store's), the projection from
//! [`Notifications::projection`] in the consumer runtime, [`Notifications::spawn_delivery_worker`]
//! with a [`Directory`] of email addresses, [`Notifications::spawn_scheduler`] for the expiry
//! reminders, and [`server`] on the mesh server. No method is public: all need a token.

pub mod adapters;
pub mod app;
pub mod channels;
pub mod directory;
pub mod domain;
pub mod schema;
pub mod settings;
mod time;

use fleuve_store::MigrationSet;

pub use adapters::grpc::{NotificationGrpc, server};
pub use app::{DeliveryWorker, FiredReminders, NotificationProjection, Notifications, fire_due};
pub use channels::{ChannelConfigError, SIGNATURE_HEADER, signature};
pub use directory::{Directory, DirectoryError, DirectoryFuture, StaticDirectory};
pub use settings::{BadSmtpServer, NotificationConfig, Settings, SmtpSettings, WebhookSettings};

/// The projection's name: its consumer group, inbox consumer and dead-letter owner.
pub const NAME: &str = "notification";

/// The notification tables; versions `00000000000500_…` in the shared migrations table. Needs
/// the event store's set (notification ids come from its `sequences`).
pub const MIGRATIONS: MigrationSet = MigrationSet {
    name: "fleuve-notification",
    postgres: None,
    sqlite: None,
    common: Some(diesel_migrations::embed_migrations!("migrations/common")),
};
