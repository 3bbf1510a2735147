//! Diesel schema of the billing read models (the same on PostgreSQL and SQLite).

diesel::table! {
    billing_accounts (customer_id) {
        customer_id -> Text,
        currency -> Text,
        balance -> BigInt,
        credit_limit -> BigInt,
        version -> BigInt,
        opened_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    billing_charges (charge_id) {
        charge_id -> Text,
        order_id -> Text,
        customer_id -> Text,
        amount -> BigInt,
        currency -> Text,
        status -> Integer,
        decline_reason -> Integer,
        decline_detail -> Text,
        provider_reference -> Text,
        refunded -> BigInt,
        version -> BigInt,
        position -> BigInt,
        charged_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    billing_refunds (refund_id) {
        refund_id -> Text,
        charge_id -> Text,
        order_id -> Text,
        customer_id -> Text,
        amount -> BigInt,
        currency -> Text,
        reason -> Text,
        position -> BigInt,
        refunded_at -> Timestamp,
    }
}
