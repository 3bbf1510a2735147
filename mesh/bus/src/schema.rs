//! Event schemas on the wire: registration in a Confluent-compatible Schema Registry and the Confluent protobuf framing.
//!
//! Registration is done with a small REST client rather than `schema_registry_converter`: that
//! crate finds message indexes by parsing `.proto` text with its own resolver, while Fleuve has
//! the compiled descriptors at hand (`fleuve_proto::FILE_DESCRIPTOR_SET`), which also give the
//! import graph needed to register references first.

use std::collections::HashMap;
use std::sync::PoisonError;

use prost::Message as _;
use prost_types::{DescriptorProto, FileDescriptorProto, FileDescriptorSet};
use serde_json::json;
use url::Url;

use crate::BusError;

/// The Confluent wire format's first byte.
pub const MAGIC_BYTE: u8 = 0;
/// Media type of the Confluent REST API.
const REGISTRY_CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

pub use fleuve_handler::TopicSchema;

/// How to reach a registry that asks for credentials or has its own certificate authority.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct RegistryAccess {
    /// HTTP basic credentials (Confluent's `basic.auth.user.info`); empty sends none.
    pub username: String,
    pub password: String,
    /// PEM file of a certificate authority trusted on top of the system's roots.
    pub ca_file: String,
}

impl std::fmt::Debug for RegistryAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAccess")
            .field("username", &self.username)
            .field("password", &if self.password.is_empty() { "" } else { "***" })
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl RegistryAccess {
    /// An HTTP client sending the credentials with every request and trusting the CA file.
    pub fn http_client(&self, timeout: Option<std::time::Duration>) -> Result<reqwest::Client, BusError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| BusError::Registry(format!("{what}: {e}"));
        let mut builder = reqwest::Client::builder();
        if let Some(timeout) = timeout {
            builder = builder.timeout(timeout);
        }
        if !self.username.is_empty() {
            use base64::Engine as _;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.username, self.password));
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Basic {token}"))
                .map_err(|e| fail("registry credentials", &e))?;
            value.set_sensitive(true);
            builder = builder.default_headers([(reqwest::header::AUTHORIZATION, value)].into_iter().collect());
        }
        if !self.ca_file.is_empty() {
            let pem = std::fs::read(&self.ca_file).map_err(|e| fail(&format!("reading {}", self.ca_file), &e))?;
            let certificate =
                reqwest::Certificate::from_pem(&pem).map_err(|e| fail(&format!("parsing {}", self.ca_file), &e))?;
            builder = builder.add_root_certificate(certificate);
        }
        builder.build().map_err(|e| fail("registry http client", &e))
    }
}

/// A topic's registered schema: the id the registry gave it and the ready-made frame prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredSchema {
    pub schema_id: u32,
    /// Message-index path of the message inside its file (`[0]` = first top-level message).
    pub message_indexes: Vec<i32>,
    /// Magic byte, schema id and message indexes: what precedes every payload.
    prefix: Vec<u8>,
}

impl RegisteredSchema {
    pub fn new(schema_id: u32, message_indexes: Vec<i32>) -> RegisteredSchema {
        let prefix = frame_prefix(schema_id, &message_indexes);
        RegisteredSchema { schema_id, message_indexes, prefix }
    }

    /// `payload` in the Confluent wire format for this schema.
    pub fn frame(&self, payload: &[u8]) -> Vec<u8> {
        let mut framed = Vec::with_capacity(self.prefix.len() + payload.len());
        self.frame_into(payload, &mut framed);
        framed
    }

    /// [`RegisteredSchema::frame`] into `framed`, which it clears first (a buffer reused from
    /// record to record).
    pub fn frame_into(&self, payload: &[u8], framed: &mut Vec<u8>) {
        framed.clear();
        framed.extend_from_slice(&self.prefix);
        framed.extend_from_slice(payload);
    }
}

/// Magic byte, big-endian schema id, then the message-index array: zigzag varints, count first,
/// except that the first message of the file (`[0]`) is the single byte `0`.
pub fn frame_prefix(schema_id: u32, message_indexes: &[i32]) -> Vec<u8> {
    let mut prefix = vec![MAGIC_BYTE];
    prefix.extend_from_slice(&schema_id.to_be_bytes());
    if message_indexes == [0] {
        prefix.push(0);
    } else {
        let count = i32::try_from(message_indexes.len()).expect("message nesting fits in i32");
        put_zigzag(&mut prefix, count);
        for index in message_indexes {
            put_zigzag(&mut prefix, *index);
        }
    }
    prefix
}

/// `payload` framed with `schema_id` and `message_indexes` (see [`frame_prefix`]).
pub fn encode_confluent(schema_id: u32, message_indexes: &[i32], payload: &[u8]) -> Vec<u8> {
    let mut framed = frame_prefix(schema_id, message_indexes);
    framed.extend_from_slice(payload);
    framed
}

/// Splits a Confluent-framed protobuf value into schema id, message indexes and payload.
pub fn decode_confluent(bytes: &[u8]) -> Result<(u32, Vec<i32>, &[u8]), BusError> {
    let (&magic, rest) = bytes.split_first().ok_or(BusError::WireFormat("empty value".into()))?;
    if magic != MAGIC_BYTE {
        return Err(BusError::WireFormat(format!("wrong magic byte {magic:#04x}, expected 0x00")));
    }
    let id_bytes: [u8; 4] = rest
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| BusError::WireFormat(format!("truncated schema id: {} of 4 bytes", rest.len())))?;
    let mut rest = &rest[4..];
    let count = take_zigzag(&mut rest)?;
    let indexes = if count == 0 {
        vec![0]
    } else {
        if count < 0 {
            return Err(BusError::WireFormat(format!("negative message index count {count}")));
        }
        // Each index takes at least one byte, so a count beyond the remaining bytes is garbage.
        if usize::try_from(count).unwrap_or(usize::MAX) > rest.len() {
            return Err(BusError::WireFormat(format!("truncated message indexes: count {count}")));
        }
        (0..count).map(|_| take_zigzag(&mut rest)).collect::<Result<Vec<_>, _>>()?
    };
    Ok((u32::from_be_bytes(id_bytes), indexes, rest))
}

fn put_zigzag(out: &mut Vec<u8>, value: i32) {
    // Zigzag maps small negative and positive numbers to small unsigned ones.
    let mut n = ((value << 1) ^ (value >> 31)) as u32;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn take_zigzag(bytes: &mut &[u8]) -> Result<i32, BusError> {
    let mut n: u32 = 0;
    for shift in (0..35).step_by(7) {
        let (&byte, rest) =
            bytes.split_first().ok_or_else(|| BusError::WireFormat("truncated message index varint".into()))?;
        *bytes = rest;
        n |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(((n >> 1) as i32) ^ -((n & 1) as i32));
        }
    }
    Err(BusError::WireFormat("message index varint longer than 5 bytes".into()))
}

/// The compiled contracts: import graph and message positions, from a `FileDescriptorSet`.
#[derive(Debug, Clone)]
pub struct ProtoCatalog {
    files: HashMap<String, FileDescriptorProto>,
    sources: HashMap<String, String>,
}

impl ProtoCatalog {
    /// The Fleuve contracts (`fleuve_proto`).
    pub fn fleuve() -> Result<ProtoCatalog, BusError> {
        let sources = fleuve_proto::PROTO_SOURCES.iter().map(|(p, s)| ((*p).to_owned(), (*s).to_owned())).collect();
        ProtoCatalog::new(fleuve_proto::FILE_DESCRIPTOR_SET, sources)
    }

    /// A catalog from an encoded `FileDescriptorSet` and the `.proto` sources by import path.
    pub fn new(descriptor_set: &[u8], sources: HashMap<String, String>) -> Result<ProtoCatalog, BusError> {
        let set = FileDescriptorSet::decode(descriptor_set)
            .map_err(|e| BusError::Schema(format!("cannot decode the file descriptor set: {e}")))?;
        let files = set.file.into_iter().map(|f| (f.name().to_owned(), f)).collect();
        Ok(ProtoCatalog { files, sources })
    }

    /// The message-index path of `message` (full name) inside `file`.
    pub fn message_indexes(&self, file: &str, message: &str) -> Result<Vec<i32>, BusError> {
        let descriptor = self.file(file)?;
        let package = descriptor.package();
        let relative = if package.is_empty() {
            message
        } else {
            message
                .strip_prefix(package)
                .and_then(|m| m.strip_prefix('.'))
                .ok_or_else(|| BusError::Schema(format!("message {message} is not in package {package} of {file}")))?
        };
        find_path(&descriptor.message_type, relative)
            .ok_or_else(|| BusError::Schema(format!("message {message} is not defined in {file}")))
    }

    /// `file` and its imports, imports first (each once), without `google/protobuf/*`.
    pub fn registration_order(&self, file: &str) -> Result<Vec<String>, BusError> {
        let mut order = Vec::new();
        self.visit(file, &mut order, &mut Vec::new())?;
        Ok(order)
    }

    fn visit(&self, file: &str, order: &mut Vec<String>, path: &mut Vec<String>) -> Result<(), BusError> {
        if order.iter().any(|f| f == file) {
            return Ok(());
        }
        if path.iter().any(|f| f == file) {
            return Err(BusError::Schema(format!("import cycle through {file}")));
        }
        path.push(file.to_owned());
        for import in &self.file(file)?.dependency {
            if !is_well_known(import) {
                self.visit(import, order, path)?;
            }
        }
        path.pop();
        order.push(file.to_owned());
        Ok(())
    }

    /// Direct imports of `file` that are registered as references.
    fn references(&self, file: &str) -> Result<Vec<String>, BusError> {
        Ok(self.file(file)?.dependency.iter().filter(|d| !is_well_known(d)).cloned().collect())
    }

    fn file(&self, file: &str) -> Result<&FileDescriptorProto, BusError> {
        self.files.get(file).ok_or_else(|| BusError::Schema(format!("no descriptor for {file}")))
    }

    fn source(&self, file: &str) -> Result<&str, BusError> {
        self.sources.get(file).map(String::as_str).ok_or_else(|| BusError::Schema(format!("no source for {file}")))
    }
}

/// google/protobuf/* is built into every registry and client; Confluent does not register it.
fn is_well_known(import: &str) -> bool {
    import.starts_with("google/protobuf/")
}

fn find_path(messages: &[DescriptorProto], relative: &str) -> Option<Vec<i32>> {
    let (head, tail) = match relative.split_once('.') {
        Some((head, tail)) => (head, Some(tail)),
        None => (relative, None),
    };
    let index = messages.iter().position(|m| m.name() == head)?;
    let mut path = vec![i32::try_from(index).ok()?];
    if let Some(tail) = tail {
        path.extend(find_path(&messages[index].nested_type, tail)?);
    }
    Some(path)
}

/// A client of the Confluent Schema Registry REST API that registers topic schemas with their
/// imports as references.
#[derive(Debug, Clone)]
pub struct SchemaRegistryClient {
    base: Url,
    http: reqwest::Client,
    catalog: ProtoCatalog,
}

impl SchemaRegistryClient {
    /// A client of the registry at `url` (e.g. `http://127.0.0.1:8081`) for `catalog`'s files.
    pub fn new(url: &str, catalog: ProtoCatalog) -> Result<SchemaRegistryClient, BusError> {
        SchemaRegistryClient::with_access(url, catalog, &RegistryAccess::default())
    }

    /// A client of the registry at `url` reached with `access`'s credentials and CA.
    pub fn with_access(
        url: &str,
        catalog: ProtoCatalog,
        access: &RegistryAccess,
    ) -> Result<SchemaRegistryClient, BusError> {
        let base = Url::parse(url).map_err(|e| BusError::Registry(format!("invalid registry url {url}: {e}")))?;
        if base.cannot_be_a_base() {
            return Err(BusError::Registry(format!("registry url {url} cannot be a base")));
        }
        Ok(SchemaRegistryClient { base, http: access.http_client(None)?, catalog })
    }

    pub fn catalog(&self) -> &ProtoCatalog {
        &self.catalog
    }

    /// Registers `<topic>-value` with the topic's file, its imports first as subjects named by
    /// their import path. Registering an identical schema again returns the existing id.
    pub async fn register_topic(&self, topic: &TopicSchema) -> Result<RegisteredSchema, BusError> {
        let indexes = self.catalog.message_indexes(&topic.file, &topic.message)?;
        let order = self.catalog.registration_order(&topic.file)?;
        // versions of the imports registered so far, by import path
        let mut versions: HashMap<String, u32> = HashMap::new();
        let mut schema_id = None;
        for file in &order {
            let subject = if file == &topic.file { topic.value_subject() } else { file.clone() };
            let references =
                self.catalog
                    .references(file)?
                    .into_iter()
                    .map(|name| {
                        let version = versions.get(&name).copied().ok_or_else(|| {
                            BusError::Schema(format!("import {name} of {file} was not registered first"))
                        })?;
                        Ok(json!({ "name": name, "subject": name, "version": version }))
                    })
                    .collect::<Result<Vec<_>, BusError>>()?;
            let body = json!({
                "schemaType": "PROTOBUF",
                "schema": self.catalog.source(file)?,
                "references": references,
            });
            let id = self.post(&[subject.as_str(), "versions"], &body).await?["id"]
                .as_u64()
                .and_then(|id| u32::try_from(id).ok())
                .ok_or_else(|| BusError::Registry(format!("registering {subject}: no schema id in the answer")))?;
            if file == &topic.file {
                schema_id = Some(id);
            } else {
                // The version is needed by the schemas that reference this one.
                let found = self.post(&[subject.as_str()], &body).await?;
                let version = found["version"]
                    .as_u64()
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| BusError::Registry(format!("looking up {subject}: no version in the answer")))?;
                versions.insert(file.clone(), version);
            }
        }
        let schema_id = schema_id.ok_or_else(|| BusError::Schema(format!("{} was not registered", topic.file)))?;
        tracing::info!(topic = %topic.topic, subject = %topic.value_subject(), schema_id, "event schema registered");
        Ok(RegisteredSchema::new(schema_id, indexes))
    }

    async fn post(&self, segments: &[&str], body: &serde_json::Value) -> Result<serde_json::Value, BusError> {
        let mut url = self.base.clone();
        {
            // push() percent-encodes each segment, so `/` inside an import-path subject survives.
            let mut path =
                url.path_segments_mut().map_err(|()| BusError::Registry("registry url has no path".into()))?;
            path.pop_if_empty().push("subjects");
            for segment in segments {
                path.push(segment);
            }
        }
        let response = self
            .http
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, REGISTRY_CONTENT_TYPE)
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| BusError::Registry(format!("post {url}: {e}")))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| BusError::Registry(format!("post {url}: {e}")))?;
        if !status.is_success() {
            return Err(BusError::Registry(format!("post {url}: {status}: {text}")));
        }
        serde_json::from_str(&text).map_err(|e| BusError::Registry(format!("post {url}: invalid json answer: {e}")))
    }
}

/// Why a schema id could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The registry does not know the id, or the schema does not hold the indexed message:
    /// the record can never be decoded (a poison record).
    #[error("unknown schema: {0}")]
    Unknown(String),
    /// The registry could not be asked (down, timeout): worth retrying.
    #[error("schema registry unavailable: {0}")]
    Unavailable(String),
}

/// Turns the schema id and message indexes of a Confluent frame into the full protobuf message
/// name, by fetching the schema (and its references) from the registry and compiling it.
/// Answers are cached for the resolver's lifetime: a schema id never changes meaning.
#[derive(Debug, Clone)]
pub struct SchemaResolver {
    base: Url,
    http: reqwest::Client,
    names: std::sync::Arc<std::sync::Mutex<HashMap<(u32, Vec<i32>), String>>>,
}

impl SchemaResolver {
    pub fn new(url: &str) -> Result<SchemaResolver, BusError> {
        SchemaResolver::with_access(url, &RegistryAccess::default())
    }

    /// A resolver asking the registry at `url` with `access`'s credentials and CA.
    pub fn with_access(url: &str, access: &RegistryAccess) -> Result<SchemaResolver, BusError> {
        let base = Url::parse(url).map_err(|e| BusError::Registry(format!("invalid registry url {url}: {e}")))?;
        if base.cannot_be_a_base() {
            return Err(BusError::Registry(format!("registry url {url} cannot be a base")));
        }
        let http = access.http_client(Some(std::time::Duration::from_secs(5)))?;
        Ok(SchemaResolver { base, http, names: Default::default() })
    }

    /// The full name of the message at `indexes` in schema `schema_id`.
    pub async fn message_name(&self, schema_id: u32, indexes: &[i32]) -> Result<String, ResolveError> {
        let key = (schema_id, indexes.to_vec());
        if let Some(name) = self.names.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return Ok(name.clone());
        }
        let schema = self.get(&["schemas", "ids", &schema_id.to_string()]).await?;
        let source = schema["schema"]
            .as_str()
            .ok_or_else(|| ResolveError::Unknown(format!("schema {schema_id}: no schema text in the answer")))?
            .to_owned();
        let mut imports = HashMap::new();
        self.collect_references(&schema["references"], &mut imports, 0).await?;
        let compiled = fleuve_registry::compile(&source, imports)
            .map_err(|e| ResolveError::Unknown(format!("schema {schema_id} does not compile: {e}")))?;
        let name = message_at(compiled.file(), indexes).ok_or_else(|| {
            ResolveError::Unknown(format!("schema {schema_id} has no message at indexes {indexes:?}"))
        })?;
        self.names.lock().unwrap_or_else(PoisonError::into_inner).insert(key, name.clone());
        Ok(name)
    }

    /// Fetches every reference (transitively) into `imports`, by import path.
    fn collect_references<'a>(
        &'a self,
        references: &'a serde_json::Value,
        imports: &'a mut HashMap<String, String>,
        depth: usize,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ResolveError>> + Send + 'a>> {
        Box::pin(async move {
            if depth > 32 {
                return Err(ResolveError::Unknown("schema references nest deeper than 32".into()));
            }
            let Some(list) = references.as_array() else { return Ok(()) };
            for reference in list {
                let (Some(name), Some(subject), Some(version)) =
                    (reference["name"].as_str(), reference["subject"].as_str(), reference["version"].as_u64())
                else {
                    return Err(ResolveError::Unknown(format!("malformed schema reference {reference}")));
                };
                if imports.contains_key(name) {
                    continue;
                }
                let found = self.get(&["subjects", subject, "versions", &version.to_string()]).await?;
                let text = found["schema"]
                    .as_str()
                    .ok_or_else(|| ResolveError::Unknown(format!("reference {subject} v{version}: no schema text")))?;
                imports.insert(name.to_owned(), text.to_owned());
                self.collect_references(&found["references"], imports, depth + 1).await?;
            }
            Ok(())
        })
    }

    async fn get(&self, segments: &[&str]) -> Result<serde_json::Value, ResolveError> {
        let mut url = self.base.clone();
        {
            let mut path =
                url.path_segments_mut().map_err(|()| ResolveError::Unavailable("registry url has no path".into()))?;
            path.pop_if_empty();
            for segment in segments {
                path.push(segment);
            }
        }
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| ResolveError::Unavailable(format!("get {url}: {e}")))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| ResolveError::Unavailable(format!("get {url}: {e}")))?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(ResolveError::Unknown(format!("get {url}: {status}: {text}")));
        }
        if !status.is_success() {
            return Err(ResolveError::Unavailable(format!("get {url}: {status}: {text}")));
        }
        serde_json::from_str(&text).map_err(|e| ResolveError::Unavailable(format!("get {url}: invalid json: {e}")))
    }
}

/// The full name of the message at a Confluent message-index path in `file`.
fn message_at(file: &prost_reflect::FileDescriptor, indexes: &[i32]) -> Option<String> {
    let (first, rest) = indexes.split_first()?;
    let mut message = file.messages().nth(usize::try_from(*first).ok()?)?;
    for index in rest {
        let child = message.child_messages().nth(usize::try_from(*index).ok()?)?;
        message = child;
    }
    Some(message.full_name().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry that asks for credentials: the resolver sends them, as HTTP basic
    /// authentication, on every request (here a schema lookup the server answers with 401).
    #[tokio::test]
    async fn registry_credentials_are_sent_as_basic_authentication() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buffer).await.unwrap();
                request.extend_from_slice(&buffer[..n]);
            }
            let body = r#"{"error_code":40101,"message":"Unauthorized"}"#;
            let answer = format!(
                "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8(request).unwrap()
        });
        let access = RegistryAccess { username: "fleuve".into(), password: "s3cret".into(), ca_file: String::new() };
        let resolver = SchemaResolver::with_access(&url, &access).unwrap();
        assert!(resolver.message_name(1, &[0]).await.is_err(), "a 401 is an error");
        let request = server.await.unwrap().to_lowercase();
        // base64("fleuve:s3cret")
        assert!(request.contains("authorization: basic zmxldxzlonmzy3jlda=="), "{request}");
        assert!(!format!("{access:?}").contains("s3cret"));

        let missing = RegistryAccess { ca_file: "/nonexistent/ca.pem".into(), ..RegistryAccess::default() };
        let error = SchemaResolver::with_access(&url, &missing).unwrap_err().to_string();
        assert!(error.contains("/nonexistent/ca.pem"), "{error}");
    }

    #[test]
    fn first_message_is_a_single_zero_byte() {
        let framed = encode_confluent(7, &[0], b"xy");
        assert_eq!(framed, [0, 0, 0, 0, 7, 0, b'x', b'y']);
        let (id, indexes, payload) = decode_confluent(&framed).unwrap();
        assert_eq!((id, indexes, payload), (7, vec![0], &b"xy"[..]));
    }

    #[test]
    fn other_messages_carry_count_and_zigzag_indexes() {
        let framed = encode_confluent(0x0102_0304, &[14], b"p");
        assert_eq!(framed, [0, 1, 2, 3, 4, 2, 28, b'p']);
        let framed = encode_confluent(1, &[1, 100], b"");
        let (id, indexes, payload) = decode_confluent(&framed).unwrap();
        assert_eq!((id, indexes, payload.len()), (1, vec![1, 100], 0));
    }

    #[test]
    fn bad_frames_are_rejected_with_clear_errors() {
        let wrong = decode_confluent(&[1, 0, 0, 0, 1, 0]).unwrap_err().to_string();
        assert!(wrong.contains("wrong magic byte 0x01"), "{wrong}");
        let short = decode_confluent(&[0, 0, 1]).unwrap_err().to_string();
        assert!(short.contains("truncated schema id"), "{short}");
        let empty = decode_confluent(&[]).unwrap_err().to_string();
        assert!(empty.contains("empty value"), "{empty}");
        let no_index = decode_confluent(&[0, 0, 0, 0, 1]).unwrap_err().to_string();
        assert!(no_index.contains("truncated message index"), "{no_index}");
        let cut = decode_confluent(&[0, 0, 0, 0, 1, 4, 2]).unwrap_err().to_string();
        assert!(cut.contains("truncated message index"), "{cut}");
    }

    #[test]
    fn catalog_knows_fleuve_events() {
        let catalog = ProtoCatalog::fleuve().unwrap();
        let events = "fleuve/homologation/v1/events.proto";
        assert_eq!(catalog.message_indexes(events, "fleuve.homologation.v1.DossierEvent").unwrap(), vec![0]);
        let certificate = catalog.message_indexes(events, "fleuve.homologation.v1.CertificateEvent").unwrap();
        assert_eq!(certificate.len(), 1);
        assert!(certificate[0] > 0);
        assert!(catalog.message_indexes(events, "fleuve.homologation.v1.Nope").is_err());
        assert_eq!(
            catalog.registration_order(events).unwrap(),
            ["fleuve/common/v1/common.proto", "fleuve/homologation/v1/types.proto", events]
        );
    }
}
