//! The application layer: staff commands as ONE transaction each (load the streams, decide
//! with the domain, append with expected versions, update the read models) and queries over
//! the read models. The saga participant (`crate::participant`) records its decisions through
//! the same [`ledger`].

mod commands;
pub(crate) mod ledger;
mod queries;
mod views;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use fleuve_store::Database;

pub use ledger::charge_id;
pub use queries::{Listing, Page, PageRequest};
pub use views::{account_to_pb, charge_to_pb};

use crate::domain::{PaymentProvider, SimulatedProvider};
pub use fleuve_aggregate::AppError;

/// The billing service: staff commands and queries over one database, and the payment
/// provider its saga participant asks.
#[derive(Clone)]
pub struct Billing {
    db: Database,
    provider: Arc<dyn PaymentProvider + Send + Sync>,
}

impl std::fmt::Debug for Billing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Billing").field("db", &self.db).finish_non_exhaustive()
    }
}

impl Billing {
    /// With the deterministic [`SimulatedProvider`].
    pub fn new(db: Database) -> Billing {
        Billing { db, provider: Arc::new(SimulatedProvider) }
    }

    /// The provider the saga participant asks for authorisations.
    pub fn with_provider(mut self, provider: Arc<dyn PaymentProvider + Send + Sync>) -> Billing {
        self.provider = provider;
        self
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The provider the saga participant asks.
    pub(crate) fn provider(&self) -> Arc<dyn PaymentProvider + Send + Sync> {
        self.provider.clone()
    }
}

pub use fleuve_aggregate::Caller;

/// The current time as events and read models keep it: microseconds, the finest both
/// backends store, so a row and the replayed stream agree to the instant.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
