//! The harness: a migrated database with the service on it, certificates issued as an approval
//! issues them, and a projection driven the way the consumer runtime drives it.

use anyhow::Context;
use chrono::{DateTime, Utc};
use fleuve_aggregate::{Aggregate as _, EventType as _};
use fleuve_cache::{Cache, CacheConfig};
use fleuve_handler::apply_once;
use fleuve_handler::{ConsumedEvent, HandlerError, Projection};
use fleuve_homologation::app::{CERTIFICATE_AGGREGATE, CERTIFICATE_TOPIC, CommandContext};
use fleuve_homologation::domain::Actor;
use fleuve_homologation::domain::certificate::{Certificate, CertificateCommand};
use fleuve_homologation::{Homologation, Settings};
use fleuve_proto::homologation::v1 as pb;
use fleuve_store::event_store::{self, EventMetadata, ExpectedVersion, NewEvent, StreamRef};
use fleuve_store::testing::TestDatabase;
use fleuve_store::{Database, EVENT_STORE_MIGRATIONS};
use prost::Message;

pub const CERTIFICATE_MESSAGE: &str = "fleuve.homologation.v1.CertificateEvent";

pub struct TestDb {
    test: TestDatabase,
    pub app: Homologation,
}

impl TestDb {
    pub async fn sqlite() -> anyhow::Result<TestDb> {
        Ok(TestDb::with(TestDatabase::sqlite(&[EVENT_STORE_MIGRATIONS, fleuve_homologation::MIGRATIONS]).await?))
    }

    pub async fn postgres() -> anyhow::Result<TestDb> {
        Ok(TestDb::with(TestDatabase::postgres(&[EVENT_STORE_MIGRATIONS, fleuve_homologation::MIGRATIONS]).await?))
    }

    fn with(test: TestDatabase) -> TestDb {
        let app = Homologation::new(
            test.database().clone(),
            Settings { certificate_validity_years: 5, ..Settings::default() },
        );
        TestDb { test, app }
    }

    pub fn database(&self) -> &Database {
        self.test.database()
    }

    /// The same service reading the registry through `cache`.
    pub fn app_with(&self, cache: Cache) -> Homologation {
        self.app.clone().with_registry_cache(cache)
    }
}

/// A Redis cache in a namespace of its own; flush it at the end of the test.
pub fn redis_cache() -> anyhow::Result<Cache> {
    let url = std::env::var("FLEUVE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("fleuve-test:registry:{}", uuid::Uuid::new_v4().simple());
    Ok(Cache::new(&CacheConfig { ttl_seconds: 60, ..CacheConfig::redis(url, prefix) })?)
}

pub fn admin(now: DateTime<Utc>) -> CommandContext {
    CommandContext {
        actor: Actor {
            user_id: "admin-1".to_owned(),
            role: fleuve_mesh::Role::Admin,
            organisation_id: "regulator".to_owned(),
        },
        correlation_id: uuid::Uuid::new_v4().to_string(),
        trace_context: None,
        now,
    }
}

pub fn equipment(brand: &str, model: &str) -> pb::Equipment {
    pb::Equipment {
        brand: brand.to_owned(),
        model: model.to_owned(),
        category: pb::EquipmentCategory::MobileTerminal as i32,
        frequency_bands: vec![pb::FrequencyBand { lower_khz: 880_000, upper_khz: 915_000 }],
        characteristics: vec![],
    }
}

/// Issues certificate `number` valid for `days` from `from`, as the approval of a dossier does:
/// the aggregate decides, the event goes to the store with its outbox row.
pub async fn issue(
    db: &TestDb,
    number: &str,
    equipment: pb::Equipment,
    from: DateTime<Utc>,
    days: i64,
) -> anyhow::Result<()> {
    let command = CertificateCommand::Issue {
        number: number.to_owned(),
        dossier_id: uuid::Uuid::new_v4().to_string(),
        organisation_id: "org-7".to_owned(),
        equipment,
        valid_from: from,
        valid_until: from + chrono::Duration::days(days),
    };
    let events = Certificate::default().handle(command, &from)?;
    let stream = StreamRef::new(CERTIFICATE_AGGREGATE, number);
    let new_events: Vec<NewEvent> = events.iter().map(|e| NewEvent::new(e.event_type(), e.encode_to_vec())).collect();
    db.database()
        .transaction(move |conn| {
            let meta = EventMetadata::new("issue", "system");
            event_store::append(conn, &stream, ExpectedVersion::NoStream, &new_events, &meta, Some(CERTIFICATE_TOPIC))
        })
        .await?;
    Ok(())
}

/// Runs an admin command on certificate `number` through the service.
pub async fn command(db: &TestDb, number: &str, now: DateTime<Utc>, cmd: CertificateCommand) -> anyhow::Result<()> {
    db.app.certificate_command(admin(now), number.to_owned(), 0, cmd).await.with_context(|| format!("on {number}"))?;
    Ok(())
}

/// The stored events of certificate `number` from version `after + 1`, as a consumer gets them.
pub async fn events_of(db: &TestDb, number: &str, after: i64) -> anyhow::Result<Vec<ConsumedEvent>> {
    let stream = StreamRef::new(CERTIFICATE_AGGREGATE, number);
    let recorded = db.database().run(move |conn| event_store::read_stream(conn, &stream, after + 1)).await?;
    Ok(recorded.iter().map(|r| ConsumedEvent::from_recorded(r, CERTIFICATE_TOPIC, CERTIFICATE_MESSAGE)).collect())
}

/// Every stored certificate event, in global order (what a rebuild replays).
pub async fn all_certificate_events(db: &TestDb) -> anyhow::Result<Vec<ConsumedEvent>> {
    let recorded =
        db.database().run(move |conn| event_store::read_by_type(conn, CERTIFICATE_AGGREGATE, 0, 10_000)).await?;
    Ok(recorded.iter().map(|r| ConsumedEvent::from_recorded(r, CERTIFICATE_TOPIC, CERTIFICATE_MESSAGE)).collect())
}

/// Applies `event` as the consumer runtime does, without the after-commit hook: ONE transaction
/// with the inbox row and the projection's writes (an event seen before is skipped).
pub async fn apply_committed<P: Projection + Clone>(
    db: &TestDb,
    projection: &P,
    event: &ConsumedEvent,
) -> Result<(), HandlerError> {
    let (projection, event) = (projection.clone(), event.clone());
    db.database()
        .transaction(move |conn| {
            apply_once(conn, &projection, &event)?;
            Ok::<_, HandlerError>(())
        })
        .await
}

/// [`apply_committed`] then the after-commit hook: one event fully consumed.
pub async fn consume<P: Projection + Clone>(
    db: &TestDb,
    projection: &P,
    events: &[ConsumedEvent],
) -> anyhow::Result<()> {
    for event in events {
        apply_committed(db, projection, event).await?;
        projection.applied(event).await;
    }
    Ok(())
}
