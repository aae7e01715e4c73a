#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The store's queries, filters, totals, CSV and purge.

use aperture_log::store::{
    Cost, Filter, GroupBy, Page, RecordIdentity, RequestRecord, SqliteStore, Store, TotalRow,
    USAGE_CSV_HEADER,
};
use aperture_log::{ToolCall, Usage};
use serde_json::json;

/// 2026-01-01T00:00:00Z.
const DAY1: i64 = 1_767_225_600_000;
const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

/// id, time, login, provider, model, status, session, [input, output, reasoning], cost.
type Spec<'a> = (
    &'a str,
    i64,
    &'a str,
    &'a str,
    &'a str,
    u16,
    &'a str,
    [u64; 3],
    Option<u64>,
);

#[rustfmt::skip]
const SPECS: [Spec<'static>; 5] = [
    ("req_1", DAY1 + HOUR, "alice", "anthropic", "claude-a", 200, "s1", [100, 50, 20], Some(1_500_000_000)),
    ("req_2", DAY1 + 2 * HOUR, "alice", "anthropic", "claude-a", 429, "s1", [10, 0, 0], None),
    ("req_3", DAY1 + DAY + HOUR, "bob", "openai", "gpt-x", 200, "s2", [1000, 200, 100], Some(25)),
    ("req_4", DAY1 + DAY + 3 * HOUR, "alice", "openai", "gpt-x", 200, "s3", [1, 1, 0], Some(1_000_000_000)),
    ("req_5", DAY1 + DAY + 4 * HOUR, "eve", "openai", "weird,\"model\"", 200, "s5", [7, 3, 0], None),
];

fn rec(spec: Spec<'_>) -> RequestRecord {
    let (id, time_ms, login, provider, model, status, session, [input, output, reasoning], cost) =
        spec;
    RequestRecord {
        id: id.into(),
        time_ms,
        identity: RecordIdentity {
            login: login.into(),
            display_name: login.to_uppercase(),
            node_id: format!("n-{login}"),
            node_name: format!("{login}-laptop"),
            tags: vec!["tag:dev".into()],
            source: "whois".into(),
        },
        provider: provider.into(),
        model: model.into(),
        requested_model: model.into(),
        api_type: "anthropic_messages".into(),
        method: "POST".into(),
        path: "/v1/messages".into(),
        status,
        duration_ms: 1200,
        ttfb_ms: Some(300),
        usage: Usage {
            input,
            output,
            reasoning,
            ..Usage::default()
        },
        cost: cost.map(|n| Cost {
            nanodollars: n,
            basis: format!("{provider}/{model}"),
            adjustment: 1.1,
        }),
        session_id: session.into(),
        session_source: "header".into(),
        user_agent: Some(format!("agent-of-{login}")),
        ..RequestRecord::default()
    }
}

fn fixture() -> (SqliteStore, RequestRecord) {
    let [mut r1, mut r2, mut r3, mut r4, mut r5] = SPECS.map(rec);
    r1.usage.cache_read = 10;
    r1.usage.cache_write_5m = 5;
    r1.usage.cache_write_1h = 1;
    r1.indexed_headers = vec![("X-Request-Id".into(), Some("abc".into()))];
    r2.error = Some("rate limited".into());
    r2.user_agent = Some("second-agent".into());
    r3.indexed_headers = vec![("authorization".into(), None)];
    r4.query = Some("api_key=[REDACTED]".into());
    r4.stream = true;
    r4.upstream_request_id = Some("up-4".into());
    r4.indexed_headers = vec![("x-request-id".into(), Some("def".into()))];
    r4.request_headers = vec![("content-type".into(), "application/json".into())];
    r4.response_headers = vec![("x-request-id".into(), "def".into())];
    r4.request_body = Some(br#"{"model":"gpt-x"}"#.to_vec());
    r4.response_body = Some(b"partial".to_vec());
    r4.response_body_truncated = true;
    r4.tool_calls = vec![
        ToolCall {
            id: "call_1".into(),
            name: "read_file".into(),
            params: json!({"path": "a.rs"}),
        },
        ToolCall {
            id: "call_2".into(),
            name: "shell".into(),
            params: json!("not json {"),
        },
    ];
    r5.user_agent = None;
    let store = SqliteStore::open_in_memory().unwrap();
    store.write_batch(&[r1, r2, r3]).unwrap();
    store.write_batch(&[r4.clone(), r5]).unwrap();
    (store, r4)
}

fn ids(store: &SqliteStore, filter: &Filter) -> Vec<String> {
    let rows = store.requests(filter, Page::default()).unwrap();
    rows.into_iter().map(|r| r.id).collect()
}

#[test]
fn request_round_trips_and_duplicates_are_ignored() {
    let (store, r4) = fixture();
    assert_eq!(store.request("req_4").unwrap(), Some(r4));
    assert_eq!(store.request("req_missing").unwrap(), None);
    let mut dup = rec(("req_1", 0, "mallory", "x", "y", 500, "z", [9, 9, 9], None));
    dup.request_body = Some(b"dup".to_vec());
    store.write_batch(&[dup]).unwrap();
    let r1 = store.request("req_1").unwrap().unwrap();
    assert_eq!(r1.identity.login, "alice");
    assert_eq!(r1.request_body, None);
    assert_eq!(
        r1.indexed_headers,
        vec![("x-request-id".into(), Some("abc".into()))]
    );
    let r2 = store.request("req_2").unwrap().unwrap();
    assert_eq!(r2.error.as_deref(), Some("rate limited"));
    assert_eq!(r2.cost, None);
    assert_eq!(r2.time(), "2026-01-01T02:00:00.000Z");
}

/// A filter with one change from the default.
fn with(change: impl FnOnce(&mut Filter)) -> Filter {
    let mut filter = Filter::default();
    change(&mut filter);
    filter
}

#[test]
fn request_filters() {
    let (store, _) = fixture();
    let all = ["req_5", "req_4", "req_3", "req_2", "req_1"];
    assert_eq!(ids(&store, &Filter::default()), all);
    let f = |f: Filter| ids(&store, &f);
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(f(with(|f| f.login = s("bob"))), ["req_3"]);
    assert_eq!(f(with(|f| f.model = s("gpt-x"))), ["req_4", "req_3"]);
    assert_eq!(f(with(|f| f.status = Some(429))), ["req_2"]);
    assert_eq!(f(with(|f| f.session_id = s("s1"))), ["req_2", "req_1"]);
    let range = with(|f| {
        f.since_ms = Some(DAY1 + DAY);
        f.until_ms = Some(DAY1 + DAY + 3 * HOUR);
    });
    assert_eq!(f(range), ["req_3"]);
    let since = with(|f| f.since_ms = Some(DAY1 + DAY + 3 * HOUR));
    assert_eq!(f(since), ["req_5", "req_4"]);
    let until = with(|f| f.until_ms = Some(DAY1 + DAY + HOUR));
    assert_eq!(f(until), ["req_2", "req_1"]);
    let both = with(|f| (f.login, f.model) = (s("alice"), s("gpt-x")));
    assert_eq!(f(both), ["req_4"]);
    let header =
        |n: &str, v: Option<&str>| with(|f| f.header = Some((n.into(), v.map(Into::into))));
    assert_eq!(f(header("x-request-id", Some("abc"))), ["req_1"]);
    assert_eq!(f(header("X-REQUEST-ID", None)), ["req_4", "req_1"]);
    assert_eq!(f(header("authorization", None)), ["req_3"]);
    assert!(f(header("authorization", Some("x"))).is_empty());
    assert!(f(with(|f| f.login = s("nobody"))).is_empty());
    let page = Page {
        limit: 2,
        offset: 1,
    };
    let paged: Vec<_> = store.requests(&Filter::default(), page).unwrap();
    let paged_ids: Vec<_> = paged.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(paged_ids, ["req_4", "req_3"]);
    let r4 = &paged[0];
    assert_eq!(
        (r4.login.as_str(), r4.status, r4.stream),
        ("alice", 200, true)
    );
    assert_eq!(r4.cost_nanodollars, Some(1_000_000_000));
    assert_eq!((r4.duration_ms, r4.ttfb_ms), (1200, Some(300)));
}

#[test]
fn sessions_summarise() {
    let (store, _) = fixture();
    let all = store.sessions(&Filter::default(), Page::default()).unwrap();
    let order: Vec<_> = all.iter().map(|s| s.session_id.as_str()).collect();
    assert_eq!(order, ["s5", "s3", "s2", "s1"]);
    let s1 = &all[3];
    assert_eq!(s1.login, "alice");
    assert_eq!(s1.agent.as_deref(), Some("agent-of-alice"));
    assert_eq!(
        (s1.requests, s1.input_tokens, s1.output_tokens),
        (2, 110, 50)
    );
    assert_eq!(s1.cost_nanodollars, 1_500_000_000);
    assert_eq!((s1.first_ms, s1.last_ms), (DAY1 + HOUR, DAY1 + 2 * HOUR));
    assert_eq!(all[0].agent, None);
    assert_eq!(all[0].cost_nanodollars, 0);
    let alice = with(|f| f.login = Some("alice".into()));
    let mine = store.sessions(&alice, Page::default()).unwrap();
    assert_eq!(
        mine.iter()
            .map(|s| s.session_id.as_str())
            .collect::<Vec<_>>(),
        ["s3", "s1"]
    );
    let second = store
        .sessions(
            &alice,
            Page {
                limit: 1,
                offset: 1,
            },
        )
        .unwrap();
    assert_eq!(second, vec![s1.clone()]);
    let errors = with(|f| f.status = Some(429));
    let failed = store.sessions(&errors, Page::default()).unwrap();
    assert_eq!((failed.len(), failed[0].requests), (1, 1));
}

#[allow(clippy::too_many_arguments)]
fn row(key: &str, n: u64, i: u64, o: u64, cr: u64, cw: u64, rs: u64, c: u64) -> TotalRow {
    TotalRow {
        key: key.into(),
        requests: n,
        input_tokens: i,
        output_tokens: o,
        cache_read_tokens: cr,
        cache_write_tokens: cw,
        reasoning_tokens: rs,
        cost_nanodollars: c,
    }
}

#[test]
fn totals_by_user_model_and_day() {
    let (store, _) = fixture();
    let all = Filter::default();
    assert_eq!(
        store.totals(&all, GroupBy::User).unwrap(),
        [
            row("alice", 3, 111, 51, 10, 6, 20, 2_500_000_000),
            row("bob", 1, 1000, 200, 0, 0, 100, 25),
            row("eve", 1, 7, 3, 0, 0, 0, 0),
        ]
    );
    assert_eq!(
        store.totals(&all, GroupBy::Model).unwrap(),
        [
            row("claude-a", 2, 110, 50, 10, 6, 20, 1_500_000_000),
            row("gpt-x", 2, 1001, 201, 0, 0, 100, 1_000_000_025),
            row("weird,\"model\"", 1, 7, 3, 0, 0, 0, 0),
        ]
    );
    assert_eq!(
        store.totals(&all, GroupBy::Day).unwrap(),
        [
            row("2026-01-01", 2, 110, 50, 10, 6, 20, 1_500_000_000),
            row("2026-01-02", 3, 1008, 204, 0, 0, 100, 1_000_000_025),
        ]
    );
    let bob = with(|f| f.login = Some("bob".into()));
    assert_eq!(
        store.totals(&bob, GroupBy::Day).unwrap(),
        [row("2026-01-02", 1, 1000, 200, 0, 0, 100, 25)]
    );
    let none = with(|f| f.login = Some("nobody".into()));
    assert!(store.totals(&none, GroupBy::User).unwrap().is_empty());
}

#[test]
fn usage_csv_is_exact() {
    let (store, _) = fixture();
    assert_eq!(
        USAGE_CSV_HEADER,
        "date,login,provider,model,requests,input_tokens,output_tokens,cache_read_tokens,\
         cache_write_tokens,reasoning_tokens,cost_usd"
    );
    let expected = format!(
        "{USAGE_CSV_HEADER}\n\
         2026-01-01,alice,anthropic,claude-a,2,110,50,10,6,20,1.500000000\n\
         2026-01-02,alice,openai,gpt-x,1,1,1,0,0,0,1.000000000\n\
         2026-01-02,bob,openai,gpt-x,1,1000,200,0,0,100,0.000000025\n\
         2026-01-02,eve,openai,\"weird,\"\"model\"\"\",1,7,3,0,0,0,0.000000000\n"
    );
    assert_eq!(store.usage_csv(&Filter::default()).unwrap(), expected);
    let none = with(|f| f.login = Some("nobody".into()));
    assert_eq!(
        store.usage_csv(&none).unwrap(),
        format!("{USAGE_CSV_HEADER}\n")
    );
}

#[test]
fn purge_keeps_metric_rows() {
    let (store, r4) = fixture();
    let totals_before = store.totals(&Filter::default(), GroupBy::User).unwrap();
    // Nothing is older than day 1.
    assert_eq!(store.purge(DAY1, true).unwrap(), 0);
    assert_eq!(store.request("req_4").unwrap().as_ref(), Some(&r4));
    // Captures: one capture row, three indexed headers; tool calls stay.
    assert_eq!(store.purge(DAY1 + 2 * DAY, false).unwrap(), 4);
    let purged = store.request("req_4").unwrap().unwrap();
    assert!(purged.request_headers.is_empty() && purged.response_headers.is_empty());
    assert_eq!((purged.request_body, purged.response_body), (None, None));
    assert!(purged.indexed_headers.is_empty());
    assert_eq!(purged.tool_calls, r4.tool_calls);
    assert_eq!(
        (purged.usage, purged.cost),
        (r4.usage.clone(), r4.cost.clone())
    );
    assert_eq!(purged.query, r4.query);
    // Tool data too.
    assert_eq!(store.purge(DAY1 + 2 * DAY, true).unwrap(), 2);
    assert!(
        store
            .request("req_4")
            .unwrap()
            .unwrap()
            .tool_calls
            .is_empty()
    );
    assert_eq!(
        store.totals(&Filter::default(), GroupBy::User).unwrap(),
        totals_before
    );
    assert_eq!(ids(&store, &Filter::default()).len(), 5);
}

#[test]
fn purge_respects_the_cutoff() {
    let (store, r4) = fixture();
    // Only the indexed headers of req_1 and req_3 are older than req_4.
    assert_eq!(store.purge(r4.time_ms, true).unwrap(), 2);
    assert_eq!(store.request("req_4").unwrap(), Some(r4));
    assert!(
        store
            .request("req_1")
            .unwrap()
            .unwrap()
            .indexed_headers
            .is_empty()
    );
}
