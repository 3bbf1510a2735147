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
