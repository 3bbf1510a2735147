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

/// Asks the brokers for their metadata, for a readiness probe: one client kept for the
/// process's life (its connections stay open, as the relay's and consumers' do).
#[derive(Clone)]
pub struct BrokerProbe {
    admin: std::sync::Arc<AdminClient<DefaultClientContext>>,
}

impl std::fmt::Debug for BrokerProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerProbe").finish_non_exhaustive()
    }
}

impl BrokerProbe {
    pub fn new(config: &BusConfig) -> Result<BrokerProbe, BusError> {
        Ok(BrokerProbe { admin: std::sync::Arc::new(config.client_config().create()?) })
    }

    /// `Ok` when a broker answered a metadata request within `timeout`.
    pub async fn check(&self, timeout: Duration) -> Result<(), String> {
        let admin = self.admin.clone();
        let metadata = tokio::task::spawn_blocking(move || admin.inner().fetch_metadata(None, timeout))
            .await
            .map_err(|e| format!("probe task failed: {e}"))?;
        match metadata {
            Ok(metadata) if !metadata.brokers().is_empty() => Ok(()),
            Ok(_) => Err("the cluster reported no broker".to_owned()),
            Err(error) => Err(format!("no metadata from the brokers: {error}")),
        }
    }
}
