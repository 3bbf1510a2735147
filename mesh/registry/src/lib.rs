//! A Confluent Schema Registry-compatible HTTP server for PROTOBUF schemas, embeddable in-process.
//!
//! `fleuve dev` serves it on 127.0.0.1:8081 so Kafka serializers and tooling that speak the
//! Confluent REST API work against the local mesh without a JVM. Schemas live in memory; opened
//! on a journal file ([`SchemaRegistry::open`]), every change is also written there first, so
//! ids and versions survive a restart.

mod compat;
mod error;
mod http;
mod journal;
mod registry;
mod schema;
mod store;

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use compat::check as check_compatibility;
pub use error::RegistryError;
pub use http::{CONTENT_TYPE, router};
pub use registry::{SchemaRegistry, SubjectSchema};
pub use schema::{CompatibilityLevel, CompiledSchema, SchemaReference, compile};
pub use store::{DEFAULT_LEVEL, VersionSpec};

/// Serves the registry's REST API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    registry: SchemaRegistry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(registry)).with_graceful_shutdown(shutdown).await
}

/// A registry served on a background task, for `fleuve dev` and tests.
#[derive(Debug)]
pub struct RegistryServer {
    registry: SchemaRegistry,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RegistryServer {
    /// Binds `addr` (port 0 picks a free one) and serves a fresh, empty registry on it.
    pub async fn start(addr: SocketAddr) -> std::io::Result<(SocketAddr, Self)> {
        Self::start_with(addr, SchemaRegistry::new()).await
    }

    /// Like [`RegistryServer::start`], serving an existing registry.
    pub async fn start_with(addr: SocketAddr, registry: SchemaRegistry) -> std::io::Result<(SocketAddr, Self)> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            // A dropped sender also stops the server, so a forgotten handle does not leak it.
            let _ = stopped.await;
        };
        let task = tokio::spawn(serve(listener, registry.clone(), shutdown));
        tracing::info!(%local, "schema registry listening");
        Ok((local, Self { registry, stop: Some(stop), task }))
    }

    /// The registry being served, for in-process registration without HTTP.
    pub fn registry(&self) -> &SchemaRegistry {
        &self.registry
    }

    /// Stops accepting connections, lets in-flight requests finish, and waits for the server.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}
