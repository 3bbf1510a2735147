-- See ../../postgres/00000000000105_event_log_outbox/up.sql. SQLite has one writer at a
-- time, which draws its positions under the write lock: positions are committed in order, so
-- the relay needs no watermark, only its checkpoint.
ALTER TABLE events ADD COLUMN topic TEXT;

CREATE TABLE outbox_checkpoints (
    relay TEXT PRIMARY KEY NOT NULL,
    position BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE outbox_retries (
    position INTEGER PRIMARY KEY NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    queued_at TIMESTAMP NOT NULL
);

UPDATE events SET topic = (SELECT topic FROM outbox WHERE outbox.position = events.position)
    WHERE position IN (SELECT position FROM outbox);
INSERT INTO outbox_retries (position, attempts, last_error, queued_at)
    SELECT position, attempts, last_error, created_at FROM outbox WHERE attempts > 0;
INSERT INTO outbox_checkpoints (relay, position, updated_at)
    SELECT 'outbox',
           COALESCE((SELECT min(position) FROM outbox WHERE attempts = 0) - 1,
                    (SELECT max(position) FROM events), 0),
           strftime('%Y-%m-%d %H:%M:%f', 'now');
DELETE FROM outbox_retries
    WHERE position > (SELECT position FROM outbox_checkpoints WHERE relay = 'outbox');
DROP TABLE outbox;
