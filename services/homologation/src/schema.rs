//! Diesel schema of the homologation read models (same columns on PostgreSQL and SQLite).

diesel::table! {
    dossier_view (dossier_id) {
        dossier_id -> Text,
        organisation_id -> Text,
        applicant_id -> Text,
        status -> Integer,
        payment_status -> Integer,
        reviewer_id -> Nullable<Text>,
        brand -> Text,
        model -> Text,
        category -> Integer,
        created_at -> Timestamp,
        submitted_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
        version -> BigInt,
        view -> Binary,
    }
}

diesel::table! {
    certificate_view (certificate_number) {
        certificate_number -> Text,
        dossier_id -> Text,
        organisation_id -> Text,
        brand -> Text,
        model -> Text,
        brand_key -> Text,
        model_key -> Text,
        category -> Integer,
        status -> Integer,
        valid_from -> Timestamp,
        valid_until -> Timestamp,
        version -> BigInt,
        view -> Binary,
    }
}

/// The public certificate registry and its rebuild shadow: one column list for both, so that
/// `INSERT INTO public_certificates SELECT * FROM public_certificates_rebuild` stays right.
macro_rules! public_certificate_table {
    ($($table:ident),*) => {$(
        diesel::table! {
            $table (certificate_number) {
                certificate_number -> Text,
                status -> Integer,
                holder_organisation_id -> Text,
                brand -> Text,
                model -> Text,
                brand_key -> Text,
                model_key -> Text,
                category -> Integer,
                valid_from -> Timestamp,
                valid_until -> Timestamp,
                dossier_id -> Text,
                status_reason -> Text,
                version -> BigInt,
            }
        }
    )*};
}

public_certificate_table!(public_certificates, public_certificates_rebuild);

diesel::table! {
    /// Uploaded documents' files, one row per document.
    document_files (document_id) {
        document_id -> Text,
        dossier_id -> Text,
        media_type -> Text,
        sha256 -> Text,
        size_bytes -> BigInt,
        content -> Binary,
        stored_at -> Timestamp,
    }
}
