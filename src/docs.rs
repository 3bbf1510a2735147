//! The API documentation every server serves: the OpenAPI 3.1 document of the REST surface at
//! `/openapi.json` (generated from the contracts by `fleuve-gateway`) and Scalar's interactive
//! reference at `/docs` (its standalone bundle vendored, gzipped, in `gateway/docs/`; no CDN).

use fleuve_mesh::grpc::MeshServer;

pub const OPENAPI_PATH: &str = "/openapi.json";
pub const DOCS_PATH: &str = "/docs";

const INDEX: &str = include_str!("../gateway/docs/index.html");
/// `@scalar/api-reference` 1.57.5, `dist/browser/standalone.js`, gzipped (`scripts/vendor-scalar`).
const SCALAR_GZ: &[u8] = include_bytes!("../gateway/docs/scalar-standalone.js.gz");

/// The OpenAPI document with `servers` as the targets of "try it" (`/`: the serving origin).
pub fn openapi(servers: &[String]) -> serde_json::Value {
    fleuve_gateway::openapi::document(&fleuve_gateway::openapi::Options {
        servers: servers.to_vec(),
        public_paths: crate::edge::public_paths(),
    })
}

/// `server` with `/openapi.json`, `/docs` and the bundle the page loads.
pub fn with_docs(server: MeshServer, servers: &[String]) -> MeshServer {
    let document = serde_json::to_vec(&openapi(servers)).unwrap_or_default();
    server
        .document(OPENAPI_PATH, "application/json", document)
        .document(DOCS_PATH, "text/html; charset=utf-8", INDEX)
        .document("/docs/", "text/html; charset=utf-8", INDEX)
        .encoded_document("/docs/scalar.js", "text/javascript; charset=utf-8", Some("gzip"), SCALAR_GZ)
}

#[cfg(test)]
mod tests {
    /// `gateway/openapi.json` is the generator's output for the same-origin server: regenerate
    /// with `fleuve edge openapi -o gateway/openapi.json`.
    #[test]
    fn the_shipped_openapi_document_is_the_generators_output() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway/openapi.json");
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        let generated = format!("{}\n", serde_json::to_string_pretty(&super::openapi(&["/".to_owned()])).unwrap());
        assert!(on_disk == generated, "{} is stale: run `fleuve edge openapi -o {}`", path.display(), path.display());
    }
}
