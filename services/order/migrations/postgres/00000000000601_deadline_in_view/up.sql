-- The step an open saga waits on moves into the order's row, so each saga step rewrites one
-- row instead of two (the deadline was a row of its own in order_deadlines). NULL: the
-- order waits on nothing.
ALTER TABLE order_view
    ADD COLUMN due_step_kind INTEGER,
    ADD COLUMN due_attempt INTEGER,
    ADD COLUMN due_at TIMESTAMP;
UPDATE order_view AS v
   SET due_step_kind = d.step_kind, due_attempt = d.attempt, due_at = d.due_at
  FROM order_deadlines AS d
 WHERE d.order_id = v.order_id;
DROP TABLE order_deadlines;
CREATE INDEX order_view_due ON order_view (due_at) WHERE due_at IS NOT NULL;
