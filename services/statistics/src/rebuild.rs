//! Rebuilding the statistics from the event store: replay into the shadow table, then swap.

use diesel::RunQueryDsl;
use fleuve_handler::{Projection, Rebuild, ReplaySource};
use fleuve_store::{DbConnection, StoreError};

use crate::projection::{StatisticsProjection, Target, dossier_topic, store};
use crate::{DOSSIER_AGGREGATE, NAME};

/// Dossier events replayed per transaction.
pub const REPLAY_BATCH: i64 = 5_000;

/// The statistics read model as the rebuild runtime drives it.
#[derive(Debug, Clone)]
pub struct StatisticsRebuild {
    live: StatisticsProjection,
    shadow: StatisticsProjection,
}

impl StatisticsRebuild {
    pub fn new() -> StatisticsRebuild {
        StatisticsRebuild { live: StatisticsProjection::live(), shadow: StatisticsProjection::shadow() }
    }
}

impl Default for StatisticsRebuild {
    fn default() -> Self {
        StatisticsRebuild::new()
    }
}

impl Rebuild for StatisticsRebuild {
    fn name(&self) -> &str {
        NAME
    }

    fn sources(&self) -> Vec<ReplaySource> {
        vec![ReplaySource { aggregate_type: DOSSIER_AGGREGATE.to_owned(), schema: dossier_topic() }]
    }

    fn live(&self) -> &dyn Projection {
        &self.live
    }

    fn shadow(&self) -> &dyn Projection {
        &self.shadow
    }

    fn clear_shadow(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        store::clear(conn, Target::Shadow)?;
        Ok(())
    }

    fn lock_live(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        match conn {
            // EXCLUSIVE blocks writers and lets plain readers through, so dashboards keep working.
            DbConnection::Pg(_) => {
                diesel::sql_query("LOCK TABLE stats_dossiers IN EXCLUSIVE MODE").execute(conn)?;
            }
            // The write transaction the rebuild runs in already excludes every other writer.
            DbConnection::Sqlite(_) => {}
        }
        Ok(())
    }

    /// The projection folds a batch's rows at once (see its `apply_batch`): with 5 000 events
    /// a batch, a dossier's row is written once for all its events in the batch
    /// (`fleuve bench growth --parts 3`).
    fn replay_batch(&self) -> i64 {
        REPLAY_BATCH
    }

    fn copy_shadow_to_live(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        store::clear(conn, Target::Live)?;
        // Both tables have the same columns in the same order (see the migration).
        diesel::sql_query("INSERT INTO stats_dossiers SELECT * FROM stats_dossiers_rebuild").execute(conn)?;
        Ok(())
    }
}
