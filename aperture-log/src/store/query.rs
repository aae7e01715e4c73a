//! The dashboard's read queries (SPEC.md §11, §12).

use std::fmt::Write as _;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::{
    Cost, Filter, GroupBy, Page, RecordIdentity, RequestRecord, RequestSummary, SessionSummary,
    StoreError, TotalRow, USAGE_CSV_HEADER, rfc3339_ms,
};
use crate::{ToolCall, Usage};

/// A `WHERE` clause over `requests r` and its parameters.
fn where_clause(f: &Filter) -> (String, Vec<Value>) {
    let mut conds: Vec<&str> = Vec::new();
    let mut args = Vec::new();
    if let Some(since) = f.since_ms {
        conds.push("r.time_ms >= ?");
        args.push(Value::Integer(since));
    }
    if let Some(until) = f.until_ms {
        conds.push("r.time_ms < ?");
        args.push(Value::Integer(until));
    }
    if let Some(login) = &f.login {
        conds.push("r.login = ?");
        args.push(Value::Text(login.clone()));
    }
    if let Some(model) = &f.model {
        conds.push("r.model = ?");
        args.push(Value::Text(model.clone()));
    }
    if let Some(status) = f.status {
        conds.push("r.status = ?");
        args.push(Value::Integer(i64::from(status)));
    }
    if let Some(session) = &f.session_id {
        conds.push("r.session_id = ?");
        args.push(Value::Text(session.clone()));
    }
    if let Some((name, value)) = &f.header {
        // A non-correlated `IN`: SQLite builds the set of matching request ids once from the
        // (name, value) index, instead of probing it for every request row.
        args.push(Value::Text(name.to_ascii_lowercase()));
        match value {
            Some(v) => {
                conds.push(
                    "r.id IN (SELECT h.request_id FROM indexed_headers h \
                     WHERE h.name = ? AND h.value = ?)",
                );
                args.push(Value::Text(v.clone()));
            }
            None => {
                conds.push("r.id IN (SELECT h.request_id FROM indexed_headers h WHERE h.name = ?)")
            }
        }
    }
    if conds.is_empty() {
        (String::new(), args)
    } else {
        (format!(" WHERE {}", conds.join(" AND ")), args)
    }
}

fn page_args(args: &mut Vec<Value>, page: Page) {
    args.push(Value::Integer(i64::from(page.limit)));
    args.push(Value::Integer(i64::from(page.offset)));
}

/// A stored integer as `u64` (negative values, which the store never writes, read as 0).
fn u(row: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(row.get::<_, i64>(idx)?).unwrap_or(0))
}

fn opt_u(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<u64>> {
    Ok(row
        .get::<_, Option<i64>>(idx)?
        .map(|v| u64::try_from(v).unwrap_or(0)))
}

const DAY_MS: i64 = 86_400_000;

/// `YYYY-MM-DD` (UTC) of unix milliseconds.
fn day_of(ms: i64) -> String {
    rfc3339_ms(ms)[..10].to_string()
}

/// Whether the `sessions` rollup answers `f`: no filter but login and session id.
fn sessions_rollup_answers(f: &Filter) -> bool {
    f.since_ms.is_none()
        && f.until_ms.is_none()
        && f.model.is_none()
        && f.status.is_none()
        && f.header.is_none()
}

/// Whether the `usage_daily` rollup answers `f`: whole UTC days, login and model only.
fn usage_rollup_answers(f: &Filter) -> bool {
    f.status.is_none()
        && f.session_id.is_none()
        && f.header.is_none()
        && f.since_ms.is_none_or(|t| t.rem_euclid(DAY_MS) == 0)
        && f.until_ms.is_none_or(|t| t.rem_euclid(DAY_MS) == 0)
}

/// The `WHERE` clause over `usage_daily u` for a filter it answers.
fn usage_where(f: &Filter) -> (String, Vec<Value>) {
    let mut conds: Vec<&str> = Vec::new();
    let mut args = Vec::new();
    if let Some(since) = f.since_ms {
        conds.push("u.day >= ?");
        args.push(Value::Text(day_of(since)));
    }
    if let Some(until) = f.until_ms {
        conds.push("u.day < ?");
        args.push(Value::Text(day_of(until)));
    }
    if let Some(login) = &f.login {
        conds.push("u.login = ?");
        args.push(Value::Text(login.clone()));
    }
    if let Some(model) = &f.model {
        conds.push("u.model = ?");
        args.push(Value::Text(model.clone()));
    }
    if conds.is_empty() {
        (String::new(), args)
    } else {
        (format!(" WHERE {}", conds.join(" AND ")), args)
    }
}

fn read_session(row: &Row<'_>) -> rusqlite::Result<SessionSummary> {
    Ok(SessionSummary {
        session_id: row.get(0)?,
        login: row.get(1)?,
        agent: row.get(2)?,
        requests: u(row, 3)?,
        input_tokens: u(row, 4)?,
        output_tokens: u(row, 5)?,
        cost_nanodollars: u(row, 6)?,
        first_ms: row.get(7)?,
        last_ms: row.get(8)?,
    })
}

pub(crate) fn sessions(
    conn: &Connection,
    filter: &Filter,
    page: Page,
) -> Result<Vec<SessionSummary>, StoreError> {
    if !sessions_rollup_answers(filter) {
        return sessions_scan(conn, filter, page);
    }
    let mut conds: Vec<&str> = Vec::new();
    let mut args = Vec::new();
    if let Some(login) = &filter.login {
        conds.push("s.login = ?");
        args.push(Value::Text(login.clone()));
    }
    if let Some(session) = &filter.session_id {
        conds.push("s.session_id = ?");
        args.push(Value::Text(session.clone()));
    }
    let cond = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    page_args(&mut args, page);
    let sql = format!(
        "SELECT s.session_id, s.login, s.agent, s.requests, s.input_tokens, s.output_tokens,
            s.cost_nanodollars, s.first_ms, s.last_ms
         FROM sessions s{cond}
         ORDER BY s.last_ms DESC, s.session_id, s.login
         LIMIT ? OFFSET ?"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), read_session)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Sessions computed from the request rows (any filter).
pub(crate) fn sessions_scan(
    conn: &Connection,
    filter: &Filter,
    page: Page,
) -> Result<Vec<SessionSummary>, StoreError> {
    let (cond, mut args) = where_clause(filter);
    page_args(&mut args, page);
    let sql = format!(
        "SELECT r.session_id, r.login,
            (SELECT a.user_agent FROM requests a WHERE a.session_id = r.session_id
             AND a.login = r.login ORDER BY a.time_ms, a.id LIMIT 1),
            COUNT(*), SUM(r.input_tokens), SUM(r.output_tokens),
            COALESCE(SUM(r.cost_nanodollars), 0), MIN(r.time_ms), MAX(r.time_ms)
         FROM requests r{cond}
         GROUP BY r.session_id, r.login
         ORDER BY MAX(r.time_ms) DESC, r.session_id, r.login
         LIMIT ? OFFSET ?"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), read_session)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The `requests` columns [`read_record`] reads, in order.
const RECORD_COLUMNS: &str = "r.id, r.time_ms, r.login, r.display_name, r.node_id, r.node_name,
    r.tags, r.identity_source, r.provider, r.model, r.requested_model, r.api_type, r.method,
    r.path, r.query, r.status, r.error, r.duration_ms, r.ttfb_ms, r.stream, r.incomplete,
    r.upstream_request_id, r.input_tokens, r.output_tokens, r.cache_read_tokens,
    r.cache_write_5m_tokens, r.cache_write_1h_tokens, r.reasoning_tokens, r.image_input_tokens,
    r.image_output_tokens, r.web_search, r.usage_missing, r.cost_nanodollars, r.cost_basis,
    r.cost_adjustment, r.session_id, r.session_source, r.user_agent";

/// A metric row as a record without capture or tool calls; tags come back as JSON text (index 6).
fn read_record(row: &Row<'_>) -> rusqlite::Result<(RequestRecord, String)> {
    let cost = match opt_u(row, 32)? {
        Some(nanodollars) => Some(Cost {
            nanodollars,
            basis: row.get::<_, Option<String>>(33)?.unwrap_or_default(),
            adjustment: row.get::<_, Option<f64>>(34)?.unwrap_or(1.0),
        }),
        None => None,
    };
    let record = RequestRecord {
        id: row.get(0)?,
        time_ms: row.get(1)?,
        identity: RecordIdentity {
            login: row.get(2)?,
            display_name: row.get(3)?,
            node_id: row.get(4)?,
            node_name: row.get(5)?,
            tags: Vec::new(),
            source: row.get(7)?,
        },
        provider: row.get(8)?,
        model: row.get(9)?,
        requested_model: row.get(10)?,
        api_type: row.get(11)?,
        method: row.get(12)?,
        path: row.get(13)?,
        query: row.get(14)?,
        status: row.get(15)?,
        error: row.get(16)?,
        duration_ms: u(row, 17)?,
        ttfb_ms: opt_u(row, 18)?,
        stream: row.get(19)?,
        incomplete: row.get(20)?,
        upstream_request_id: row.get(21)?,
        usage: Usage {
            input: u(row, 22)?,
            output: u(row, 23)?,
            cache_read: u(row, 24)?,
            cache_write_5m: u(row, 25)?,
            cache_write_1h: u(row, 26)?,
            reasoning: u(row, 27)?,
            image_input: u(row, 28)?,
            image_output: u(row, 29)?,
            web_search: u(row, 30)?,
            usage_missing: row.get(31)?,
        },
        cost,
        session_id: row.get(35)?,
        session_source: row.get(36)?,
        user_agent: row.get(37)?,
        ..RequestRecord::default()
    };
    Ok((record, row.get(6)?))
}

pub(crate) fn requests(
    conn: &Connection,
    filter: &Filter,
    page: Page,
) -> Result<Vec<RequestSummary>, StoreError> {
    let (cond, mut args) = where_clause(filter);
    page_args(&mut args, page);
    let sql = format!(
        "SELECT {RECORD_COLUMNS} FROM requests r{cond}
         ORDER BY r.time_ms DESC, r.id DESC LIMIT ? OFFSET ?"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |row| {
        let (r, _) = read_record(row)?;
        Ok(RequestSummary::from(r))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn request(conn: &Connection, id: &str) -> Result<Option<RequestRecord>, StoreError> {
    let sql = format!("SELECT {RECORD_COLUMNS} FROM requests r WHERE r.id = ?1");
    let Some((mut r, tags)) = conn.query_row(&sql, [id], read_record).optional()? else {
        return Ok(None);
    };
    r.identity.tags = serde_json::from_str(&tags)?;
    let capture = conn
        .query_row(
            "SELECT request_headers, response_headers, request_body, request_body_truncated,
                response_body, response_body_truncated FROM captures WHERE request_id = ?1",
            [id],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                ))
            },
        )
        .optional()?;
    if let Some((req_h, resp_h, req_b, req_t, resp_b, resp_t)) = capture {
        r.request_headers = serde_json::from_str(&req_h)?;
        r.response_headers = serde_json::from_str(&resp_h)?;
        (r.request_body, r.request_body_truncated) = (req_b, req_t);
        (r.response_body, r.response_body_truncated) = (resp_b, resp_t);
    }
    let mut stmt = conn.prepare(
        "SELECT call_id, name, params FROM tool_calls WHERE request_id = ?1 ORDER BY seq",
    )?;
    let calls = stmt.query_map([id], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get::<_, String>(2)?))
    })?;
    for call in calls {
        let (call_id, name, params) = call?;
        let params = serde_json::from_str(&params)?;
        r.tool_calls.push(ToolCall {
            id: call_id,
            name,
            params,
        });
    }
    let mut stmt =
        conn.prepare("SELECT name, value FROM indexed_headers WHERE request_id = ?1 ORDER BY seq")?;
    let headers = stmt.query_map(params![id], |row| Ok((row.get(0)?, row.get(1)?)))?;
    r.indexed_headers = headers.collect::<Result<_, _>>()?;
    Ok(Some(r))
}

/// Sums shared by totals and CSV rows, starting at the given column.
const SUMS: &str = "COUNT(*), SUM(r.input_tokens), SUM(r.output_tokens),
    SUM(r.cache_read_tokens), SUM(r.cache_write_5m_tokens + r.cache_write_1h_tokens),
    SUM(r.reasoning_tokens), COALESCE(SUM(r.cost_nanodollars), 0)";

fn read_sums(row: &Row<'_>, at: usize, key: String) -> rusqlite::Result<TotalRow> {
    Ok(TotalRow {
        key,
        requests: u(row, at)?,
        input_tokens: u(row, at + 1)?,
        output_tokens: u(row, at + 2)?,
        cache_read_tokens: u(row, at + 3)?,
        cache_write_tokens: u(row, at + 4)?,
        reasoning_tokens: u(row, at + 5)?,
        cost_nanodollars: u(row, at + 6)?,
    })
}

const DAY: &str = "date(r.time_ms / 1000, 'unixepoch')";

/// The `usage_daily` sums, in [`read_sums`] order.
const ROLLUP_SUMS: &str = "SUM(u.requests), SUM(u.input_tokens), SUM(u.output_tokens),
    SUM(u.cache_read_tokens), SUM(u.cache_write_tokens), SUM(u.reasoning_tokens),
    SUM(u.cost_nanodollars)";

pub(crate) fn totals(
    conn: &Connection,
    filter: &Filter,
    group_by: GroupBy,
) -> Result<Vec<TotalRow>, StoreError> {
    if !usage_rollup_answers(filter) {
        return totals_scan(conn, filter, group_by);
    }
    let key = match group_by {
        GroupBy::User => "u.login",
        GroupBy::Model => "u.model",
        GroupBy::Day => "u.day",
    };
    let (cond, args) = usage_where(filter);
    let sql = format!("SELECT {key}, {ROLLUP_SUMS} FROM usage_daily u{cond} GROUP BY 1 ORDER BY 1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |row| read_sums(row, 1, row.get(0)?))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Totals computed from the request rows (any filter).
pub(crate) fn totals_scan(
    conn: &Connection,
    filter: &Filter,
    group_by: GroupBy,
) -> Result<Vec<TotalRow>, StoreError> {
    let key = match group_by {
        GroupBy::User => "r.login",
        GroupBy::Model => "r.model",
        GroupBy::Day => DAY,
    };
    let (cond, args) = where_clause(filter);
    let sql = format!("SELECT {key}, {SUMS} FROM requests r{cond} GROUP BY 1 ORDER BY 1");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |row| read_sums(row, 1, row.get(0)?))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn usage_csv(conn: &Connection, filter: &Filter) -> Result<String, StoreError> {
    if !usage_rollup_answers(filter) {
        return usage_csv_scan(conn, filter);
    }
    let (cond, args) = usage_where(filter);
    let sql = format!(
        "SELECT u.day, u.login, u.provider, u.model, {ROLLUP_SUMS} FROM usage_daily u{cond}
         GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    );
    usage_csv_with(conn, &sql, args)
}

/// The usage CSV computed from the request rows (any filter).
pub(crate) fn usage_csv_scan(conn: &Connection, filter: &Filter) -> Result<String, StoreError> {
    let (cond, args) = where_clause(filter);
    let sql = format!(
        "SELECT {DAY}, r.login, r.provider, r.model, {SUMS} FROM requests r{cond}
         GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    );
    usage_csv_with(conn, &sql, args)
}

/// The CSV of a query returning day, login, provider, model and the sums.
fn usage_csv_with(conn: &Connection, sql: &str, args: Vec<Value>) -> Result<String, StoreError> {
    let mut stmt = conn.prepare(sql)?;
    let mut out = String::from(USAGE_CSV_HEADER);
    out.push('\n');
    let mut rows = stmt.query(params_from_iter(args))?;
    while let Some(row) = rows.next()? {
        let day: String = row.get(0)?;
        let login: String = row.get(1)?;
        let provider: String = row.get(2)?;
        let model: String = row.get(3)?;
        let t = read_sums(row, 4, day)?;
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{}.{:09}",
            t.key,
            csv_field(&login),
            csv_field(&provider),
            csv_field(&model),
            t.requests,
            t.input_tokens,
            t.output_tokens,
            t.cache_read_tokens,
            t.cache_write_tokens,
            t.reasoning_tokens,
            t.cost_nanodollars / 1_000_000_000,
            t.cost_nanodollars % 1_000_000_000,
        );
    }
    Ok(out)
}

/// RFC 4180 quoting for fields with commas, quotes or line breaks.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::store::{RecordIdentity, SqliteStore, Store};

    const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    fn record(i: usize, spec: (u8, u8, u8, u32, u16, u16, bool, bool)) -> RequestRecord {
        let (login, model, session, offset_min, input, output, priced, agent) = spec;
        RequestRecord {
            id: format!("req_{i:04}"),
            time_ms: T0 + i64::from(offset_min) * 60_000,
            identity: RecordIdentity {
                login: format!("u{login}"),
                ..RecordIdentity::default()
            },
            provider: format!("p{}", model % 2),
            model: format!("m{model}"),
            status: if input % 5 == 0 { 429 } else { 200 },
            usage: Usage {
                input: u64::from(input),
                output: u64::from(output),
                cache_read: u64::from(input / 3),
                cache_write_5m: u64::from(output / 2),
                reasoning: u64::from(output / 4),
                ..Usage::default()
            },
            cost: priced.then(|| Cost {
                nanodollars: u64::from(input) * 7 + u64::from(output),
                ..Cost::default()
            }),
            session_id: format!("s{session}"),
            user_agent: agent.then(|| format!("agent-{i}")),
            ..RequestRecord::default()
        }
    }

    fn spec() -> impl Strategy<Value = (u8, u8, u8, u32, u16, u16, bool, bool)> {
        (
            0u8..3,
            0u8..3,
            0u8..4,
            0u32..(5 * 24 * 60),
            0u16..1000,
            0u16..500,
            any::<bool>(),
            any::<bool>(),
        )
    }

    fn filters() -> Vec<Filter> {
        let day = DAY_MS;
        vec![
            Filter::default(),
            Filter {
                login: Some("u1".into()),
                ..Filter::default()
            },
            Filter {
                model: Some("m2".into()),
                login: Some("u0".into()),
                ..Filter::default()
            },
            Filter {
                since_ms: Some(T0 + day),
                until_ms: Some(T0 + 3 * day),
                ..Filter::default()
            },
            Filter {
                session_id: Some("s2".into()),
                ..Filter::default()
            },
            Filter {
                session_id: Some("s1".into()),
                login: Some("u2".into()),
                ..Filter::default()
            },
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// The rollups give exactly what scanning the rows gives, whatever the batch split,
        /// order and duplicate ids.
        #[test]
        fn rollups_agree_with_scans(
            specs in proptest::collection::vec(spec(), 1..60),
            split in 1usize..7,
            dup in any::<bool>(),
        ) {
            let store = SqliteStore::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
            let mut records: Vec<RequestRecord> =
                specs.iter().enumerate().map(|(i, s)| record(i, *s)).collect();
            if dup {
                // The same id again with other contents: ignored, rollups untouched.
                let mut again = records[0].clone();
                again.usage.input += 1000;
                records.push(again);
            }
            for chunk in records.chunks(split) {
                store.write_batch(chunk).unwrap_or_else(|e| panic!("{e}"));
            }
            let conn = store.read_conn();
            let all = Page { limit: 1000, offset: 0 };
            fn ok<T>(r: Result<T, StoreError>) -> T {
                r.unwrap_or_else(|e| panic!("{e}"))
            }
            for f in filters() {
                if sessions_rollup_answers(&f) {
                    prop_assert_eq!(
                        ok(sessions(&conn, &f, all)),
                        ok(sessions_scan(&conn, &f, all)),
                        "sessions {:?}", f
                    );
                }
                if usage_rollup_answers(&f) {
                    for g in [GroupBy::User, GroupBy::Model, GroupBy::Day] {
                        prop_assert_eq!(
                            ok(totals(&conn, &f, g)),
                            ok(totals_scan(&conn, &f, g)),
                            "totals {:?} {:?}", f, g
                        );
                    }
                    prop_assert_eq!(
                        ok(usage_csv(&conn, &f)),
                        ok(usage_csv_scan(&conn, &f)),
                        "csv {:?}", f
                    );
                }
            }
        }
    }

    /// An upstream reporting absurd usage must not stop records (its own or later ones on the
    /// same day, login and model) from being stored, nor the totals from being read.
    #[test]
    fn absurd_usage_does_not_lose_records() {
        let store = SqliteStore::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        for i in 0..3 {
            let mut r = record(i, (0, 0, 0, 1, 1, 1, true, true));
            r.usage.input = u64::MAX;
            r.cost = Some(Cost {
                nanodollars: u64::MAX,
                ..Cost::default()
            });
            store.write_batch(&[r]).unwrap_or_else(|e| panic!("{e}"));
        }
        let all = store
            .requests(&Filter::default(), Page::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(all.len(), 3);
        let totals = store
            .totals(&Filter::default(), GroupBy::User)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(totals[0].requests, 3);
        assert_eq!(totals[0].input_tokens, 3 << 40);
        let sessions = store
            .sessions(&Filter::default(), Page::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sessions[0].requests, 3);
    }

    #[test]
    fn filters_outside_the_rollups_scan() {
        assert!(sessions_rollup_answers(&Filter::default()));
        let mid_day = Filter {
            since_ms: Some(T0 + 1),
            ..Filter::default()
        };
        assert!(!usage_rollup_answers(&mid_day));
        assert!(!sessions_rollup_answers(&mid_day));
        let status = Filter {
            status: Some(429),
            ..Filter::default()
        };
        assert!(!usage_rollup_answers(&status) && !sessions_rollup_answers(&status));
    }
}
