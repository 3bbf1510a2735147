DROP TABLE sequences;
DROP TABLE outbox;
DROP TABLE snapshots;
DROP TABLE events;
DROP TABLE streams;
