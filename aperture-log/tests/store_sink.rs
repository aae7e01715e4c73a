#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The queue in front of the store: no losses when there is room, drops (counted) when full.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use aperture_log::store::{
    Filter, GroupBy, LogSink, Page, RequestRecord, RequestSummary, SessionSummary, SqliteStore,
    Store, StoreError, TotalRow,
};

fn rec(i: usize) -> RequestRecord {
    RequestRecord {
        id: format!("req_{i:08}"),
        time_ms: 1_767_225_600_000 + i64::try_from(i).unwrap(),
        session_id: format!("s{}", i % 7),
        ..RequestRecord::default()
    }
}

/// A store whose writes wait for a gate, reporting each call, keeping the ids it got; it fails
/// every batch holding an id starting with `bad`.
#[derive(Default)]
struct TestStore {
    entered: Mutex<Option<std_mpsc::Sender<()>>>,
    open: Mutex<bool>,
    opened: Condvar,
    ids: Mutex<Vec<String>>,
}

impl TestStore {
    fn gated() -> (Arc<Self>, std_mpsc::Receiver<()>) {
        let (tx, rx) = std_mpsc::channel();
        let store = TestStore {
            entered: Mutex::new(Some(tx)),
            ..TestStore::default()
        };
        (Arc::new(store), rx)
    }

    fn open_gate(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

impl Store for TestStore {
    fn write_batch(&self, records: &[RequestRecord]) -> Result<(), StoreError> {
        if let Some(tx) = self.entered.lock().unwrap().as_ref() {
            let _ = tx.send(());
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.opened.wait(open).unwrap();
            }
        }
        if records.iter().any(|r| r.id.starts_with("bad")) {
            return Err(StoreError::SchemaTooNew {
                found: 2,
                supported: 1,
            });
        }
        let mut ids = self.ids.lock().unwrap();
        ids.extend(records.iter().map(|r| r.id.clone()));
        Ok(())
    }
    fn sessions(&self, _: &Filter, _: Page) -> Result<Vec<SessionSummary>, StoreError> {
        Ok(Vec::new())
    }
    fn requests(&self, _: &Filter, _: Page) -> Result<Vec<RequestSummary>, StoreError> {
        Ok(Vec::new())
    }
    fn request(&self, _: &str) -> Result<Option<RequestRecord>, StoreError> {
        Ok(None)
    }
    fn totals(&self, _: &Filter, _: GroupBy) -> Result<Vec<TotalRow>, StoreError> {
        Ok(Vec::new())
    }
    fn usage_csv(&self, _: &Filter) -> Result<String, StoreError> {
        Ok(String::new())
    }
    fn purge(&self, _: i64, _: bool) -> Result<usize, StoreError> {
        Ok(0)
    }
}

fn count(store: &dyn Store) -> u64 {
    let totals = store.totals(&Filter::default(), GroupBy::User).unwrap();
    totals.iter().map(|t| t.requests).sum()
}

#[tokio::test]
async fn ten_thousand_records_give_ten_thousand_rows() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let (sink, writer) = LogSink::start(store.clone(), 256, Duration::from_secs(60));
    let producer = sink.clone();
    for i in 0..10_000 {
        assert!(producer.record_async(rec(i)).await);
    }
    writer.shutdown();
    assert_eq!(count(store.as_ref()), 10_000);
    assert_eq!(
        (sink.written(), sink.dropped(), sink.depth()),
        (10_000, 0, 0)
    );
    assert_eq!(sink.write_errors(), 0);
    let sessions = store.sessions(&Filter::default(), Page::default()).unwrap();
    assert_eq!(sessions.iter().map(|s| s.requests).sum::<u64>(), 10_000);
    // After shutdown nothing is queued: records are dropped and counted.
    assert!(!sink.try_record(rec(10_000)));
    assert!(!sink.record_async(rec(10_001)).await);
    assert_eq!(sink.dropped(), 2);
}

#[test]
fn try_record_without_a_runtime() {
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let (sink, writer) = LogSink::start(store.clone(), 20_000, Duration::ZERO);
    for i in 0..10_000 {
        assert!(sink.try_record(rec(i)));
    }
    writer.shutdown();
    assert_eq!(count(store.as_ref()), 10_000);
}

#[tokio::test]
async fn a_full_queue_drops_and_counts() {
    let (store, entered) = TestStore::gated();
    let block = Duration::from_millis(50);
    let (sink, writer) = LogSink::start(store.clone(), 4, block);
    assert!(sink.try_record(rec(0)));
    // The writer holds record 0 in a write that waits for the gate; the queue is empty.
    entered.recv_timeout(Duration::from_secs(30)).unwrap();
    for i in 1..=4 {
        assert!(sink.try_record(rec(i)));
    }
    assert_eq!(sink.depth(), 4);
    assert!(!sink.try_record(rec(5)));
    assert_eq!(sink.dropped(), 1);
    let started = Instant::now();
    assert!(!sink.record_async(rec(6)).await);
    let waited = started.elapsed();
    assert!(
        waited >= block && waited < Duration::from_secs(30),
        "{waited:?}"
    );
    assert_eq!((sink.dropped(), sink.depth()), (2, 4));
    store.open_gate();
    writer.shutdown();
    let ids = store.ids.lock().unwrap().clone();
    assert_eq!(ids, (0..=4).map(|i| rec(i).id).collect::<Vec<_>>());
    assert_eq!((sink.written(), sink.dropped(), sink.depth()), (5, 2, 0));
}

#[tokio::test]
async fn record_async_waits_for_room() {
    let (store, entered) = TestStore::gated();
    let (sink, writer) = LogSink::start(store.clone(), 1, Duration::from_secs(60));
    assert!(sink.try_record(rec(0)));
    entered.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(sink.try_record(rec(1)));
    assert!(!sink.try_record(rec(2)));
    let opener = {
        let store = store.clone();
        std::thread::spawn(move || store.open_gate())
    };
    assert!(sink.record_async(rec(3)).await);
    opener.join().unwrap();
    writer.shutdown();
    assert_eq!(store.ids.lock().unwrap().len(), 3);
    assert_eq!((sink.written(), sink.dropped()), (3, 1));
}

#[test]
fn write_failures_are_counted_and_spare_the_rest_of_the_batch() {
    let store = Arc::new(TestStore::default());
    let (sink, writer) = LogSink::start(store.clone(), 100, Duration::ZERO);
    for i in 0..50 {
        let mut r = rec(i);
        if i == 20 {
            r.id = "bad_record".into();
        }
        assert!(sink.try_record(r));
    }
    writer.shutdown();
    assert_eq!((sink.written(), sink.write_errors()), (49, 1));
    assert_eq!(store.ids.lock().unwrap().len(), 49);
}
