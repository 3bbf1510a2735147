-- Read models of the order service, written in the same transaction as the order's events.
CREATE TABLE order_view (
    order_id        TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    status          INTEGER NOT NULL,
    -- The correlation id of PlaceOrder: deadline firings of the saga carry it on.
    correlation_id  TEXT NOT NULL,
    placed_at       TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    version         BIGINT NOT NULL,
    view            BLOB NOT NULL
);
CREATE INDEX order_view_customer ON order_view (customer_id, order_id);
CREATE INDEX order_view_status ON order_view (status, order_id);

-- The step each open saga waits on and until when (at most one per order); the deadline
-- ticker feeds the due ones back to the orchestrator. It survives restarts with the data.
CREATE TABLE order_deadlines (
    order_id    TEXT PRIMARY KEY,
    step_kind   INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    due_at      TIMESTAMP NOT NULL
);
CREATE INDEX order_deadlines_due ON order_deadlines (due_at);
