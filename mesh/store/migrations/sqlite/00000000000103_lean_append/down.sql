CREATE TABLE outbox_by_id (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    position BIGINT NOT NULL,
    topic TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
INSERT INTO outbox_by_id (position, topic, created_at, attempts, last_error)
    SELECT position, topic, created_at, attempts, last_error FROM outbox ORDER BY position;
DROP TABLE outbox;
ALTER TABLE outbox_by_id RENAME TO outbox;
CREATE INDEX events_aggregate_type_position_idx ON events (aggregate_type, position);
