-- Read models of the homologation service, written in the same transaction as the events.
CREATE TABLE dossier_view (
    dossier_id      TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL,
    applicant_id    TEXT NOT NULL,
    status          INTEGER NOT NULL,
    payment_status  INTEGER NOT NULL,
    reviewer_id     TEXT,
    brand           TEXT NOT NULL,
    model           TEXT NOT NULL,
    category        INTEGER NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    submitted_at    TIMESTAMP,
    updated_at      TIMESTAMP NOT NULL,
    version         BIGINT NOT NULL,
    view            BYTEA NOT NULL
);
CREATE INDEX dossier_view_org ON dossier_view (organisation_id, dossier_id);
CREATE INDEX dossier_view_status ON dossier_view (status, dossier_id);
CREATE INDEX dossier_view_reviewer ON dossier_view (reviewer_id, status, submitted_at);

CREATE TABLE certificate_view (
    certificate_number TEXT PRIMARY KEY,
    dossier_id         TEXT NOT NULL UNIQUE,
    organisation_id    TEXT NOT NULL,
    brand              TEXT NOT NULL,
    model              TEXT NOT NULL,
    brand_key          TEXT NOT NULL,
    model_key          TEXT NOT NULL,
    category           INTEGER NOT NULL,
    status             INTEGER NOT NULL,
    valid_from         TIMESTAMP NOT NULL,
    valid_until        TIMESTAMP NOT NULL,
    version            BIGINT NOT NULL,
    view               BYTEA NOT NULL
);
CREATE INDEX certificate_view_brand ON certificate_view (brand_key text_pattern_ops, model_key text_pattern_ops);
CREATE INDEX certificate_view_model ON certificate_view (model_key text_pattern_ops);
