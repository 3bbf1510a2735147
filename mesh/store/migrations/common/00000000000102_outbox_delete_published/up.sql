-- The relay deletes an outbox row once its event is published instead of stamping
-- `published_at` (an UPDATE writes a new row version and index entries; a DELETE marks the
-- row). The outbox then only holds what is still to publish, so the partial index on
-- unpublished rows is the primary key, one index entry less per append. The events stay in
-- `events`.
DELETE FROM outbox WHERE published_at IS NOT NULL;
DROP INDEX outbox_unpublished_idx;
ALTER TABLE outbox DROP COLUMN published_at;
