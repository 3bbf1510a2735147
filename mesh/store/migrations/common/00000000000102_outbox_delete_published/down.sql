ALTER TABLE outbox ADD COLUMN published_at TIMESTAMP;
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
