//! The JSON log line: one object per event, flat, the same fields in every process, so Seq,
//! Elasticsearch or Loki index them without a parsing rule:
//!
//! `timestamp` (RFC 3339, UTC, µs), `level`, `service`, `target`, `message`, the event's own
//! fields, the fields of the spans it happened in (inner spans win: `correlation_id`,
//! `consumer`, `rpc.method`...), and inside a traced span `trace_id` and `span_id` (W3C hex).

use std::fmt;

use serde_json::{Map, Value};
use tracing::{Event, Subscriber, field::Field};
use tracing_subscriber::{
    fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, format::Writer},
    registry::LookupSpan,
};

/// Formats each event as one flat JSON object (see the module).
#[derive(Debug, Clone)]
pub struct JsonLines {
    service: String,
}

impl JsonLines {
    pub fn new(service: impl Into<String>) -> JsonLines {
        JsonLines { service: service.into() }
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let metadata = event.metadata();
        let mut line = Map::new();
        line.insert("timestamp".into(), chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true).into());
        line.insert("level".into(), metadata.level().as_str().into());
        line.insert("service".into(), self.service.clone().into());
        line.insert("target".into(), metadata.target().into());
        // The spans' fields, outermost first so that inner spans win. The fmt layer keeps
        // each span's fields as the JSON object its field formatter (JsonFields) wrote.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields.as_str())
                {
                    line.extend(fields);
                }
            }
        }
        // The trace the event belongs to: the innermost span's OpenTelemetry context.
        if event.parent().is_none()
            && let Some(traceparent) = super::traceparent(&tracing::Span::current())
        {
            let mut parts = traceparent.split('-').skip(1);
            if let (Some(trace_id), Some(span_id)) = (parts.next(), parts.next()) {
                line.insert("trace_id".into(), trace_id.into());
                line.insert("span_id".into(), span_id.into());
            }
        }
        event.record(&mut Fields(&mut line));
        // Some libraries log fields only (the embedded broker): every line still has one.
        line.entry("message").or_insert_with(|| Value::String(String::new()));
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Records an event's fields into the line.
struct Fields<'a>(&'a mut Map<String, Value>);

impl tracing::field::Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}
