//! The equipment type-approval back-office: dossiers and certificates, event sourced, served
//! over gRPC. `domain` decides, `app` runs commands and queries in transactions, `adapters`
//! speak gRPC.

pub mod adapters;
pub mod app;
pub mod domain;
mod schema;
mod time;

use diesel_migrations::embed_migrations;
use fleuve_store::MigrationSet;

pub use app::{Homologation, Settings};

/// The read-model tables of this service (the event store has its own set).
pub const MIGRATIONS: MigrationSet = MigrationSet {
    name: "homologation",
    postgres: Some(embed_migrations!("migrations/postgres")),
    sqlite: Some(embed_migrations!("migrations/sqlite")),
    common: None,
};
