-- Event store tables of fleuve-store (SQLite dialect; keep in step with ../../postgres).

CREATE TABLE streams (
    stream_id TEXT PRIMARY KEY NOT NULL,
    aggregate_type TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- AUTOINCREMENT so a global position is never handed out twice, even after the last row is deleted.
CREATE TABLE events (
    position INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    -- No foreign keys on the append path: the append writes stream, events and outbox rows
    -- together (one statement on PostgreSQL), and the RI triggers cost a third of its time.
    stream_id TEXT NOT NULL,
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload BLOB NOT NULL,
    correlation_id TEXT NOT NULL,
    causation_id TEXT,
    actor TEXT NOT NULL,
    trace_context TEXT,
    recorded_at TIMESTAMP NOT NULL,
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version)
);

CREATE INDEX events_aggregate_type_position_idx ON events (aggregate_type, position);

CREATE TABLE snapshots (
    stream_id TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL,
    state BLOB NOT NULL,
    taken_at TIMESTAMP NOT NULL
);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    position BIGINT NOT NULL,
    topic TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    published_at TIMESTAMP,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);

CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE sequences (
    name TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);
