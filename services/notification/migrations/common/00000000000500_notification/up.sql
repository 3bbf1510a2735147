-- Tables of the notification service (the same SQL for PostgreSQL and SQLite).

-- Who hears about a dossier, learned from DossierCreated.
CREATE TABLE notification_dossiers (
    dossier_id      TEXT PRIMARY KEY,
    applicant_id    TEXT NOT NULL,
    organisation_id TEXT NOT NULL,
    -- "brand model", for the wording of messages.
    equipment       TEXT NOT NULL
);

-- Who hears about a certificate and when it ends, learned from CertificateIssued/Renewed.
CREATE TABLE notification_certificates (
    certificate_number TEXT PRIMARY KEY,
    dossier_id         TEXT NOT NULL,
    applicant_id       TEXT NOT NULL,
    organisation_id    TEXT NOT NULL,
    equipment          TEXT NOT NULL,
    valid_until        TIMESTAMP NOT NULL
);

-- One notification per (source, kind): a redelivered event or a re-fired reminder finds its
-- row. notification_id comes from the gapless counter 'notification' (fleuve-store sequences),
-- whose row lock orders ids as their transactions commit, so a reader that saw id n has seen
-- every id below n.
CREATE TABLE notifications (
    notification_id BIGINT PRIMARY KEY,
    source_id       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    recipient_id    TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    -- JSON object of string references (dossier_id, certificate_number, ...).
    refs            TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    CONSTRAINT notifications_source_kind_key UNIQUE (source_id, kind)
);
CREATE INDEX notifications_recipient_idx ON notifications (recipient_id, notification_id);

-- One row per notification and channel. status: 'pending', 'sent', 'failed'. A worker claims a
-- due row by moving next_attempt_at forward by a lease, so a crashed send is retried.
CREATE TABLE notification_deliveries (
    notification_id BIGINT NOT NULL REFERENCES notifications (notification_id) ON DELETE CASCADE,
    channel         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at TIMESTAMP,
    last_error      TEXT,
    delivered_at    TIMESTAMP,
    updated_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (notification_id, channel)
);
CREATE INDEX notification_deliveries_due_idx ON notification_deliveries (next_attempt_at) WHERE status = 'pending';

-- The durable scheduler: certificate expiry reminders, one per (certificate, kind, end of
-- validity). Renewal cancels the open ones and schedules new ones; revocation and expiry
-- cancel. A row is due when due_at has passed and it is neither fired nor cancelled.
CREATE TABLE notification_reminders (
    certificate_number TEXT NOT NULL,
    kind               TEXT NOT NULL,
    valid_until        TIMESTAMP NOT NULL,
    due_at             TIMESTAMP NOT NULL,
    fired_at           TIMESTAMP,
    cancelled_at       TIMESTAMP,
    notification_id    BIGINT,
    PRIMARY KEY (certificate_number, kind, valid_until)
);
CREATE INDEX notification_reminders_due_idx ON notification_reminders (due_at)
    WHERE fired_at IS NULL AND cancelled_at IS NULL;
