//! Topic administration: creating the topics a node publishes to, idempotently, and waiting
//! until the broker's metadata shows them (a producer to a missing topic only times out).

use std::time::{Duration, Instant};

use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    types::RDKafkaErrorCode,
};

use crate::{BusConfig, BusError};

const WAIT: Duration = Duration::from_secs(15);

/// Creates each topic with `partitions` partitions and `replication` replicas unless it exists,
/// then waits until every one is in the metadata. Run on a multi-thread runtime: the metadata
/// call blocks.
pub async fn ensure_topics(
    config: &BusConfig,
    topics: &[&str],
    partitions: i32,
    replication: i32,
) -> Result<(), BusError> {
    let admin: AdminClient<DefaultClientContext> = config.client_config().create()?;
    let new_topics: Vec<NewTopic<'_>> =
        topics.iter().map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(replication))).collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&new_topics, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(BusError::Topic(format!("cannot create topic {name}: {code}"))),
        }
    }
    let deadline = Instant::now() + WAIT;
    for topic in topics {
        loop {
            let metadata =
                tokio::task::block_in_place(|| admin.inner().fetch_metadata(Some(topic), Duration::from_secs(5)))?;
            let found = metadata.topics().iter().find(|t| t.name() == *topic).map(|t| t.partitions().len());
            // An existing topic may have more partitions than asked; fewer means not ready yet.
            if found.is_some_and(|n| n >= usize::try_from(partitions).unwrap_or(0) && n > 0) {
                break;
            }
            if Instant::now() > deadline {
                return Err(BusError::Topic(format!("topic {topic} not in the broker metadata after {WAIT:?}")));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}
