-- The due-delivery reads (`status = $1 AND next_attempt_at <= $2`, and the earliest pending
-- `next_attempt_at`) are prepared statements: in a generic plan the status is a parameter,
-- which cannot prove the partial index's `WHERE status = 'pending'`, so such a plan scanned
-- every delivery ever sent (seen with auto_explain in the saga bench). An index led by the
-- status serves the parameterised predicate in every plan; sent rows sit apart in it.
CREATE INDEX notification_deliveries_status_due_idx ON notification_deliveries (status, next_attempt_at);
DROP INDEX notification_deliveries_due_idx;
