//! `fleuve.ops.v1.OperationsService`: dead letters and read-model rebuilds over gRPC, for
//! administrators. `fleuve dlq ...` and `fleuve projections ...` are clients of it.

use std::collections::BTreeMap;
use std::sync::Arc;

use fleuve_mesh::page::PageSize;
use fleuve_mesh::{RequestContext, Role, ServiceError};
use fleuve_proto::ops::v1 as pb;
use fleuve_store::Database;
use fleuve_store::consumer::{DeadLetter, DeadLetterFilter, DeadLetterStatus, dead_letter_list, inbox_count};
use tonic::{Request, Response, Status};

use crate::projection::Rebuild;
use crate::{ProjectionConsumer, rebuild};

/// Dead letters per page.
const PAGE_SIZE: PageSize = PageSize { default: 50, max: 500 };

/// The consumers and rebuildable read models of one node.
#[derive(Clone, Default)]
pub struct Operations {
    db: Option<Database>,
    consumers: Vec<Arc<ProjectionConsumer>>,
    rebuilds: Vec<Arc<dyn Rebuild>>,
}

impl std::fmt::Debug for Operations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.consumers.iter().map(|c| c.name()).collect();
        f.debug_struct("Operations").field("consumers", &names).finish_non_exhaustive()
    }
}

impl Operations {
    pub fn new(db: Database) -> Operations {
        Operations { db: Some(db), consumers: Vec::new(), rebuilds: Vec::new() }
    }

    pub fn with_consumer(mut self, consumer: Arc<ProjectionConsumer>) -> Operations {
        self.consumers.push(consumer);
        self
    }

    pub fn with_rebuild(mut self, model: Arc<dyn Rebuild>) -> Operations {
        self.rebuilds.push(model);
        self
    }

    fn db(&self) -> Result<&Database, ServiceError> {
        self.db.as_ref().ok_or_else(|| ServiceError::precondition("this node has no database"))
    }

    fn consumer(&self, name: &str) -> Result<&Arc<ProjectionConsumer>, ServiceError> {
        self.consumers
            .iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| ServiceError::not_found(format!("no consumer named {name:?} on this node")))
    }

    /// Lists dead letters (see the proto for paging).
    pub async fn list(&self, request: pb::ListDeadLettersRequest) -> Result<pb::ListDeadLettersResponse, ServiceError> {
        let size = PAGE_SIZE.parse(request.page_size)?;
        let after_id = match request.page_token.as_str() {
            "" => None,
            token => {
                Some(token.parse::<i64>().map_err(|_| ServiceError::invalid(format!("invalid page_token {token:?}")))?)
            }
        };
        let status = match pb::DeadLetterStatus::try_from(request.status) {
            Ok(pb::DeadLetterStatus::Unspecified) => None,
            Ok(pb::DeadLetterStatus::Parked) => Some(DeadLetterStatus::Parked),
            Ok(pb::DeadLetterStatus::Redriven) => Some(DeadLetterStatus::Redriven),
            Ok(pb::DeadLetterStatus::Discarded) => Some(DeadLetterStatus::Discarded),
            Err(_) => return Err(ServiceError::invalid(format!("unknown status {}", request.status))),
        };
        let filter = DeadLetterFilter {
            consumer: Some(request.consumer).filter(|c| !c.is_empty()),
            status,
            after_id,
            limit: i64::from(size) + 1,
        };
        let mut letters = self.db()?.run(move |conn| dead_letter_list(conn, &filter)).await.map_err(store_failure)?;
        let more = letters.len() > size as usize;
        letters.truncate(size as usize);
        let next_page_token =
            if more { letters.last().map(|l| l.id.to_string()).unwrap_or_default() } else { String::new() };
        Ok(pb::ListDeadLettersResponse { dead_letters: letters.iter().map(to_proto).collect(), next_page_token })
    }

    /// Redrives one letter or every parked letter.
    pub async fn redrive(
        &self,
        request: pb::RedriveDeadLettersRequest,
    ) -> Result<pb::RedriveDeadLettersResponse, ServiceError> {
        let mut outcomes = Vec::new();
        match request.target {
            Some(pb::redrive_dead_letters_request::Target::Id(id)) => {
                let letter = self
                    .db()?
                    .run(move |conn| fleuve_store::consumer::dead_letter_get(conn, id))
                    .await
                    .map_err(internal)?
                    .ok_or_else(|| ServiceError::not_found(format!("no dead letter {id}")))?;
                let consumer = self.consumer(&letter.consumer)?;
                outcomes.push(consumer.redrive(id).await.map_err(internal)?);
            }
            Some(pb::redrive_dead_letters_request::Target::All(true)) => {
                let consumers: Vec<&Arc<ProjectionConsumer>> = if request.consumer.is_empty() {
                    self.consumers.iter().collect()
                } else {
                    vec![self.consumer(&request.consumer)?]
                };
                for consumer in consumers {
                    outcomes.extend(consumer.redrive_all().await.map_err(internal)?);
                }
            }
            Some(pb::redrive_dead_letters_request::Target::All(false)) | None => {
                return Err(ServiceError::invalid("give a dead letter id or all = true"));
            }
        }
        Ok(pb::RedriveDeadLettersResponse {
            outcomes: outcomes
                .into_iter()
                .map(|o| pb::RedriveOutcome { id: o.id, redriven: o.redriven, error: o.error.unwrap_or_default() })
                .collect(),
        })
    }

    /// Discards a parked letter, keeping the operator's reason.
    pub async fn discard(&self, request: pb::DiscardDeadLetterRequest) -> Result<pb::DeadLetter, ServiceError> {
        let reason = request.reason.trim().to_owned();
        if reason.is_empty() {
            return Err(ServiceError::invalid("a reason is required to discard a dead letter"));
        }
        if reason.len() > 500 {
            return Err(ServiceError::invalid("the reason is longer than 500 characters"));
        }
        let id = request.id;
        let resolution = format!("discarded: {reason}");
        let letter = self
            .db()?
            .transaction::<_, fleuve_store::StoreError, _>(move |conn| {
                let Some(letter) = fleuve_store::consumer::dead_letter_get(conn, id)? else { return Ok(Err(None)) };
                if letter.status != DeadLetterStatus::Parked {
                    return Ok(Err(Some(letter.status)));
                }
                fleuve_store::consumer::dead_letter_resolve(conn, id, DeadLetterStatus::Discarded, &resolution)?;
                Ok(Ok(fleuve_store::consumer::dead_letter_get(conn, id)?))
            })
            .await
            .map_err(store_failure)?;
        match letter {
            Ok(Some(letter)) => {
                tracing::warn!(dead_letter = id, consumer = %letter.consumer, %reason, "dead letter discarded");
                Ok(to_proto(&letter))
            }
            Ok(None) | Err(None) => Err(ServiceError::not_found(format!("no dead letter {id}"))),
            Err(Some(status)) => {
                Err(ServiceError::precondition(format!("dead letter {id} is {}, not parked", status.as_str())))
            }
        }
    }

    pub async fn projections(&self) -> Result<pb::ListProjectionsResponse, ServiceError> {
        let mut projections = Vec::new();
        for consumer in &self.consumers {
            let name = consumer.name().to_owned();
            let counted = name.clone();
            let (applied, parked) = self
                .db()?
                .run(move |conn| {
                    let applied = inbox_count(conn, &counted)?;
                    let parked = fleuve_store::consumer::dead_letter_count(conn, &counted, DeadLetterStatus::Parked)?;
                    Ok::<_, fleuve_store::StoreError>((applied, parked))
                })
                .await
                .map_err(store_failure)?;
            projections.push(pb::Projection {
                rebuildable: self.rebuilds.iter().any(|r| r.name() == name),
                name,
                topics: consumer.topics(),
                applied_events: applied,
                parked_dead_letters: parked,
            });
        }
        for model in &self.rebuilds {
            if !projections.iter().any(|p| p.name == model.name()) {
                projections.push(pb::Projection {
                    name: model.name().to_owned(),
                    topics: model.sources().into_iter().map(|s| s.schema.topic).collect(),
                    rebuildable: true,
                    applied_events: 0,
                    parked_dead_letters: 0,
                });
            }
        }
        Ok(pb::ListProjectionsResponse { projections })
    }

    fn rebuildable(&self, name: &str) -> Result<Arc<dyn Rebuild>, ServiceError> {
        self.rebuilds.iter().find(|r| r.name() == name).cloned().ok_or_else(|| {
            let known: Vec<&str> = self.rebuilds.iter().map(|r| r.name()).collect();
            ServiceError::not_found(format!("no rebuildable read model {name:?} (known: {})", known.join(", ")))
        })
    }

    pub async fn rebuild(&self, name: &str) -> Result<pb::RebuildProjectionResponse, ServiceError> {
        self.rebuild_reporting(name, |_| {}).await
    }

    /// [`Operations::rebuild`], calling `progress` after every replayed batch.
    pub async fn rebuild_reporting(
        &self,
        name: &str,
        progress: impl Fn(rebuild::RebuildProgress) + Send + Sync,
    ) -> Result<pb::RebuildProjectionResponse, ServiceError> {
        let model = self.rebuildable(name)?;
        let report = rebuild::rebuild_reporting(self.db()?, model, progress).await.map_err(internal)?;
        Ok(pb::RebuildProjectionResponse {
            name: name.to_owned(),
            replayed_events: report.replayed,
            caught_up_events: report.caught_up,
            rows: 0,
            elapsed_seconds: report.elapsed_seconds,
        })
    }
}

/// A database failure: UNAVAILABLE when the database cannot be reached, else internal.
fn store_failure(error: fleuve_store::StoreError) -> ServiceError {
    if error.is_unavailable() {
        tracing::warn!(%error, "operations request failed: database unavailable");
        ServiceError::Unavailable("the database is unavailable; retry".into())
    } else {
        internal(error)
    }
}

fn internal(error: impl std::fmt::Display) -> ServiceError {
    ServiceError::internal(anyhow::anyhow!("{error}"))
}

fn to_proto(letter: &DeadLetter) -> pb::DeadLetter {
    let headers: BTreeMap<String, String> = serde_json::from_str(&letter.headers).unwrap_or_default();
    pb::DeadLetter {
        id: letter.id,
        consumer: letter.consumer.clone(),
        topic: letter.topic.clone(),
        partition: letter.partition,
        offset: letter.offset,
        key: letter.key.clone().unwrap_or_default(),
        event_id: letter.event_id.clone().unwrap_or_default(),
        correlation_id: letter.correlation_id.clone().unwrap_or_default(),
        error: letter.error.clone(),
        attempts: letter.attempts,
        status: match letter.status {
            DeadLetterStatus::Parked => pb::DeadLetterStatus::Parked,
            DeadLetterStatus::Redriven => pb::DeadLetterStatus::Redriven,
            DeadLetterStatus::Discarded => pb::DeadLetterStatus::Discarded,
        } as i32,
        created_at: Some(timestamp(letter.created_at)),
        resolved_at: letter.resolved_at.map(timestamp),
        headers: headers.into_iter().collect(),
        resolution: letter.resolution.clone().unwrap_or_default(),
    }
}

use fleuve_proto::time::timestamp;

fn admin<T>(request: &Request<T>) -> Result<(), Status> {
    RequestContext::from_request(request).principal()?.require(&[Role::Admin])?;
    Ok(())
}

#[tonic::async_trait]
impl pb::operations_service_server::OperationsService for Operations {
    async fn list_dead_letters(
        &self,
        request: Request<pb::ListDeadLettersRequest>,
    ) -> Result<Response<pb::ListDeadLettersResponse>, Status> {
        admin(&request)?;
        Ok(Response::new(self.list(request.into_inner()).await?))
    }

    async fn redrive_dead_letters(
        &self,
        request: Request<pb::RedriveDeadLettersRequest>,
    ) -> Result<Response<pb::RedriveDeadLettersResponse>, Status> {
        admin(&request)?;
        Ok(Response::new(self.redrive(request.into_inner()).await?))
    }

    async fn discard_dead_letter(
        &self,
        request: Request<pb::DiscardDeadLetterRequest>,
    ) -> Result<Response<pb::DiscardDeadLetterResponse>, Status> {
        admin(&request)?;
        let dead_letter = self.discard(request.into_inner()).await?;
        Ok(Response::new(pb::DiscardDeadLetterResponse { dead_letter: Some(dead_letter) }))
    }

    async fn list_projections(
        &self,
        request: Request<pb::ListProjectionsRequest>,
    ) -> Result<Response<pb::ListProjectionsResponse>, Status> {
        admin(&request)?;
        Ok(Response::new(self.projections().await?))
    }

    type StreamRebuildProjectionStream =
        std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::StreamRebuildProjectionResponse, Status>> + Send>>;

    async fn stream_rebuild_projection(
        &self,
        request: Request<pb::StreamRebuildProjectionRequest>,
    ) -> Result<Response<Self::StreamRebuildProjectionStream>, Status> {
        admin(&request)?;
        let name = request.into_inner().name;
        if name.is_empty() {
            return Err(ServiceError::invalid("name is required").into());
        }
        // Refused before the stream starts when the model is unknown.
        self.rebuildable(&name)?;
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let operations = self.clone();
        tokio::spawn(async move {
            let progress = sender.clone();
            let result = operations
                .rebuild_reporting(&name, move |p| {
                    let _ = progress.send(Ok(pb::StreamRebuildProjectionResponse {
                        replayed_events: p.replayed,
                        position: p.position,
                        last_position: p.last_position,
                        done: None,
                    }));
                })
                .await;
            let last = match result {
                Ok(done) => Ok(pb::StreamRebuildProjectionResponse {
                    replayed_events: done.replayed_events,
                    position: 0,
                    last_position: 0,
                    done: Some(done),
                }),
                Err(error) => Err(Status::from(error)),
            };
            let _ = sender.send(last);
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::UnboundedReceiverStream::new(receiver))))
    }

    async fn rebuild_projection(
        &self,
        request: Request<pb::RebuildProjectionRequest>,
    ) -> Result<Response<pb::RebuildProjectionResponse>, Status> {
        admin(&request)?;
        let name = request.into_inner().name;
        if name.is_empty() {
            return Err(ServiceError::invalid("name is required").into());
        }
        Ok(Response::new(self.rebuild(&name).await?))
    }
}

/// The tonic service of `operations`.
pub fn server(operations: Operations) -> pb::operations_service_server::OperationsServiceServer<Operations> {
    pb::operations_service_server::OperationsServiceServer::new(operations)
}
