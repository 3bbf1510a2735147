-- The files of uploaded documents (UploadDocument), written in the transaction that appends
-- the dossier's DocumentAttached event: a document is never attached without its file, nor a
-- file kept for a refused upload.
CREATE TABLE document_files (
    document_id TEXT PRIMARY KEY,
    dossier_id  TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size_bytes  BIGINT NOT NULL,
    content     BYTEA NOT NULL,
    stored_at   TIMESTAMP NOT NULL
);
CREATE INDEX document_files_dossier ON document_files (dossier_id);
