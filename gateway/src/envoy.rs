//! Envoy's bootstrap for the Fleuve edge: one listener for gRPC, grpc-web and REST/JSON
//! (HTTP/1.1 and HTTP/2 on one port), the filter chain `cors` → `grpc_web` →
//! `grpc_json_transcoder` → `jwt_authn` → `local_ratelimit` → `buffer` (request size) →
//! `router`, routes by protobuf package to one cluster per service, and the hardening the
//! production edge needs (see [`Edge::config`]).

use std::{collections::BTreeMap, net::SocketAddr};

use serde_json::{Value, json};

use crate::Rpc;

/// Where the services run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topology {
    /// `fleuve dev`: every service on one address (`host:port`).
    Dev { address: String },
    /// `fleuve serve <service>` processes: each service's address by name (`identity`,
    /// `homologation`, `notification`, `statistics`, `order`, `stock`, `billing`).
    Split { addresses: BTreeMap<String, String> },
}

/// The service names of the split topology, in the order their clusters are written.
pub const SERVICES: [&str; 7] = ["identity", "homologation", "notification", "statistics", "order", "stock", "billing"];

/// The services that run the operations API (every process on the bus: identity is not).
pub const OPERATED: [&str; 6] = ["homologation", "notification", "statistics", "order", "stock", "billing"];

/// The request header naming which service's operations API a call is for (split topology):
/// each service has its own consumers, dead letters and read models.
pub const NODE_HEADER: &str = "x-fleuve-node";

/// The single cluster of the dev topology.
const DEV_CLUSTER: &str = "fleuve";

/// A token bucket: `requests` every `per_seconds`, bursts up to `requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub requests: u32,
    pub per_seconds: u32,
}

/// What the edge refuses or bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body (a gRPC message with its frame, a grpc-web or JSON body); 413 /
    /// `RESOURCE_EXHAUSTED`-like refusal before a service sees it.
    pub max_request_bytes: u64,
    /// Largest request of an upload method ([`crate::UPLOAD_RPCS`]: a document with its file);
    /// the homologation service's `max_upload_bytes` plus room for the other fields.
    pub max_upload_request_bytes: u64,
    /// Cap on a unary call's deadline (`grpc-timeout`) and its route timeout.
    pub max_deadline_seconds: u64,
    /// Per signed-in principal (the token's subject), whatever address it calls from.
    pub per_principal: Rate,
    /// Per client address for calls without a token.
    pub per_anonymous_address: Rate,
    /// Per client address on `Login` (password guessing).
    pub login_per_address: Rate,
    /// Connections the edge accepts at once (overload manager).
    pub max_connections: u64,
    /// Heap above which Envoy sheds load (overload manager).
    pub max_heap_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 4 * 1024 * 1024,
            max_upload_request_bytes: 16 * 1024 * 1024 + 64 * 1024,
            max_deadline_seconds: 30,
            per_principal: Rate { requests: 200, per_seconds: 1 },
            per_anonymous_address: Rate { requests: 50, per_seconds: 1 },
            login_per_address: Rate { requests: 10, per_seconds: 60 },
            max_connections: 10_000,
            max_heap_bytes: 512 * 1024 * 1024,
        }
    }
}

/// The TLS listener's certificate and key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub certificate_chain: String,
    pub private_key: String,
}

/// Everything the generated configuration depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub topology: Topology,
    /// The public listener.
    pub listen: SocketAddr,
    /// Envoy's admin interface; always a loopback address (it can stop the proxy).
    pub admin: SocketAddr,
    /// Serve TLS (HTTP/2 and HTTP/1.1 by ALPN) instead of plaintext on `listen`.
    pub tls: Option<Tls>,
    /// Browser origins granted CORS; `scheme://host:*` matches any port.
    pub cors_origins: Vec<String>,
    /// Proxies in front of the edge whose `X-Forwarded-For` entries are trusted (0: the edge
    /// faces clients; the TCP peer is the client).
    pub trusted_hops: u32,
    /// Path prefixes callable without a token (the servers' own public list).
    pub public_paths: Vec<String>,
    /// `iss` and `aud` tokens must carry.
    pub issuer: String,
    pub audience: String,
    pub limits: Limits,
    /// Interval of the gRPC health checks of every upstream; a restarted service is routed to
    /// again within one interval.
    pub health_check_interval_ms: u64,
    /// OTLP/gRPC collector (`host:port`) the edge sends its spans to; none disables tracing.
    pub otlp_collector: Option<String>,
    /// The contracts' descriptor set (`fleuve edge descriptor`), read by the JSON transcoder;
    /// a relative path is relative to Envoy's working directory.
    pub descriptor_path: String,
}

impl Edge {
    /// The shipped one-node edge: Envoy on 127.0.0.1:8080 in front of `fleuve dev` on
    /// 127.0.0.1:50051.
    pub fn dev(public_paths: Vec<String>) -> Edge {
        Edge {
            topology: Topology::Dev { address: "127.0.0.1:50051".into() },
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin: SocketAddr::from(([127, 0, 0, 1], 9901)),
            tls: None,
            cors_origins: vec!["http://localhost:*".into(), "http://127.0.0.1:*".into(), "http://[::1]:*".into()],
            trusted_hops: 0,
            public_paths,
            issuer: "fleuve-identity".into(),
            audience: "fleuve".into(),
            limits: Limits::default(),
            health_check_interval_ms: 2000,
            otlp_collector: None,
            descriptor_path: "gateway/envoy/fleuve.binpb".into(),
        }
    }

    /// The shipped split edge: the services at `NAME:50051` (their names in docker-compose),
    /// Envoy on 0.0.0.0:8080, spans to `otel-collector:4317`.
    pub fn split(public_paths: Vec<String>) -> Edge {
        let addresses = SERVICES.iter().map(|s| ((*s).to_owned(), format!("{s}:50051"))).collect();
        Edge {
            topology: Topology::Split { addresses },
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            cors_origins: Vec::new(),
            otlp_collector: Some("otel-collector:4317".into()),
            descriptor_path: "/etc/envoy/fleuve.binpb".into(),
            ..Edge::dev(public_paths)
        }
    }

    /// The split edge on TLS at 0.0.0.0:8443 with the certificate mounted at
    /// `/etc/envoy/tls/`.
    pub fn split_tls(public_paths: Vec<String>) -> Edge {
        Edge {
            listen: SocketAddr::from(([0, 0, 0, 0], 8443)),
            tls: Some(Tls {
                certificate_chain: "/etc/envoy/tls/tls.crt".into(),
                private_key: "/etc/envoy/tls/tls.key".into(),
            }),
            ..Edge::split(public_paths)
        }
    }

    /// The cluster that answers `rpc`, if the edge routes it.
    fn cluster_of(&self, rpc: &Rpc) -> Option<String> {
        let service = rpc.service()?;
        Some(match &self.topology {
            Topology::Dev { .. } => DEV_CLUSTER.to_owned(),
            Topology::Split { .. } => service.to_owned(),
        })
    }

    /// The cluster of the identity service: JWKS, and the reflection and health every
    /// process answers.
    fn identity_cluster(&self) -> &str {
        match &self.topology {
            Topology::Dev { .. } => DEV_CLUSTER,
            Topology::Split { .. } => "identity",
        }
    }

    fn is_public(&self, path: &str) -> bool {
        crate::is_public(&self.public_paths, path)
    }

    /// Checks what Envoy would accept but is a mistake: an admin interface reachable from
    /// other hosts, a split topology missing a service.
    pub fn check(&self) -> Result<(), String> {
        if !self.admin.ip().is_loopback() {
            return Err(format!("the admin interface must listen on a loopback address, not {}", self.admin));
        }
        if let Topology::Split { addresses } = &self.topology {
            for service in SERVICES {
                if !addresses.contains_key(service) {
                    return Err(format!("the split topology needs the address of {service}"));
                }
            }
            if let Some(extra) = addresses.keys().find(|k| !SERVICES.contains(&k.as_str())) {
                return Err(format!("unknown service {extra} (known: {})", SERVICES.join(", ")));
            }
        }
        Ok(())
    }

    /// The Envoy bootstrap (v3), as a JSON value; [`crate::to_yaml`] writes it out.
    pub fn config(&self, rpcs: &[Rpc]) -> Result<Value, String> {
        self.check()?;
        let config = json!({
            "admin": {
                "address": socket_address(&self.admin.ip().to_string(), self.admin.port()),
                "access_log": [{
                    "name": "envoy.access_loggers.stdout",
                    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"},
                }],
            },
            "overload_manager": self.overload_manager(),
            "static_resources": {
                "listeners": [self.listener(rpcs)],
                "clusters": self.clusters(),
            },
        });
        Ok(config)
    }

    fn overload_manager(&self) -> Value {
        json!({
            "refresh_interval": "0.25s",
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.fixed_heap",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig",
                        "max_heap_size_bytes": self.limits.max_heap_bytes,
                    },
                },
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
                        "max_active_downstream_connections": self.limits.max_connections,
                    },
                },
            ],
            "actions": [
                {
                    "name": "envoy.overload_actions.shrink_heap",
                    "triggers": [{"name": "envoy.resource_monitors.fixed_heap", "threshold": {"value": 0.95}}],
                },
                {
                    "name": "envoy.overload_actions.stop_accepting_requests",
                    "triggers": [{"name": "envoy.resource_monitors.fixed_heap", "threshold": {"value": 0.98}}],
                },
            ],
        })
    }

    fn listener(&self, rpcs: &[Rpc]) -> Value {
        let mut chain = json!({
            "filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": self.connection_manager(rpcs),
            }],
        });
        if let Some(tls) = &self.tls {
            chain["transport_socket"] = json!({
                "name": "envoy.transport_sockets.tls",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                    "common_tls_context": {
                        "alpn_protocols": ["h2", "http/1.1"],
                        "tls_params": {"tls_minimum_protocol_version": "TLSv1_2"},
                        "tls_certificates": [{
                            "certificate_chain": {"filename": tls.certificate_chain},
                            "private_key": {"filename": tls.private_key},
                        }],
                    },
                },
            });
        }
        json!({
            "name": "edge",
            "address": socket_address(&self.listen.ip().to_string(), self.listen.port()),
            "per_connection_buffer_limit_bytes": 32768,
            // A second Envoy on the same port fails to start instead of sharing it.
            "enable_reuse_port": false,
            "filter_chains": [chain],
        })
    }

    fn connection_manager(&self, rpcs: &[Rpc]) -> Value {
        let mut hcm = json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "edge",
            // gRPC (HTTP/2), grpc-web and JSON (HTTP/1.1 or HTTP/2) on one port.
            "codec_type": "AUTO",
            "server_name": "fleuve-edge",
            "use_remote_address": true,
            "xff_num_trusted_hops": self.trusted_hops,
            "skip_xff_append": false,
            "normalize_path": true,
            "merge_slashes": true,
            "path_with_escaped_slashes_action": "REJECT_REQUEST",
            "common_http_protocol_options": {
                "headers_with_underscores_action": "REJECT_REQUEST",
                "idle_timeout": "300s",
            },
            "http2_protocol_options": {
                "max_concurrent_streams": 100,
                "initial_stream_window_size": 65536,
                "initial_connection_window_size": 1048576,
            },
            "request_headers_timeout": "10s",
            // A watch (WatchOrder) stays open while it delivers; one silent this long is closed.
            "stream_idle_timeout": "300s",
            "max_request_headers_kb": 60,
            "generate_request_id": true,
            "access_log": [access_log()],
            "local_reply_config": local_replies(),
            "route_config": self.route_config(rpcs),
            "http_filters": self.http_filters(rpcs),
        });
        if self.otlp_collector.is_some() {
            hcm["tracing"] = json!({
                "provider": {
                    "name": "envoy.tracers.opentelemetry",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig",
                        "grpc_service": {"envoy_grpc": {"cluster_name": "otel-collector"}, "timeout": "1s"},
                        "service_name": "fleuve-edge",
                    },
                },
            });
        }
        hcm
    }

    fn http_filters(&self, rpcs: &[Rpc]) -> Value {
        let mut services: Vec<&str> = rpcs
            .iter()
            .filter(|rpc| rpc.service().is_some())
            .filter_map(|rpc| rpc.path.trim_start_matches('/').split_once('/').map(|(service, _)| service))
            .collect();
        services.dedup();
        let provider = json!({
            "issuer": self.issuer,
            "audiences": [self.audience],
            "remote_jwks": {
                "http_uri": {
                    "uri": format!("http://{}/.well-known/jwks.json", self.identity_cluster()),
                    "cluster": self.identity_cluster(),
                    "timeout": "5s",
                },
                "cache_duration": "300s",
                // Fetched at start and refreshed in the background: no request waits for it.
                "async_fetch": {},
                "retry_policy": {
                    "num_retries": 10,
                    "retry_back_off": {"base_interval": "0.5s", "max_interval": "5s"},
                },
            },
            // Only `Authorization: Bearer ...` (not the default `access_token` query parameter,
            // which the services ignore).
            "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
            // The services verify the token again (defence in depth) and read its claims.
            "forward": true,
            "payload_in_metadata": "jwt_payload",
            // A token seen before skips the ES256 verification (its expiry is still checked):
            // measured, this nearly doubles the edge's calls per second for a cheap query.
            "jwt_cache_config": {"jwt_cache_size": 10000},
            "clock_skew_seconds": 30,
        });
        json!([
            {
                "name": "envoy.filters.http.cors",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"},
            },
            {
                "name": "envoy.filters.http.grpc_web",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb"},
            },
            {
                // REST/JSON from the `google.api.http` annotations: the call becomes gRPC (and
                // is routed again by its gRPC path) before authentication and rate limits.
                "name": "envoy.filters.http.grpc_json_transcoder",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
                    "proto_descriptor": self.descriptor_path,
                    "services": services,
                    "print_options": {
                        "add_whitespace": false,
                        "always_print_primitive_fields": true,
                        "always_print_enums_as_ints": false,
                        "preserve_proto_field_names": false,
                        // A watch streams one JSON object per line as each status arrives.
                        "stream_newline_delimited": true,
                    },
                    // gRPC errors become HTTP statuses (NOT_FOUND 404, INVALID_ARGUMENT 400, ...)
                    // with a google.rpc.Status JSON body.
                    "convert_grpc_status": true,
                    "request_validation_options": {"reject_unknown_query_parameters": true},
                    // The buffer filter holds every other route to max_request_bytes; an
                    // upload's JSON carries its file in base64 (4/3 of its size), and so does
                    // a document's content in the answer.
                    "max_request_body_size": self.limits.max_upload_request_bytes * 4 / 3,
                    "max_response_body_size": self.limits.max_upload_request_bytes * 4 / 3,
                },
            },
            {
                "name": "envoy.filters.http.jwt_authn",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
                    "providers": {"fleuve": provider},
                    "requirement_map": {
                        "signed-in": {"provider_name": "fleuve"},
                        // A token is optional, but one that is present must be valid.
                        "public": {"requires_any": {"requirements": [{"provider_name": "fleuve"}, {"allow_missing": {}}]}},
                    },
                },
            },
            {
                "name": "envoy.filters.http.local_ratelimit",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
                    "stat_prefix": "edge_rate_limit",
                },
            },
            {
                "name": "envoy.filters.http.buffer",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
                    "max_request_bytes": self.limits.max_request_bytes,
                },
            },
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
            },
        ])
    }

    fn route_config(&self, rpcs: &[Rpc]) -> Value {
        let mut routes = vec![json!({
            "name": "edge-health",
            "match": {"path": "/healthz"},
            "direct_response": {"status": 200, "body": {"inline_string": "ok\n"}},
            "typed_per_filter_config": jwt_requirement("public"),
        })];
        // Reflection and health: every process answers them for the whole contract set.
        // Reflection is a bidirectional stream: the buffer filter, which waits for the end of
        // the request, would hold it for ever (the server bounds its messages).
        for prefix in ["/grpc.reflection.v1.ServerReflection/", "/grpc.reflection.v1alpha.ServerReflection/"] {
            let mut per_filter = jwt_requirement("public");
            per_filter["envoy.filters.http.buffer"] = json!({
                "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute",
                "disabled": true,
            });
            routes.push(json!({
                "match": {"prefix": prefix},
                "route": {"cluster": self.identity_cluster(), "timeout": format!("{}s", self.limits.max_deadline_seconds)},
                "typed_per_filter_config": per_filter,
            }));
        }
        routes.push(json!({
            "match": {"path": "/grpc.health.v1.Health/Check"},
            "route": {"cluster": self.identity_cluster(), "timeout": "5s"},
            "typed_per_filter_config": jwt_requirement("public"),
        }));
        // The API docs, the OpenAPI document and the web console (with `/`, which redirects to
        // it), which every server serves.
        for (how, path) in [
            ("path", "/docs"),
            ("prefix", "/docs/"),
            ("path", "/openapi.json"),
            ("path", "/console"),
            ("prefix", "/console/"),
            ("path", "/"),
        ] {
            routes.push(json!({
                "match": {how: path},
                "route": {"cluster": self.identity_cluster(), "timeout": "10s"},
                "typed_per_filter_config": jwt_requirement("public"),
            }));
        }
        routes.push(json!({
            "match": {"path": "/.well-known/jwks.json"},
            "route": {"cluster": self.identity_cluster(), "timeout": "5s"},
            "typed_per_filter_config": jwt_requirement("public"),
        }));
        for rpc in rpcs {
            if let Some(cluster) = self.cluster_of(rpc) {
                routes.push(self.rpc_route(rpc, &cluster));
            }
        }
        // The operations API (admins only: the servers check the role) of the service the
        // `x-fleuve-node` header names; without it, the homologation service's (split) or the
        // node's (dev).
        for rpc in rpcs.iter().filter(|rpc| rpc.package == "fleuve.ops.v1") {
            if let Topology::Split { .. } = &self.topology {
                for node in OPERATED {
                    let mut route = self.rpc_route(rpc, node);
                    route["match"]["headers"] = json!([{"name": NODE_HEADER, "string_match": {"exact": node}}]);
                    routes.push(route);
                }
            }
            let default = match &self.topology {
                Topology::Dev { .. } => DEV_CLUSTER,
                Topology::Split { .. } => "homologation",
            };
            routes.push(self.rpc_route(rpc, default));
        }
        // The CORS filter answers a preflight only on a route with an upstream: a REST path's
        // preflight (before transcoding) takes this one and never reaches the cluster.
        routes.push(json!({
            "name": "rest-preflight",
            "match": {"prefix": "/v1/", "headers": [
                {"name": ":method", "string_match": {"exact": "OPTIONS"}},
                {"name": "origin", "present_match": true},
                {"name": "access-control-request-method", "present_match": true},
            ]},
            "route": {"cluster": self.identity_cluster(), "timeout": "5s"},
            "typed_per_filter_config": jwt_requirement("public"),
        }));
        // Anything else: 404 (UNIMPLEMENTED for gRPC).
        routes.push(json!({
            "name": "not-found",
            "match": {"prefix": "/"},
            "direct_response": {"status": 404, "body": {"inline_string": "no such route\n"}},
            "typed_per_filter_config": jwt_requirement("public"),
        }));
        json!({
            "name": "fleuve",
            "virtual_hosts": [{
                "name": "fleuve",
                "domains": ["*"],
                "routes": routes,
                // Per signed-in principal (the verified token's subject) and, without a token,
                // per client address (the TCP peer, or the trusted hop's X-Forwarded-For).
                "rate_limits": [
                    {"actions": [{"metadata": {
                        "descriptor_key": "principal",
                        "metadata_key": {"key": "envoy.filters.http.jwt_authn", "path": [{"key": "jwt_payload"}, {"key": "sub"}]},
                    }}]},
                    // `caller` is the verified subject, or "anonymous" when the edge verified no
                    // token (whatever headers the client sent): only the latter has a bucket.
                    {"actions": [
                        {"metadata": {
                            "descriptor_key": "caller",
                            "metadata_key": {"key": "envoy.filters.http.jwt_authn", "path": [{"key": "jwt_payload"}, {"key": "sub"}]},
                            "default_value": "anonymous",
                        }},
                        {"remote_address": {}},
                    ]},
                ],
                // The edge's CORS policy is the only one: a node's own grants are dropped.
                "response_headers_to_remove": [
                    "access-control-allow-origin",
                    "access-control-allow-credentials",
                    "access-control-allow-methods",
                    "access-control-allow-headers",
                    "access-control-expose-headers",
                    "access-control-max-age",
                ],
                "typed_per_filter_config": {
                    "envoy.filters.http.cors": self.cors_policy(),
                    "envoy.filters.http.local_ratelimit": self.rate_limit(),
                },
            }],
        })
    }

    fn rpc_route(&self, rpc: &Rpc, cluster: &str) -> Value {
        let deadline = format!("{}s", self.limits.max_deadline_seconds);
        let mut action = json!({"cluster": cluster});
        if rpc.server_streaming {
            // A watch runs as long as the client keeps it; the idle timeout still applies.
            action["timeout"] = json!("0s");
        } else {
            action["timeout"] = json!(deadline);
            action["max_stream_duration"] = json!({"grpc_timeout_header_max": deadline});
            if rpc.read_only {
                action["retry_policy"] = json!({
                    "retry_on": "connect-failure,refused-stream,reset,unavailable",
                    "num_retries": 2,
                    "retry_back_off": {"base_interval": "0.05s", "max_interval": "0.5s"},
                });
            }
        }
        let public = self.is_public(&rpc.path);
        let mut per_filter = jwt_requirement(if public { "public" } else { "signed-in" });
        if rpc.path.ends_with("/Login") {
            per_filter["envoy.filters.http.local_ratelimit"] = self.login_rate_limit();
            action["rate_limits"] = json!([{"actions": [{"remote_address": {}}]}]);
        }
        if crate::UPLOAD_RPCS.contains(&rpc.path.as_str()) {
            per_filter["envoy.filters.http.buffer"] = json!({
                "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute",
                "buffer": {"max_request_bytes": self.limits.max_upload_request_bytes},
            });
        }
        json!({
            "match": {"path": rpc.path},
            "route": action,
            "typed_per_filter_config": per_filter,
        })
    }

    fn cors_policy(&self) -> Value {
        let origins: Vec<Value> = self
            .cors_origins
            .iter()
            .map(|origin| match origin.strip_suffix(":*") {
                Some(base) => json!({"safe_regex": {"regex": format!("^{}(:[0-9]{{1,5}})?$", regex_escape(base))}}),
                None => json!({"exact": origin}),
            })
            .collect();
        json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
            "allow_origin_string_match": origins,
            "allow_methods": "GET, POST, OPTIONS",
            "allow_headers": "authorization, content-type, x-grpc-web, x-user-agent, grpc-timeout, x-correlation-id, traceparent, tracestate, connect-protocol-version, connect-timeout-ms, x-fleuve-node",
            "expose_headers": "grpc-status, grpc-message, grpc-status-details-bin, x-correlation-id, x-request-id",
            "max_age": "600",
        })
    }

    fn rate_limit(&self) -> Value {
        let l = &self.limits;
        json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": "edge_rate_limit",
            // The whole edge's ceiling; each caller's own bucket is one of the descriptors.
            "token_bucket": bucket(Rate { requests: 10 * l.per_principal.requests.max(l.per_anonymous_address.requests), per_seconds: 1 }),
            "always_consume_default_token_bucket": false,
            "filter_enabled": {"default_value": {"numerator": 100, "denominator": "HUNDRED"}, "runtime_key": "edge_rate_limit_enabled"},
            "filter_enforced": {"default_value": {"numerator": 100, "denominator": "HUNDRED"}, "runtime_key": "edge_rate_limit_enforced"},
            "rate_limited_as_resource_exhausted": true,
            "max_dynamic_descriptors": 10000,
            "descriptors": [
                {"entries": [{"key": "principal"}], "token_bucket": bucket(l.per_principal)},
                {"entries": [{"key": "caller", "value": "anonymous"}, {"key": "remote_address"}], "token_bucket": bucket(l.per_anonymous_address)},
            ],
            "response_headers_to_add": [{"header": {"key": "x-rate-limited", "value": "edge"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}],
        })
    }

    fn login_rate_limit(&self) -> Value {
        let l = &self.limits;
        json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": "edge_login_rate_limit",
            "token_bucket": bucket(Rate { requests: 100 * l.login_per_address.requests, per_seconds: l.login_per_address.per_seconds }),
            "always_consume_default_token_bucket": false,
            "filter_enabled": {"default_value": {"numerator": 100, "denominator": "HUNDRED"}, "runtime_key": "edge_rate_limit_enabled"},
            "filter_enforced": {"default_value": {"numerator": 100, "denominator": "HUNDRED"}, "runtime_key": "edge_rate_limit_enforced"},
            "rate_limited_as_resource_exhausted": true,
            "max_dynamic_descriptors": 10000,
            "descriptors": [{"entries": [{"key": "remote_address"}], "token_bucket": bucket(l.login_per_address)}],
        })
    }

    fn clusters(&self) -> Value {
        let mut clusters: Vec<Value> = match &self.topology {
            Topology::Dev { address } => vec![self.cluster(DEV_CLUSTER, address)],
            Topology::Split { addresses } => {
                SERVICES.iter().filter_map(|s| addresses.get(*s).map(|a| self.cluster(s, a))).collect()
            }
        };
        if let Some(collector) = &self.otlp_collector {
            let (host, port) = split_host_port(collector);
            clusters.push(json!({
                "name": "otel-collector",
                "type": "STRICT_DNS",
                "connect_timeout": "1s",
                "dns_lookup_family": "V4_PREFERRED",
                "typed_extension_protocol_options": http2_options(),
                "load_assignment": load_assignment("otel-collector", &host, port),
            }));
        }
        Value::Array(clusters)
    }

    fn cluster(&self, name: &str, address: &str) -> Value {
        let (host, port) = split_host_port(address);
        let interval = format!("{:.3}s", self.health_check_interval_ms as f64 / 1000.0);
        json!({
            "name": name,
            "type": "STRICT_DNS",
            "dns_lookup_family": "V4_PREFERRED",
            "connect_timeout": "1s",
            "lb_policy": "ROUND_ROBIN",
            "typed_extension_protocol_options": http2_options(),
            "load_assignment": load_assignment(name, &host, port),
            "health_checks": [{
                "timeout": "1s",
                "interval": interval,
                "no_traffic_interval": interval,
                "unhealthy_interval": interval,
                "unhealthy_threshold": 2,
                "healthy_threshold": 1,
                "grpc_health_check": {},
            }],
            // Ejection on connection failures only: a gRPC error is an answer (Envoy would
            // count UNIMPLEMENTED or DEADLINE_EXCEEDED as 5xx, and a few calls anyone can
            // make would take the service out of rotation).
            "outlier_detection": {
                "split_external_local_origin_errors": true,
                "consecutive_local_origin_failure": 5,
                "enforcing_consecutive_local_origin_failure": 100,
                "enforcing_consecutive_5xx": 0,
                "enforcing_consecutive_gateway_failure": 0,
                "enforcing_success_rate": 0,
                "enforcing_failure_percentage": 0,
                "interval": "5s",
                "base_ejection_time": "10s",
                "max_ejection_percent": 100,
            },
            // No panic routing: with no healthy host, calls fail at once with 503 / UNAVAILABLE.
            "common_lb_config": {"healthy_panic_threshold": {"value": 0}},
            "circuit_breakers": {"thresholds": [{
                "max_connections": 1024,
                "max_pending_requests": 1024,
                // Open watches count as requests: room for many beside the unary calls.
                "max_requests": 8192,
                "max_retries": 16,
            }]},
        })
    }
}

fn socket_address(host: &str, port: u16) -> Value {
    json!({"socket_address": {"address": host, "port_value": port}})
}

fn split_host_port(address: &str) -> (String, u16) {
    match address.rsplit_once(':') {
        Some((host, port)) => {
            (host.trim_start_matches('[').trim_end_matches(']').to_owned(), port.parse().unwrap_or(50051))
        }
        None => (address.to_owned(), 50051),
    }
}

fn load_assignment(cluster: &str, host: &str, port: u16) -> Value {
    json!({
        "cluster_name": cluster,
        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket_address(host, port)}}]}],
    })
}

fn http2_options() -> Value {
    json!({
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {
                "connection_keepalive": {"interval": "30s", "timeout": "5s"},
            }},
        },
    })
}

fn jwt_requirement(name: &str) -> Value {
    json!({
        "envoy.filters.http.jwt_authn": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig",
            "requirement_name": name,
        },
    })
}

fn bucket(rate: Rate) -> Value {
    json!({
        "max_tokens": rate.requests,
        "tokens_per_fill": rate.requests,
        "fill_interval": format!("{}s", rate.per_seconds),
    })
}

/// Envoy decides whether a call is gRPC before `grpc_web` converts it, so its own refusals of
/// a grpc-web call (a rate limit) would reach the browser as HTTP 429, which grpc-web clients
/// read as `UNAVAILABLE` (retry at once). They get what a gRPC client gets: HTTP 200 with
/// `grpc-status: 8` (`RESOURCE_EXHAUSTED`).
fn local_replies() -> Value {
    json!({
        "mappers": [{
            "filter": {"and_filter": {"filters": [
                {"status_code_filter": {"comparison": {"op": "EQ", "value": {"default_value": 429, "runtime_key": "edge_grpc_web_rate_limited"}}}},
                {"header_filter": {"header": {"name": "x-grpc-web", "present_match": true}}},
            ]}},
            "status_code": 200,
            // A gRPC response with no message: `grpc_web` then keeps its status.
            "body_format_override": {"text_format": "", "content_type": "application/grpc"},
            "headers_to_add": [
                {"header": {"key": "grpc-status", "value": "8"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"},
                {"header": {"key": "grpc-message", "value": "rate limited at the edge"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"},
            ],
        }],
    })
}

fn access_log() -> Value {
    json!({
        "name": "envoy.access_loggers.stdout",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
            "log_format": {"json_format": {
                "time": "%START_TIME%",
                "method": "%REQ(:METHOD)%",
                "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
                "protocol": "%PROTOCOL%",
                "status": "%RESPONSE_CODE%",
                "grpc_status": "%GRPC_STATUS%",
                "flags": "%RESPONSE_FLAGS%",
                "duration_ms": "%DURATION%",
                "bytes_received": "%BYTES_RECEIVED%",
                "bytes_sent": "%BYTES_SENT%",
                "upstream": "%UPSTREAM_HOST%",
                "client": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
                "user_agent": "%REQ(USER-AGENT)%",
                "request_id": "%REQ(X-REQUEST-ID)%",
                "correlation_id": "%REQ(X-CORRELATION-ID)%",
                "trace_id": "%TRACE_ID%",
                "traceparent": "%REQ(TRACEPARENT)%",
            }},
        },
    })
}

fn regex_escape(s: &str) -> String {
    s.chars().fold(String::new(), |mut out, c| {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}
