//! Where log lines go: standard error, written in batches.
//!
//! A server at the default level writes one line per call; written one `write(2)` each, the
//! system call was about 6 % of `fleuve serve identity`'s CPU in a profile at 16 clients, and
//! batching saves about 4 µs of CPU per call at one client (`docs/benchmarks.md`). Lines at `INFO` and
//! below are therefore appended to a buffer in memory, and the buffer is written out in one
//! call when it passes [`FLUSH_BYTES`], every flush interval (a thread of its own that sleeps
//! between flushes, so no line wakes anything), when the process ends
//! ([`super::TelemetryGuard`]) and when a thread panics (unless the panic came from inside a
//! flush, or another flush holds the output for over 100 ms). A `WARN` or `ERROR` line writes the
//! buffer out and then itself at once, so lines keep their order and a problem is on the
//! terminal (or in the collector) when it happens. Envoy buffers its access log files the same
//! way (every 10 s by default, `--file-flush-interval-msec`).
//!
//! What a process killed outright (SIGKILL, the OOM killer) loses: the lines of its last flush
//! interval at most, never a warning or an error.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Buffered lines are written out once they pass this many bytes, whatever the interval.
pub const FLUSH_BYTES: usize = 64 * 1024;

/// Makes the writers of the fmt layer: buffered for `INFO` and below, immediate above.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

struct Shared {
    /// Lines not written yet.
    pending: Mutex<Vec<u8>>,
    /// The destination and a spare buffer, swapped with `pending` at each flush. Held while
    /// writing, so flushes never interleave and lines keep their order.
    out: Mutex<Out>,
    /// 0: every line is written when it is logged.
    interval: Duration,
}

struct Out {
    sink: Box<dyn Write + Send>,
    spare: Vec<u8>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the bytes as they were: still worth writing.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// Writes out the pending lines, then `line` if any, in one critical section.
    fn flush_with(&self, line: Option<&[u8]>) -> io::Result<()> {
        let mut out = lock(&self.out);
        let Out { sink, spare } = &mut *out;
        std::mem::swap(&mut *lock(&self.pending), spare);
        let written = if spare.is_empty() { Ok(()) } else { sink.write_all(spare) };
        spare.clear();
        // A warning is still tried when the batch before it could not be written.
        if let Some(line) = line {
            sink.write_all(line)?;
        }
        written?;
        sink.flush()
    }

    /// [`Shared::flush_with`] for a panic hook: gives up if the output stays locked for
    /// 100 ms (a panic in the middle of a flush on this thread would otherwise wait for
    /// itself; another thread's flush takes well under that).
    fn try_flush(&self) {
        let given_up = std::time::Instant::now() + Duration::from_millis(100);
        let mut out = loop {
            match self.out.try_lock() {
                Ok(out) => break out,
                Err(std::sync::TryLockError::Poisoned(poisoned)) => break poisoned.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) if std::time::Instant::now() < given_up => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(std::sync::TryLockError::WouldBlock) => return,
            }
        };
        // Held only to append a line, never across anything that panics but an allocation.
        let mut pending = lock(&self.pending);
        let Out { sink, spare } = &mut *out;
        std::mem::swap(&mut *pending, spare);
        drop(pending);
        let _ = sink.write_all(spare);
        spare.clear();
        let _ = sink.flush();
    }
}

impl LogWriter {
    /// Lines to standard error, buffered for at most `interval` (0: not buffered).
    pub fn stderr(interval: Duration) -> LogWriter {
        LogWriter::to(Box::new(io::stderr()), interval)
    }

    /// Lines to `sink`, buffered for at most `interval` (0: not buffered). Starts the thread
    /// that flushes every `interval`; it ends once the last `LogWriter` is dropped.
    pub fn to(sink: Box<dyn Write + Send>, interval: Duration) -> LogWriter {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Vec::with_capacity(FLUSH_BYTES)),
            out: Mutex::new(Out { sink, spare: Vec::with_capacity(FLUSH_BYTES) }),
            interval,
        });
        if !interval.is_zero() {
            let weak = Arc::downgrade(&shared);
            // No flusher thread (the system refused one): lines are still written when the
            // buffer fills, at warnings, and at the end.
            let _ = std::thread::Builder::new().name("log-flush".into()).spawn(move || flush_every(&weak, interval));
        }
        LogWriter { shared }
    }

    /// Writes out every buffered line.
    pub fn flush(&self) -> io::Result<()> {
        self.shared.flush_with(None)
    }

    /// A writer for one line at `level`.
    pub fn for_level(&self, level: tracing::Level) -> LineWriter {
        let immediate = self.shared.interval.is_zero() || level <= tracing::Level::WARN;
        LineWriter { shared: self.shared.clone(), immediate }
    }

    /// Installs a panic hook that writes out the buffered lines before the panic's message
    /// (then runs the hook that was there). It holds no reference that keeps the writer alive.
    pub fn flush_on_panic(&self) {
        let weak = Arc::downgrade(&self.shared);
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(shared) = weak.upgrade() {
                shared.try_flush();
            }
            previous(info);
        }));
    }
}

fn flush_every(weak: &Weak<Shared>, interval: Duration) {
    loop {
        std::thread::sleep(interval);
        let Some(shared) = weak.upgrade() else { return };
        let _ = shared.flush_with(None);
    }
}

/// One line's writer: appended to the buffer, or (a warning or an error, or no buffering)
/// written at once after it.
pub struct LineWriter {
    shared: Arc<Shared>,
    immediate: bool,
}

impl Write for LineWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.immediate {
            self.shared.flush_with(Some(bytes))?;
        } else {
            let full = {
                let mut pending = lock(&self.shared.pending);
                pending.extend_from_slice(bytes);
                pending.len() >= FLUSH_BYTES
            };
            if full {
                self.shared.flush_with(None)?;
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        self.for_level(tracing::Level::ERROR)
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> LineWriter {
        self.for_level(*meta.level())
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that records each `write_all` it is given as one chunk.
    #[derive(Clone, Default)]
    struct Chunks(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Chunks {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push(bytes.to_vec());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Chunks {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().concat()).unwrap()
        }
        fn writes(&self) -> usize {
            self.0.lock().unwrap().len()
        }
    }

    /// A writer flushing every `interval` into a fresh [`Chunks`].
    fn chunks_every(interval: Duration) -> (Chunks, LogWriter) {
        let sink = Chunks::default();
        let writer = LogWriter::to(Box::new(sink.clone()), interval);
        (sink, writer)
    }

    fn line(writer: &LogWriter, level: tracing::Level, text: &str) {
        writer.for_level(level).write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn info_lines_wait_for_a_flush_and_go_out_in_one_write() {
        let (sink, writer) = chunks_every(Duration::from_secs(3600));
        for i in 0..10 {
            line(&writer, tracing::Level::INFO, &format!("line {i}\n"));
        }
        assert_eq!(sink.writes(), 0, "nothing written before a flush");
        writer.flush().unwrap();
        assert_eq!(sink.writes(), 1, "ten lines, one write");
        assert_eq!(sink.text(), (0..10).map(|i| format!("line {i}\n")).collect::<String>());
    }

    #[test]
    fn a_warning_writes_the_lines_before_it_then_itself() {
        let (sink, writer) = chunks_every(Duration::from_secs(3600));
        line(&writer, tracing::Level::INFO, "one\n");
        line(&writer, tracing::Level::INFO, "two\n");
        line(&writer, tracing::Level::WARN, "careful\n");
        assert_eq!(sink.text(), "one\ntwo\ncareful\n");
        line(&writer, tracing::Level::INFO, "three\n");
        line(&writer, tracing::Level::ERROR, "broken\n");
        assert_eq!(sink.text(), "one\ntwo\ncareful\nthree\nbroken\n");
    }

    #[test]
    fn a_full_buffer_is_written_without_waiting_for_the_interval() {
        let (sink, writer) = chunks_every(Duration::from_secs(3600));
        let text = "x".repeat(999) + "\n";
        let lines = FLUSH_BYTES / text.len() + 1;
        for _ in 0..lines {
            line(&writer, tracing::Level::INFO, &text);
        }
        assert_eq!(sink.writes(), 1);
        assert_eq!(sink.text().len(), lines * text.len());
    }

    #[test]
    fn the_interval_flushes_on_its_own() {
        let (sink, writer) = chunks_every(Duration::from_millis(20));
        line(&writer, tracing::Level::INFO, "soon\n");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sink.text().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never flushed");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(sink.text(), "soon\n");
    }

    #[test]
    fn the_panic_hook_s_flush_writes_the_lines_and_never_waits_for_itself() {
        let (sink, writer) = chunks_every(Duration::from_secs(3600));
        line(&writer, tracing::Level::INFO, "before the panic\n");
        writer.shared.try_flush();
        assert_eq!(sink.text(), "before the panic\n");
        // A panic in the middle of a flush: the output is locked by this very thread.
        line(&writer, tracing::Level::INFO, "stuck\n");
        let held = writer.shared.out.lock().unwrap();
        let started = std::time::Instant::now();
        writer.shared.try_flush();
        assert!(started.elapsed() < Duration::from_secs(5), "waited for itself");
        drop(held);
        assert_eq!(sink.text(), "before the panic\n", "nothing written while the output was held");
        writer.flush().unwrap();
        assert_eq!(sink.text(), "before the panic\nstuck\n");
    }

    #[test]
    fn no_interval_writes_every_line_at_once() {
        let (sink, writer) = chunks_every(Duration::ZERO);
        line(&writer, tracing::Level::INFO, "now\n");
        assert_eq!(sink.text(), "now\n");
    }

    #[test]
    fn lines_of_many_threads_stay_whole() {
        let (sink, writer) = chunks_every(Duration::from_millis(1));
        std::thread::scope(|s| {
            for t in 0..4 {
                let writer = writer.clone();
                s.spawn(move || {
                    for i in 0..2_000 {
                        let level = if i % 97 == 0 { tracing::Level::WARN } else { tracing::Level::INFO };
                        line(&writer, level, &format!("{t}:{i}:{}\n", "y".repeat(i % 50)));
                    }
                });
            }
        });
        writer.flush().unwrap();
        let text = sink.text();
        let mut next = [0usize; 4];
        for l in text.lines() {
            let mut parts = l.split(':');
            let t: usize = parts.next().unwrap().parse().unwrap();
            let i: usize = parts.next().unwrap().parse().unwrap();
            assert_eq!(parts.next().unwrap().len(), i % 50, "whole line: {l}");
            assert_eq!(i, next[t], "thread {t}'s lines in order");
            next[t] += 1;
        }
        assert_eq!(next, [2_000; 4]);
    }
}
