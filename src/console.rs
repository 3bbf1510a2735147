//! The web console (`web/`, a React application over grpc-web) as every server serves it at
//! `/console/`: the committed build in `web/dist`, embedded gzipped by `build.rs`. The files are
//! checked against `web/`'s sources by `web/dist/.sources` (see `scripts/build-web`).

use fleuve_mesh::grpc::MeshServer;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));
}

pub const CONSOLE_PATH: &str = "/console";

/// `server` with the console under [`CONSOLE_PATH`].
pub fn with_console(server: MeshServer) -> MeshServer {
    server.site(
        CONSOLE_PATH,
        assets::ASSETS
            .iter()
            .map(|(path, content_type, gz)| ((*path).to_owned(), *content_type, bytes::Bytes::from_static(gz))),
    )
}

/// The files the console's sources are: what `scripts/build-web` hashes into `web/dist/.sources`.
#[cfg(test)]
fn source_files(root: &std::path::Path) -> Vec<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, keep: &dyn Fn(&str) -> bool, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            if path.is_dir() {
                if !relative.ends_with("/gen") && !relative.ends_with("node_modules") && !relative.ends_with("/dist") {
                    walk(root, &path, keep, out);
                }
            } else if keep(&relative) {
                out.push(relative);
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &root.join("web/src"), &|_| true, &mut files);
    walk(root, &root.join("proto"), &|p| p.ends_with(".proto"), &mut files);
    for file in [
        "web/index.html",
        "web/package.json",
        "web/package-lock.json",
        "web/vite.config.ts",
        "web/tsconfig.json",
        "web/buf.gen.yaml",
    ] {
        files.push(file.to_owned());
    }
    // Byte order, as `LC_ALL=C sort` gives.
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    /// `web/dist` is the build of `web/`'s current sources: `scripts/build-web` writes the hash
    /// of the sources it built from into `web/dist/.sources`; any change to the sources (or
    /// the contracts the clients are generated from) without a rebuild fails here.
    #[test]
    fn the_committed_console_build_matches_its_sources() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut listing = String::new();
        for file in super::source_files(root) {
            let body = std::fs::read(root.join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            listing.push_str(&format!("{}  {file}\n", hex::encode(Sha256::digest(&body))));
        }
        let hash = hex::encode(Sha256::digest(listing.as_bytes()));
        let stamp = std::fs::read_to_string(root.join("web/dist/.sources")).unwrap_or_default();
        assert_eq!(
            stamp.trim(),
            hash,
            "web/dist is stale against web/'s sources: run scripts/build-web and commit web/dist"
        );
    }

    #[test]
    fn the_console_has_its_index_and_assets() {
        let paths: Vec<&str> = super::assets::ASSETS.iter().map(|(p, _, _)| *p).collect();
        assert!(paths.contains(&"index.html"), "{paths:?}");
        assert!(paths.iter().any(|p| p.starts_with("assets/") && p.ends_with(".js")), "{paths:?}");
    }
}
