//! Logs and traces: JSON (or pretty) logs through `tracing`, spans exported over OTLP when a
//! collector is configured, and W3C trace-context propagation either way.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::{LogConfig, TelemetryConfig};

mod lines;
mod writer;

pub(crate) use lines::push_hex;
#[cfg(test)]
pub(crate) use lines::tests::lines as json_lines_of;
pub use lines::{CALL_LINE_TARGET, CallLine, JsonLines, LineFields};
pub use writer::{FLUSH_BYTES, LineWriter, LogWriter};

/// Keeps the tracer provider alive; dropping it writes out the buffered log lines and flushes
/// pending spans.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    log: Option<LogWriter>,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard").field("provider", &self.provider).finish_non_exhaustive()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(log) = self.log.take() {
            let _ = log.flush();
        }
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber. Spans always carry OpenTelemetry trace ids (so a
/// `traceparent` can be propagated to events); they leave the process only when
/// `telemetry.otlp_endpoint` is set. Calling it twice keeps the first subscriber.
pub fn init(log: &LogConfig, telemetry: &TelemetryConfig) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let mut builder = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(telemetry.service_name.clone()).build());
    if !telemetry.otlp_endpoint.is_empty() {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(telemetry.otlp_endpoint.clone())
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let tracer = provider.tracer("fleuve");
    opentelemetry::global::set_tracer_provider(provider.clone());

    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .map_err(|e| anyhow::anyhow!("invalid log level {:?}: {e}", log.level))?;
    // Lines for a person at a terminal are written as they come; JSON lines are batched
    // (`writer`: one `write` per call line was about 6 % of a server's CPU).
    let writer = LogWriter::stderr(match log.format.as_str() {
        "pretty" => std::time::Duration::ZERO,
        _ => std::time::Duration::from_millis(log.flush_interval_ms),
    });
    let json = match log.format.as_str() {
        "pretty" => None,
        "json" => Some(lines::JsonLines::new(telemetry.service_name.clone())),
        "clef" => Some(lines::JsonLines::clef(telemetry.service_name.clone())),
        other => anyhow::bail!("unknown log format {other:?} (expected json, clef or pretty)"),
    };
    let installed = subscriber(filter, &writer, json, tracer).try_init().is_ok();
    if installed {
        writer.flush_on_panic();
    }
    Ok(TelemetryGuard { provider: Some(provider), log: installed.then_some(writer) })
}

/// The subscriber [`init`] installs: `filter` first, then the log lines (JSON or CLEF with
/// `json`, else for a person), the OpenTelemetry spans, and what [`write_call_line`] needs.
fn subscriber(
    filter: EnvFilter,
    writer: &LogWriter,
    json: Option<JsonLines>,
    tracer: opentelemetry_sdk::trace::SdkTracer,
) -> impl tracing::Subscriber + Send + Sync + 'static {
    let fmt = match &json {
        None => tracing_subscriber::fmt::layer().with_writer(writer.clone()).with_target(true).boxed(),
        Some(format) => tracing_subscriber::fmt::layer()
            .with_writer(writer.clone())
            .fmt_fields(lines::LineFields)
            .event_format(format.clone())
            .boxed(),
    };
    let call_lines = json.map(|format| CallLines { format, writer: writer.clone() });
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        // Fleuve's own spans only: the embedded broker traces every frame it serves (hundreds
        // of spans a second), which no trace reader wants in a collector. Of the log events,
        // only warnings and errors become span events (an error marks its span failed): the
        // others, one `grpc call` line per call among them, are in the logs with the span's
        // trace id, and copying each onto its span cost every call. Nothing reads the
        // OpenTelemetry context a span would make current on entry (`span_context` reads it
        // from the span), nor the busy and idle times, source locations and thread names the
        // layer records by default, at every poll for the first two.
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_context_activation(false)
                .with_tracked_inactivity(false)
                .with_location(false)
                .with_threads(false)
                // The trace layer's own lines too: before it writes the call line it asks
                // `tracing::enabled!`, and a per-layer filter that says no to that question
                // leaves its "no" on the thread (tracing-subscriber clears it at the event that
                // never comes) for the next span that asks no filter: the next call's span lost
                // its OpenTelemetry context. Its other lines (a refused token, a request too
                // large) become events of the request span.
                .with_filter(tracing_subscriber::filter::filter_fn(|metadata| {
                    metadata.target().starts_with("fleuve")
                        && (metadata.is_span()
                            || metadata.target() == CALL_LINE_TARGET
                            || *metadata.level() <= tracing::Level::WARN)
                })),
        )
        .with(call_lines)
}

/// Writes the `grpc call` line of a finished call to this process's log, as the fmt layer would
/// write the event (see [`JsonLines::write_call_line`]). Returns `false`, writing nothing, when
/// the current subscriber is not the JSON or CLEF one [`init`] installs: the caller then logs
/// the event. The caller checks that the event would be enabled (its level, target and fields).
pub fn write_call_line(call: &CallLine<'_>) -> bool {
    use std::io::Write as _;

    // The current subscriber's (a test's scoped one is not the one `init` installed).
    tracing::dispatcher::get_default(|dispatch| {
        let Some(CallLines { format, writer }) = dispatch.downcast_ref::<CallLines>() else { return false };
        lines::with_scratch(|line| {
            if format.write_call_line(line, call).is_ok() {
                let _ = writer.for_level(tracing::Level::INFO).write_all(line.as_bytes());
            }
        });
        true
    })
}

/// A layer of the subscriber [`init`] installs with JSON or CLEF lines, holding what
/// [`write_call_line`] writes with: the line format and the writer of its fmt layer.
struct CallLines {
    format: JsonLines,
    writer: LogWriter,
}

impl<S: tracing::Subscriber> Layer<S> for CallLines {
    /// Enables nothing of its own. Without a hint, a layer above one with its own filter (the
    /// OpenTelemetry layer's) leaves the subscriber without a maximum level, so every `trace!`
    /// of hyper and h2 was asked of the filters on every frame (3–4 µs of a server's CPU
    /// per call at 16 clients, `docs/benchmarks.md`).
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::OFF)
    }
}

/// The W3C `traceparent` naming `span` itself (its trace and span ids), to hand to the next
/// hop: a Kafka header, the trace context of the events a handler records. `None` when the
/// span has no OpenTelemetry context (no subscriber installed).
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    span_context(span).map(|span_context| traceparent_of(&span_context))
}

/// The W3C `traceparent` of a span context: `00-<trace id>-<span id>-<flags>`.
pub(crate) fn traceparent_of(span_context: &opentelemetry::trace::SpanContext) -> String {
    let mut text = String::with_capacity(55);
    text.push_str("00-");
    push_hex(&mut text, &span_context.trace_id().to_bytes());
    text.push('-');
    push_hex(&mut text, &span_context.span_id().to_bytes());
    text.push('-');
    push_hex(&mut text, &[span_context.trace_flags().to_u8()]);
    text
}

/// The OpenTelemetry context of `span` (its trace and span ids); `None` when it has none.
pub(crate) fn span_context(span: &tracing::Span) -> Option<opentelemetry::trace::SpanContext> {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
}

/// Makes `span` continue the trace of a W3C `traceparent` (a Kafka header, a stored event's
/// trace context) and returns the trace id the span now belongs to.
///
/// Without an installed OpenTelemetry layer the span has no trace context of its own; the
/// trace id is then read from `traceparent` itself, so logs still carry it.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) -> Option<String> {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    if let Some(traceparent) = traceparent {
        let carrier: std::collections::HashMap<String, String> =
            std::iter::once(("traceparent".to_owned(), traceparent.to_owned())).collect();
        let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
        let _ = span.set_parent(parent);
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    if span_context.is_valid() {
        return Some(span_context.trace_id().to_string());
    }
    traceparent.and_then(|t| t.split('-').nth(1)).filter(|id| id.len() == 32).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::lines::tests::Sink;
    use super::*;

    #[test]
    fn the_subscriber_keeps_the_filters_maximum_level_so_disabled_events_cost_nothing() {
        use tracing::{Subscriber as _, level_filters::LevelFilter};

        // Without a maximum level, every `trace!` of hyper and h2 would be asked of the filters.
        let provider = SdkTracerProvider::builder().build();
        for json in [Some(JsonLines::new("identity")), Some(JsonLines::clef("identity")), None] {
            for (level, max) in
                [(crate::config::DEFAULT_LOG_LEVEL, LevelFilter::INFO), ("warn,fleuve=debug", LevelFilter::DEBUG)]
            {
                let writer = LogWriter::to(Box::new(Sink(Arc::default())), std::time::Duration::ZERO);
                let subscriber =
                    subscriber(EnvFilter::try_new(level).unwrap(), &writer, json.clone(), provider.tracer("test"));
                assert_eq!(subscriber.max_level_hint(), Some(max), "{level}, json: {}", json.is_some());
            }
        }
    }

    #[test]
    fn a_traceparent_is_the_w3c_form_of_the_span_context() {
        use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
        let context = SpanContext::new(
            TraceId::from(0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c_u128),
            SpanId::from(0x00f0_67aa_0ba9_02b7_u64),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        assert_eq!(traceparent_of(&context), "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01");
        let unsampled = SpanContext::new(
            TraceId::from(1_u128),
            SpanId::from(1_u64),
            TraceFlags::default(),
            true,
            TraceState::default(),
        );
        assert_eq!(traceparent_of(&unsampled), "00-00000000000000000000000000000001-0000000000000001-00");
    }

    #[test]
    fn a_span_after_the_call_lines_check_keeps_its_trace() {
        // The trace layer asks whether the call line would be written, writes it itself, and
        // the next call's span on the thread must still be traced.
        let provider = SdkTracerProvider::builder().build();
        let writer = LogWriter::to(Box::new(Sink(Arc::default())), std::time::Duration::ZERO);
        let filter = EnvFilter::try_new(crate::config::DEFAULT_LOG_LEVEL).unwrap();
        let subscriber = subscriber(filter, &writer, Some(JsonLines::new("identity")), provider.tracer("test"));
        tracing::subscriber::with_default(subscriber, || {
            for call in 0..3 {
                assert!(tracing::enabled!(target: CALL_LINE_TARGET, tracing::Level::INFO, elapsed_ms, grpc_code));
                let span = tracing::info_span!("grpc.request");
                assert!(span_context(&span).is_some(), "call {call}: the span has no trace");
            }
        });
    }

    #[test]
    fn the_call_line_goes_to_the_current_subscribers_writer_and_only_to_fleuves() {
        let call = CallLine {
            path: "/fleuve.identity.v1.IdentityService/GetJwks",
            service: "fleuve.identity.v1.IdentityService",
            method: "GetJwks",
            correlation_id: "corr-1",
            trace: None,
            elapsed_ms: 0.5,
            code: 0,
            message: None,
        };
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter::to(Box::new(Sink(buffer.clone())), std::time::Duration::ZERO);
        let fleuve = tracing_subscriber::registry()
            .with(CallLines { format: JsonLines::new("identity"), writer: writer.clone() });
        assert!(tracing::subscriber::with_default(fleuve, || write_call_line(&call)));
        let written = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        assert!(written.contains("\"message\":\"grpc call\"") && written.ends_with("}\n"), "{written}");

        // Another subscriber: nothing written, the caller logs the event.
        buffer.lock().unwrap().clear();
        assert!(!tracing::subscriber::with_default(tracing_subscriber::registry(), || write_call_line(&call)));
        assert!(buffer.lock().unwrap().is_empty());
    }
}
