//! The gRPC adapter: requests are parsed into a `StatisticsQuery` at this edge, errors leave
//! through `ServiceError` (the one mapping to status codes).

use chrono::{DateTime, Utc};
use fleuve_mesh::{RequestContext, ServiceError};
use fleuve_proto::statistics::v1::{self as pb, statistics_service_server::StatisticsService};
use tonic::{Request, Response, Status};

use crate::app::{Period, Statistics, StatisticsQuery};

pub use pb::statistics_service_server::StatisticsServiceServer;

#[derive(Debug, Clone)]
pub struct StatisticsGrpc {
    app: Statistics,
}

impl StatisticsGrpc {
    pub fn new(app: Statistics) -> StatisticsGrpc {
        StatisticsGrpc { app }
    }
}

/// The statistics service, ready to be added to the mesh's gRPC server.
pub fn server(app: Statistics) -> StatisticsServiceServer<StatisticsGrpc> {
    StatisticsServiceServer::new(StatisticsGrpc::new(app))
}

#[tonic::async_trait]
impl StatisticsService for StatisticsGrpc {
    async fn get_statistics(
        &self,
        request: Request<pb::GetStatisticsRequest>,
    ) -> Result<Response<pb::GetStatisticsResponse>, Status> {
        let caller = RequestContext::from_request(&request).principal()?.clone();
        let r = request.into_inner();
        let query = StatisticsQuery::new(period(r.period)?, r.max_rejection_causes)?;
        let response = self.app.statistics(&caller, query, Utc::now()).await?;
        Ok(Response::new(response))
    }
}

fn period(period: Option<pb::Period>) -> Result<Period, ServiceError> {
    let Some(period) = period else { return Ok(Period::all()) };
    let start = period.start_time.as_ref().map(|t| time("period.start_time", t)).transpose()?;
    let end = period.end_time.as_ref().map(|t| time("period.end_time", t)).transpose()?;
    Period::new(start, end)
}

fn time(field: &str, t: &prost_types::Timestamp) -> Result<DateTime<Utc>, ServiceError> {
    u32::try_from(t.nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .and_then(|n| DateTime::from_timestamp(t.seconds, n))
        .ok_or_else(|| ServiceError::invalid(format!("{field} is not a valid timestamp")))
}
