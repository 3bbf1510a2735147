-- The public certificate registry, kept by the certificate-registry projection from the
-- certificate events (eventually consistent), and its shadow filled by a rebuild.
-- Both tables must keep the same columns in the same order: a rebuild copies with SELECT *.
CREATE TABLE public_certificates (
    certificate_number     TEXT PRIMARY KEY,
    status                 INTEGER NOT NULL,
    holder_organisation_id TEXT NOT NULL,
    brand                  TEXT NOT NULL,
    model                  TEXT NOT NULL,
    brand_key              TEXT NOT NULL,
    model_key              TEXT NOT NULL,
    category               INTEGER NOT NULL,
    valid_from             TIMESTAMP NOT NULL,
    valid_until            TIMESTAMP NOT NULL,
    dossier_id             TEXT NOT NULL,
    status_reason          TEXT NOT NULL,
    version                BIGINT NOT NULL
);
CREATE INDEX public_certificates_brand ON public_certificates (brand_key text_pattern_ops, model_key text_pattern_ops);
CREATE INDEX public_certificates_model ON public_certificates (model_key text_pattern_ops);

CREATE TABLE public_certificates_rebuild (
    certificate_number     TEXT PRIMARY KEY,
    status                 INTEGER NOT NULL,
    holder_organisation_id TEXT NOT NULL,
    brand                  TEXT NOT NULL,
    model                  TEXT NOT NULL,
    brand_key              TEXT NOT NULL,
    model_key              TEXT NOT NULL,
    category               INTEGER NOT NULL,
    valid_from             TIMESTAMP NOT NULL,
    valid_until            TIMESTAMP NOT NULL,
    dossier_id             TEXT NOT NULL,
    status_reason          TEXT NOT NULL,
    version                BIGINT NOT NULL
);
CREATE INDEX public_certificates_rebuild_brand ON public_certificates_rebuild (brand_key text_pattern_ops, model_key text_pattern_ops);
CREATE INDEX public_certificates_rebuild_model ON public_certificates_rebuild (model_key text_pattern_ops);
