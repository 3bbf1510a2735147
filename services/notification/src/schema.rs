//! Diesel schema of the notification tables (same columns on PostgreSQL and SQLite).

diesel::table! {
    notification_dossiers (dossier_id) {
        dossier_id -> Text,
        applicant_id -> Text,
        organisation_id -> Text,
        equipment -> Text,
    }
}

diesel::table! {
    notification_certificates (certificate_number) {
        certificate_number -> Text,
        dossier_id -> Text,
        applicant_id -> Text,
        organisation_id -> Text,
        equipment -> Text,
        valid_until -> Timestamp,
    }
}

diesel::table! {
    notifications (notification_id) {
        notification_id -> BigInt,
        source_id -> Text,
        kind -> Text,
        recipient_id -> Text,
        subject -> Text,
        body -> Text,
        refs -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    notification_deliveries (notification_id, channel) {
        notification_id -> BigInt,
        channel -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    notification_reminders (certificate_number, kind, valid_until) {
        certificate_number -> Text,
        kind -> Text,
        valid_until -> Timestamp,
        due_at -> Timestamp,
        fired_at -> Nullable<Timestamp>,
        cancelled_at -> Nullable<Timestamp>,
        notification_id -> Nullable<BigInt>,
    }
}

diesel::joinable!(notification_deliveries -> notifications (notification_id));
diesel::allow_tables_to_appear_in_same_query!(notifications, notification_deliveries);
