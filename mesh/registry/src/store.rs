//! In-memory storage of schemas, subject versions and compatibility settings.
//!
//! Every change goes through `MemoryStore`'s methods; the registry writes each to its journal
//! first (see `journal`) and replays the journal through the same methods when it opens.

use std::collections::BTreeMap;

use crate::error::RegistryError;
use crate::schema::{CompatibilityLevel, CompiledSchema, SchemaReference};

/// The level used when neither the subject nor the global config sets one.
pub const DEFAULT_LEVEL: CompatibilityLevel = CompatibilityLevel::BackwardTransitive;

/// A registered schema; ids are global, so one schema shared by several subjects has one id.
#[derive(Debug, Clone)]
pub struct StoredSchema {
    pub id: u32,
    pub schema: String,
    pub references: Vec<SchemaReference>,
    pub compiled: CompiledSchema,
}

impl StoredSchema {
    /// Whether `compiled` with `references` is this schema (comments and layout do not count).
    pub fn matches(&self, compiled: &CompiledSchema, references: &[SchemaReference]) -> bool {
        self.references == references && self.compiled.canonical() == compiled.canonical()
    }
}

#[derive(Debug, Default)]
struct Subject {
    /// Schema ids by version; version `n` is at index `n - 1`.
    versions: Vec<u32>,
    compatibility: Option<CompatibilityLevel>,
}

/// Which version of a subject a request means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSpec {
    Latest,
    Number(u32),
}

impl VersionSpec {
    /// Parses a path segment: `latest` and `-1` (Confluent's alias) or a positive number.
    pub fn parse(text: &str) -> Result<Self, RegistryError> {
        match text {
            "latest" | "-1" => Ok(Self::Latest),
            _ => match text.parse::<u32>() {
                Ok(n) if n > 0 => Ok(Self::Number(n)),
                _ => Err(RegistryError::InvalidVersion(text.to_owned())),
            },
        }
    }
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    /// Schema with id `n` is at index `n - 1`: ids are dense and only ever grow.
    schemas: Vec<StoredSchema>,
    subjects: BTreeMap<String, Subject>,
    compatibility: Option<CompatibilityLevel>,
}

impl MemoryStore {
    pub fn schema(&self, id: u32) -> Option<&StoredSchema> {
        self.schemas.get(usize::try_from(id).ok()?.checked_sub(1)?)
    }

    /// The id of an identical schema registered under any subject.
    pub fn find_schema(&self, compiled: &CompiledSchema, references: &[SchemaReference]) -> Option<u32> {
        self.schemas.iter().find(|s| s.matches(compiled, references)).map(|s| s.id)
    }

    /// The id the next inserted schema gets.
    pub fn next_id(&self) -> u32 {
        u32::try_from(self.schemas.len() + 1).unwrap_or(u32::MAX)
    }

    pub fn insert_schema(&mut self, schema: String, references: Vec<SchemaReference>, compiled: CompiledSchema) -> u32 {
        let id = self.next_id();
        self.schemas.push(StoredSchema { id, schema, references, compiled });
        id
    }

    pub fn subjects(&self) -> Vec<String> {
        self.subjects.iter().filter(|(_, s)| !s.versions.is_empty()).map(|(name, _)| name.clone()).collect()
    }

    /// Schema ids of a subject's versions, oldest first; `None` if the subject has none.
    pub fn versions(&self, subject: &str) -> Option<&[u32]> {
        self.subjects.get(subject).map(|s| s.versions.as_slice()).filter(|v| !v.is_empty())
    }

    /// A subject version as `(version, schema)`.
    pub fn version(&self, subject: &str, spec: VersionSpec) -> Result<(u32, &StoredSchema), RegistryError> {
        let versions = self.versions(subject).ok_or_else(|| RegistryError::SubjectNotFound(subject.to_owned()))?;
        let index = match spec {
            VersionSpec::Latest => versions.len() - 1,
            VersionSpec::Number(n) => n.checked_sub(1).and_then(|i| usize::try_from(i).ok()).unwrap_or(usize::MAX),
        };
        let id = versions.get(index).ok_or_else(|| RegistryError::VersionNotFound {
            subject: subject.to_owned(),
            version: match spec {
                VersionSpec::Latest => "latest".to_owned(),
                VersionSpec::Number(n) => n.to_string(),
            },
        })?;
        let schema = self.schema(*id).ok_or(RegistryError::SchemaIdNotFound(*id))?;
        Ok((u32::try_from(index + 1).unwrap_or(u32::MAX), schema))
    }

    /// Appends `id` as the subject's next version and returns that version number.
    pub fn append_version(&mut self, subject: &str, id: u32) -> u32 {
        let entry = self.subjects.entry(subject.to_owned()).or_default();
        entry.versions.push(id);
        u32::try_from(entry.versions.len()).unwrap_or(u32::MAX)
    }

    pub fn global_level(&self) -> CompatibilityLevel {
        self.compatibility.unwrap_or(DEFAULT_LEVEL)
    }

    pub fn set_global_level(&mut self, level: CompatibilityLevel) {
        self.compatibility = Some(level);
    }

    /// The subject's own level, else the global one.
    pub fn subject_level(&self, subject: &str) -> CompatibilityLevel {
        self.subjects.get(subject).and_then(|s| s.compatibility).unwrap_or_else(|| self.global_level())
    }

    /// Sets a subject's level; Confluent allows this before the subject has any version.
    pub fn set_subject_level(&mut self, subject: &str, level: CompatibilityLevel) {
        self.subjects.entry(subject.to_owned()).or_default().compatibility = Some(level);
    }
}
