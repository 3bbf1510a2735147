ALTER TABLE outbox DROP CONSTRAINT outbox_pkey;
ALTER TABLE outbox ADD COLUMN id BIGSERIAL;
ALTER TABLE outbox ADD PRIMARY KEY (id);
CREATE INDEX events_aggregate_type_position_idx ON events (aggregate_type, position);
