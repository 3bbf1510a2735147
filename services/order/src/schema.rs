//! Diesel schema of the order read models (same columns on PostgreSQL and SQLite).

diesel::table! {
    order_view (order_id) {
        order_id -> Text,
        customer_id -> Text,
        status -> Integer,
        correlation_id -> Text,
        placed_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        view -> Binary,
        due_step_kind -> Nullable<Integer>,
        due_attempt -> Nullable<Integer>,
        due_at -> Nullable<Timestamp>,
    }
}
