//! The gRPC adapter: who may ask, and what a malformed request gets.

use fleuve_mesh::Role;
use fleuve_proto::statistics::v1::{self as pb, statistics_service_server::StatisticsService};
use fleuve_statistics::{Settings, Statistics, StatisticsGrpc};
use fleuve_store::testing::TestDatabase;
use tonic::{Code, Request};

use crate::support::{events, feed, principal, scenario, time};

async fn service() -> anyhow::Result<(TestDatabase, StatisticsGrpc)> {
    let db = crate::support::sqlite().await?;
    let p = fleuve_statistics::projection();
    feed(db.database(), &events(&scenario()), move |conn, e| fleuve_handler::Projection::apply(&p, conn, e)).await?;
    let grpc = StatisticsGrpc::new(Statistics::new(db.database().clone(), Settings::default()));
    Ok((db, grpc))
}

fn request(role: Option<Role>, message: pb::GetStatisticsRequest) -> Request<pb::GetStatisticsRequest> {
    let mut request = Request::new(message);
    if let Some(role) = role {
        request.extensions_mut().insert(principal(role));
    }
    request
}

fn ts(rfc3339: &str) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds: time(rfc3339).timestamp(), nanos: 0 })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_only() -> anyhow::Result<()> {
    let (_db, grpc) = service().await?;
    let denied = grpc.get_statistics(request(Some(Role::Applicant), Default::default())).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let anonymous = grpc.get_statistics(request(None, Default::default())).await.unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    for role in [Role::Reviewer, Role::Admin] {
        let response = grpc.get_statistics(request(Some(role), Default::default())).await?.into_inner();
        assert_eq!(response.dossiers.unwrap().total, 10);
        assert_eq!(response.decisions.unwrap().rejection_causes.len(), 2);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_invalid_arguments() -> anyhow::Result<()> {
    let (_db, grpc) = service().await?;
    let reversed = pb::Period { start_time: ts("2025-03-01T00:00:00Z"), end_time: ts("2025-02-01T00:00:00Z") };
    let empty = pb::Period { start_time: ts("2025-03-01T00:00:00Z"), end_time: ts("2025-03-01T00:00:00Z") };
    let bad_nanos = pb::Period { start_time: Some(prost_types::Timestamp { seconds: 0, nanos: -1 }), end_time: None };
    let cases = [
        pb::GetStatisticsRequest { period: Some(reversed), max_rejection_causes: 0 },
        pb::GetStatisticsRequest { period: Some(empty), max_rejection_causes: 0 },
        pb::GetStatisticsRequest { period: Some(bad_nanos), max_rejection_causes: 0 },
        pb::GetStatisticsRequest { period: None, max_rejection_causes: 101 },
        pb::GetStatisticsRequest { period: None, max_rejection_causes: -1 },
    ];
    for case in cases {
        let status = grpc.get_statistics(request(Some(Role::Admin), case)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{case:?}: {status:?}");
    }

    // A valid period and a cause limit are honoured.
    let period = pb::Period { start_time: ts("2025-02-05T09:00:00Z"), end_time: ts("2025-04-01T09:00:00Z") };
    let message = pb::GetStatisticsRequest { period: Some(period), max_rejection_causes: 1 };
    let response = grpc.get_statistics(request(Some(Role::Reviewer), message)).await?.into_inner();
    assert_eq!(response.dossiers.unwrap().total, 4);
    let decisions = response.decisions.unwrap();
    assert_eq!(decisions.rejection_causes.len(), 1);
    assert_eq!(decisions.rejection_causes[0].reason, "no test report");
    assert_eq!(decisions.distinct_rejection_causes, 2);
    Ok(())
}
