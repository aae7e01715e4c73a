//! The hot-path side of the store: a bounded queue drained by one writer thread (SPEC.md §8.5).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc::{self, Receiver, Sender, WeakSender, error::TrySendError};

use super::{RequestRecord, Store};
use crate::quota::QuotaBook;

/// The most records the writer puts in one transaction.
const MAX_BATCH: usize = 512;

#[derive(Debug, Default)]
struct Counters {
    queued: AtomicUsize,
    dropped: AtomicU64,
    written: AtomicU64,
    write_errors: AtomicU64,
}

/// Where the request path drops records. Cheap to clone; never waits longer than
/// `overflow_block`. After [`WriterHandle::shutdown`] every record is dropped and counted.
#[derive(Debug, Clone)]
pub struct LogSink {
    tx: WeakSender<RequestRecord>,
    counters: Arc<Counters>,
    overflow_block: Duration,
}

/// Owns the writer thread; [`WriterHandle::shutdown`] drains the queue and joins it. Dropping
/// the handle closes the queue too, leaving the thread to drain it on its own.
#[derive(Debug)]
pub struct WriterHandle {
    tx: Sender<RequestRecord>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl LogSink {
    /// Starts the writer thread over `store` with a queue of `capacity` records (at least 1).
    pub fn start(
        store: Arc<dyn Store>,
        capacity: usize,
        overflow_block: Duration,
    ) -> (LogSink, WriterHandle) {
        Self::start_with_quotas(store, capacity, overflow_block, None)
    }

    /// [`LogSink::start`], and the writer also stores the balances `quotas` changed after each
    /// batch (debits come with the records that caused them) and once more when it stops.
    pub fn start_with_quotas(
        store: Arc<dyn Store>,
        capacity: usize,
        overflow_block: Duration,
        quotas: Option<Arc<QuotaBook>>,
    ) -> (LogSink, WriterHandle) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let counters = Arc::new(Counters::default());
        let thread_counters = Arc::clone(&counters);
        let thread = std::thread::Builder::new()
            .name("aperture-log-writer".into())
            .spawn(move || run_writer(store.as_ref(), rx, &thread_counters, quotas.as_deref()));
        // Without the thread the receiver is gone: every record is dropped and counted.
        let thread = thread
            .inspect_err(
                |e| tracing::error!(error = %e, "cannot start the request log writer thread"),
            )
            .ok();
        let sink = LogSink {
            tx: tx.downgrade(),
            counters: Arc::clone(&counters),
            overflow_block,
        };
        (
            sink,
            WriterHandle {
                tx,
                thread,
                counters,
            },
        )
    }

    /// Queues `record` if there is room now; otherwise drops and counts it. Returns whether it
    /// was queued. Never waits; safe anywhere.
    pub fn try_record(&self, record: RequestRecord) -> bool {
        let Some(tx) = self.tx.upgrade() else {
            return self.drop_one();
        };
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        match tx.try_send(record) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Closed(_)) => {
                self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                self.drop_one()
            }
        }
    }

    /// Queues `record` if there is room now; otherwise gives it back (nothing is counted), so
    /// the caller can wait elsewhere ([`LogSink::record_async`]) or retry.
    pub fn try_record_or_return(&self, record: RequestRecord) -> Result<(), Box<RequestRecord>> {
        let Some(tx) = self.tx.upgrade() else {
            return Err(Box::new(record));
        };
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        match tx.try_send(record) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(r) | TrySendError::Closed(r)) => {
                self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                Err(Box::new(r))
            }
        }
    }

    /// Queues `record`, waiting at most `overflow_block` for room; then drops and counts it.
    /// Returns whether it was queued. Needs a Tokio runtime with the time driver.
    pub async fn record_async(&self, record: RequestRecord) -> bool {
        let Some(tx) = self.tx.upgrade() else {
            return self.drop_one();
        };
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        let record = match tx.try_send(record) {
            Ok(()) => return true,
            Err(TrySendError::Full(r)) if !self.overflow_block.is_zero() => r,
            Err(TrySendError::Full(_) | TrySendError::Closed(_)) => {
                self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                return self.drop_one();
            }
        };
        if tx.send_timeout(record, self.overflow_block).await.is_ok() {
            return true;
        }
        self.counters.queued.fetch_sub(1, Ordering::Relaxed);
        self.drop_one()
    }

    fn drop_one(&self) -> bool {
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Records dropped because the queue was full or closed (`aperture_log_records_dropped_total`).
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Records queued and not yet taken by the writer (`aperture_log_queue_depth`).
    pub fn depth(&self) -> usize {
        self.counters.queued.load(Ordering::Relaxed)
    }

    /// Records written to the store.
    pub fn written(&self) -> u64 {
        self.counters.written.load(Ordering::Relaxed)
    }

    /// Records lost because the store failed to write them.
    pub fn write_errors(&self) -> u64 {
        self.counters.write_errors.load(Ordering::Relaxed)
    }
}

impl WriterHandle {
    /// Closes the queue, writes everything still queued, and joins the writer thread. Blocks the
    /// calling thread while draining (from async code, call it in `spawn_blocking`). Records
    /// offered afterwards are dropped and counted.
    pub fn shutdown(self) {
        let WriterHandle { tx, thread, .. } = self;
        drop(tx); // The last strong sender: the writer sees the end once in-flight sends finish.
        if thread.is_some_and(|t| t.join().is_err()) {
            tracing::error!("the request log writer thread panicked");
        }
    }

    /// Records written to the store so far.
    pub fn written(&self) -> u64 {
        self.counters.written.load(Ordering::Relaxed)
    }
}

fn run_writer(
    store: &dyn Store,
    mut rx: Receiver<RequestRecord>,
    counters: &Counters,
    quotas: Option<&QuotaBook>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        counters.queued.fetch_sub(batch.len(), Ordering::Relaxed);
        write(store, &batch, counters);
        batch.clear();
        if let Some(book) = quotas {
            save_balances(store, book);
        }
    }
    if let Some(book) = quotas {
        save_balances(store, book);
    }
}

/// Stores the balances changed since the last save; on failure they are marked changed again.
pub fn save_balances(store: &dyn Store, book: &QuotaBook) {
    let (changed, removed) = book.dirty();
    if let Err(e) = store.save_balances(&changed, &removed) {
        tracing::error!(error = %e, "storing quota balances failed; will retry");
        book.mark_dirty(&changed, removed);
    }
}

/// Writes a batch in one transaction; if that fails, record by record so one bad record does
/// not cost the others. Errors are logged without record contents.
fn write(store: &dyn Store, batch: &[RequestRecord], counters: &Counters) {
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let Err(e) = store.write_batch(batch) else {
        counters
            .written
            .fetch_add(count(batch.len()), Ordering::Relaxed);
        return;
    };
    if batch.len() == 1 {
        counters.write_errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(error = %e, "writing a request record failed");
        return;
    }
    tracing::warn!(
        error = %e,
        records = batch.len(),
        "writing a batch of request records failed, retrying one by one"
    );
    let mut failed = 0_usize;
    let mut last_error = None;
    for r in batch {
        match store.write_batch(std::slice::from_ref(r)) {
            Ok(()) => {
                counters.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                failed += 1;
                last_error = Some(e);
            }
        }
    }
    if let Some(e) = last_error {
        counters
            .write_errors
            .fetch_add(count(failed), Ordering::Relaxed);
        tracing::error!(error = %e, records = failed, "request records were not written");
    }
}
