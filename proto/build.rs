//! Compiles `fleuve/**/*.proto` with protox (no protoc needed) into tonic + prost code and a
//! descriptor set for gRPC reflection.

use std::{env, fs, path::PathBuf};

use prost::Message;

fn proto_files(dir: &std::path::Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            proto_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let mut files = Vec::new();
    proto_files(&root.join("fleuve"), &mut files)?;
    files.sort();
    println!("cargo:rerun-if-changed=fleuve");

    let fds = protox::compile(&files, [&root])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join("fleuve_descriptor.bin"), fds.encode_to_vec())?;

    // Every source by import path, so a new .proto needs no edit of lib.rs to be registrable.
    let mut sources = String::from("&[\n");
    for file in &files {
        let import = file.strip_prefix(&root)?.to_str().ok_or("non-UTF-8 proto path")?.replace('\\', "/");
        sources.push_str(&format!("    ({import:?}, include_str!({:?})),\n", file.display().to_string()));
    }
    sources.push_str("]\n");
    fs::write(out_dir.join("proto_sources.rs"), sources)?;

    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(fds)?;
    Ok(())
}
