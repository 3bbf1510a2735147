-- Identity tables of fleuve-identity (SQLite dialect; keep in step with ../../postgres).

CREATE TABLE organisations (
    organisation_id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    registration_number TEXT NOT NULL,
    country TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    CONSTRAINT organisations_registration_number_key UNIQUE (registration_number)
);

CREATE TABLE users (
    user_id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('applicant', 'reviewer', 'admin')),
    organisation_id TEXT NOT NULL REFERENCES organisations (organisation_id),
    created_at TIMESTAMP NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE INDEX users_organisation_id_idx ON users (organisation_id, user_id);
