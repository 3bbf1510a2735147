-- A snapshot records the schema of its state's encoding: one written by an older encoding is
-- ignored by the loader (the stream is replayed) instead of being misread.
ALTER TABLE snapshots ADD COLUMN schema_version INTEGER NOT NULL DEFAULT 0;
