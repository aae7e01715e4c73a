//! Versioned schema migrations, tracked in `PRAGMA user_version`.

use rusqlite::Connection;

use super::StoreError;

/// Migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: metric rows, captures, tool calls, indexed headers.
    "CREATE TABLE requests (
        id TEXT PRIMARY KEY,
        time TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        login TEXT NOT NULL,
        display_name TEXT NOT NULL,
        node_id TEXT NOT NULL,
        node_name TEXT NOT NULL,
        tags TEXT NOT NULL,
        identity_source TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        requested_model TEXT NOT NULL,
        api_type TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        query TEXT,
        status INTEGER NOT NULL,
        error TEXT,
        duration_ms INTEGER NOT NULL,
        ttfb_ms INTEGER,
        stream INTEGER NOT NULL,
        incomplete INTEGER NOT NULL,
        upstream_request_id TEXT,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL,
        cache_write_5m_tokens INTEGER NOT NULL,
        cache_write_1h_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        image_input_tokens INTEGER NOT NULL,
        image_output_tokens INTEGER NOT NULL,
        web_search INTEGER NOT NULL,
        usage_missing INTEGER NOT NULL,
        cost_nanodollars INTEGER,
        cost_basis TEXT,
        cost_adjustment REAL,
        session_id TEXT NOT NULL,
        session_source TEXT NOT NULL,
        user_agent TEXT
    ) STRICT;
    CREATE INDEX requests_time ON requests(time_ms);
    CREATE INDEX requests_login_time ON requests(login, time_ms);
    CREATE INDEX requests_model_time ON requests(model, time_ms);
    CREATE INDEX requests_session ON requests(session_id, time_ms);

    CREATE TABLE captures (
        request_id TEXT PRIMARY KEY REFERENCES requests(id) ON DELETE CASCADE,
        time_ms INTEGER NOT NULL,
        request_headers TEXT NOT NULL,
        response_headers TEXT NOT NULL,
        request_body BLOB,
        request_body_truncated INTEGER NOT NULL,
        response_body BLOB,
        response_body_truncated INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX captures_time ON captures(time_ms);

    CREATE TABLE tool_calls (
        request_id TEXT NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        time_ms INTEGER NOT NULL,
        call_id TEXT NOT NULL,
        name TEXT NOT NULL,
        params TEXT NOT NULL,
        PRIMARY KEY (request_id, seq)
    ) STRICT;
    CREATE INDEX tool_calls_time ON tool_calls(time_ms);

    CREATE TABLE indexed_headers (
        request_id TEXT NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        time_ms INTEGER NOT NULL,
        name TEXT NOT NULL,
        value TEXT,
        PRIMARY KEY (request_id, seq)
    ) STRICT;
    CREATE INDEX indexed_headers_name_value ON indexed_headers(name, value);
    CREATE INDEX indexed_headers_time ON indexed_headers(time_ms);",
    // 2: rollups kept by the writer, so the dashboard's unfiltered views read a few thousand
    // rows instead of the whole log; filled from the rows already stored.
    "CREATE TABLE usage_daily (
        day TEXT NOT NULL,
        login TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        requests INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL,
        cache_write_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        cost_nanodollars INTEGER NOT NULL,
        PRIMARY KEY (day, login, provider, model)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX usage_daily_login ON usage_daily(login, day);
    INSERT INTO usage_daily
        SELECT date(time_ms / 1000, 'unixepoch'), login, provider, model, COUNT(*),
            SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens),
            SUM(cache_write_5m_tokens + cache_write_1h_tokens), SUM(reasoning_tokens),
            COALESCE(SUM(cost_nanodollars), 0)
        FROM requests GROUP BY 1, 2, 3, 4;

    CREATE TABLE sessions (
        session_id TEXT NOT NULL,
        login TEXT NOT NULL,
        agent TEXT,
        first_id TEXT NOT NULL,
        requests INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cost_nanodollars INTEGER NOT NULL,
        first_ms INTEGER NOT NULL,
        last_ms INTEGER NOT NULL,
        PRIMARY KEY (session_id, login)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX sessions_last ON sessions(last_ms);
    CREATE INDEX sessions_login_last ON sessions(login, last_ms);
    INSERT INTO sessions
        SELECT r.session_id, r.login,
            (SELECT a.user_agent FROM requests a WHERE a.session_id = r.session_id
             AND a.login = r.login ORDER BY a.time_ms, a.id LIMIT 1),
            (SELECT a.id FROM requests a WHERE a.session_id = r.session_id
             AND a.login = r.login ORDER BY a.time_ms, a.id LIMIT 1),
            COUNT(*), SUM(r.input_tokens), SUM(r.output_tokens),
            COALESCE(SUM(r.cost_nanodollars), 0), MIN(r.time_ms), MAX(r.time_ms)
        FROM requests r GROUP BY r.session_id, r.login;",
    // 3: quota balances (SPEC.md §10.1), one row per bucket in use.
    "CREATE TABLE quota_balances (
        bucket TEXT PRIMARY KEY,
        quota TEXT NOT NULL,
        nanodollars INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;",
];

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the schema up to [`SCHEMA_VERSION`], each migration in its own transaction.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (version, sql) in (1..)
        .zip(MIGRATIONS.iter())
        .skip_while(|(v, _)| *v <= found)
    {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {version}"))?;
        tx.commit()?;
    }
    Ok(())
}
