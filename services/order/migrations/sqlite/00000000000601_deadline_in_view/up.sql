-- The step an open saga waits on moves into the order's row, so each saga step rewrites one
-- row instead of two (the deadline was a row of its own in order_deadlines). NULL: the
-- order waits on nothing.
ALTER TABLE order_view ADD COLUMN due_step_kind INTEGER;
ALTER TABLE order_view ADD COLUMN due_attempt INTEGER;
ALTER TABLE order_view ADD COLUMN due_at TIMESTAMP;
UPDATE order_view
   SET due_step_kind = (SELECT d.step_kind FROM order_deadlines AS d WHERE d.order_id = order_view.order_id),
       due_attempt = (SELECT d.attempt FROM order_deadlines AS d WHERE d.order_id = order_view.order_id),
       due_at = (SELECT d.due_at FROM order_deadlines AS d WHERE d.order_id = order_view.order_id);
DROP TABLE order_deadlines;
CREATE INDEX order_view_due ON order_view (due_at) WHERE due_at IS NOT NULL;
