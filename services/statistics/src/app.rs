//! The query side: dashboard figures computed from the statistics read model, for reviewers and
//! admins.

mod figures;
mod snapshot;

use chrono::{DateTime, Utc};
use fleuve_mesh::{Principal, Role, ServiceError};
use fleuve_proto::statistics::v1 as pb;
use fleuve_store::Database;

/// The legal deadline for deciding a submitted dossier, when the configuration sets none.
pub const DEFAULT_LEGAL_DEADLINE_DAYS: u32 = 60;
/// Rejection causes listed when the request does not say.
pub const DEFAULT_REJECTION_CAUSES: usize = 20;
pub const MAX_REJECTION_CAUSES: usize = 100;

/// The `[statistics]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Days from submission within which a dossier must be decided.
    pub legal_deadline_days: u32,
}

impl fleuve_mesh::config::Section for Settings {
    const NAME: &'static str = "statistics";
}

impl Default for Settings {
    fn default() -> Self {
        Settings { legal_deadline_days: DEFAULT_LEGAL_DEADLINE_DAYS }
    }
}

/// Which dossiers the figures cover: those submitted in `[start, end)`; either bound may be
/// open, and with no bound at all every dossier counts, drafts included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Period {
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
}

impl Period {
    /// Every dossier.
    pub fn all() -> Period {
        Period::default()
    }

    pub fn new(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Result<Period, ServiceError> {
        if let (Some(s), Some(e)) = (start, end)
            && s >= e
        {
            return Err(ServiceError::invalid(format!("period start {s} is not before its end {e}")));
        }
        Ok(Period { start, end })
    }

    pub fn start(&self) -> Option<DateTime<Utc>> {
        self.start
    }

    pub fn end(&self) -> Option<DateTime<Utc>> {
        self.end
    }
}

/// A validated statistics request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatisticsQuery {
    pub period: Period,
    pub max_rejection_causes: usize,
}

impl StatisticsQuery {
    /// `max_rejection_causes` as the protocol has it: 0 for the default, at most 100.
    pub fn new(period: Period, max_rejection_causes: i32) -> Result<StatisticsQuery, ServiceError> {
        let max_rejection_causes = match usize::try_from(max_rejection_causes) {
            Ok(0) => DEFAULT_REJECTION_CAUSES,
            Ok(n) if n <= MAX_REJECTION_CAUSES => n,
            _ => {
                return Err(ServiceError::invalid(format!(
                    "max_rejection_causes must be between 0 and {MAX_REJECTION_CAUSES}, got {max_rejection_causes}"
                )));
            }
        };
        Ok(StatisticsQuery { period, max_rejection_causes })
    }
}

impl Default for StatisticsQuery {
    fn default() -> Self {
        StatisticsQuery { period: Period::all(), max_rejection_causes: DEFAULT_REJECTION_CAUSES }
    }
}

/// The statistics service: queries over the read model the projection keeps.
#[derive(Debug, Clone)]
pub struct Statistics {
    db: Database,
    settings: Settings,
}

impl Statistics {
    pub fn new(db: Database, settings: Settings) -> Statistics {
        Statistics { db, settings }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Every figure over `query.period`, open dossiers measured against the deadline at `now`.
    pub async fn statistics(
        &self,
        caller: &Principal,
        query: StatisticsQuery,
        now: DateTime<Utc>,
    ) -> Result<pb::GetStatisticsResponse, AppError> {
        caller.require(&[Role::Reviewer, Role::Admin])?;
        let deadline = chrono::TimeDelta::days(i64::from(self.settings.legal_deadline_days));
        let period = query.period;
        let snapshot = self.db.run(move |conn| snapshot::read(conn, &period, now - deadline)).await?;
        figures::report(&snapshot, &self.settings, query.max_rejection_causes, now)
    }
}

pub use fleuve_aggregate::AppError;
