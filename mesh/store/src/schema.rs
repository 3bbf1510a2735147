//! Diesel schemas of the event store tables, with column types both backends share.

diesel::table! {
    streams (stream_id) {
        stream_id -> Text,
        aggregate_type -> Text,
        version -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    events (position) {
        position -> BigInt,
        stream_id -> Text,
        aggregate_type -> Text,
        aggregate_id -> Text,
        version -> BigInt,
        event_id -> Text,
        event_type -> Text,
        payload -> Binary,
        correlation_id -> Text,
        causation_id -> Nullable<Text>,
        actor -> Text,
        trace_context -> Nullable<Text>,
        recorded_at -> Timestamp,
        /// The topic the relay publishes the event to; `None`: not published.
        topic -> Nullable<Text>,
    }
}

diesel::table! {
    snapshots (stream_id) {
        stream_id -> Text,
        version -> BigInt,
        state -> Binary,
        taken_at -> Timestamp,
        schema_version -> Integer,
    }
}

diesel::table! {
    /// How far each relay has tailed the log (one relay, `outbox`, today).
    outbox_checkpoints (relay) {
        relay -> Text,
        position -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// Events whose delivery failed, and later events of their keys held back behind them.
    outbox_retries (position) {
        position -> BigInt,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        queued_at -> Timestamp,
    }
}

diesel::table! {
    sequences (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::joinable!(outbox_retries -> events (position));
diesel::allow_tables_to_appear_in_same_query!(
    streams,
    events,
    snapshots,
    outbox_checkpoints,
    outbox_retries,
    sequences
);

diesel::table! {
    inbox (consumer, event_id) {
        consumer -> Text,
        event_id -> Text,
        topic -> Text,
        kafka_partition -> Integer,
        kafka_offset -> BigInt,
        processed_at -> Timestamp,
    }
}

diesel::table! {
    dead_letters (id) {
        id -> BigInt,
        consumer -> Text,
        topic -> Text,
        kafka_partition -> Integer,
        kafka_offset -> BigInt,
        record_key -> Nullable<Text>,
        record_value -> Nullable<Binary>,
        headers -> Text,
        event_id -> Nullable<Text>,
        correlation_id -> Nullable<Text>,
        error -> Text,
        attempts -> Integer,
        status -> Text,
        created_at -> Timestamp,
        resolved_at -> Nullable<Timestamp>,
        resolution -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(inbox, events);
