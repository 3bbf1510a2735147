//! The statistics projection: folds each dossier event into the dossier's row of the live
//! table, or of the shadow table while a rebuild replays the event store.

mod fold;
pub(crate) mod store;

use std::collections::HashMap;

use fleuve_handler::{BatchError, ConsumedEvent, HandlerError, Projection, TopicSchema};
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

    /// The batch's dossier rows read with one statement, its events folded into them in
    /// order in memory (the fold `apply` uses), the rows that changed written back with one
    /// upsert (which never lowers a row's version).
    fn apply_batch(&self, conn: &mut DbConnection, events: &[ConsumedEvent]) -> Result<(), BatchError> {
        let mut ids: Vec<&str> = events.iter().map(|event| event.aggregate_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut rows: HashMap<String, Folded> = store::find_many(conn, self.target, &ids)
            .map_err(BatchError::of_batch)?
            .into_iter()
            .map(|row| (row.dossier_id.clone(), Folded { row: Some(row), changed: false }))
            .collect();
        for (index, event) in events.iter().enumerate() {
            let at_fault = |error| BatchError { index: Some(index), error };
            let envelope: pb::DossierEvent = event.decode().map_err(at_fault)?;
            let folded = rows.entry(event.aggregate_id.clone()).or_default();
            match fold::fold(folded.row.clone(), event, &envelope).map_err(at_fault)? {
                fold::Step::Ignore => {}
                fold::Step::Insert(row) | fold::Step::Update(row) => {
                    folded.row = Some(row);
                    folded.changed = true;
                }
            }
        }
        let changed: Vec<&DossierStats> =
            rows.values().filter(|folded| folded.changed).filter_map(|folded| folded.row.as_ref()).collect();
        store::upsert(conn, self.target, &changed).map_err(BatchError::of_batch)?;
        Ok(())
    }
}

/// A dossier's row while a batch is folded into it.
#[derive(Default)]
struct Folded {
    row: Option<DossierStats>,
    changed: bool,
}
