//! The JSON log line: one object per event, flat, the same fields in every process, so Seq,
//! Elasticsearch or Loki index them without a parsing rule:
//!
//! `timestamp` (RFC 3339, UTC, µs), `level`, `service`, `target` and `message` first; then the
//! fields of the spans the event happened in (`correlation_id`, `consumer`, `rpc.method`...;
//! not the `otel.` directives that name and kind the exported span),
//! inside a traced span `trace_id` and `span_id` (W3C hex), and the event's own fields. A name
//! is written once: an inner span's field wins over an outer one's, the event's own over both.
//! The four fixed keys always keep their meaning: a field of one of those names is written as
//! `field.<name>`.
//!
//! The `clef` style is the same line in Seq's Compact Log Event Format: `@t`, `@l` (Seq's level
//! names), `@m`, `@tr` and `@sp` instead of `timestamp`, `level`, `message`, `trace_id` and
//! `span_id`, and a field whose name starts with `@` gets a second one. Seq's GELF input takes a
//! message that is a JSON object as such an event, so the lines Docker's GELF driver carries
//! arrive in Seq with their level, text and properties.
//!
//! A line is written straight from the fields, without building a JSON tree. A span keeps its
//! fields (in its extensions, through [`LineFields`]) as ready-made `"name":value` entries, one
//! per line of the text, and an event's line copies them. The `grpc call` line, one per
//! request, is written from the call's own values instead ([`JsonLines::write_call_line`]).

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::{
    field::RecordFields,
    fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, format::Writer},
    registry::LookupSpan,
};

/// Formats each event as one flat JSON object (see the module). Use it with [`LineFields`].
#[derive(Debug, Clone)]
pub struct JsonLines {
    service: String,
    clef: bool,
}

impl JsonLines {
    pub fn new(service: impl Into<String>) -> JsonLines {
        JsonLines { service: service.into(), clef: false }
    }

    /// The same lines in CLEF (see the module).
    pub fn clef(service: impl Into<String>) -> JsonLines {
        JsonLines { service: service.into(), clef: true }
    }

    /// Writes `"key":` for `name`; `renamed` for a field named like a fixed key.
    fn write_key(&self, writer: &mut impl fmt::Write, name: &str, renamed: bool) -> fmt::Result {
        // Pieces, not `write!`: formatting machinery cost more than the key itself.
        let (prefix, key) = match self.key(name) {
            _ if renamed => ("\"field.", name),
            Key::Plain(key) => ("\"", key),
            Key::Escaped(key) => ("\"@", key),
        };
        writer.write_str(prefix)?;
        writer.write_str(key)?;
        writer.write_str("\":")
    }

    /// The key a field is written under.
    fn key<'a>(&self, name: &'a str) -> Key<'a> {
        if !self.clef {
            return Key::Plain(name);
        }
        match name {
            "timestamp" => Key::Plain("@t"),
            "level" => Key::Plain("@l"),
            "message" => Key::Plain("@m"),
            "trace_id" => Key::Plain("@tr"),
            "span_id" => Key::Plain("@sp"),
            // CLEF reserves `@` names: a field named so is kept with a second `@`.
            name if name.starts_with('@') => Key::Escaped(name),
            name => Key::Plain(name),
        }
    }
}

enum Key<'a> {
    Plain(&'a str),
    Escaped(&'a str),
}

/// The fields formatter of the spans (`fmt::layer().fmt_fields(LineFields)`): each field as a
/// `"name":value` entry followed by a newline (which JSON text never holds unescaped), so an
/// event's line copies them without parsing; a later `record` on the span replaces the entry
/// of its name.
#[derive(Debug, Clone, Copy, Default)]
pub struct LineFields;

impl<'writer> FormatFields<'writer> for LineFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        // Written whole into the span's text: its `String` starts empty, and entry by entry it
        // grew five or six times for a request span; one write allocates it once, at its size.
        with_scratch(|text| {
            let mut entries = Entries { out: &mut *text, result: Ok(()) };
            fields.record(&mut entries);
            entries.result?;
            writer.write_str(text)
        })
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut added = String::new();
        let mut recorder = Entries { out: &mut added, result: Ok(()) };
        fields.record(&mut recorder);
        recorder.result?;
        // A name recorded again replaces its entry, so a span recorded often stays its size.
        let names: Vec<&str> = entries(&added).map(|(name, _)| name).collect();
        if entries(&current.fields).any(|(name, _)| names.contains(&name)) {
            let kept: String = current
                .fields
                .split_inclusive('\n')
                .filter(|entry| split_entry(entry).is_none_or(|(name, _)| !names.contains(&name)))
                .collect();
            current.fields = kept;
        }
        // Entries end in a newline already: no separator, unlike the default.
        current.fields.push_str(&added);
        Ok(())
    }
}

/// Runs `f` with this thread's scratch text, empty: a line or a span's entries are written there
/// before they are copied out whole, with no allocation of their own. Re-entered (a field's
/// Display that opens or records into a span), or while the thread ends, `f` gets a new text.
pub(crate) fn with_scratch<T>(f: impl FnOnce(&mut String) -> T) -> T {
    thread_local! {
        static SCRATCH: std::cell::RefCell<String> = std::cell::RefCell::new(String::with_capacity(512));
    }
    let mut f = Some(f);
    let mut run = |text: &mut String| {
        text.clear();
        let out = f.take().expect("run once")(text);
        // A long value does not keep its size for the thread's life.
        if text.capacity() > 8 * 1024 {
            *text = String::with_capacity(512);
        }
        out
    };
    match SCRATCH.try_with(|text| text.try_borrow_mut().ok().map(|mut text| run(&mut text))) {
        Ok(Some(out)) => out,
        _ => run(&mut String::new()),
    }
}

/// One entry: its name as written (escaped, without quotes) and its JSON value.
type Entry<'a> = (&'a str, &'a str);

/// The entries of a [`LineFields`] text, in order.
fn entries(text: &str) -> impl Iterator<Item = Entry<'_>> {
    text.split('\n').filter_map(split_entry)
}

/// One `"name":value` entry (a trailing newline allowed) as its name and value.
fn split_entry(entry: &str) -> Option<Entry<'_>> {
    let quoted = entry.strip_prefix('"')?;
    let mut escaped = false;
    let end = quoted.char_indices().find_map(|(i, c)| {
        let closes = c == '"' && !escaped;
        escaped = c == '\\' && !escaped;
        closes.then_some(i)
    })?;
    let value = quoted[end + 1..].strip_prefix(':')?;
    Some((&quoted[..end], value.strip_suffix('\n').unwrap_or(value)))
}

/// The keys every line starts with, which no field overrides.
const FIXED_KEYS: [&str; 4] = ["timestamp", "level", "service", "target"];

/// Only with [`LineFields`], the form of the span fields it copies.
impl<S> FormatEvent<S, LineFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, LineFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        // The trace the event belongs to: the innermost span's OpenTelemetry context.
        let mut traced = String::new();
        if event.parent().is_none()
            && let Some(span) = super::span_context(&tracing::Span::current())
        {
            write!(traced, "\"trace_id\":\"{}\"\n\"span_id\":\"{}\"\n", span.trace_id(), span.span_id())?;
        }
        let mut own = String::with_capacity(128);
        let mut recorder = Entries { out: &mut own, result: Ok(()) };
        event.record(&mut recorder);
        recorder.result?;

        // Every other entry, the winning ones last: the spans' from the outermost, the trace,
        // then the event's own. The spans' texts stay borrowed from their extensions.
        let spans: Vec<_> = ctx.event_scope().into_iter().flat_map(|scope| scope.from_root()).collect();
        let extensions: Vec<_> = spans.iter().map(|span| span.extensions()).collect();
        let mut all: Vec<Entry<'_>> = Vec::with_capacity(32);
        for fields in extensions.iter().filter_map(|e| e.get::<FormattedFields<LineFields>>()) {
            all.extend(entries(fields.as_str()));
        }
        all.extend(entries(&traced));
        all.extend(entries(&own));

        self.write_line(&mut writer, metadata.level(), metadata.target(), &all)
    }
}

impl JsonLines {
    /// `{`, then the fixed keys with their values (`timestamp` to `target`), without a comma after.
    fn write_head(&self, writer: &mut impl fmt::Write, level: &Level, target: &str) -> fmt::Result {
        let level = if self.clef { seq_level(level) } else { level.as_str() };
        writer.write_char('{')?;
        self.write_key(writer, "timestamp", false)?;
        writer.write_char('"')?;
        write_timestamp(writer, std::time::SystemTime::now())?;
        writer.write_str("\",")?;
        self.write_key(writer, "level", false)?;
        writer.write_char('"')?;
        writer.write_str(level)?;
        writer.write_str("\",")?;
        self.write_key(writer, "service", false)?;
        write_json_str(writer, &self.service)?;
        writer.write_char(',')?;
        self.write_key(writer, "target", false)?;
        write_json_str(writer, target)
    }

    /// One line: the fixed keys, written as they are (no field overrides them), then `message`,
    /// then each other name of `all` once, in the order of first appearance, with the value of
    /// its last entry.
    fn write_line(&self, writer: &mut impl fmt::Write, level: &Level, target: &str, all: &[Entry<'_>]) -> fmt::Result {
        self.write_head(writer, level, target)?;
        let winner = |name: &str| all.iter().rev().find(|(n, _)| *n == name).map(|(_, value)| *value);
        writer.write_char(',')?;
        self.write_key(writer, "message", false)?;
        writer.write_str(winner("message").unwrap_or("\"\""))?;
        for (i, (name, _)) in all.iter().enumerate() {
            if *name == "message" || all[..i].iter().any(|(n, _)| n == name) {
                continue;
            }
            writer.write_char(',')?;
            self.write_key(writer, name, FIXED_KEYS.contains(name))?;
            writer.write_str(winner(name).unwrap_or("null"))?;
        }
        writer.write_str("}\n")
    }

    /// The `grpc call` line of a finished call, as the fmt layer would write the event that
    /// [`crate::grpc::TraceLayer`] logs inside its request span, written from the call's own
    /// values: no span look-up, no parsing of the span's fields, no event dispatch. That line
    /// was the largest part of what the server stack cost a call.
    pub fn write_call_line(&self, out: &mut String, call: &CallLine<'_>) -> fmt::Result {
        // Written in place: the names are distinct and none is a fixed key, so the line is
        // what `write_line` makes of the same entries, without collecting them first.
        self.write_head(out, &Level::INFO, CALL_LINE_TARGET)?;
        let mut entry = |name: &str, value: &str| -> fmt::Result {
            out.push(',');
            self.write_key(out, name, false)?;
            write_json_str(out, value)
        };
        entry("message", if call.message.is_some() { "grpc call failed" } else { "grpc call" })?;
        // The request span's fields, in the order it declares them (not its `otel.` ones).
        entry("rpc.system", "grpc")?;
        entry("rpc.service", call.service)?;
        entry("rpc.method", call.method)?;
        entry("correlation_id", call.correlation_id)?;
        if let Some((trace_id, span_id)) = call.trace {
            for (name, id) in [("trace_id", &trace_id.to_bytes()[..]), ("span_id", &span_id.to_bytes()[..])] {
                out.push(',');
                self.write_key(out, name, false)?;
                out.push('"');
                push_hex(out, id);
                out.push('"');
            }
        }
        out.push(',');
        self.write_key(out, "elapsed_ms", false)?;
        write_json_f64(out, call.elapsed_ms)?;
        out.push(',');
        self.write_key(out, "grpc_code", false)?;
        out.push_str(itoa::Buffer::new().format(call.code));
        if let Some(message) = call.message {
            out.push(',');
            self.write_key(out, "grpc_message", false)?;
            write_json_str(out, message)?;
        }
        out.push_str("}\n");
        Ok(())
    }
}

/// The target of the `grpc call` line: the module of the layer that logs it.
pub const CALL_LINE_TARGET: &str = "fleuve_mesh::grpc::layers";

/// What a `grpc call` line says of a finished call (see [`JsonLines::write_call_line`]).
#[derive(Debug, Clone, Copy)]
pub struct CallLine<'a> {
    /// `/package.Service/Method`.
    pub path: &'a str,
    pub service: &'a str,
    pub method: &'a str,
    pub correlation_id: &'a str,
    /// The request span's trace and span ids, when it is traced.
    pub trace: Option<(opentelemetry::trace::TraceId, opentelemetry::trace::SpanId)>,
    pub elapsed_ms: f64,
    pub code: i32,
    /// The status message of a failed call (`grpc call failed`).
    pub message: Option<&'a str>,
}

/// Seq's name of a level (`INFO` is `Information`).
fn seq_level(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "Verbose",
        Level::DEBUG => "Debug",
        Level::INFO => "Information",
        Level::WARN => "Warning",
        Level::ERROR => "Error",
    }
}

/// Records fields as [`LineFields`] entries.
struct Entries<'a, W: fmt::Write> {
    out: &'a mut W,
    result: fmt::Result,
}

impl<W: fmt::Write> Entries<'_, W> {
    fn entry(&mut self, field: &Field, value: impl FnOnce(&mut W) -> fmt::Result) {
        // `otel.name`, `otel.kind`, `otel.status_code`: directives to the OpenTelemetry layer
        // (the exported span's name and kind), not data; a line has the method and the code.
        if self.result.is_err() || field.name().starts_with("otel.") {
            return;
        }
        self.result = (|| {
            write_json_str(self.out, field.name())?;
            self.out.write_char(':')?;
            value(self.out)?;
            self.out.write_char('\n')
        })();
    }
}

impl<W: fmt::Write> Visit for Entries<'_, W> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.entry(field, |out| write_json_f64(out, value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field, |out| write!(out, "{value}"));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field, |out| write!(out, "{value}"));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field, |out| write!(out, "{value}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.entry(field, |out| write_json_str(out, value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.entry(field, |out| write_json_args(out, format_args!("{value}")));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // A `%` field is a Debug value that writes its Display.
        self.entry(field, |out| write_json_args(out, format_args!("{value:?}")));
    }
}

/// Formatted text as a JSON string, escaped as it is written (no string of its own).
fn write_json_args(out: &mut impl fmt::Write, text: fmt::Arguments<'_>) -> fmt::Result {
    out.write_char('"')?;
    Escaping(out).write_fmt(text)?;
    out.write_char('"')
}

/// Writes what is written to it into a JSON string's inside (escaped, no quotes).
struct Escaping<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        write_json_str_inside(self.0, text)
    }
}

/// `value` as a JSON number; `null` for NaN and the infinities, which JSON does not have.
fn write_json_f64(out: &mut impl fmt::Write, value: f64) -> fmt::Result {
    match serde_json::Number::from_f64(value) {
        Some(number) => write!(out, "{number}"),
        None => out.write_str("null"),
    }
}

/// `value` as a JSON string, quoted and escaped.
fn write_json_str(out: &mut impl fmt::Write, value: &str) -> fmt::Result {
    out.write_char('"')?;
    write_json_str_inside(out, value)?;
    out.write_char('"')
}

/// `value` escaped for the inside of a JSON string.
fn write_json_str_inside(out: &mut impl fmt::Write, value: &str) -> fmt::Result {
    let bytes = value.as_bytes();
    // Most values need no escaping: tested eight bytes at a time, the last few padded with
    // spaces, and written in one piece.
    let mut words = bytes.chunks_exact(8);
    let clean = words.all(|word| !needs_escape(u64::from_le_bytes(word.try_into().unwrap_or_default()))) && {
        let rest = words.remainder();
        let mut padded = [b' '; 8];
        padded[..rest.len()].copy_from_slice(rest);
        !needs_escape(u64::from_le_bytes(padded))
    };
    if clean {
        return out.write_str(value);
    }
    let mut plain = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Eight bytes at a time while none needs escaping.
        if let Some(word) = bytes.get(i..i + 8)
            && !needs_escape(u64::from_le_bytes(word.try_into().unwrap_or_default()))
        {
            i += 8;
            continue;
        }
        let byte = bytes[i];
        let escaped = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => {
                i += 1;
                continue;
            }
        };
        out.write_str(&value[plain..i])?;
        if escaped.is_empty() {
            out.write_str("\\u00")?;
            out.write_char(char::from(HEX[usize::from(byte >> 4)]))?;
            out.write_char(char::from(HEX[usize::from(byte & 0xf)]))?;
        } else {
            out.write_str(escaped)?;
        }
        i += 1;
        plain = i;
    }
    out.write_str(&value[plain..])
}

/// Whether any of the eight bytes of `word` is a quote, a backslash or a control character
/// (below 0x20): the bytes a JSON string escapes. Bytes from 0x80 up (UTF-8) never match.
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte below `n` (n ≤ 0x80) borrows into its high bit, which `!word` keeps only for
    // bytes below 0x80; a byte equal to `c` is zero after the xor, so below 1.
    let below = |word: u64, n: u64| word.wrapping_sub(ONES * n) & !word & HIGH;
    below(word, 0x20) | below(word ^ (ONES * u64::from(b'"')), 1) | below(word ^ (ONES * u64::from(b'\\')), 1) != 0
}

/// Lowercase hexadecimal digits by value.
const HEX: &[u8; 16] = b"0123456789abcdef";

/// `bytes` in lowercase hexadecimal (a W3C trace or span id).
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
}

/// `time` as RFC 3339 in UTC with microseconds (`2026-12-07T21:25:42.276770Z`), what
/// `chrono`'s `to_rfc3339_opts(Micros, true)` writes. The text up to the second is kept per
/// thread and made again only when the second changes.
fn write_timestamp(out: &mut impl fmt::Write, time: std::time::SystemTime) -> fmt::Result {
    use std::cell::RefCell;
    thread_local! {
        static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let Ok(since) = time.duration_since(std::time::UNIX_EPOCH) else {
        // A clock before 1970: chrono writes it, uncached.
        let text = chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        return out.write_str(&text);
    };
    let second = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    let mut micros = [b'0'; 7];
    micros[0] = b'.';
    let mut n = since.subsec_micros();
    for digit in micros[1..].iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let micros = std::str::from_utf8(&micros).unwrap_or(".000000");
    let whole = |second: i64| {
        chrono::DateTime::from_timestamp(second, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S").to_string()
    };
    let cached = SECOND.try_with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.0 != second {
            *cell = (second, whole(second));
        }
        out.write_str(&cell.1)
    });
    match cached {
        Ok(written) => written?,
        // The thread is ending and its cache is gone.
        Err(_) => out.write_str(&whole(second))?,
    }
    out.write_str(micros)?;
    out.write_char('Z')
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::{SpanId, TraceId};

    use serde_json::Value;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    /// The lines `f` logs through a fmt layer with `format`, parsed.
    pub(crate) fn lines(format: JsonLines, f: impl FnOnce()) -> Vec<Value> {
        texts(format, f)
            .iter()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    /// The lines `f` logs through a fmt layer with `format`, as written.
    fn texts(format: JsonLines, f: impl FnOnce()) -> Vec<String> {
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        let writer = {
            let buffer = buffer.clone();
            move || Sink(buffer.clone())
        };
        let layer = tracing_subscriber::fmt::layer().with_writer(writer).fmt_fields(LineFields).event_format(format);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    /// A writer into a shared buffer.
    pub(in crate::telemetry) struct Sink(pub(in crate::telemetry) Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A line without its timestamp (the first key, JSON or CLEF), which differs between two
    /// lines written a moment apart.
    fn untimed(line: &str) -> String {
        let (_, rest) = line.split_once("\",").expect("a timestamp first");
        rest.to_owned()
    }

    #[test]
    fn the_call_line_written_directly_is_the_line_of_the_event() {
        let formats = [JsonLines::new("identity"), JsonLines::clef("identity")];
        for (format, trace_keys) in formats.into_iter().zip([("trace_id", "span_id"), ("@tr", "@sp")]) {
            for (code, message) in [(0, None), (5, Some("dossier \"d-1\" not found\n"))] {
                let path = "/fleuve.identity.v1.IdentityService/GetJwks";
                let (service, method) = ("fleuve.identity.v1.IdentityService", "GetJwks");
                let mut call = CallLine {
                    path,
                    service,
                    method,
                    correlation_id: "corr-1",
                    trace: None,
                    elapsed_ms: 0.4125,
                    code,
                    message,
                };
                // The event in the request span, as the layer logs it for another subscriber.
                let lines = texts(format.clone(), || {
                    let span = crate::grpc::request_span(path, service, method, "corr-1");
                    let _entered = span.enter();
                    crate::grpc::log_call(0.4125, code, message);
                });
                assert_eq!(lines.len(), 1, "{lines:?}");
                let mut direct = String::new();
                format.write_call_line(&mut direct, &call).unwrap();
                assert_eq!(untimed(&direct), untimed(&format!("{}\n", lines[0])));

                // Traced: the span's ids after its fields, before the event's own, as an event's
                // line has them (the OpenTelemetry layer is not in this subscriber).
                let (trace_id, span_id) = (
                    TraceId::from(0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c_u128),
                    SpanId::from(0x00f0_67aa_0ba9_02b7_u64),
                );
                call.trace = Some((trace_id, span_id));
                let mut traced = String::new();
                format.write_call_line(&mut traced, &call).unwrap();
                let ids = format!(
                    ",\"{}\":\"0af7651916cd43dd8448eb211c80319c\",\"{}\":\"00f067aa0ba902b7\"",
                    trace_keys.0, trace_keys.1
                );
                let expected = direct.replacen("\"corr-1\"", &format!("\"corr-1\"{ids}"), 1);
                assert_eq!(untimed(&traced), untimed(&expected));
            }
        }
    }

    #[test]
    fn a_line_is_flat_json_with_its_spans_fields_the_inner_and_the_event_s_own_winning() {
        let lines = lines(JsonLines::new("fleuve-order"), || {
            let outer = tracing::info_span!("call", correlation_id = "c-1", consumer = "outer", rpc.method = "Get");
            let _outer = outer.enter();
            let inner = tracing::info_span!("record", consumer = "inner", status = tracing::field::Empty);
            let _inner = inner.enter();
            inner.record("status", 3);
            inner.record("status", "OK");
            tracing::warn!(
                attempt = 2_u64,
                delta = -1_i64,
                ratio = 0.5,
                nan = f64::NAN,
                ok = true,
                rpc.method = "Own",
                text = "a \"quoted\"\nline\twith \\ and \u{1}",
                shown = %"a \"shown\" é\n\u{1}",
                debugged = ?"q\\",
                error = &std::io::Error::other("bad \"disk\"\n") as &(dyn std::error::Error + 'static),
                "slow {}",
                "call \"é\"\n"
            );
            tracing::info!(only = "fields, no message");
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        let line = &lines[0];
        assert!(line["timestamp"].as_str().is_some_and(|t| t.len() == 27 && t.ends_with('Z')), "{line}");
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["service"], "fleuve-order");
        assert_eq!(line["target"], module_path!());
        assert_eq!(line["message"], "slow call \"é\"\n");
        assert_eq!(line["correlation_id"], "c-1");
        assert_eq!(line["consumer"], "inner", "the inner span wins");
        assert_eq!(line["status"], "OK", "the last record wins");
        assert_eq!(line["rpc.method"], "Own", "the event's own field wins");
        assert_eq!(line["attempt"], 2);
        assert_eq!(line["delta"], -1);
        assert_eq!(line["ratio"], 0.5);
        assert_eq!(line["nan"], Value::Null);
        assert_eq!(line["ok"], true);
        assert_eq!(line["text"], "a \"quoted\"\nline\twith \\ and \u{1}");
        // Display, Debug and error values are escaped as they are written.
        assert_eq!(line["shown"], "a \"shown\" é\n\u{1}");
        assert_eq!(line["debugged"], "\"q\\\\\"");
        assert_eq!(line["error"], "bad \"disk\"\n");
        // No OpenTelemetry layer here (and `Span::current()` sees no dispatcher while a
        // scoped one formats): no trace to name.
        assert!(line.get("trace_id").is_none());
        assert_eq!(lines[1]["message"], "", "every line has a message");
        assert_eq!(lines[1]["only"], "fields, no message");
    }

    #[test]
    fn the_fixed_keys_and_the_message_lead_and_each_key_is_written_once() {
        let texts = texts(JsonLines::new("svc"), || {
            let span = tracing::info_span!("call", zone = "outer", status = tracing::field::Empty);
            let _span = span.enter();
            span.record("status", "first");
            span.record("status", "second");
            tracing::info!(alpha = 1, zone = "own", "hello");
        });
        let line = &texts[0];
        assert!(line.starts_with("{\"timestamp\":\""), "{line}");
        let at = |key: &str| line.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("{key}: {line}"));
        let order = ["timestamp", "level", "service", "target", "message", "zone", "status", "alpha"].map(at);
        assert!(order.is_sorted(), "{line}");
        for key in ["zone", "status"] {
            assert_eq!(line.matches(&format!("\"{key}\":")).count(), 1, "{key} once: {line}");
        }
        assert!(line.contains("\"zone\":\"own\"") && line.contains("\"status\":\"second\""), "{line}");
        assert!(line.ends_with('}'), "{line}");
    }

    #[test]
    fn fields_named_like_the_fixed_keys_do_not_replace_them() {
        let lines = lines(JsonLines::clef("svc"), || {
            let outer = tracing::info_span!("call", level = "span level", n = tracing::field::Empty);
            let _outer = outer.enter();
            for i in 0..50 {
                outer.record("n", i);
            }
            tracing::info!(timestamp = 5, service = "other", "done");
        });
        let line = &lines[0];
        assert!(line["@t"].is_string() && line["@l"] == "Information" && line["service"] == "svc", "{line}");
        assert_eq!(line["field.timestamp"], 5);
        assert_eq!(line["field.service"], "other");
        assert_eq!(line["field.level"], "span level");
        assert_eq!(line["n"], 49);
    }

    #[test]
    fn the_opentelemetry_directives_stay_out_of_the_line() {
        let lines = lines(JsonLines::new("svc"), || {
            let span = tracing::info_span!("call", otel.name = "svc/Get", otel.kind = "server", rpc.method = "Get");
            let _span = span.enter();
            tracing::info!(otel.status_code = "ERROR", code = 5, "done");
        });
        let line = lines[0].as_object().expect("an object");
        assert!(line.keys().all(|key| !key.starts_with("otel.")), "{line:?}");
        assert_eq!(line["rpc.method"], "Get");
        assert_eq!(line["code"], 5);
    }

    #[test]
    fn a_record_replaces_the_entry_of_its_name() {
        let texts = texts(JsonLines::new("svc"), || {
            let span = tracing::info_span!("s", b = tracing::field::Empty, kept = 1);
            let _span = span.enter();
            for value in ["first", "second", "third"] {
                span.record("b", value);
            }
            tracing::info!("x");
        });
        assert_eq!(texts[0].matches("\"b\":").count(), 1, "{}", texts[0]);
        assert!(texts[0].contains("\"b\":\"third\"") && texts[0].contains("\"kept\":1"), "{}", texts[0]);
    }

    #[test]
    fn a_span_s_text_keeps_one_entry_per_name() {
        let mut current = FormattedFields::<LineFields>::new("\"a\":1\n\"b\":\"x\"\n".to_owned());
        // A `Record` of `b = "y"` as tracing builds one for `span.record("b", "y")`.
        tracing::subscriber::with_default(tracing_subscriber::registry(), || {
            let span = tracing::info_span!("s", a = tracing::field::Empty, b = tracing::field::Empty);
            let metadata = span.metadata().expect("a registry enables every span");
            let b = metadata.fields().field("b").expect("field b");
            let value: &dyn tracing::field::Value = &"y";
            let values = [(&b, Some(value))];
            let set = metadata.fields().value_set(&values);
            LineFields.add_fields(&mut current, &tracing::span::Record::new(&set)).unwrap();
        });
        assert_eq!(current.fields, "\"a\":1\n\"b\":\"y\"\n");
    }

    #[test]
    fn strings_are_escaped_wherever_the_byte_falls_in_a_word() {
        // Every byte value at every position of strings of 1 to 20 bytes (shorter than a word,
        // whole words, words and a tail): serde_json reads back the same string, and nothing
        // below 0x20 is left raw.
        for byte in 0..=0x7f_u8 {
            for (len, at) in (1..=20).flat_map(|len| (0..len).map(move |at| (len, at))) {
                let mut text = vec![b'a'; len];
                text[at] = byte;
                let text = String::from_utf8(text).unwrap();
                let mut ours = String::new();
                write_json_str(&mut ours, &text).unwrap();
                assert_eq!(serde_json::from_str::<String>(&ours).unwrap(), text, "{byte:#x} at {at} of {len}: {ours}");
                assert!(ours.bytes().all(|b| b >= 0x20), "{byte:#x} at {at} of {len}: {ours}");
            }
        }
        let mut ours = String::new();
        write_json_str(&mut ours, "é\u{1}\"ü\\ñ\n日本語 «\t»").unwrap();
        assert_eq!(ours, "\"é\\u0001\\\"ü\\\\ñ\\n日本語 «\\t»\"");
    }

    #[test]
    fn the_timestamp_is_chronos_rfc_3339_with_microseconds() {
        let before_1970 = std::time::UNIX_EPOCH - std::time::Duration::from_micros(1_500_001);
        let mut times = vec![std::time::UNIX_EPOCH, std::time::SystemTime::now(), before_1970];
        for seconds in [951_782_399_u64, 951_782_400, 1_798_761_599, 4_102_444_800] {
            for micros in [0, 1, 999_999, 123_456] {
                times.push(std::time::UNIX_EPOCH + std::time::Duration::new(seconds, micros * 1000 + 999));
            }
        }
        for time in times {
            let mut ours = String::new();
            write_timestamp(&mut ours, time).unwrap();
            let chrono =
                chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            assert_eq!(ours, chrono);
        }
    }

    #[test]
    fn ids_are_written_in_lowercase_hex() {
        let mut out = String::new();
        push_hex(&mut out, &TraceId::from(0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c_u128).to_bytes());
        push_hex(&mut out, &[0x00, 0xff, 0x10]);
        assert_eq!(out, "0af7651916cd43dd8448eb211c80319c00ff10");
    }

    #[test]
    fn a_clef_line_has_seq_s_keys_and_level_names() {
        let lines = lines(JsonLines::clef("fleuve-order"), || {
            let span = tracing::info_span!("call", correlation_id = "c-1");
            let _span = span.enter();
            tracing::warn!(x = "a field", "slow");
            tracing::error!("failed");
            tracing::info!("done");
            tracing::debug!("detail");
        });
        let line = &lines[0];
        assert!(line["@t"].is_string(), "{line}");
        assert_eq!(line["@l"], "Warning");
        assert_eq!(line["@m"], "slow");
        assert_eq!(line["service"], "fleuve-order");
        assert_eq!(line["correlation_id"], "c-1");
        assert_eq!(line["x"], "a field");
        for key in ["timestamp", "level", "message"] {
            assert!(line.get(key).is_none(), "{key}: {line}");
        }
        let levels: Vec<&Value> = lines.iter().map(|l| &l["@l"]).collect();
        assert_eq!(levels, ["Warning", "Error", "Information", "Debug"]);
        assert_eq!(seq_level(&Level::TRACE), "Verbose");
        // A field named like a CLEF key is escaped with a second @, as CLEF specifies (a
        // tracing field cannot start with @; a span or event of another library's may).
        let clef = JsonLines::clef("s");
        assert!(matches!(clef.key("@x"), Key::Escaped("@x")));
        assert!(matches!(JsonLines::new("s").key("@x"), Key::Plain("@x")));
    }
}
