//! Compiles `fleuve/**/*.proto` with protox (no protoc needed) into tonic + prost code and a
//! descriptor set for gRPC reflection.

use std::{env, fs, path::PathBuf};

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

/// `UpperCamelCase` of a `snake_case` protobuf name, as prost names oneof variants.
fn upper_camel(snake: &str) -> String {
    snake
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|first| first.to_uppercase().chain(chars).collect::<String>()).unwrap_or_default()
        })
        .collect()
}

/// `snake_case` of an `UpperCamelCase` message name, as prost names a message's module.
fn snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// An `EventType` impl for every event envelope: a message named `*Event` whose cases sit in a
/// oneof named `event`. A case's event type is its message's name when the message belongs to
/// the envelope's package (`ProductCreated`), else its field name in UpperCamelCase (an order's
/// `stock_check_requested` carries stock's `StockCheckRequest`: `StockCheckRequested`).
fn event_types(fds: &prost_types::FileDescriptorSet) -> String {
    let mut out = String::new();
    for file in &fds.file {
        let package = file.package();
        let module = format!("crate::{}", package.trim_start_matches("fleuve.").replace('.', "::"));
        for message in &file.message_type {
            let name = message.name();
            let Some(oneof) = message.oneof_decl.iter().position(|o| o.name() == "event") else { continue };
            if !name.ends_with("Event") {
                continue;
            }
            let own = format!(".{package}.");
            let cases: Vec<(String, String)> = message
                .field
                .iter()
                .filter(|f| f.oneof_index == Some(oneof as i32))
                .map(|f| {
                    let event_type = match f.type_name().strip_prefix(&own) {
                        Some(local) if !local.contains('.') => local.to_owned(),
                        _ => upper_camel(f.name()),
                    };
                    (upper_camel(f.name()), event_type)
                })
                .collect();
            out.push_str(&format!("impl crate::EventType for {module}::{name} {{\n"));
            let names: Vec<String> = cases.iter().map(|(_, t)| format!("{t:?}")).collect();
            out.push_str(&format!("    const EVENT_TYPES: &'static [&'static str] = &[{}];\n", names.join(", ")));
            out.push_str("    fn event_type(&self) -> &'static str {\n");
            out.push_str(&format!("        use {module}::{}::Event;\n", snake(name)));
            out.push_str("        match &self.event {\n");
            for (variant, event_type) in &cases {
                out.push_str(&format!("            Some(Event::{variant}(_)) => {event_type:?},\n"));
            }
            out.push_str(&format!("            None => {name:?},\n        }}\n    }}\n}}\n"));
        }
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let mut files = Vec::new();
    proto_files(&root.join("fleuve"), &mut files)?;
    files.sort();
    println!("cargo:rerun-if-changed=fleuve");
    println!("cargo:rerun-if-changed=google");

    let mut compiler = protox::Compiler::new([&root])?;
    compiler.include_source_info(true).include_imports(true).open_files(&files)?;
    let fds = compiler.file_descriptor_set();
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    // Encoded by protox itself: extension options such as `google.api.http`, which Envoy's
    // REST transcoder reads, survive (prost's FileDescriptorSet would drop them).
    fs::write(out_dir.join("fleuve_descriptor.bin"), compiler.encode_file_descriptor_set())?;

    // Every source by import path, so a new .proto needs no edit of lib.rs to be registrable.
    // The path is the crate's own directory at compile time, not this run's: checkouts at
    // other paths share one target directory (the test script's), and this script does not run
    // again when only the checkout moved.
    let mut sources = String::from("&[\n");
    for file in &files {
        let import = file.strip_prefix(&root)?.to_str().ok_or("non-UTF-8 proto path")?.replace('\\', "/");
        sources.push_str(&format!(
            "    ({import:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/\", {import:?}))),\n"
        ));
    }
    sources.push_str("]\n");
    fs::write(out_dir.join("proto_sources.rs"), sources)?;
    fs::write(out_dir.join("event_types.rs"), event_types(&fds))?;

    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(fds)?;
    Ok(())
}
