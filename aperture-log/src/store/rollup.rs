//! Rollups the writer keeps beside the rows: usage per UTC day, login, provider and model
//! (`usage_daily`), and one summary per session and login (`sessions`). Each batch is summed in
//! memory first, so a batch costs one upsert per distinct key, not per record.
//!
//! They answer the dashboard's unfiltered (or login / day-range filtered) views from a few
//! thousand rows; any other filter reads the request rows themselves (see `query.rs`). Rows are
//! never deleted (retention purges captures only), so the rollups stay exact.

use std::collections::HashMap;

use rusqlite::{Transaction, params};

use super::sqlite::int;
use super::{RequestRecord, StoreError, rfc3339_ms};

/// The most tokens (or nanodollars) one record adds to a rollup: far beyond any real request,
/// low enough that sums over billions of records stay within SQLite's 64-bit integers. An
/// upstream that reports absurd usage must not stop records from being stored.
const MAX_PER_RECORD: u64 = 1 << 40;

fn capped(v: u64) -> u64 {
    v.min(MAX_PER_RECORD)
}

/// Sums for one `usage_daily` key.
#[derive(Debug, Default)]
struct Usage {
    requests: u64,
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    reasoning: u64,
    cost: u64,
}

/// One session's part of a batch.
#[derive(Debug)]
struct Session {
    agent: Option<String>,
    first_id: String,
    first_ms: i64,
    last_ms: i64,
    requests: u64,
    input: u64,
    output: u64,
    cost: u64,
}

/// A batch's rollup deltas.
#[derive(Debug, Default)]
pub(crate) struct Rollups {
    usage: HashMap<(String, String, String, String), Usage>,
    sessions: HashMap<(String, String), Session>,
}

impl Rollups {
    /// Adds a record that was newly stored.
    pub(crate) fn add(&mut self, r: &RequestRecord) {
        let day = rfc3339_ms(r.time_ms)[..10].to_string();
        let u = &r.usage;
        let cost = capped(r.cost.as_ref().map_or(0, |c| c.nanodollars));
        let (input, output) = (capped(u.input), capped(u.output));
        let e = self
            .usage
            .entry((
                day,
                r.identity.login.clone(),
                r.provider.clone(),
                r.model.clone(),
            ))
            .or_default();
        e.requests = e.requests.saturating_add(1);
        e.input = e.input.saturating_add(input);
        e.output = e.output.saturating_add(output);
        e.cache_read = e.cache_read.saturating_add(capped(u.cache_read));
        e.cache_write = e
            .cache_write
            .saturating_add(capped(u.cache_write_5m.saturating_add(u.cache_write_1h)));
        e.reasoning = e.reasoning.saturating_add(capped(u.reasoning));
        e.cost = e.cost.saturating_add(cost);

        let key = (r.session_id.clone(), r.identity.login.clone());
        match self.sessions.get_mut(&key) {
            Some(s) => {
                if (r.time_ms, r.id.as_str()) < (s.first_ms, s.first_id.as_str()) {
                    s.first_ms = r.time_ms;
                    s.first_id = r.id.clone();
                    s.agent = r.user_agent.clone();
                }
                s.last_ms = s.last_ms.max(r.time_ms);
                s.requests = s.requests.saturating_add(1);
                s.input = s.input.saturating_add(input);
                s.output = s.output.saturating_add(output);
                s.cost = s.cost.saturating_add(cost);
            }
            None => {
                self.sessions.insert(
                    key,
                    Session {
                        agent: r.user_agent.clone(),
                        first_id: r.id.clone(),
                        first_ms: r.time_ms,
                        last_ms: r.time_ms,
                        requests: 1,
                        input,
                        output,
                        cost,
                    },
                );
            }
        }
    }

    /// Upserts the deltas in the batch's transaction.
    pub(crate) fn write(self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        // `MIN(a + b, i64::MAX)`: an overflowing sum becomes a REAL, which MIN turns back into
        // the largest integer instead of a type error that would lose the batch.
        let mut usage = tx.prepare_cached(
            "INSERT INTO usage_daily VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (day, login, provider, model) DO UPDATE SET
                requests = MIN(requests + excluded.requests, 9223372036854775807),
                input_tokens = MIN(input_tokens + excluded.input_tokens, 9223372036854775807),
                output_tokens = MIN(output_tokens + excluded.output_tokens, 9223372036854775807),
                cache_read_tokens = MIN(cache_read_tokens + excluded.cache_read_tokens, 9223372036854775807),
                cache_write_tokens = MIN(cache_write_tokens + excluded.cache_write_tokens, 9223372036854775807),
                reasoning_tokens = MIN(reasoning_tokens + excluded.reasoning_tokens, 9223372036854775807),
                cost_nanodollars = MIN(cost_nanodollars + excluded.cost_nanodollars, 9223372036854775807)",
        )?;
        for ((day, login, provider, model), u) in self.usage {
            usage.execute(params![
                day,
                login,
                provider,
                model,
                int(u.requests),
                int(u.input),
                int(u.output),
                int(u.cache_read),
                int(u.cache_write),
                int(u.reasoning),
                int(u.cost),
            ])?;
        }
        let mut sessions = tx.prepare_cached(
            "INSERT INTO sessions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (session_id, login) DO UPDATE SET
                agent = CASE WHEN (excluded.first_ms, excluded.first_id) < (first_ms, first_id)
                        THEN excluded.agent ELSE agent END,
                first_id = CASE WHEN (excluded.first_ms, excluded.first_id) < (first_ms, first_id)
                        THEN excluded.first_id ELSE first_id END,
                requests = MIN(requests + excluded.requests, 9223372036854775807),
                input_tokens = MIN(input_tokens + excluded.input_tokens, 9223372036854775807),
                output_tokens = MIN(output_tokens + excluded.output_tokens, 9223372036854775807),
                cost_nanodollars = MIN(cost_nanodollars + excluded.cost_nanodollars, 9223372036854775807),
                first_ms = MIN(first_ms, excluded.first_ms),
                last_ms = MAX(last_ms, excluded.last_ms)",
        )?;
        for ((session_id, login), s) in self.sessions {
            sessions.execute(params![
                session_id,
                login,
                s.agent,
                s.first_id,
                int(s.requests),
                int(s.input),
                int(s.output),
                int(s.cost),
                s.first_ms,
                s.last_ms,
            ])?;
        }
        Ok(())
    }
}
