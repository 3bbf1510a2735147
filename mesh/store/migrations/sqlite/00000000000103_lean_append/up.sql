-- See ../../postgres/00000000000103_lean_append/up.sql: the outbox is keyed by its event's
-- position, and events lose their (aggregate_type, position) index.
DROP INDEX events_aggregate_type_position_idx;
CREATE TABLE outbox_by_position (
    position INTEGER PRIMARY KEY NOT NULL,
    topic TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
INSERT INTO outbox_by_position (position, topic, created_at, attempts, last_error)
    SELECT position, topic, created_at, attempts, last_error FROM outbox ORDER BY id;
DROP TABLE outbox;
ALTER TABLE outbox_by_position RENAME TO outbox;
