-- The stock read models (one SQL for both backends). Every row is
-- rewritten from the aggregate's state in the transaction that appends to its stream, so a
-- query reads what the last commit decided. Quantities are BIGINT: the service refuses
-- quantities a signed 64-bit column cannot hold.
CREATE TABLE stock_products (
    product_id TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    available  BIGINT NOT NULL CHECK (available >= 0),
    reserved   BIGINT NOT NULL CHECK (reserved >= 0),
    -- The version of the product's stream the row reflects.
    version    BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- One row per order the saga asked about (a release before any check included).
CREATE TABLE stock_reservations (
    order_id       TEXT PRIMARY KEY,
    -- fleuve.stock.v1.ReservationStatus number.
    status         INTEGER NOT NULL,
    -- JSON array of {product_id, requested, available, unknown_product}; '[]' unless rejected.
    shortages      TEXT NOT NULL,
    release_reason TEXT NOT NULL,
    version        BIGINT NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);
CREATE INDEX stock_reservations_status ON stock_reservations (status, order_id);

-- The lines a reservation holds or gave back, for GetReservation and the product filter of
-- ListReservations.
CREATE TABLE stock_reservation_lines (
    order_id   TEXT NOT NULL REFERENCES stock_reservations (order_id),
    product_id TEXT NOT NULL,
    quantity   BIGINT NOT NULL,
    PRIMARY KEY (order_id, product_id)
);
CREATE INDEX stock_reservation_lines_product ON stock_reservation_lines (product_id, order_id);
