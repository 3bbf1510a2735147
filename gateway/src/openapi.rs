//! The OpenAPI 3.1 document of the REST surface, generated from the contracts: one operation
//! per `google.api.http` route, descriptions from the proto comments, schemas in protobuf's
//! JSON mapping (what Envoy's transcoder reads and writes), the bearer token as the security
//! scheme and `security: []` on the public operations.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor, ServiceDescriptor,
    Value as ProtoValue,
};
use serde_json::{Value, json};

/// What the document says beyond the contracts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `servers`: where "try it" sends calls; `/` is the origin that serves the document.
    pub servers: Vec<String>,
    /// gRPC path prefixes callable without a token (the servers' own list).
    pub public_paths: Vec<String>,
}

const STATUS_SCHEMA: &str = "google.rpc.Status";

/// Comments of a file by their source path (`[4, i]` a message, `[4, i, 2, j]` its field ...).
struct Comments(HashMap<(String, Vec<i32>), String>);

impl Comments {
    fn of(pool: &DescriptorPool) -> Comments {
        let mut map = HashMap::new();
        for file in pool.files() {
            let proto = file.file_descriptor_proto();
            let Some(info) = &proto.source_code_info else { continue };
            for location in &info.location {
                let text = location.leading_comments();
                if !text.trim().is_empty() {
                    map.insert((proto.name().to_owned(), location.path.clone()), clean(text));
                }
            }
        }
        Comments(map)
    }

    fn get(&self, file: &str, path: &[i32]) -> Option<&str> {
        self.0.get(&(file.to_owned(), path.to_vec())).map(String::as_str)
    }
}

/// A comment as one paragraph per blank-line-separated block.
fn clean(text: &str) -> String {
    let mut paragraphs: Vec<String> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            if !current.is_empty() {
                paragraphs.push(current.join(" "));
                current.clear();
            }
        } else {
            current.push(line);
        }
    }
    if !current.is_empty() {
        paragraphs.push(current.join(" "));
    }
    paragraphs.join("\n\n")
}

/// One route of a method: its HTTP verb, path template and body rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    pub verb: &'static str,
    pub template: String,
    pub body: String,
}

/// The `google.api.http` route of `method`, if it has one.
pub fn http_route(pool: &DescriptorPool, method: &MethodDescriptor) -> Option<HttpRoute> {
    let extension = pool.get_extension_by_name("google.api.http")?;
    let options = method.options();
    if !options.has_extension(&extension) {
        return None;
    }
    let rule = match options.get_extension(&extension).into_owned() {
        ProtoValue::Message(rule) => rule,
        _ => return None,
    };
    let text = |m: &DynamicMessage, name: &str| match m.get_field_by_name(name).as_deref() {
        Some(ProtoValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    for verb in ["get", "post", "put", "delete", "patch"] {
        if rule.has_field_by_name(verb) {
            return Some(HttpRoute { verb, template: text(&rule, verb), body: text(&rule, "body") });
        }
    }
    None
}

/// `{name}` parameters of a path template, in order.
fn path_parameters(template: &str) -> Vec<String> {
    template
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}'))
        .map(|(name, _)| name.split('=').next().unwrap_or(name).to_owned())
        .collect()
}

struct Builder<'a> {
    comments: Comments,
    schemas: BTreeMap<String, Value>,
    pending: BTreeSet<String>,
    pool: &'a DescriptorPool,
}

impl Builder<'_> {
    fn describe_message(&self, message: &MessageDescriptor) -> Option<&str> {
        self.comments.get(message.parent_file_descriptor_proto().name(), message.path())
    }

    fn describe_field(&self, field: &FieldDescriptor) -> Option<&str> {
        self.comments.get(field.parent_file().file_descriptor_proto().name(), field.path())
    }

    fn reference(&mut self, message: &MessageDescriptor) -> Value {
        if let Some(schema) = well_known(message.full_name()) {
            return schema;
        }
        if !self.schemas.contains_key(message.full_name()) {
            self.pending.insert(message.full_name().to_owned());
        }
        json!({"$ref": format!("#/components/schemas/{}", message.full_name())})
    }

    fn kind_schema(&mut self, kind: &Kind) -> Value {
        match kind {
            Kind::Double | Kind::Float => json!({"type": "number"}),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => json!({"type": "integer", "format": "int32"}),
            Kind::Uint32 | Kind::Fixed32 => json!({"type": "integer", "format": "int64", "minimum": 0}),
            // Protobuf's JSON mapping writes 64-bit integers as strings (and reads both).
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => json!({"type": "string", "format": "int64"}),
            Kind::Uint64 | Kind::Fixed64 => json!({"type": "string", "format": "uint64"}),
            Kind::Bool => json!({"type": "boolean"}),
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
            Kind::Enum(e) => {
                let values: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
                json!({"type": "string", "enum": values})
            }
            Kind::Message(m) => self.reference(m),
        }
    }

    fn field_schema(&mut self, field: &FieldDescriptor) -> Value {
        let mut schema = if field.is_map() {
            let Kind::Message(entry) = field.kind() else { unreachable!("a map field is a message") };
            let value = self.kind_schema(&entry.map_entry_value_field().kind());
            json!({"type": "object", "additionalProperties": value})
        } else if field.is_list() {
            json!({"type": "array", "items": self.kind_schema(&field.kind())})
        } else {
            self.kind_schema(&field.kind())
        };
        // (3.1 allows a description beside a $ref: it documents the field.)
        if let Some(text) = self.describe_field(field) {
            schema["description"] = json!(text.to_owned());
        }
        schema
    }

    fn message_schema(&mut self, message: &MessageDescriptor) -> Value {
        let mut properties = serde_json::Map::new();
        for field in message.fields() {
            properties.insert(field.json_name().to_owned(), self.field_schema(&field));
        }
        let mut schema = json!({"type": "object", "properties": properties});
        if let Some(text) = self.describe_message(message) {
            schema["description"] = json!(text);
        }
        schema
    }

    /// Every message referred to, and the ones they refer to.
    fn drain(&mut self) {
        while let Some(name) = self.pending.pop_first() {
            if self.schemas.contains_key(&name) {
                continue;
            }
            let message = self.pool.get_message_by_name(&name).expect("a referenced message exists");
            self.schemas.insert(name.clone(), json!({}));
            let schema = self.message_schema(&message);
            self.schemas.insert(name, schema);
        }
    }
}

/// Protobuf's well-known types in their JSON mapping.
fn well_known(name: &str) -> Option<Value> {
    Some(match name {
        "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration" => json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$"}),
        "google.protobuf.Empty" => json!({"type": "object"}),
        "google.protobuf.Struct" => json!({"type": "object"}),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.FieldMask" => json!({"type": "string"}),
        "google.protobuf.StringValue" => json!({"type": ["string", "null"]}),
        "google.protobuf.BoolValue" => json!({"type": ["boolean", "null"]}),
        "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => json!({"type": ["integer", "null"]}),
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => json!({"type": ["string", "null"]}),
        "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => json!({"type": ["number", "null"]}),
        _ => return None,
    })
}

fn operation_id(service: &ServiceDescriptor, method: &MethodDescriptor) -> String {
    format!("{}_{}", service.name(), method.name())
}

/// The OpenAPI 3.1 document of every exposed RPC with an HTTP route.
pub fn document(options: &Options) -> Value {
    let pool =
        DescriptorPool::decode(fleuve_proto::FILE_DESCRIPTOR_SET).expect("the contracts' descriptor set decodes");
    let mut builder =
        Builder { comments: Comments::of(&pool), schemas: BTreeMap::new(), pending: BTreeSet::new(), pool: &pool };
    let mut paths: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    let mut tags = Vec::new();
    for service in pool.services() {
        if crate::exposed_service(service.package_name()).is_none() {
            continue;
        }
        let service_comment = builder
            .comments
            .get(service.parent_file().file_descriptor_proto().name(), service.path())
            .map(str::to_owned);
        tags.push(json!({"name": service.name(), "description": service_comment.unwrap_or_default()}));
        for method in service.methods() {
            let Some(route) = http_route(&pool, &method) else { continue };
            let grpc_path = format!("/{}/{}", service.full_name(), method.name());
            let public = crate::is_public(&options.public_paths, &grpc_path);
            let input = method.input();
            let bound = path_parameters(&route.template);
            let mut parameters = Vec::new();
            for name in &bound {
                let field = input.get_field_by_name(name).or_else(|| input.get_field_by_json_name(name));
                let mut schema = field.as_ref().map_or_else(|| json!({"type": "string"}), |f| builder.field_schema(f));
                let description = schema.as_object_mut().and_then(|o| o.remove("description")).unwrap_or(json!(""));
                parameters.push(json!({
                    "name": name, "in": "path", "required": true, "schema": schema, "description": description,
                }));
            }
            if route.body.is_empty() {
                // Scalars (and well-known types) as `name=value`; a message's own (one level)
                // as `name.sub=value`, as the transcoder reads them (GetStatistics' `period`).
                let simple = |f: &FieldDescriptor| match f.kind() {
                    Kind::Message(m) => well_known(m.full_name()).is_some() && !f.is_list(),
                    _ => !f.is_map(),
                };
                let mut query: Vec<(String, FieldDescriptor)> = Vec::new();
                for field in input.fields() {
                    if bound.iter().any(|b| b == field.name()) {
                        continue;
                    }
                    if simple(&field) {
                        query.push((field.json_name().to_owned(), field.clone()));
                    } else if let (Kind::Message(m), false) = (field.kind(), field.is_list() || field.is_map()) {
                        for sub in m.fields().filter(|sub| simple(sub)) {
                            query.push((format!("{}.{}", field.json_name(), sub.json_name()), sub));
                        }
                    }
                }
                for (name, field) in query {
                    let mut schema = builder.field_schema(&field);
                    let description = schema.as_object_mut().and_then(|o| o.remove("description")).unwrap_or(json!(""));
                    parameters.push(json!({
                        "name": name, "in": "query", "required": false, "schema": schema,
                        "description": description,
                    }));
                }
            }
            let comment = builder
                .comments
                .get(method.parent_file().file_descriptor_proto().name(), method.path())
                .map(str::to_owned)
                .unwrap_or_default();
            let output = builder.reference(&method.output());
            let streaming = method.is_server_streaming();
            let mut operation = json!({
                "operationId": operation_id(&service, &method),
                "tags": [service.name()],
                "summary": method.name(),
                "description": format!(
                    "{comment}\n\ngRPC: `{grpc_path}`{}",
                    if streaming { ". A server stream: the answer is one JSON object per line, sent as each arrives." } else { "" }
                ),
                "parameters": parameters,
                "responses": {
                    "200": {
                        "description": if streaming { "One JSON object per line, until the stream ends." } else { "OK" },
                        "content": {"application/json": {"schema": output}},
                    },
                    "default": {
                        "description": "An error: the gRPC status as an HTTP status (400 invalid or refused, 401, 403, 404, 409 conflict, 429, 503) and a google.rpc.Status body.",
                        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{STATUS_SCHEMA}")}}},
                    },
                },
            });
            if !route.body.is_empty() {
                let body_schema = if route.body == "*" && bound.is_empty() {
                    builder.reference(&input)
                } else if route.body == "*" {
                    // The request without the fields the path carries.
                    let mut schema = builder.message_schema(&input);
                    if let Some(properties) = schema["properties"].as_object_mut() {
                        for name in &bound {
                            if let Some(field) = input.get_field_by_name(name) {
                                properties.remove(field.json_name());
                            }
                        }
                    }
                    schema
                } else {
                    input
                        .get_field_by_name(&route.body)
                        .map_or_else(|| json!({"type": "object"}), |f| builder.field_schema(&f))
                };
                operation["requestBody"] =
                    json!({"required": true, "content": {"application/json": {"schema": body_schema}}});
            }
            if public {
                operation["security"] = json!([]);
            }
            paths.entry(route.template.clone()).or_default().insert(route.verb.to_owned(), operation);
        }
    }
    builder.drain();
    let mut schemas: serde_json::Map<String, Value> = builder.schemas.into_iter().collect();
    schemas.insert(
        STATUS_SCHEMA.to_owned(),
        json!({
            "type": "object",
            "description": "An error: `code` is the gRPC status code (3 INVALID_ARGUMENT, 5 NOT_FOUND, 7 PERMISSION_DENIED, 9 FAILED_PRECONDITION, 10 ABORTED, 16 UNAUTHENTICATED ...).",
            "properties": {
                "code": {"type": "integer", "format": "int32", "description": "The gRPC status code."},
                "message": {"type": "string", "description": "What went wrong, for a developer."},
                "details": {"type": "array", "items": {"type": "object"}, "description": "Structured details, when the service gives them."},
            },
        }),
    );
    let servers: Vec<Value> = options.servers.iter().map(|url| json!({"url": url})).collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Fleuve API",
            "version": "v1",
            "description": "REST/JSON surface of Fleuve, the type-approval (homologation) back-office and the commerce saga. Every operation is a gRPC method of the contracts in `proto/`, transcoded by the Envoy edge; bodies follow protobuf's JSON mapping (lowerCamelCase names, enum names, 64-bit integers as strings). Sign in with `POST /v1/auth:login` and send the token as `Authorization: Bearer ...`.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": servers,
        "security": [{"bearer": []}],
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "An ES256 token from `POST /v1/auth:login` (or `fleuve token` in development).",
                },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        document(&Options {
            servers: vec!["/".into()],
            public_paths: vec!["/fleuve.homologation.v1.CertificateRegistryService/".into()],
        })
    }

    #[test]
    fn every_routed_rpc_is_an_operation_with_its_comment() {
        let doc = doc();
        let verify = &doc["paths"]["/v1/certificates/{certificate_number}:verify"]["get"];
        assert_eq!(verify["operationId"], "CertificateRegistryService_VerifyCertificate");
        assert_eq!(verify["security"], json!([]));
        assert_eq!(verify["parameters"][0]["in"], "path");
        assert!(
            verify["description"]
                .as_str()
                .unwrap()
                .contains("/fleuve.homologation.v1.CertificateRegistryService/VerifyCertificate")
        );
        let create = &doc["paths"]["/v1/dossiers"]["post"];
        assert!(create.get("security").is_none(), "a command needs the token");
        assert_eq!(
            create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/fleuve.homologation.v1.CreateDossierRequest"
        );
        let submit = &doc["paths"]["/v1/dossiers/{dossier_id}:submit"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"];
        assert!(submit["properties"].get("dossierId").is_none(), "the path carries it: {submit}");
        assert!(submit["properties"].get("expectedVersion").is_some(), "{submit}");
        let watch = &doc["paths"]["/v1/orders/{order_id}:watch"]["get"];
        assert!(watch["description"].as_str().unwrap().contains("one JSON object per line"));
        let operations: usize = doc["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
        let routed = crate::rpcs().iter().filter(|r| r.service().is_some()).count();
        assert_eq!(operations, routed, "every exposed RPC has a route");
    }

    #[test]
    fn schemas_follow_the_json_mapping_with_descriptions() {
        let doc = doc();
        let schemas = &doc["components"]["schemas"];
        let money = &schemas["fleuve.common.v1.Money"]["properties"];
        assert_eq!(money["amount"]["type"], "string", "int64 is a string in JSON");
        assert!(
            schemas["fleuve.order.v1.Order"]["properties"]["status"]["enum"]
                .as_array()
                .unwrap()
                .contains(&json!("ORDER_STATUS_CONFIRMED"))
        );
        let dossier = &schemas["fleuve.homologation.v1.Dossier"];
        assert!(dossier["description"].as_str().is_some_and(|d| !d.is_empty()));
        for (name, schema) in schemas.as_object().unwrap() {
            for (field, property) in schema["properties"].as_object().into_iter().flatten() {
                assert!(
                    property.get("description").is_some() || property.get("$ref").is_some(),
                    "{name}.{field} has no description"
                );
            }
        }
        assert_eq!(path_parameters("/v1/a/{x}/b/{y=*}:go"), ["x", "y"]);
        let statistics = &doc["paths"]["/v1/statistics"]["get"]["parameters"];
        let names: Vec<&str> = statistics.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"period.startTime") && names.contains(&"maxRejectionCauses"), "{names:?}");
    }
}
