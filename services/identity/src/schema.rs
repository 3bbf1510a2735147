//! Diesel schemas of the identity tables, with column types both backends share.

diesel::table! {
    organisations (organisation_id) {
        organisation_id -> Text,
        name -> Text,
        registration_number -> Text,
        country -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (user_id) {
        user_id -> Text,
        email -> Text,
        display_name -> Text,
        password_hash -> Text,
        role -> Text,
        organisation_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(users -> organisations (organisation_id));
diesel::allow_tables_to_appear_in_same_query!(organisations, users);
