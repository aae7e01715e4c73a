#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The database file: reopening, migrations, open errors, and what reaches the disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aperture_log::store::{
    Filter, GroupBy, LogSink, Page, RequestRecord, SqliteStore, Store, StoreError,
};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "aperture-log-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn db(&self) -> PathBuf {
        self.0.join("aperture.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rec(i: usize) -> RequestRecord {
    RequestRecord {
        id: format!("req_{i:06}"),
        time_ms: 1_767_225_600_000 + i64::try_from(i).unwrap() * 1000,
        model: "claude-a".into(),
        status: 200,
        session_id: "s".into(),
        ..RequestRecord::default()
    }
}

fn count(store: &dyn Store) -> u64 {
    let totals = store.totals(&Filter::default(), GroupBy::Model).unwrap();
    totals.iter().map(|t| t.requests).sum()
}

/// The database file and its write-ahead log, concatenated.
fn disk_bytes(db: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(db).unwrap();
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    if let Ok(more) = std::fs::read(wal) {
        bytes.extend(more);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn batches_survive_a_reopen() {
    let dir = TempDir::new("reopen");
    let mut with_capture = rec(5_000);
    with_capture.request_headers = vec![("content-type".into(), "application/json".into())];
    with_capture.request_body = Some(b"{}".to_vec());
    {
        let store = Arc::new(SqliteStore::open(dir.db()).unwrap());
        let (sink, writer) = LogSink::start(store.clone(), 2_000, Duration::ZERO);
        for i in 0..2_000 {
            assert!(sink.try_record(rec(i)));
        }
        writer.shutdown();
        store.write_batch(&[with_capture.clone()]).unwrap();
        assert_eq!(sink.written(), 2_000);
    }
    let reopened = SqliteStore::open(dir.db()).unwrap();
    assert_eq!(count(&reopened), 2_001);
    assert_eq!(
        reopened.request(&with_capture.id).unwrap(),
        Some(with_capture)
    );
    let newest = reopened
        .requests(&Filter::default(), Page::default())
        .unwrap();
    assert_eq!(newest.len(), 100);
    // Reopening again applies no migration twice.
    drop(reopened);
    let again = SqliteStore::open(dir.db()).unwrap();
    assert_eq!(count(&again), 2_001);
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SqliteStore::schema_version());
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn open_errors_name_the_path() {
    let dir = TempDir::new("open-error");
    let missing = dir.0.join("no-such-dir").join("aperture.db");
    let err = SqliteStore::open(&missing).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }));
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );

    let not_a_db = dir.0.join("garbage.db");
    std::fs::write(&not_a_db, vec![b'x'; 4096]).unwrap();
    let err = SqliteStore::open(&not_a_db).unwrap_err().to_string();
    assert!(err.contains("garbage.db"), "{err}");

    let newer = dir.0.join("newer.db");
    let conn = rusqlite::Connection::open(&newer).unwrap();
    conn.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(conn);
    let err = SqliteStore::open(&newer).unwrap_err().to_string();
    assert!(err.contains("newer.db") && err.contains("99"), "{err}");
}

#[test]
fn the_disk_holds_bodies_only_with_a_capture_and_not_after_purge() {
    let dir = TempDir::new("bytes");
    let body = b"sentinel-body-5f2c9a7e1d";
    let header = "sentinel-header-0b8e44";
    let store = SqliteStore::open(dir.db()).unwrap();
    // No capture: the record carries neither (the store must not invent one).
    let plain = rec(1);
    store.write_batch(&[plain]).unwrap();
    store.checkpoint().unwrap();
    let bytes = disk_bytes(&dir.db());
    assert!(!contains(&bytes, body) && !contains(&bytes, header.as_bytes()));
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    let captures: i64 = conn
        .query_row("SELECT COUNT(*) FROM captures", [], |r| r.get(0))
        .unwrap();
    assert_eq!(captures, 0);

    let mut captured = rec(2);
    captured.request_body = Some(body.to_vec());
    captured.response_headers = vec![("x-trace".into(), header.into())];
    store.write_batch(&[captured.clone()]).unwrap();
    store.checkpoint().unwrap();
    let bytes = disk_bytes(&dir.db());
    assert!(contains(&bytes, body) && contains(&bytes, header.as_bytes()));

    assert_eq!(store.purge(captured.time_ms + 1, true).unwrap(), 1);
    let bytes = disk_bytes(&dir.db());
    assert!(!contains(&bytes, body), "purged body still on disk");
    assert!(
        !contains(&bytes, header.as_bytes()),
        "purged header still on disk"
    );
    assert_eq!(count(&store), 2);
    let metric = store.request(&captured.id).unwrap().unwrap();
    assert_eq!(
        (metric.request_body, metric.response_headers),
        (None, vec![])
    );
}

/// A database written before the rollups existed (schema 1) gets them filled from its rows
/// when opened, and they stay in step with what is written after.
#[test]
fn rollups_are_filled_when_an_old_database_is_opened() {
    let rec = |i: usize| RequestRecord {
        usage: aperture_log::Usage {
            input: 10 + i as u64,
            output: 3,
            ..Default::default()
        },
        cost: Some(aperture_log::store::Cost {
            nanodollars: 5,
            ..Default::default()
        }),
        user_agent: Some(format!("agent-{i}")),
        ..rec(i)
    };
    let dir = TempDir::new("rollup-migration");
    {
        let store = SqliteStore::open(dir.db()).unwrap();
        store
            .write_batch(&(0..30).map(rec).collect::<Vec<_>>())
            .unwrap();
    }
    {
        // Back to schema 1: no rollup tables (and none of the later ones).
        let conn = rusqlite::Connection::open(dir.db()).unwrap();
        conn.execute_batch(
            "DROP TABLE usage_daily; DROP TABLE sessions; DROP TABLE quota_balances;
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(dir.db()).unwrap();
    store
        .write_batch(&(30..40).map(rec).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(count(&store), 40);
    let by_day = store.totals(&Filter::default(), GroupBy::Day).unwrap();
    assert_eq!(by_day.len(), 1);
    assert_eq!(by_day[0].input_tokens, (0..40).map(|i| 10 + i).sum::<u64>());
    assert_eq!(by_day[0].output_tokens, 40 * 3);
    assert_eq!(by_day[0].cost_nanodollars, 40 * 5);
    let sessions = store.sessions(&Filter::default(), Page::default()).unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].requests, 40);
    assert_eq!(sessions[0].first_ms, rec(0).time_ms);
    assert_eq!(sessions[0].last_ms, rec(39).time_ms);
    assert_eq!(sessions[0].agent.as_deref(), Some("agent-0"));
    assert_eq!(sessions[0].input_tokens, by_day[0].input_tokens);
    let csv = store.usage_csv(&Filter::default()).unwrap();
    assert!(
        csv.ends_with(",,,claude-a,40,1180,120,0,0,0,0.000000200\n"),
        "{csv}"
    );
}
