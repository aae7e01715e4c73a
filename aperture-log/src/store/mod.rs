//! The store (SPEC.md §8.5): the [`Store`] trait, the embedded SQLite store ([`SqliteStore`]) and
//! the hot-path queue in front of it ([`LogSink`], drained by one writer thread).
//!
//! The store writes exactly what it is given: redaction (SPEC.md §8.3), capture caps and
//! retention decisions ("0" = captures never written) are the caller's job, and so is scoping
//! non-admins to their own rows (set [`Filter::login`]).

mod query;
mod record;
mod rollup;
mod schema;
mod sink;
mod sqlite;

use crate::quota::Balance;
use std::path::PathBuf;

use serde::Serialize;

pub use record::{Cost, RecordIdentity, RequestRecord, rfc3339_ms};
pub use sink::{LogSink, WriterHandle, save_balances};
pub use sqlite::SqliteStore;

/// What the store can fail with. Messages never include a record's contents.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or prepared.
    #[error("cannot open database {}: {source}", path.display())]
    Open {
        /// The database path.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<StoreError>,
    },
    /// The database was written by a newer version.
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// The version found in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored JSON column could not be read back.
    #[error("stored JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
}

/// Which rows a query covers. Every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Rows at or after this time (unix ms).
    pub since_ms: Option<i64>,
    /// Rows before this time (unix ms, exclusive).
    pub until_ms: Option<i64>,
    /// Rows of this login only (non-admins: always their own).
    pub login: Option<String>,
    /// Rows for this forwarded model.
    pub model: Option<String>,
    /// Rows with this status.
    pub status: Option<u16>,
    /// Rows of this session.
    pub session_id: Option<String>,
    /// Rows with this indexed header (name case-insensitive); `None` value = header present.
    pub header: Option<(String, Option<String>)>,
}

/// A page of results: skip `offset`, return at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// The most rows to return.
    pub limit: u32,
    /// Rows to skip.
    pub offset: u32,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            limit: 100,
            offset: 0,
        }
    }
}

/// One session in the logs view, newest activity first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SessionSummary {
    /// The session id.
    pub session_id: String,
    /// Whose session it is.
    pub login: String,
    /// The user agent of its first request.
    pub agent: Option<String>,
    /// Requests in the session.
    pub requests: u64,
    /// Input tokens (cache reads and writes excluded).
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cost in nanodollars (unpriced requests count 0).
    pub cost_nanodollars: u64,
    /// First request (unix ms).
    pub first_ms: i64,
    /// Last request (unix ms).
    pub last_ms: i64,
}

/// One request in a list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RequestSummary {
    /// `req_<ULID>`.
    pub id: String,
    /// Head arrival (unix ms).
    pub time_ms: i64,
    /// Who made it.
    pub login: String,
    /// The provider id.
    pub provider: String,
    /// The forwarded model.
    pub model: String,
    /// The API type.
    pub api_type: String,
    /// The HTTP method.
    pub method: String,
    /// The path.
    pub path: String,
    /// The status.
    pub status: u16,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// Total duration.
    pub duration_ms: u64,
    /// Time to first byte.
    pub ttfb_ms: Option<u64>,
    /// A stream.
    pub stream: bool,
    /// Token usage.
    pub usage: crate::Usage,
    /// Cost in nanodollars, when priced.
    pub cost_nanodollars: Option<u64>,
    /// The session id.
    pub session_id: String,
    /// The user agent.
    pub user_agent: Option<String>,
}

impl From<RequestRecord> for RequestSummary {
    fn from(r: RequestRecord) -> Self {
        RequestSummary {
            cost_nanodollars: r.cost.as_ref().map(|c| c.nanodollars),
            id: r.id,
            time_ms: r.time_ms,
            login: r.identity.login,
            provider: r.provider,
            model: r.model,
            api_type: r.api_type,
            method: r.method,
            path: r.path,
            status: r.status,
            error: r.error,
            duration_ms: r.duration_ms,
            ttfb_ms: r.ttfb_ms,
            stream: r.stream,
            usage: r.usage,
            session_id: r.session_id,
            user_agent: r.user_agent,
        }
    }
}

/// How [`Store::totals`] groups rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// By login.
    User,
    /// By forwarded model.
    Model,
    /// By UTC day (`YYYY-MM-DD`).
    Day,
}

/// Totals for one group, ordered by key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TotalRow {
    /// The login, model or `YYYY-MM-DD`.
    pub key: String,
    /// Requests.
    pub requests: u64,
    /// Input tokens (cache excluded).
    pub input_tokens: u64,
    /// Output tokens (reasoning included).
    pub output_tokens: u64,
    /// Cache read tokens.
    pub cache_read_tokens: u64,
    /// Cache write tokens (5-minute and 1-hour).
    pub cache_write_tokens: u64,
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
    /// Cost in nanodollars.
    pub cost_nanodollars: u64,
}

/// The exact header line of [`Store::usage_csv`].
pub const USAGE_CSV_HEADER: &str = "date,login,provider,model,requests,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,reasoning_tokens,cost_usd";

/// Where request records live.
pub trait Store: Send + Sync {
    /// Writes records in one transaction (all or none); ids already stored are skipped.
    fn write_batch(&self, records: &[RequestRecord]) -> Result<(), StoreError>;
    /// Sessions with matching requests, newest activity first.
    fn sessions(&self, filter: &Filter, page: Page) -> Result<Vec<SessionSummary>, StoreError>;
    /// Matching requests, newest first.
    fn requests(&self, filter: &Filter, page: Page) -> Result<Vec<RequestSummary>, StoreError>;
    /// One request with its capture and tool calls (what purge left of them).
    fn request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError>;
    /// Totals of matching requests per group, ordered by key.
    fn totals(&self, filter: &Filter, group_by: GroupBy) -> Result<Vec<TotalRow>, StoreError>;
    /// Matching requests per UTC day, login, provider and model as CSV ([`USAGE_CSV_HEADER`]
    /// first, rows in that order, `\n` line ends, `cost_usd` with nine decimals).
    fn usage_csv(&self, filter: &Filter) -> Result<String, StoreError>;
    /// Removes captures (headers, bodies, indexed headers) of requests before `older_than_ms`,
    /// and their tool calls when `also_tools`; metric rows stay. Returns the rows removed.
    fn purge(&self, older_than_ms: i64, also_tools: bool) -> Result<usize, StoreError>;
    /// The quota balances stored, read once at start ([`crate::quota::QuotaBook::load`]). A
    /// store that keeps none returns nothing: every bucket then starts full.
    fn load_balances(&self) -> Result<Vec<Balance>, StoreError> {
        Ok(Vec::new())
    }
    /// Stores `changed` balances and deletes the `removed` buckets, in one transaction.
    fn save_balances(&self, changed: &[Balance], removed: &[String]) -> Result<(), StoreError> {
        let _ = (changed, removed);
        Ok(())
    }
}
