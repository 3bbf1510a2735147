//! The registry's operations: registration with compatibility checks, lookups and configuration.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use tokio::sync::RwLock;

use crate::compat;
use crate::error::RegistryError;
use crate::journal::{Entry, Journal};
use crate::schema::{self, CompatibilityLevel, CompiledSchema, PROTOBUF, SchemaReference};
use crate::store::{MemoryStore, StoredSchema, VersionSpec};

/// A subject version as the REST API returns it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectSchema {
    pub subject: String,
    pub version: u32,
    pub id: u32,
    pub schema: String,
    pub schema_type: &'static str,
    pub references: Vec<SchemaReference>,
}

impl SubjectSchema {
    fn new(subject: &str, version: u32, stored: &StoredSchema) -> Self {
        Self {
            subject: subject.to_owned(),
            version,
            id: stored.id,
            schema: stored.schema.clone(),
            schema_type: PROTOBUF,
            references: stored.references.clone(),
        }
    }
}

/// A Confluent-compatible PROTOBUF schema registry; cheap to clone, all clones share one store.
#[derive(Debug, Clone, Default)]
pub struct SchemaRegistry {
    // One lock over the whole store: registration must check compatibility and append atomically,
    // and a dev registry sees far too little traffic for finer locking to matter.
    store: Arc<RwLock<MemoryStore>>,
    /// Where changes are written before they are applied; none for a registry in memory only.
    /// Written only while the store's write lock is held, so its order is the store's.
    journal: Option<Arc<Mutex<Journal>>>,
}

impl SchemaRegistry {
    /// A registry in memory only.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry kept in the journal file at `path` (created if missing): what it holds is
    /// replayed, with the same ids and versions, and every change is written there first.
    pub fn open(path: &Path) -> Result<Self, RegistryError> {
        let (journal, entries) = Journal::open(path)?;
        let mut store = MemoryStore::default();
        let count = entries.len();
        for entry in entries {
            replay(&mut store, entry).map_err(|error| {
                RegistryError::Storage(format!("schema registry journal {}: {error}", path.display()))
            })?;
        }
        tracing::info!(path = %path.display(), entries = count, "schema registry journal replayed");
        Ok(Self { store: Arc::new(RwLock::new(store)), journal: Some(Arc::new(Mutex::new(journal))) })
    }

    /// Writes `entries` to the journal, if any, before the caller applies them.
    fn record(&self, entries: &[Entry]) -> Result<(), RegistryError> {
        match &self.journal {
            Some(journal) => journal.lock().unwrap_or_else(PoisonError::into_inner).append(entries),
            None => Ok(()),
        }
    }

    /// Registers `source` under `subject`, returning its global id. An identical schema already
    /// registered under the subject returns its id without creating a version.
    pub async fn register(
        &self,
        subject: &str,
        source: &str,
        references: Vec<SchemaReference>,
    ) -> Result<u32, RegistryError> {
        let mut store = self.store.write().await;
        let compiled = compile_with(&store, source, &references)?;
        let existing = store.versions(subject).unwrap_or_default();
        let previous: Vec<&StoredSchema> = existing.iter().filter_map(|id| store.schema(*id)).collect();
        if let Some(same) = previous.iter().find(|s| s.matches(&compiled, &references)) {
            return Ok(same.id);
        }
        let previous: Vec<CompiledSchema> = previous.into_iter().map(|s| s.compiled.clone()).collect();
        let problems = compat::check(store.subject_level(subject), &compiled, &previous);
        if !problems.is_empty() {
            return Err(RegistryError::Incompatible { subject: subject.to_owned(), details: problems });
        }
        let found = store.find_schema(&compiled, &references);
        let id = found.unwrap_or_else(|| store.next_id());
        let mut entries = Vec::with_capacity(2);
        if found.is_none() {
            entries.push(Entry::Schema { id, schema: source.to_owned(), references: references.clone() });
        }
        entries.push(Entry::Version { subject: subject.to_owned(), id });
        self.record(&entries)?;
        if found.is_none() {
            store.insert_schema(source.to_owned(), references, compiled);
        }
        let version = store.append_version(subject, id);
        tracing::info!(subject, version, id, "registered schema");
        Ok(id)
    }

    /// Finds the version of `subject` holding this schema.
    pub async fn lookup(
        &self,
        subject: &str,
        source: &str,
        references: &[SchemaReference],
    ) -> Result<SubjectSchema, RegistryError> {
        let store = self.store.read().await;
        let versions = store.versions(subject).ok_or_else(|| RegistryError::SubjectNotFound(subject.to_owned()))?;
        let compiled = compile_with(&store, source, references)?;
        for (index, id) in versions.iter().enumerate() {
            if let Some(stored) = store.schema(*id).filter(|s| s.matches(&compiled, references)) {
                return Ok(SubjectSchema::new(subject, u32::try_from(index + 1).unwrap_or(u32::MAX), stored));
            }
        }
        Err(RegistryError::SchemaNotFound)
    }

    pub async fn subjects(&self) -> Vec<String> {
        self.store.read().await.subjects()
    }

    pub async fn versions(&self, subject: &str) -> Result<Vec<u32>, RegistryError> {
        let store = self.store.read().await;
        let versions = store.versions(subject).ok_or_else(|| RegistryError::SubjectNotFound(subject.to_owned()))?;
        Ok((1..=u32::try_from(versions.len()).unwrap_or(u32::MAX)).collect())
    }

    pub async fn subject_version(&self, subject: &str, spec: VersionSpec) -> Result<SubjectSchema, RegistryError> {
        let store = self.store.read().await;
        let (version, stored) = store.version(subject, spec)?;
        Ok(SubjectSchema::new(subject, version, stored))
    }

    /// The schema text and references registered under `id`.
    pub async fn schema_by_id(&self, id: u32) -> Result<(String, Vec<SchemaReference>), RegistryError> {
        let store = self.store.read().await;
        let stored = store.schema(id).ok_or(RegistryError::SchemaIdNotFound(id))?;
        Ok((stored.schema.clone(), stored.references.clone()))
    }

    /// Tests `source` against one version of `subject` (`Some`), or against what the subject's
    /// level would check at registration (`None`). Returns the problems found; empty means compatible.
    pub async fn test_compatibility(
        &self,
        subject: &str,
        spec: Option<VersionSpec>,
        source: &str,
        references: &[SchemaReference],
    ) -> Result<Vec<String>, RegistryError> {
        let store = self.store.read().await;
        let compiled = compile_with(&store, source, references)?;
        let level = store.subject_level(subject);
        let previous: Vec<CompiledSchema> = match spec {
            Some(spec) => vec![store.version(subject, spec)?.1.compiled.clone()],
            None => {
                let ids = store.versions(subject).ok_or_else(|| RegistryError::SubjectNotFound(subject.to_owned()))?;
                ids.iter().filter_map(|id| store.schema(*id)).map(|s| s.compiled.clone()).collect()
            }
        };
        Ok(compat::check(level, &compiled, &previous))
    }

    pub async fn global_level(&self) -> CompatibilityLevel {
        self.store.read().await.global_level()
    }

    pub async fn set_global_level(&self, level: CompatibilityLevel) -> Result<(), RegistryError> {
        let mut store = self.store.write().await;
        self.record(&[Entry::global_level(level)])?;
        store.set_global_level(level);
        Ok(())
    }

    pub async fn subject_level(&self, subject: &str) -> CompatibilityLevel {
        self.store.read().await.subject_level(subject)
    }

    pub async fn set_subject_level(&self, subject: &str, level: CompatibilityLevel) -> Result<(), RegistryError> {
        let mut store = self.store.write().await;
        self.record(&[Entry::subject_level(subject, level)])?;
        store.set_subject_level(subject, level);
        Ok(())
    }
}

/// Applies one journal entry to the store, as the change it records was applied.
fn replay(store: &mut MemoryStore, entry: Entry) -> Result<(), RegistryError> {
    match entry {
        Entry::Schema { id, schema, references } => {
            let compiled = compile_with(store, &schema, &references)?;
            if store.next_id() != id {
                return Err(RegistryError::Storage(format!("schema {id} out of order")));
            }
            store.insert_schema(schema, references, compiled);
        }
        Entry::Version { subject, id } => {
            store.schema(id).ok_or(RegistryError::SchemaIdNotFound(id))?;
            store.append_version(&subject, id);
        }
        Entry::GlobalLevel { level } => store.set_global_level(CompatibilityLevel::parse(&level)?),
        Entry::SubjectLevel { subject, level } => store.set_subject_level(&subject, CompatibilityLevel::parse(&level)?),
    }
    Ok(())
}

/// Compiles `source` with its references (and theirs, transitively) available as imports.
fn compile_with(
    store: &MemoryStore,
    source: &str,
    references: &[SchemaReference],
) -> Result<CompiledSchema, RegistryError> {
    let mut imports = HashMap::new();
    let mut pending: Vec<SchemaReference> = references.to_vec();
    while let Some(reference) = pending.pop() {
        if imports.contains_key(&reference.name) {
            continue;
        }
        let (_, stored) = store.version(&reference.subject, VersionSpec::Number(reference.version)).map_err(|_| {
            RegistryError::InvalidSchema(format!(
                "reference '{}' to subject '{}' version {} is not registered",
                reference.name, reference.subject, reference.version
            ))
        })?;
        imports.insert(reference.name.clone(), stored.schema.clone());
        pending.extend(stored.references.iter().cloned());
    }
    schema::compile(source, imports)
}
