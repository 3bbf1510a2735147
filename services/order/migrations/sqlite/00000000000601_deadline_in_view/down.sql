CREATE TABLE order_deadlines (
    order_id    TEXT PRIMARY KEY,
    step_kind   INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    due_at      TIMESTAMP NOT NULL
);
CREATE INDEX order_deadlines_due ON order_deadlines (due_at);
INSERT INTO order_deadlines (order_id, step_kind, attempt, due_at)
SELECT order_id, due_step_kind, due_attempt, due_at FROM order_view WHERE due_at IS NOT NULL;
DROP INDEX order_view_due;
ALTER TABLE order_view DROP COLUMN due_step_kind;
ALTER TABLE order_view DROP COLUMN due_attempt;
ALTER TABLE order_view DROP COLUMN due_at;
