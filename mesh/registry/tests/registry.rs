//! End-to-end tests of the schema registry over real HTTP on 127.0.0.1.

use std::net::SocketAddr;

use fleuve_registry::RegistryServer;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const V1: &str = r#"
syntax = "proto3";
package fleuve.test.v1;
message Order {
  string id = 1;
  string customer = 2;
  string note = 3;
}
"#;

/// V1 plus a field: backward compatible.
const V2: &str = r#"
syntax = "proto3";
package fleuve.test.v1;
message Order {
  string id = 1;
  string customer = 2;
  string note = 3;
  int64 total = 4;
}
"#;

/// V2 with field 3 turned into an int64: breaks readers of V1 and V2 data.
const NOTE_AS_INT: &str = r#"
syntax = "proto3";
package fleuve.test.v1;
message Order {
  string id = 1;
  string customer = 2;
  int64 note = 3;
  int64 total = 4;
}
"#;

/// V2 without field 3: removal is compatible.
const V3_NO_NOTE: &str = r#"
syntax = "proto3";
package fleuve.test.v1;
message Order {
  string id = 1;
  string customer = 2;
  int64 total = 4;
}
"#;

/// Reuses the removed number 3 as an int64: fine against V3 alone, not against V1/V2.
const V4_REUSE: &str = r#"
syntax = "proto3";
package fleuve.test.v1;
message Order {
  string id = 1;
  string customer = 2;
  int64 priority = 3;
  int64 total = 4;
}
"#;

/// Sends one HTTP/1.1 request and returns the status and JSON body.
async fn call(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/vnd.schemaregistry.v1+json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8(raw).expect("utf-8 response");
    let (head, payload) = text.split_once("\r\n\r\n").expect("response head");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
    assert!(
        head.to_ascii_lowercase().contains("content-type: application/vnd.schemaregistry.v1+json"),
        "unexpected head: {head}"
    );
    (status, serde_json::from_str(payload).expect("json body"))
}

fn schema(source: &str) -> Value {
    json!({ "schema": source, "schemaType": "PROTOBUF" })
}

async fn start() -> (SocketAddr, RegistryServer) {
    RegistryServer::start("127.0.0.1:0".parse().expect("addr")).await.expect("start registry")
}

#[tokio::test]
async fn registers_evolves_and_rejects_breaking_changes() {
    let (addr, server) = start().await;
    let (status, body) = call(addr, "POST", "/subjects/orders-value/versions", Some(schema(V1))).await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_u64().expect("id");

    // Same schema, different layout and comments: same id, no new version.
    let relaid = format!("// a comment\n{}", V1.replace("  ", "    "));
    let (status, body) = call(addr, "POST", "/subjects/orders-value/versions", Some(schema(&relaid))).await;
    assert_eq!((status, body["id"].as_u64()), (200, Some(id)));
    let (_, versions) = call(addr, "GET", "/subjects/orders-value/versions", None).await;
    assert_eq!(versions, json!([1]));

    let (status, body) = call(addr, "POST", "/subjects/orders-value/versions", Some(schema(V2))).await;
    assert_eq!(status, 200, "{body}");
    let id2 = body["id"].as_u64().expect("id");
    assert!(id2 > id);
    let (_, latest) = call(addr, "GET", "/subjects/orders-value/versions/latest", None).await;
    assert_eq!(latest["version"], 2);
    assert_eq!(latest["id"].as_u64(), Some(id2));
    assert_eq!(latest["schemaType"], "PROTOBUF");
    assert_eq!(latest["subject"], "orders-value");

    let (status, body) = call(addr, "POST", "/subjects/orders-value/versions", Some(schema(NOTE_AS_INT))).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error_code"], 409);
    let message = body["message"].as_str().expect("message");
    assert!(message.contains("field 3 of fleuve.test.v1.Order changed type from string to int64"), "{message}");

    let (_, by_id) = call(addr, "GET", &format!("/schemas/ids/{id}"), None).await;
    assert_eq!(by_id["schema"], V1);
    assert_eq!(by_id["schemaType"], "PROTOBUF");
    let (status, body) = call(addr, "GET", "/schemas/ids/999", None).await;
    assert_eq!((status, body["error_code"].as_u64()), (404, Some(40403)));

    let (status, found) = call(addr, "POST", "/subjects/orders-value", Some(schema(V2))).await;
    assert_eq!((status, found["version"].as_u64()), (200, Some(2)));
    let (status, body) = call(addr, "POST", "/subjects/orders-value", Some(schema(NOTE_AS_INT))).await;
    assert_eq!((status, body["error_code"].as_u64()), (404, Some(40403)));

    let (_, subjects) = call(addr, "GET", "/subjects", None).await;
    assert_eq!(subjects, json!(["orders-value"]));
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn transitive_checks_catch_reused_field_numbers() {
    let (addr, server) = start().await;
    for (subject, level) in [("transitive", "BACKWARD_TRANSITIVE"), ("latest-only", "BACKWARD")] {
        let (status, _) =
            call(addr, "PUT", &format!("/config/{subject}"), Some(json!({ "compatibility": level }))).await;
        assert_eq!(status, 200);
        for source in [V1, V2, V3_NO_NOTE] {
            let (status, body) =
                call(addr, "POST", &format!("/subjects/{subject}/versions"), Some(schema(source))).await;
            assert_eq!(status, 200, "{subject}: {body}");
        }
    }
    // Against V1 and V2 the number 3 was a string called `note`.
    let (status, body) = call(addr, "POST", "/subjects/transitive/versions", Some(schema(V4_REUSE))).await;
    assert_eq!(status, 409, "{body}");
    let message = body["message"].as_str().expect("message");
    assert!(message.contains("field 3 of fleuve.test.v1.Order changed type from string to int64"), "{message}");
    assert!(message.contains("'note' reused as 'priority'"), "{message}");
    // BACKWARD only looks at V3, where 3 is unused.
    let (status, body) = call(addr, "POST", "/subjects/latest-only/versions", Some(schema(V4_REUSE))).await;
    assert_eq!(status, 200, "{body}");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn config_and_compatibility_endpoints() {
    let (addr, server) = start().await;
    let (status, body) = call(addr, "GET", "/config", None).await;
    assert_eq!((status, body), (200, json!({ "compatibilityLevel": "BACKWARD_TRANSITIVE" })));
    let (_, body) = call(addr, "PUT", "/config", Some(json!({ "compatibility": "BACKWARD" }))).await;
    assert_eq!(body, json!({ "compatibility": "BACKWARD" }));
    let (_, body) = call(addr, "GET", "/config", None).await;
    assert_eq!(body["compatibilityLevel"], "BACKWARD");
    let (_, body) = call(addr, "GET", "/config/anything", None).await;
    assert_eq!(body["compatibilityLevel"], "BACKWARD", "subjects inherit the global level");
    let (_, body) = call(addr, "PUT", "/config/anything", Some(json!({ "compatibility": "NONE" }))).await;
    assert_eq!(body, json!({ "compatibility": "NONE" }));
    let (_, body) = call(addr, "GET", "/config/anything", None).await;
    assert_eq!(body["compatibilityLevel"], "NONE");
    let (status, body) = call(addr, "PUT", "/config", Some(json!({ "compatibility": "SIDEWAYS" }))).await;
    assert_eq!((status, body["error_code"].as_u64()), (422, Some(42203)));

    call(addr, "POST", "/subjects/orders/versions", Some(schema(V1))).await;
    let path = "/compatibility/subjects/orders/versions/latest";
    let (status, body) = call(addr, "POST", path, Some(schema(V2))).await;
    assert_eq!((status, body), (200, json!({ "is_compatible": true, "messages": [] })));
    let (_, body) = call(addr, "POST", path, Some(schema(NOTE_AS_INT))).await;
    assert_eq!(body["is_compatible"], false);
    assert!(body["messages"][0].as_str().expect("message").contains("field 3"), "{body}");
    let (status, body) = call(addr, "POST", "/compatibility/subjects/orders/versions/7", Some(schema(V2))).await;
    assert_eq!((status, body["error_code"].as_u64()), (404, Some(40402)));
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn references_resolve_as_imports() {
    let (addr, server) = start().await;
    let common =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto/fleuve/common/v1/common.proto"))
            .expect("read common.proto");
    let (status, body) = call(addr, "POST", "/subjects/fleuve-common/versions", Some(schema(&common))).await;
    assert_eq!(status, 200, "{body}");

    let payment = r#"
syntax = "proto3";
package fleuve.payment.v1;
import "fleuve/common/v1/common.proto";
message PaymentReceived {
  string payment_id = 1;
  fleuve.common.v1.Money amount = 2;
  fleuve.common.v1.EventMetadata metadata = 3;
}
"#;
    let reference = json!([{ "name": "fleuve/common/v1/common.proto", "subject": "fleuve-common", "version": 1 }]);
    let request = json!({ "schema": payment, "schemaType": "PROTOBUF", "references": reference });
    let (status, body) = call(addr, "POST", "/subjects/payments-value/versions", Some(request)).await;
    assert_eq!(status, 200, "{body}");
    let (_, version) = call(addr, "GET", "/subjects/payments-value/versions/1", None).await;
    assert_eq!(version["references"], reference);

    // Without the reference the import cannot be found.
    let (status, body) = call(addr, "POST", "/subjects/other/versions", Some(schema(payment))).await;
    assert_eq!((status, body["error_code"].as_u64()), (422, Some(42201)), "{body}");
    // A reference to a version that does not exist is refused too.
    let dangling = json!([{ "name": "fleuve/common/v1/common.proto", "subject": "fleuve-common", "version": 9 }]);
    let request = json!({ "schema": payment, "schemaType": "PROTOBUF", "references": dangling });
    let (status, body) = call(addr, "POST", "/subjects/other/versions", Some(request)).await;
    assert_eq!((status, body["error_code"].as_u64()), (422, Some(42201)), "{body}");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn unparsable_schemas_are_unprocessable() {
    let (addr, server) = start().await;
    let broken = "syntax = \"proto3\";\nmessage Broken { string = ; }\n";
    let (status, body) = call(addr, "POST", "/subjects/broken/versions", Some(schema(broken))).await;
    assert_eq!((status, body["error_code"].as_u64()), (422, Some(42201)), "{body}");
    let (status, body) = call(addr, "GET", "/subjects/broken/versions", None).await;
    assert_eq!((status, body["error_code"].as_u64()), (404, Some(40401)));
    let (status, body) =
        call(addr, "POST", "/subjects/x/versions", Some(json!({ "schema": "{}", "schemaType": "AVRO" }))).await;
    assert_eq!((status, body["error_code"].as_u64()), (422, Some(42201)));
    server.shutdown().await.expect("shutdown");
}

/// A registry opened on a journal file comes back after a restart with the same ids, versions,
/// references and levels, and goes on numbering where it stopped.
#[tokio::test]
async fn a_journaled_registry_keeps_its_ids_across_restarts() {
    let dir = std::env::temp_dir().join(format!("fleuve-registry-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let journal = dir.join("registry.jsonl");
    let start_on = |journal: std::path::PathBuf| async move {
        let registry = fleuve_registry::SchemaRegistry::open(&journal).expect("open the journal");
        RegistryServer::start_with("127.0.0.1:0".parse().unwrap(), registry).await.expect("start")
    };
    let common =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto/fleuve/common/v1/common.proto"))
            .expect("read common.proto");
    let payment = r#"
syntax = "proto3";
package fleuve.payment.v1;
import "fleuve/common/v1/common.proto";
message PaymentReceived {
  fleuve.common.v1.Money amount = 1;
}
"#;
    let reference = json!([{ "name": "fleuve/common/v1/common.proto", "subject": "fleuve-common", "version": 1 }]);

    let (addr, server) = start_on(journal.clone()).await;
    let mut ids = Vec::new();
    for (subject, body) in [
        ("orders-value", schema(V1)),
        ("orders-value", schema(V2)),
        ("fleuve-common", schema(&common)),
        ("payments-value", json!({ "schema": payment, "schemaType": "PROTOBUF", "references": reference })),
        ("copies-value", schema(V1)),
    ] {
        let (status, body) = call(addr, "POST", &format!("/subjects/{subject}/versions"), Some(body)).await;
        assert_eq!(status, 200, "{body}");
        ids.push(body["id"].as_u64().unwrap());
    }
    assert_eq!(ids, [1, 2, 3, 4, 1], "an identical schema shares its id");
    let (status, _) = call(addr, "PUT", "/config/orders-value", Some(json!({ "compatibility": "FULL" }))).await;
    assert_eq!(status, 200);
    server.shutdown().await.expect("shutdown");

    let (addr, server) = start_on(journal.clone()).await;
    let (_, v2) = call(addr, "GET", "/subjects/orders-value/versions/2", None).await;
    assert_eq!((v2["id"].as_u64(), v2["version"].as_u64()), (Some(2), Some(2)), "{v2}");
    let (_, by_id) = call(addr, "GET", "/schemas/ids/4", None).await;
    assert_eq!(by_id["references"], reference);
    let (_, level) = call(addr, "GET", "/config/orders-value", None).await;
    assert_eq!(level["compatibilityLevel"], "FULL");
    let (_, copies) = call(addr, "GET", "/subjects/copies-value/versions/latest", None).await;
    assert_eq!(copies["id"].as_u64(), Some(1));
    // Registering again answers the same id; a new schema gets the next one.
    let (_, again) = call(addr, "POST", "/subjects/orders-value/versions", Some(schema(V2))).await;
    assert_eq!(again["id"].as_u64(), Some(2));
    let (_, next) = call(addr, "POST", "/subjects/orders-value/versions", Some(schema(V3_NO_NOTE))).await;
    assert_eq!(next["id"].as_u64(), Some(5), "{next}");
    server.shutdown().await.expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}
