//! The Confluent REST API over axum: routes, request bodies and `application/vnd.schemaregistry.v1+json` responses.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::RegistryError;
use crate::registry::SchemaRegistry;
use crate::schema::{CompatibilityLevel, PROTOBUF, SchemaReference};
use crate::store::VersionSpec;

/// The media type Confluent clients send and expect back.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

type Reply = Result<Response, RegistryError>;

/// Builds the HTTP API over `registry`.
pub fn router(registry: SchemaRegistry) -> Router {
    Router::new()
        .route("/subjects", get(subjects))
        .route("/subjects/{subject}", post(lookup))
        .route("/subjects/{subject}/versions", get(versions).post(register))
        .route("/subjects/{subject}/versions/{version}", get(subject_version))
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/config", get(global_config).put(set_global_config))
        .route("/config/{subject}", get(subject_config).put(set_subject_config))
        .route("/compatibility/subjects/{subject}/versions", post(compatibility_all))
        .route("/compatibility/subjects/{subject}/versions/{version}", post(compatibility_version))
        .with_state(registry)
}

/// A JSON response carrying the registry media type.
pub fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], body.to_string()).into_response()
}

/// Confluent's error body: `{"error_code": N, "message": "..."}`.
impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let (status, code) = self.codes();
        let body = serde_json::json!({ "error_code": code, "message": self.to_string() });
        json(status, &body)
    }
}

fn ok(body: serde_json::Value) -> Reply {
    Ok(json(StatusCode::OK, &body))
}

/// Parses a JSON body whatever its declared content type: clients send `application/json`,
/// the vnd type, or nothing at all, and the real registry accepts them all.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, RegistryError> {
    serde_json::from_slice(body).map_err(|e| RegistryError::MalformedBody(e.to_string()))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaRequest {
    schema: String,
    /// Confluent defaults to AVRO when absent; this registry only knows PROTOBUF, so absence means that.
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<SchemaReference>,
}

impl SchemaRequest {
    fn from_body(body: &Bytes) -> Result<Self, RegistryError> {
        let request: Self = parse(body)?;
        match request.schema_type.as_deref() {
            None | Some(PROTOBUF) => Ok(request),
            Some(other) => Err(RegistryError::InvalidSchema(format!(
                "unsupported schema type '{other}', only PROTOBUF is supported"
            ))),
        }
    }
}

#[derive(Debug, Deserialize)]
struct ConfigRequest {
    compatibility: String,
}

async fn subjects(State(registry): State<SchemaRegistry>) -> Reply {
    ok(json!(registry.subjects().await))
}

async fn versions(State(registry): State<SchemaRegistry>, Path(subject): Path<String>) -> Reply {
    ok(json!(registry.versions(&subject).await?))
}

async fn register(State(registry): State<SchemaRegistry>, Path(subject): Path<String>, body: Bytes) -> Reply {
    let request = SchemaRequest::from_body(&body)?;
    let id = registry.register(&subject, &request.schema, request.references).await?;
    ok(json!({ "id": id }))
}

async fn lookup(State(registry): State<SchemaRegistry>, Path(subject): Path<String>, body: Bytes) -> Reply {
    let request = SchemaRequest::from_body(&body)?;
    let found = registry.lookup(&subject, &request.schema, &request.references).await?;
    ok(json!(found))
}

async fn subject_version(
    State(registry): State<SchemaRegistry>,
    Path((subject, version)): Path<(String, String)>,
) -> Reply {
    let found = registry.subject_version(&subject, VersionSpec::parse(&version)?).await?;
    ok(json!(found))
}

async fn schema_by_id(State(registry): State<SchemaRegistry>, Path(id): Path<String>) -> Reply {
    // A non-numeric id cannot name a schema; answer as the registry does for unknown ids.
    let id: u32 = id.parse().map_err(|_| RegistryError::SchemaNotFound)?;
    let (schema, references) = registry.schema_by_id(id).await?;
    ok(json!({ "schema": schema, "schemaType": PROTOBUF, "references": references }))
}

async fn global_config(State(registry): State<SchemaRegistry>) -> Reply {
    ok(json!({ "compatibilityLevel": registry.global_level().await.as_str() }))
}

async fn set_global_config(State(registry): State<SchemaRegistry>, body: Bytes) -> Reply {
    let level = CompatibilityLevel::parse(&parse::<ConfigRequest>(&body)?.compatibility)?;
    registry.set_global_level(level).await?;
    ok(json!({ "compatibility": level.as_str() }))
}

/// Returns the subject's effective level (its own, else the global one), as `defaultToGlobal=true` would.
async fn subject_config(State(registry): State<SchemaRegistry>, Path(subject): Path<String>) -> Reply {
    ok(json!({ "compatibilityLevel": registry.subject_level(&subject).await.as_str() }))
}

async fn set_subject_config(State(registry): State<SchemaRegistry>, Path(subject): Path<String>, body: Bytes) -> Reply {
    let level = CompatibilityLevel::parse(&parse::<ConfigRequest>(&body)?.compatibility)?;
    registry.set_subject_level(&subject, level).await?;
    ok(json!({ "compatibility": level.as_str() }))
}

async fn compatibility_all(State(registry): State<SchemaRegistry>, Path(subject): Path<String>, body: Bytes) -> Reply {
    compatibility(&registry, &subject, None, &body).await
}

async fn compatibility_version(
    State(registry): State<SchemaRegistry>,
    Path((subject, version)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    compatibility(&registry, &subject, Some(VersionSpec::parse(&version)?), &body).await
}

async fn compatibility(registry: &SchemaRegistry, subject: &str, spec: Option<VersionSpec>, body: &Bytes) -> Reply {
    let request = SchemaRequest::from_body(body)?;
    let messages = registry.test_compatibility(subject, spec, &request.schema, &request.references).await?;
    ok(json!({ "is_compatible": messages.is_empty(), "messages": messages }))
}
