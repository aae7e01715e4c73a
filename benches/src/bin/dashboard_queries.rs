//! The dashboard's queries over a large request log (issue: "pages stay fast with 100,000
//! records"): seeds a WAL-mode database file with realistic records (50 users, 12 models,
//! 30 days, sessions of ~25 requests, 1 KB bodies) and times each query the dashboard makes,
//! as the admin (everyone's rows) and as one user (own rows).
//!
//! ```text
//! cargo run --release -p aperture-benches --bin dashboard_queries -- [RECORDS]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use aperture_log::store::{
    Filter, GroupBy, Page, RecordIdentity, RequestRecord, SqliteStore, Store,
};
use aperture_log::{ToolCall, Usage};

const DAY_MS: i64 = 86_400_000;
const START_MS: i64 = 1_764_000_000_000;

fn record(i: usize, n: usize) -> RequestRecord {
    let models = [
        "claude-sonnet-4-6",
        "claude-opus-4-1",
        "claude-haiku-4-5",
        "gpt-5",
        "gpt-5-mini",
        "gpt-5-codex",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "o3",
        "o4-mini",
        "llama-4",
        "mistral-large",
    ];
    let user = i % 50;
    RequestRecord {
        id: format!("req_{i:026}"),
        // Spread evenly over 30 days, in order.
        time_ms: START_MS + (i as i64) * (30 * DAY_MS) / n as i64,
        identity: RecordIdentity {
            login: format!("user{user}@example.com"),
            source: "tailscale".into(),
            ..RecordIdentity::default()
        },
        provider: "anthropic".into(),
        model: models[(i / 7) % models.len()].into(),
        requested_model: models[(i / 7) % models.len()].into(),
        api_type: "ant_messages".into(),
        method: "POST".into(),
        path: "/v1/messages".into(),
        status: if i % 97 == 0 { 429 } else { 200 },
        duration_ms: 900,
        ttfb_ms: Some(300),
        stream: true,
        usage: Usage {
            input: 1200,
            output: 300,
            cache_read: 5000,
            ..Usage::default()
        },
        cost: Some(aperture_log::store::Cost {
            nanodollars: 12_345,
            basis: "anthropic/claude-sonnet-4-6".into(),
            adjustment: 1.0,
        }),
        // ~25 requests per session, each session one user's.
        session_id: format!("sess-{user}-{}", i / (50 * 25)),
        session_source: "claude_code_header".into(),
        user_agent: Some("claude-cli/2.0.0".into()),
        tool_calls: vec![ToolCall {
            id: "toolu_1".into(),
            name: "Read".into(),
            params: serde_json::json!({"path": "src/main.rs"}),
        }],
        request_headers: vec![("anthropic-version".into(), "2023-06-01".into())],
        response_headers: vec![("content-type".into(), "text/event-stream".into())],
        request_body: Some(vec![b'x'; 1024]),
        response_body: Some(vec![b'y'; 1024]),
        indexed_headers: vec![("x-team".into(), Some(format!("team-{}", user % 5)))],
        ..RequestRecord::default()
    }
}

/// The median of `runs` timings of `f`.
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed());
    }
    times.sort();
    (times[runs / 2], last.unwrap_or_else(|| unreachable!()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("aperture-bench-dash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.join("aperture.db"))?);
    let seed = Instant::now();
    let records: Vec<RequestRecord> = (0..n).map(|i| record(i, n)).collect();
    for chunk in records.chunks(1000) {
        store.write_batch(chunk)?;
    }
    drop(records);
    println!(
        "seeded {n} records in {:.1} s\n",
        seed.elapsed().as_secs_f64()
    );

    let user = Filter {
        login: Some("user7@example.com".into()),
        ..Filter::default()
    };
    // What the date inputs send: whole UTC days.
    let last_week = Filter {
        since_ms: Some((START_MS + 23 * DAY_MS).div_euclid(DAY_MS) * DAY_MS),
        ..Filter::default()
    };
    let page = Page {
        limit: 51,
        offset: 0,
    };
    let deep = Page {
        limit: 51,
        offset: 1000,
    };
    let newest = store.requests(&Filter::default(), Page::default())?;
    let some_id = newest.first().map(|r| r.id.clone()).unwrap_or_default();
    let some_session = newest
        .first()
        .map(|r| r.session_id.clone())
        .unwrap_or_default();
    let session = Filter {
        session_id: Some(some_session),
        ..Filter::default()
    };
    let team = Filter {
        header: Some(("x-team".into(), Some("team-2".into()))),
        ..Filter::default()
    };

    println!("| query (dashboard page) | rows | median |");
    println!("|---|---|---|");
    let runs = 15;
    macro_rules! row {
        ($name:expr, $e:expr) => {{
            let (t, rows) = time(runs, || $e.map(|v| v.len()).unwrap_or(0));
            println!("| {} | {} | {:.1} ms |", $name, rows, t.as_secs_f64() * 1e3);
        }};
    }
    row!(
        "sessions, everyone, first page (Logs)",
        store.sessions(&Filter::default(), page)
    );
    row!(
        "sessions, everyone, offset 1,000",
        store.sessions(&Filter::default(), deep)
    );
    row!("sessions, one user (Logs)", store.sessions(&user, page));
    row!(
        "sessions, last 7 days (date filter: reads the rows)",
        store.sessions(&last_week, page)
    );
    row!(
        "sessions, indexed header x-team=team-2",
        store.sessions(&team, page)
    );
    row!(
        "one session's requests (Logs → session)",
        store.requests(&session, page)
    );
    row!(
        "requests, everyone, first page",
        store.requests(&Filter::default(), page)
    );
    row!(
        "requests, one user, 15 newest (My dashboard)",
        store.requests(
            &user,
            Page {
                limit: 16,
                offset: 0
            }
        )
    );
    row!(
        "one request with capture (Logs → request)",
        store
            .request(&some_id)
            .map(|r| r.into_iter().collect::<Vec<_>>())
    );
    for (name, f) in [
        ("everyone", &Filter::default()),
        ("one user", &user),
        ("last 7 days", &last_week),
    ] {
        row!(
            format!("usage totals by user, {name} (Usage)"),
            store.totals(f, GroupBy::User)
        );
        row!(
            format!("usage totals by model, {name}"),
            store.totals(f, GroupBy::Model)
        );
        row!(
            format!("usage totals by day, {name}"),
            store.totals(f, GroupBy::Day)
        );
    }
    let may = Filter {
        model: Some("gpt-5".into()),
        status: Some(429),
        ..Filter::default()
    };
    row!(
        "usage totals by user, model + status filter (scans rows)",
        store.totals(&may, GroupBy::User)
    );
    row!(
        "usage CSV, everyone",
        store
            .usage_csv(&Filter::default())
            .map(|s| s.lines().map(str::to_owned).collect::<Vec<_>>())
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
