//! The binary's log subscriber: text or JSON lines on stderr (`gateway.log_format`, or
//! `--log-format`), filtered by `APERTURE_LOG` (else `RUST_LOG`, else `info`).
//!
//! The filter takes `tracing` target directives such as `info`, `warn,aperture::access=off` or
//! `aperture_server=debug`. Library code only emits events; installing a subscriber is the
//! binary's (or the embedding application's) choice.

use aperture_config::LogFormat;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The filter directives in force: `APERTURE_LOG`, else `RUST_LOG`, else `info`.
pub(crate) fn directives() -> String {
    std::env::var("APERTURE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_string())
}

/// Parses filter directives; the error names the bad one.
pub(crate) fn filter(spec: &str) -> Result<Targets, String> {
    spec.parse::<Targets>()
        .map_err(|e| format!("APERTURE_LOG/RUST_LOG {spec:?}: {e}"))
}

/// Installs the global subscriber, writing through a [`LogThread`]; keep the returned guard
/// until the process ends (dropping it flushes what is queued). A second call (tests running
/// the CLI in one process) keeps the first subscriber.
pub(crate) fn install(format: LogFormat, filter: Targets) -> LogGuard {
    let (writer, guard) = LogThread::start();
    let layer = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(writer)
            .boxed(),
        _ => tracing_subscriber::fmt::layer().with_writer(writer).boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
    guard
}

/// How long the log thread naps between drains.
const NAP: std::time::Duration = std::time::Duration::from_millis(20);

/// Lines queued for the log thread before new ones are dropped (and counted).
const QUEUE_LINES: usize = 16_384;

enum Msg {
    Line(Vec<u8>),
    Flush(std::sync::mpsc::SyncSender<()>),
}

/// Log lines leave the request's thread as one channel send; a thread of their own drains them
/// every 20 ms and writes them to stderr through a buffer. An access line per
/// request then costs its formatting, not a `write` system call on the task that serves the
/// connection. A full queue drops lines (and counts them) rather than slowing requests.
#[derive(Clone)]
pub(crate) struct LogThread {
    tx: std::sync::mpsc::SyncSender<Msg>,
    dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Flushes the log thread when dropped.
pub(crate) struct LogGuard(Option<LogThread>);

impl LogThread {
    fn start() -> (LogThread, LogGuard) {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(QUEUE_LINES);
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = dropped.clone();
        let spawned = std::thread::Builder::new()
            .name("aperture-log".into())
            .spawn(move || {
                use std::io::Write;
                let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr());
                let mut reported = 0;
                loop {
                    // Drain what is queued, then flush and nap: senders never wake this
                    // thread (no system call per line); lines wait at most one nap.
                    loop {
                        match rx.try_recv() {
                            Ok(Msg::Line(line)) => {
                                let _ = out.write_all(&line);
                            }
                            Ok(Msg::Flush(ack)) => {
                                let _ = out.flush();
                                let _ = ack.send(());
                            }
                            Err(std::sync::mpsc::TryRecvError::Empty) => break,
                            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                                let _ = out.flush();
                                return;
                            }
                        }
                    }
                    let lost = counted.load(std::sync::atomic::Ordering::Relaxed);
                    if lost != reported {
                        let _ = writeln!(
                            out,
                            "aperture: {} log lines dropped (queue full)",
                            lost - reported
                        );
                        reported = lost;
                    }
                    let _ = out.flush();
                    std::thread::park_timeout(NAP);
                }
            });
        if let Err(e) = spawned {
            // Startup, before any subscriber: the one place this prints directly.
            eprintln!("aperture: cannot start the log thread ({e}); log lines will be dropped");
        }
        let thread = LogThread { tx, dropped };
        (thread.clone(), LogGuard(Some(thread)))
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            let (ack_tx, ack_rx) = std::sync::mpsc::sync_channel(1);
            if t.tx.send(Msg::Flush(ack_tx)).is_ok() {
                let _ = ack_rx.recv_timeout(std::time::Duration::from_secs(2));
            }
        }
    }
}

/// One formatted event, sent whole when dropped.
pub(crate) struct LineWriter {
    line: Vec<u8>,
    thread: LogThread,
}

impl std::io::Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.line);
        if self.thread.tx.try_send(Msg::Line(line)).is_err() {
            self.thread
                .dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogThread {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            line: Vec::with_capacity(256),
            thread: self.clone(),
        }
    }
}
