//! Embeds the web console's built assets (`web/dist`, committed; `scripts/build-web` rebuilds
//! them) in the binary, each gzipped once here: `$OUT_DIR/console_assets.rs` holds the table
//! `src/console.rs` serves from.

use std::io::Write;
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            out.push(path);
        }
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let dist = root.join("web/dist");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed=web/dist");
    let mut paths = Vec::new();
    files(&dist, &mut paths);
    paths.sort();
    let mut table = String::from("/// The console's files: (path under web/dist, content type, gzipped body).\n");
    table.push_str("pub static ASSETS: &[(&str, &str, &[u8])] = &[\n");
    for (i, path) in paths.iter().enumerate() {
        println!("cargo:rerun-if-changed={}", path.display());
        let body = std::fs::read(path).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&body).unwrap();
        let gz_path = out.join(format!("console-{i}.gz"));
        std::fs::write(&gz_path, gz.finish().unwrap()).unwrap();
        let relative = path.strip_prefix(&dist).unwrap().to_string_lossy().replace('\\', "/");
        table.push_str(&format!(
            "    ({relative:?}, {:?}, include_bytes!({:?})),\n",
            content_type(path),
            gz_path.display().to_string()
        ));
    }
    table.push_str("];\n");
    std::fs::write(out.join("console_assets.rs"), table).unwrap();
}
