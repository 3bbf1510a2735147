CREATE INDEX notification_deliveries_due_idx ON notification_deliveries (next_attempt_at) WHERE status = 'pending';
DROP INDEX notification_deliveries_status_due_idx;
