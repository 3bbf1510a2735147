//! Diesel schema of the statistics read model: the live table and its rebuild shadow, column
//! for column the same (same on PostgreSQL and SQLite).

diesel::table! {
    stats_dossiers (dossier_id) {
        dossier_id -> Text,
        organisation_id -> Text,
        category -> Integer,
        status -> Integer,
        reviewer_assigned -> Bool,
        created_at -> Timestamp,
        submitted_at -> Nullable<Timestamp>,
        submitted_month -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        rejection_reasons -> Text,
        fee_currency -> Nullable<Text>,
        fee_invoiced -> Nullable<BigInt>,
        invoiced_at -> Nullable<Timestamp>,
        fee_paid -> Nullable<BigInt>,
        paid_at -> Nullable<Timestamp>,
        version -> BigInt,
    }
}

diesel::table! {
    stats_dossiers_rebuild (dossier_id) {
        dossier_id -> Text,
        organisation_id -> Text,
        category -> Integer,
        status -> Integer,
        reviewer_assigned -> Bool,
        created_at -> Timestamp,
        submitted_at -> Nullable<Timestamp>,
        submitted_month -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        rejection_reasons -> Text,
        fee_currency -> Nullable<Text>,
        fee_invoiced -> Nullable<BigInt>,
        invoiced_at -> Nullable<Timestamp>,
        fee_paid -> Nullable<BigInt>,
        paid_at -> Nullable<Timestamp>,
        version -> BigInt,
    }
}
