ALTER TABLE events ALTER COLUMN position SET DEFAULT nextval('events_position_seq');
CREATE TABLE outbox (
    position BIGINT PRIMARY KEY,
    topic TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
-- Everything still to publish: the retries, and the events with a topic past the checkpoint.
INSERT INTO outbox (position, topic, created_at, attempts, last_error)
    SELECT events.position, events.topic, outbox_retries.queued_at, outbox_retries.attempts,
           outbox_retries.last_error
    FROM outbox_retries JOIN events ON events.position = outbox_retries.position;
INSERT INTO outbox (position, topic, created_at)
    SELECT position, topic, recorded_at FROM events
    WHERE topic IS NOT NULL
      AND position > (SELECT position FROM outbox_checkpoints WHERE relay = 'outbox')
    ON CONFLICT (position) DO NOTHING;
DROP TABLE outbox_retries;
DROP TABLE outbox_checkpoints;
ALTER TABLE events DROP COLUMN topic;
