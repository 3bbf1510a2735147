//! The homologation statistics ("StatistiqueService"): a projection of the dossier events into
//! one row per dossier, and the dashboard figures computed from it, served over gRPC.
//!
//! `projection` keeps the read model (and its rebuild shadow), `rebuild` lets the runtime
//! replay it from the event store, `app` answers queries, `adapters` speak gRPC.

pub mod adapters;
pub mod app;
pub mod projection;
pub mod rebuild;
mod schema;

use fleuve_store::MigrationSet;

pub use adapters::grpc::{StatisticsGrpc, StatisticsServiceServer, server};
pub use app::{AppError, DEFAULT_LEGAL_DEADLINE_DAYS, Period, Settings, Statistics, StatisticsQuery};
pub use projection::{DossierStats, StatisticsProjection, Target};
pub use rebuild::StatisticsRebuild;

/// The projection's name: its consumer group, inbox consumer and dead-letter owner, and the
/// name operators rebuild it by.
pub const NAME: &str = "statistics";

/// The producer's contract this projection reads (see fleuve-homologation): stream type, topic,
/// message and the file defining it.
pub const DOSSIER_AGGREGATE: &str = "dossier";
pub use fleuve_proto::topics::DOSSIER as DOSSIER_TOPIC;
pub const DOSSIER_EVENT_MESSAGE: &str = "fleuve.homologation.v1.DossierEvent";
pub const DOSSIER_EVENT_FILE: &str = "fleuve/homologation/v1/events.proto";

/// The read-model tables: `stats_dossiers` and its shadow `stats_dossiers_rebuild`.
pub const MIGRATIONS: MigrationSet = MigrationSet {
    name: "statistics",
    postgres: None,
    sqlite: None,
    common: Some(diesel_migrations::embed_migrations!("migrations/common")),
};

/// The projection the consumer runs (writes the live table).
pub fn projection() -> StatisticsProjection {
    StatisticsProjection::live()
}

/// The read model's rebuild (replays the dossier streams into the shadow table, then swaps).
pub fn rebuild() -> StatisticsRebuild {
    StatisticsRebuild::new()
}
