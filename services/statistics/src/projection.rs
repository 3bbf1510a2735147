//! The statistics projection: folds each dossier event into the dossier's row of the live
//! table, or of the shadow table while a rebuild replays the event store.

mod fold;
pub(crate) mod store;

use fleuve_handler::{ConsumedEvent, HandlerError, Projection, TopicSchema};
use fleuve_proto::homologation::v1 as pb;
use fleuve_store::{DbConnection, StoreError};

pub use fold::DossierStats;

use crate::{DOSSIER_EVENT_FILE, DOSSIER_EVENT_MESSAGE, DOSSIER_TOPIC, NAME};

/// The name the shadow projection goes by, distinct from [`NAME`] so that nothing keyed by a
/// projection's name (inbox rows, dead letters) can mix a rebuild up with the live consumer.
pub const SHADOW_NAME: &str = "statistics-rebuild";

/// Which table a projection writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `stats_dossiers`, the table queries read.
    Live,
    /// `stats_dossiers_rebuild`, filled by a rebuild and then copied over the live table.
    Shadow,
}

/// Keeps one row per dossier (status, category, times, decision, fees) from its events.
#[derive(Debug, Clone)]
pub struct StatisticsProjection {
    target: Target,
}

impl StatisticsProjection {
    pub fn new(target: Target) -> StatisticsProjection {
        StatisticsProjection { target }
    }

    /// The projection the consumer runs.
    pub fn live() -> StatisticsProjection {
        StatisticsProjection::new(Target::Live)
    }

    pub fn shadow() -> StatisticsProjection {
        StatisticsProjection::new(Target::Shadow)
    }

    pub fn target(&self) -> Target {
        self.target
    }

    /// Every row of this projection's table, by dossier id (operators comparing a rebuild, tests).
    pub fn rows(&self, conn: &mut DbConnection) -> Result<Vec<DossierStats>, StoreError> {
        Ok(store::all(conn, self.target)?)
    }
}

/// The dossier topic and the message its records carry.
pub fn dossier_topic() -> TopicSchema {
    TopicSchema::new(DOSSIER_TOPIC, DOSSIER_EVENT_MESSAGE, DOSSIER_EVENT_FILE)
}

impl Projection for StatisticsProjection {
    fn name(&self) -> &str {
        match self.target {
            Target::Live => NAME,
            Target::Shadow => SHADOW_NAME,
        }
    }

    fn topics(&self) -> Vec<TopicSchema> {
        vec![dossier_topic()]
    }

    fn apply(&self, conn: &mut DbConnection, event: &ConsumedEvent) -> Result<(), HandlerError> {
        let envelope: pb::DossierEvent = event.decode()?;
        let current = store::find(conn, self.target, &event.aggregate_id)?;
        match fold::fold(current, event, &envelope)? {
            fold::Step::Ignore => {}
            fold::Step::Insert(row) => store::insert(conn, self.target, &row)?,
            fold::Step::Update(row) => store::update(conn, self.target, &row)?,
        }
        Ok(())
    }
}
