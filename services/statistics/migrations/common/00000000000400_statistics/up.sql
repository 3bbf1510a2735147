-- The statistics read model (one SQL for PostgreSQL and SQLite): one row per
-- dossier, folded from the dossier events. stats_dossiers_rebuild is its shadow, filled by a
-- rebuild from the event store and copied over the live table with INSERT ... SELECT *, so
-- both tables must keep the same columns in the same order.
CREATE TABLE stats_dossiers (
    dossier_id        TEXT PRIMARY KEY,
    organisation_id   TEXT NOT NULL,
    -- fleuve.homologation.v1.EquipmentCategory and DossierStatus numbers.
    category          INTEGER NOT NULL,
    status            INTEGER NOT NULL,
    -- Whether a reviewer was ever assigned: a completed dossier goes back under review if so.
    reviewer_assigned BOOLEAN NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    submitted_at      TIMESTAMP,
    -- 'YYYY-MM' (UTC) of submitted_at, for grouping by month on both dialects.
    submitted_month   TEXT,
    -- Approval, rejection or withdrawal; status tells which.
    decided_at        TIMESTAMP,
    -- JSON array of the rejection reasons, '[]' unless rejected.
    rejection_reasons TEXT NOT NULL,
    fee_currency      TEXT,
    fee_invoiced      BIGINT,
    invoiced_at       TIMESTAMP,
    fee_paid          BIGINT,
    paid_at           TIMESTAMP,
    -- The aggregate version of the last event folded in.
    version           BIGINT NOT NULL
);
CREATE INDEX stats_dossiers_submitted ON stats_dossiers (submitted_at);

CREATE TABLE stats_dossiers_rebuild (
    dossier_id        TEXT PRIMARY KEY,
    organisation_id   TEXT NOT NULL,
    category          INTEGER NOT NULL,
    status            INTEGER NOT NULL,
    reviewer_assigned BOOLEAN NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    submitted_at      TIMESTAMP,
    submitted_month   TEXT,
    decided_at        TIMESTAMP,
    rejection_reasons TEXT NOT NULL,
    fee_currency      TEXT,
    fee_invoiced      BIGINT,
    invoiced_at       TIMESTAMP,
    fee_paid          BIGINT,
    paid_at           TIMESTAMP,
    version           BIGINT NOT NULL
);
