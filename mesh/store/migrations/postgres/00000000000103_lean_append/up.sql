-- Two index entries fewer per appended event (fleuve bench append: callgrind counted about
-- 10 000 instructions per B-tree insertion on this table, a one-row INSERT costs 53 000):
--
-- * the outbox is keyed by its event's position, which is unique already (one outbox row per
--   event: the event's topic is chosen at append time), instead of its own sequence;
-- * events lose their (aggregate_type, position) index: only a projection rebuild reads by
--   type, and it now scans the log in position order, filtering (rebuilds are rare; appends
--   are the hot path).
DROP INDEX events_aggregate_type_position_idx;
ALTER TABLE outbox DROP CONSTRAINT outbox_pkey;
ALTER TABLE outbox DROP COLUMN id;
ALTER TABLE outbox ADD PRIMARY KEY (position);
