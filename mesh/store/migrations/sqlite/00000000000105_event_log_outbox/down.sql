CREATE TABLE outbox (
    position INTEGER PRIMARY KEY NOT NULL,
    topic TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
INSERT INTO outbox (position, topic, created_at, attempts, last_error)
    SELECT events.position, events.topic, outbox_retries.queued_at, outbox_retries.attempts,
           outbox_retries.last_error
    FROM outbox_retries JOIN events ON events.position = outbox_retries.position;
INSERT OR IGNORE INTO outbox (position, topic, created_at)
    SELECT position, topic, recorded_at FROM events
    WHERE topic IS NOT NULL
      AND position > (SELECT position FROM outbox_checkpoints WHERE relay = 'outbox');
DROP TABLE outbox_retries;
DROP TABLE outbox_checkpoints;
ALTER TABLE events DROP COLUMN topic;
