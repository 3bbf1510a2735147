-- Event store tables of fleuve-store (PostgreSQL dialect; keep in step with ../../sqlite).

-- One row per stream; appenders lock it with their first statement, which serializes them.
CREATE TABLE streams (
    stream_id TEXT PRIMARY KEY,
    aggregate_type TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE events (
    position BIGSERIAL PRIMARY KEY,
    -- No foreign keys on the append path: the append writes stream, events and outbox rows
    -- together (one statement on PostgreSQL), and the RI triggers cost a third of its time.
    stream_id TEXT NOT NULL,
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload BYTEA NOT NULL,
    correlation_id TEXT NOT NULL,
    causation_id TEXT,
    actor TEXT NOT NULL,
    trace_context TEXT,
    recorded_at TIMESTAMP NOT NULL,
    -- Named so the store can tell a duplicate event id from a version race.
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version)
);

CREATE INDEX events_aggregate_type_position_idx ON events (aggregate_type, position);

CREATE TABLE snapshots (
    stream_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    state BYTEA NOT NULL,
    taken_at TIMESTAMP NOT NULL
);

CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    position BIGINT NOT NULL,
    topic TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    published_at TIMESTAMP,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);

CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE sequences (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
