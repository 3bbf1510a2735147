-- The event log is the outbox (docs/outbox-watermark.md). An event to publish carries its
-- topic; the relay tails the log by position behind a watermark that no transaction still in
-- progress can fall below, and keeps one checkpoint row (the last position it handled) instead
-- of writing, and then deleting, one outbox row per event. Deliveries that failed, and the
-- later events of their keys held back behind them, wait in `outbox_retries`.
ALTER TABLE events ADD COLUMN topic TEXT;

CREATE TABLE outbox_checkpoints (
    relay TEXT PRIMARY KEY,
    -- Every event with a topic at or below this position was published, or waits in
    -- outbox_retries.
    position BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE outbox_retries (
    position BIGINT PRIMARY KEY,
    -- 0 for an event held back behind a failed event of its key, never attempted on its own.
    attempts INTEGER NOT NULL,
    last_error TEXT,
    queued_at TIMESTAMP NOT NULL
);

-- What was queued stays queued: the rows' topics move onto their events, failures with their
-- counts into the retries, and the checkpoint starts below the oldest queued row (events in
-- between that were published have no topic now, so they are not published again).
UPDATE events SET topic = outbox.topic FROM outbox WHERE outbox.position = events.position;
INSERT INTO outbox_retries (position, attempts, last_error, queued_at)
    SELECT position, attempts, last_error, created_at FROM outbox WHERE attempts > 0;
INSERT INTO outbox_checkpoints (relay, position, updated_at)
    SELECT 'outbox',
           COALESCE((SELECT min(position) FROM outbox WHERE attempts = 0) - 1,
                    (SELECT max(position) FROM events), 0),
           now() AT TIME ZONE 'UTC';
-- A failed row below the checkpoint is in the retries; one above it is read from the log
-- again, so it leaves the retries (it keeps no count: the relay starts over with it).
DELETE FROM outbox_retries
    WHERE position > (SELECT position FROM outbox_checkpoints WHERE relay = 'outbox');
DROP TABLE outbox;

-- The watermark's invariant: a transaction has its id before it draws a position, whatever
-- its statements (the relay reads the last position drawn, then, in a later statement, the
-- write transactions running, and waits until they have all ended). CASE evaluates its
-- condition first, and
-- pg_current_xact_id() assigns the id. CACHE 1: a session's cached positions would be drawn
-- without the sequence's last_value showing them.
ALTER SEQUENCE events_position_seq CACHE 1;
ALTER TABLE events ALTER COLUMN position SET DEFAULT
    (CASE WHEN pg_current_xact_id() IS NOT NULL THEN nextval('events_position_seq') END);
