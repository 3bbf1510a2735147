//! `fleuve health`: the gRPC health check (grpc.health.v1) of a running server, for container
//! health checks that need no probe binary beside `fleuve`.

use std::time::Duration;

use anyhow::Context;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

/// Asks the server at `addr` (`HOST:PORT` or a URL) for `service`'s status ("" is the whole
/// server's); an error unless it is SERVING within `timeout_seconds`.
pub async fn check(addr: &str, service: &str, timeout_seconds: u64) -> anyhow::Result<()> {
    let url = if addr.contains("://") { addr.to_owned() } else { format!("http://{addr}") };
    let timeout = Duration::from_secs(timeout_seconds.max(1));
    let asked = async {
        let channel = tonic::transport::Endpoint::from_shared(url.clone())
            .with_context(|| format!("invalid address {addr}"))?
            .connect_timeout(timeout)
            .connect()
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest { service: service.to_owned() })
            .await
            .with_context(|| format!("asking {url} for its health"))?;
        anyhow::Ok(answer.into_inner().status())
    };
    let status = tokio::time::timeout(timeout, asked)
        .await
        .map_err(|_| anyhow::anyhow!("{url} did not answer within {} s", timeout.as_secs()))??;
    let shown = if service.is_empty() { "the server" } else { service };
    anyhow::ensure!(status == ServingStatus::Serving, "{shown} at {url} is {}", status.as_str_name());
    println!("{shown} at {url} is SERVING");
    Ok(())
}
