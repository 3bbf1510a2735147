//! Protobuf schema model: references, compatibility levels and compilation of `.proto` source with protox.

use std::collections::HashMap;

use prost_reflect::{DescriptorPool, FileDescriptor};
use prost_types::FileDescriptorProto;
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};
use serde::{Deserialize, Serialize};

use crate::error::RegistryError;

/// The only schema type this registry speaks; Confluent clients send it explicitly.
pub const PROTOBUF: &str = "PROTOBUF";

/// The name the submitted schema gets while compiling. Confluent schemas are anonymous, but protox
/// needs a file name; the odd prefix keeps it from colliding with a reference's import path.
pub const MAIN_FILE: &str = "__fleuve_registry__/schema.proto";

/// A dependency of a schema: the import path `name` is satisfied by `subject` at `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaReference {
    pub name: String,
    pub subject: String,
    pub version: u32,
}

/// Confluent compatibility levels. FORWARD and FULL reuse the backward rules with the roles swapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompatibilityLevel {
    None,
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl CompatibilityLevel {
    pub fn parse(text: &str) -> Result<Self, RegistryError> {
        Ok(match text.to_ascii_uppercase().as_str() {
            "NONE" => Self::None,
            "BACKWARD" => Self::Backward,
            "BACKWARD_TRANSITIVE" => Self::BackwardTransitive,
            "FORWARD" => Self::Forward,
            "FORWARD_TRANSITIVE" => Self::ForwardTransitive,
            "FULL" => Self::Full,
            "FULL_TRANSITIVE" => Self::FullTransitive,
            _ => return Err(RegistryError::InvalidCompatibilityLevel(text.to_owned())),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Backward => "BACKWARD",
            Self::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Self::Forward => "FORWARD",
            Self::ForwardTransitive => "FORWARD_TRANSITIVE",
            Self::Full => "FULL",
            Self::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Whether every earlier version is checked, not only the latest.
    pub fn is_transitive(self) -> bool {
        matches!(self, Self::BackwardTransitive | Self::ForwardTransitive | Self::FullTransitive)
    }

    pub fn checks_backward(self) -> bool {
        matches!(self, Self::Backward | Self::BackwardTransitive | Self::Full | Self::FullTransitive)
    }

    pub fn checks_forward(self) -> bool {
        matches!(self, Self::Forward | Self::ForwardTransitive | Self::Full | Self::FullTransitive)
    }
}

/// A schema compiled together with its (transitive) references.
#[derive(Debug, Clone)]
pub struct CompiledSchema {
    file: FileDescriptor,
    /// The main file's descriptor without source info: two texts that differ only in comments or
    /// layout compile to the same value, which is what "same schema" means for re-registration.
    canonical: FileDescriptorProto,
}

impl CompiledSchema {
    /// The pool holding the schema and everything it imports.
    pub fn pool(&self) -> &DescriptorPool {
        self.file.parent_pool()
    }

    /// The submitted schema's own file.
    pub fn file(&self) -> &FileDescriptor {
        &self.file
    }

    pub fn canonical(&self) -> &FileDescriptorProto {
        &self.canonical
    }
}

/// Resolves imports from sources held in memory (the schema and its references), falling back to
/// the well-known `google/protobuf/*.proto` files bundled with protox.
struct SourceResolver {
    sources: HashMap<String, String>,
}

impl FileResolver for SourceResolver {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match self.sources.get(name) {
            Some(source) => File::from_source(name, source),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// Compiles `source`; `imports` maps every import path (already flattened transitively) to its source.
pub fn compile(source: &str, imports: HashMap<String, String>) -> Result<CompiledSchema, RegistryError> {
    let mut sources = imports;
    sources.insert(MAIN_FILE.to_owned(), source.to_owned());
    let mut resolver = ChainFileResolver::new();
    resolver.add(SourceResolver { sources });
    resolver.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_source_info(false);
    compiler
        .open_file(MAIN_FILE)
        .map_err(|e| RegistryError::InvalidSchema(e.to_string().replace(MAIN_FILE, "schema")))?;
    let pool = compiler.descriptor_pool();
    let file = pool
        .get_file_by_name(MAIN_FILE)
        .ok_or_else(|| RegistryError::InvalidSchema("schema did not compile to a file".to_owned()))?;
    let mut canonical = file.file_descriptor_proto().clone();
    canonical.source_code_info = None;
    Ok(CompiledSchema { file, canonical })
}
