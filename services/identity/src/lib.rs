//! fleuve-identity: organisations, users and roles, argon2 password login, and the ES256
//! access tokens (with their JWKS) every other Fleuve service verifies.

pub mod app;
pub mod domain;
pub mod grpc;
pub mod schema;

use fleuve_store::MigrationSet;

pub use app::{DEMO_PASSWORD, DemoAccounts, Identity, LoginOutcome, user_email};
pub use domain::{
    Country, DisplayName, Email, NewOrganisation, NewUser, Organisation, OrganisationName, Page, PageRequest, Password,
    RegistrationNumber, User, invalid_credentials,
};
pub use grpc::{IdentityGrpc, PUBLIC_METHODS, server};

/// The `organisations` and `users` tables; versions `00000000000200_…` in the shared
/// migrations table.
pub const MIGRATIONS: MigrationSet = MigrationSet {
    name: "fleuve-identity",
    postgres: Some(diesel_migrations::embed_migrations!("migrations/postgres")),
    sqlite: Some(diesel_migrations::embed_migrations!("migrations/sqlite")),
    common: None,
};
