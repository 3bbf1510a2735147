-- Consumer bookkeeping of fleuve-store (PostgreSQL dialect; keep in step with ../../sqlite).

-- One row per event a consumer applied, written in the transaction of the consumer's own
-- writes: a redelivered event finds its row and changes nothing.
CREATE TABLE inbox (
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    kafka_partition INTEGER NOT NULL,
    kafka_offset BIGINT NOT NULL,
    processed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- Records a consumer could not apply, kept with everything needed to apply them later.
-- status: 'parked' (waiting), 'redriven' (applied by a redrive), 'discarded'.
CREATE TABLE dead_letters (
    id BIGSERIAL PRIMARY KEY,
    consumer TEXT NOT NULL,
    topic TEXT NOT NULL,
    kafka_partition INTEGER NOT NULL,
    kafka_offset BIGINT NOT NULL,
    record_key TEXT,
    record_value BYTEA,
    headers TEXT NOT NULL,
    event_id TEXT,
    correlation_id TEXT,
    error TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    resolved_at TIMESTAMP,
    -- How it was resolved: redriven, or discarded with the operator's reason.
    resolution TEXT
);

CREATE INDEX dead_letters_parked_key_idx ON dead_letters (consumer, topic, record_key) WHERE status = 'parked';
