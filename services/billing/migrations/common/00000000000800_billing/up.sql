-- The billing read models (the same SQL for PostgreSQL and SQLite), written in the
-- transaction of every append to the account and charge streams, so queries read their own
-- writes. The streams stay the record: each row can be rebuilt by replaying them.

-- One row per open account (stream "account-<customer id>").
CREATE TABLE billing_accounts (
    customer_id  TEXT PRIMARY KEY,
    currency     TEXT NOT NULL,
    -- Minor units; may be negative down to minus the credit limit.
    balance      BIGINT NOT NULL,
    credit_limit BIGINT NOT NULL,
    -- The account stream's version this row reflects.
    version      BIGINT NOT NULL,
    opened_at    TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);

-- One row per decided charge (stream "charge-<order id>"): at most one per order.
CREATE TABLE billing_charges (
    charge_id          TEXT PRIMARY KEY,
    order_id           TEXT NOT NULL UNIQUE,
    customer_id        TEXT NOT NULL,
    amount             BIGINT NOT NULL,
    currency           TEXT NOT NULL,
    -- fleuve.billing.v1.ChargeStatus and DeclineReason numbers.
    status             INTEGER NOT NULL,
    decline_reason     INTEGER NOT NULL,
    decline_detail     TEXT NOT NULL,
    provider_reference TEXT NOT NULL,
    -- Sum of the refunds, minor units.
    refunded           BIGINT NOT NULL,
    version            BIGINT NOT NULL,
    -- Event-store position of the decision: the listing order and the page-token key.
    position           BIGINT NOT NULL,
    charged_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL
);
CREATE INDEX billing_charges_position ON billing_charges (position);
CREATE INDEX billing_charges_customer ON billing_charges (customer_id, position);

-- One row per refund. Refund ids are unique across charges: the application refuses an id
-- already used for another order.
CREATE TABLE billing_refunds (
    refund_id   TEXT PRIMARY KEY,
    charge_id   TEXT NOT NULL,
    order_id    TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    currency    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    -- Event-store position of the refund: the listing order and the page-token key.
    position    BIGINT NOT NULL,
    refunded_at TIMESTAMP NOT NULL
);
CREATE INDEX billing_refunds_charge ON billing_refunds (charge_id, position);
CREATE INDEX billing_refunds_position ON billing_refunds (position);
CREATE INDEX billing_refunds_customer ON billing_refunds (customer_id, position);
