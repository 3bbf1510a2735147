//! Diesel schema of the stock read models (same columns on PostgreSQL and SQLite).

diesel::table! {
    stock_products (product_id) {
        product_id -> Text,
        name -> Text,
        available -> BigInt,
        reserved -> BigInt,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        price_amount -> Nullable<BigInt>,
        price_currency -> Nullable<Text>,
    }
}

diesel::table! {
    stock_reservations (order_id) {
        order_id -> Text,
        status -> Integer,
        shortages -> Text,
        release_reason -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    stock_reservation_lines (order_id, product_id) {
        order_id -> Text,
        product_id -> Text,
        quantity -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(stock_reservations, stock_reservation_lines);
