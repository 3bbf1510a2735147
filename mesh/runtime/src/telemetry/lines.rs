//! The JSON log line: one object per event, flat, the same fields in every process, so Seq,
//! Elasticsearch or Loki index them without a parsing rule:
//!
//! `timestamp` (RFC 3339, UTC, µs), `level`, `service`, `target`, `message`, the event's own
//! fields, the fields of the spans it happened in (inner spans win: `correlation_id`,
//! `consumer`, `rpc.method`...), and inside a traced span `trace_id` and `span_id` (W3C hex).
//!
//! The `clef` style is the same line in Seq's Compact Log Event Format: `@t`, `@l` (Seq's level
//! names), `@m`, `@tr` and `@sp` instead of `timestamp`, `level`, `message`, `trace_id` and
//! `span_id`. Seq's GELF input takes a message that is a JSON object as such an event, so the
//! lines Docker's GELF driver carries arrive in Seq with their level, text and properties.

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
    clef: bool,
}

impl JsonLines {
    pub fn new(service: impl Into<String>) -> JsonLines {
        JsonLines { service: service.into(), clef: false }
    }

    /// The same lines in CLEF (Seq's format; see the module).
    pub fn clef(service: impl Into<String>) -> JsonLines {
        JsonLines { service: service.into(), clef: true }
    }
}

/// A flat line's keys in CLEF: `@t`, `@l` (as Seq names levels), `@m`, `@tr`, `@sp`.
pub fn to_clef(mut line: Map<String, Value>) -> Map<String, Value> {
    let mut clef = Map::new();
    for (from, to) in [("timestamp", "@t"), ("level", "@l"), ("message", "@m"), ("trace_id", "@tr"), ("span_id", "@sp")]
    {
        if let Some(value) = line.remove(from) {
            clef.insert(to.into(), value);
        }
    }
    if let Some(Value::String(level)) = clef.get_mut("@l") {
        *level = match level.as_str() {
            "TRACE" => "Verbose",
            "DEBUG" => "Debug",
            "INFO" => "Information",
            "WARN" => "Warning",
            _ => "Error",
        }
        .into();
    }
    // A field of the event named like a CLEF key would be read as one: keep it, renamed.
    for (key, value) in line {
        let key = if key.starts_with('@') { format!("@{key}") } else { key };
        clef.insert(key, value);
    }
    clef
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
        let line = if self.clef { to_clef(line) } else { line };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clef_line_has_seq_s_keys_and_level_names() {
        let line = serde_json::json!({
            "timestamp": "2026-12-06T01:20:00.123456Z", "level": "WARN", "message": "slow",
            "service": "fleuve-order", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "span_id": "00f067aa0ba902b7", "correlation_id": "c-1", "@x": "a field",
        });
        let Value::Object(line) = line else { unreachable!() };
        let clef = Value::Object(to_clef(line));
        assert_eq!(clef["@t"], "2026-12-06T01:20:00.123456Z");
        assert_eq!(clef["@l"], "Warning");
        assert_eq!(clef["@m"], "slow");
        assert_eq!(clef["@tr"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(clef["@sp"], "00f067aa0ba902b7");
        assert_eq!(clef["service"], "fleuve-order");
        assert_eq!(clef["correlation_id"], "c-1");
        // A field named like a CLEF key is escaped with a second @, as CLEF specifies.
        assert_eq!(clef["@@x"], "a field");
        assert!(clef.get("@x").is_none() && clef.get("timestamp").is_none() && clef.get("level").is_none());
        for (level, seq) in [("TRACE", "Verbose"), ("DEBUG", "Debug"), ("INFO", "Information"), ("ERROR", "Error")] {
            let mut line = Map::new();
            line.insert("level".into(), level.into());
            assert_eq!(to_clef(line)["@l"], seq);
        }
    }
}
