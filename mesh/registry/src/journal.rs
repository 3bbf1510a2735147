//! The registry's journal: every change as one JSON line, written and synced before the change
//! is applied and answered, and replayed when the registry opens. A schema thus keeps its id
//! across restarts, so records still on a durable topic can be decoded.
//!
//! A crash can cut the last line short; opening drops such a tail (its change was never
//! answered). A malformed line anywhere else means the file was damaged: opening fails.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;
use crate::schema::{CompatibilityLevel, SchemaReference};

/// One change of the registry's store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Entry {
    /// A new schema under a new global id.
    Schema {
        id: u32,
        schema: String,
        references: Vec<SchemaReference>,
    },
    /// The next version of `subject` is schema `id`.
    Version {
        subject: String,
        id: u32,
    },
    GlobalLevel {
        level: String,
    },
    SubjectLevel {
        subject: String,
        level: String,
    },
}

impl Entry {
    pub fn global_level(level: CompatibilityLevel) -> Entry {
        Entry::GlobalLevel { level: level.as_str().to_owned() }
    }

    pub fn subject_level(subject: &str, level: CompatibilityLevel) -> Entry {
        Entry::SubjectLevel { subject: subject.to_owned(), level: level.as_str().to_owned() }
    }
}

/// An open journal file, appended to.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
}

fn damaged(path: &Path, detail: impl std::fmt::Display) -> RegistryError {
    RegistryError::Storage(format!("schema registry journal {}: {detail}", path.display()))
}

impl Journal {
    /// Opens (creating it if needed) the journal at `path` and returns it with its entries.
    pub fn open(path: &Path) -> Result<(Journal, Vec<Entry>), RegistryError> {
        let mut file =
            OpenOptions::new().read(true).append(true).create(true).open(path).map_err(|e| damaged(path, e))?;
        let mut entries = Vec::new();
        let mut good = 0u64;
        let mut reader = BufReader::new(&mut file);
        let mut line = String::new();
        let mut torn = None;
        loop {
            line.clear();
            let read = reader.read_line(&mut line).map_err(|e| damaged(path, e))?;
            if read == 0 {
                break;
            }
            if let Some(error) = torn {
                return Err(damaged(path, format!("malformed entry after byte {good}: {error}")));
            }
            let complete = line.ends_with('\n');
            match serde_json::from_str::<Entry>(line.trim_end()) {
                Ok(entry) if complete => {
                    entries.push(entry);
                    good += u64::try_from(read).unwrap_or(u64::MAX);
                }
                Ok(_) => torn = Some("no line end".to_owned()),
                Err(error) if complete => {
                    return Err(damaged(path, format!("malformed entry at byte {good}: {error}")));
                }
                Err(error) => torn = Some(error.to_string()),
            }
        }
        drop(reader);
        if torn.is_some() {
            tracing::warn!(path = %path.display(), at = good, "schema registry journal: dropping an unfinished last entry");
            file.set_len(good).map_err(|e| damaged(path, e))?;
            file.seek(SeekFrom::End(0)).map_err(|e| damaged(path, e))?;
        }
        Ok((Journal { path: path.to_owned(), file }, entries))
    }

    /// Appends `entries` and syncs them to disk.
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), RegistryError> {
        let mut buffer = Vec::new();
        for entry in entries {
            serde_json::to_writer(&mut buffer, entry).map_err(|e| damaged(&self.path, e))?;
            buffer.push(b'\n');
        }
        self.file.write_all(&buffer).map_err(|e| damaged(&self.path, e))?;
        self.file.sync_data().map_err(|e| damaged(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fleuve-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("registry.jsonl")
    }

    /// Removes the directory of a passed test's journal (a failed one's stays, to be read).
    fn clean(path: &std::path::Path) {
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn entries_come_back_in_order() {
        let path = temp("order");
        let written = vec![
            Entry::Schema { id: 1, schema: "syntax = \"proto3\";".into(), references: vec![] },
            Entry::Version { subject: "s".into(), id: 1 },
            Entry::global_level(CompatibilityLevel::Backward),
        ];
        Journal::open(&path).unwrap().0.append(&written).unwrap();
        assert_eq!(Journal::open(&path).unwrap().1, written);
        clean(&path);
    }

    #[test]
    fn an_unfinished_last_entry_is_dropped_and_the_journal_goes_on() {
        let path = temp("torn");
        let first = Entry::Version { subject: "s".into(), id: 1 };
        Journal::open(&path).unwrap().0.append(std::slice::from_ref(&first)).unwrap();
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"op\":\"vers").unwrap();
        let (mut journal, entries) = Journal::open(&path).unwrap();
        assert_eq!(entries, std::slice::from_ref(&first));
        let second = Entry::Version { subject: "s".into(), id: 2 };
        journal.append(std::slice::from_ref(&second)).unwrap();
        assert_eq!(Journal::open(&path).unwrap().1, [first, second]);
        clean(&path);
    }

    #[test]
    fn a_damaged_entry_before_the_end_refuses_to_open() {
        let path = temp("damaged");
        std::fs::write(&path, "garbage\n{\"op\":\"version\",\"subject\":\"s\",\"id\":1}\n").unwrap();
        let error = Journal::open(&path).unwrap_err();
        assert!(error.to_string().contains("malformed entry"), "{error}");
        std::fs::write(&path, "{\"op\":\"version\",\"subject\":\"s\",\"id\":1}\ngarbage\n").unwrap();
        assert!(Journal::open(&path).is_err(), "a complete malformed line is damage, not a cut write");
        clean(&path);
    }
}
