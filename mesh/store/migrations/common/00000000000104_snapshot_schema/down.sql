ALTER TABLE snapshots DROP COLUMN schema_version;
