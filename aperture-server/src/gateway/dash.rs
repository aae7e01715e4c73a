//! The dashboard's data calls (SPEC.md §11, §12): `GET /api/sessions[/{id}]`,
//! `GET /api/requests[/{id}]`, `GET /api/usage` and `GET /api/usage.csv`.
//!
//! Every caller with a role may ask; non-admins see their own rows only (the store query is
//! always scoped to their login) and get 403 `admin role required` for another `user`, for
//! another user's request, and for indexed headers their grants do not make filterable.
//! Queries run on a blocking thread: SQLite reads never stall the runtime that relays streams.

use std::sync::Arc;

use aperture_auth::{Access, Identity};
use aperture_log::store::{Filter, GroupBy, Page, Store, StoreError};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::{ApiCall, Res, Target};
use crate::error::{Error, json};

/// The most rows one page may ask for.
const MAX_LIMIT: u32 = 500;
/// Rows per page when the caller does not say.
const DEFAULT_LIMIT: u32 = 50;

/// A bad query, answered 400.
fn bad(message: impl Into<String>) -> Error {
    Error::refused(StatusCode::BAD_REQUEST, message)
}

fn forbidden() -> Error {
    Error::AdminRequired
}

/// The decoded `name=value` pairs of a query string (`+` is a space).
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s)
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(kv), String::new()),
        })
        .collect()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The latest time a query may name: the year 9999.
const MAX_MS: i64 = 253_402_300_799_999;

/// `YYYY-MM-DD` (UTC midnight) or unix milliseconds, up to the year 9999.
fn parse_time(name: &str, v: &str) -> Result<i64, Error> {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v
            .parse()
            .ok()
            .filter(|t| *t <= MAX_MS)
            .ok_or_else(|| bad(format!("{name}: not a time: {v:?}")));
    }
    let parts: Vec<&str> = v.split('-').collect();
    let nums: Option<Vec<i64>> = match parts.as_slice() {
        [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
            [y, m, d].iter().map(|p| p.parse().ok()).collect()
        }
        _ => None,
    };
    let days_in = |y: i64, m: i64| match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    match nums.as_deref() {
        Some(&[y, m, d])
            if (1970..=9999).contains(&y)
                && (1..=12).contains(&m)
                && (1..=days_in(y, m)).contains(&d) =>
        {
            Ok(days_from_civil(y, m, d) * 86_400_000)
        }
        _ => Err(bad(format!(
            "{name}: expected YYYY-MM-DD or unix milliseconds, got {v:?}"
        ))),
    }
}

/// The filter and page a query asks for, scoped to what the caller may see.
fn filter_from(
    pairs: &[(String, String)],
    identity: &Identity,
    access: &Access,
) -> Result<(Filter, Page), Error> {
    let mut f = Filter::default();
    let mut page = Page {
        limit: DEFAULT_LIMIT,
        offset: 0,
    };
    for (k, v) in pairs {
        if v.is_empty() {
            continue;
        }
        match k.as_str() {
            "from" => f.since_ms = Some(parse_time("from", v)?),
            // `to` is inclusive: a date covers that whole day.
            "to" => {
                let t = parse_time("to", v)?;
                let whole_day = !v.bytes().all(|b| b.is_ascii_digit());
                f.until_ms = Some(if whole_day { t + 86_400_000 } else { t + 1 });
            }
            "user" => f.login = Some(v.clone()),
            "model" => f.model = Some(v.clone()),
            "session" => f.session_id = Some(v.clone()),
            "status" => {
                f.status = Some(
                    v.parse::<u16>()
                        .ok()
                        .filter(|s| (100..=599).contains(s))
                        .ok_or_else(|| bad(format!("status: not an HTTP status: {v:?}")))?,
                );
            }
            "header" => {
                let (name, value) = match v.split_once(':') {
                    Some((n, val)) => (n.trim(), Some(val.trim().to_string())),
                    None => (v.trim(), None),
                };
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(bad(format!("header: not a header name: {name:?}")));
                }
                if !access.may_filter_header(name) {
                    return Err(Error::refused(
                        StatusCode::FORBIDDEN,
                        format!("header {name:?} is not filterable for you"),
                    ));
                }
                f.header = Some((name.to_ascii_lowercase(), value));
            }
            "limit" => {
                page.limit = v
                    .parse::<u32>()
                    .ok()
                    .filter(|l| (1..=MAX_LIMIT).contains(l))
                    .ok_or_else(|| bad(format!("limit: a number from 1 to {MAX_LIMIT}")))?;
            }
            "offset" => {
                page.offset = v
                    .parse()
                    .map_err(|_| bad(format!("offset: not a number: {v:?}")))?;
            }
            // Unknown parameters (cache busters, the UI's own state) are ignored.
            _ => {}
        }
    }
    if !access.is_admin() {
        match &f.login {
            Some(login) if *login != identity.login => return Err(forbidden()),
            _ => f.login = Some(identity.login.clone()),
        }
    }
    Ok((f, page))
}

/// Runs a store query on a blocking thread.
async fn query<T: Send + 'static>(
    db: &Arc<dyn Store>,
    f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Error> {
    let db = db.clone();
    match tokio::task::spawn_blocking(move || f(db.as_ref())).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "dashboard query failed");
            Err(Error::Internal("the request log could not be read".into()))
        }
        Err(_) => Err(Error::Internal(
            "the request log query was cancelled".into(),
        )),
    }
}

/// The path segment after `prefix`, decoded; `None` when empty or nested.
fn id_after(path: &str, prefix: &str) -> Option<String> {
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() || rest.contains('/') {
        return None;
    }
    Some(
        percent_encoding::percent_decode_str(rest)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// Answers a dashboard data call.
pub(crate) async fn answer(
    call: ApiCall,
    uri: &http::Uri,
    db: &Arc<dyn Store>,
    identity: &Identity,
    access: &Access,
) -> Res {
    let pairs = query_pairs(uri.query());
    let (filter, page) = match filter_from(&pairs, identity, access) {
        Ok(v) => v,
        Err(e) => return e.respond(&Target::Api(call)),
    };
    let path = uri.path();
    let result = match call {
        ApiCall::Sessions => sessions(db, filter, page).await,
        ApiCall::Session => match id_after(path, "/api/sessions/") {
            Some(id) => session(db, filter, page, id).await,
            None => Err(Error::refused(StatusCode::NOT_FOUND, "session not found")),
        },
        ApiCall::Requests => requests(db, filter, page).await,
        ApiCall::Request => match id_after(path, "/api/requests/") {
            Some(id) => request(db, id, identity, access).await,
            None => Err(Error::refused(StatusCode::NOT_FOUND, "request not found")),
        },
        ApiCall::Usage => usage(db, filter, &pairs).await,
        ApiCall::UsageCsv => usage_csv(db, filter).await,
        _ => Err(Error::StackMisconfigured),
    };
    let mut res = result.unwrap_or_else(|e| e.respond(&Target::Api(call)));
    // Prompts, responses and usage: never kept in a browser or proxy cache.
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// One more row than asked tells whether there is a next page.
fn probe(page: Page) -> Page {
    Page {
        limit: page.limit.saturating_add(1),
        ..page
    }
}

fn paged<T: serde::Serialize>(key: &str, mut rows: Vec<T>, page: Page) -> Value {
    let has_more = rows.len() > page.limit as usize;
    rows.truncate(page.limit as usize);
    let mut out = json!({ "limit": page.limit, "offset": page.offset, "has_more": has_more });
    out[key] = serde_json::to_value(rows).unwrap_or_default();
    out
}

async fn sessions(db: &Arc<dyn Store>, f: Filter, page: Page) -> Result<Res, Error> {
    let rows = query(db, move |s| s.sessions(&f, probe(page))).await?;
    Ok(json(StatusCode::OK, &paged("sessions", rows, page)))
}

/// One session: its summary (one row per login sharing the id) and a page of its requests.
async fn session(db: &Arc<dyn Store>, mut f: Filter, page: Page, id: String) -> Result<Res, Error> {
    f.session_id = Some(id);
    let (summary, rows) = query(db, move |s| {
        let summary = s.sessions(&f, Page::default())?;
        Ok((summary, s.requests(&f, probe(page))?))
    })
    .await?;
    if summary.is_empty() {
        return Err(Error::refused(StatusCode::NOT_FOUND, "session not found"));
    }
    let mut out = paged("requests", rows, page);
    out["sessions"] = serde_json::to_value(summary).unwrap_or_default();
    Ok(json(StatusCode::OK, &out))
}

async fn requests(db: &Arc<dyn Store>, f: Filter, page: Page) -> Result<Res, Error> {
    let rows = query(db, move |s| s.requests(&f, probe(page))).await?;
    Ok(json(StatusCode::OK, &paged("requests", rows, page)))
}

async fn request(
    db: &Arc<dyn Store>,
    id: String,
    identity: &Identity,
    access: &Access,
) -> Result<Res, Error> {
    let Some(record) = query(db, move |s| s.request(&id)).await? else {
        return Err(Error::refused(StatusCode::NOT_FOUND, "request not found"));
    };
    if !access.is_admin() && record.identity.login != identity.login {
        return Err(Error::AdminRequired);
    }
    Ok(json(StatusCode::OK, &record.to_json()))
}

async fn usage(db: &Arc<dyn Store>, f: Filter, pairs: &[(String, String)]) -> Result<Res, Error> {
    let top = match pairs.iter().rfind(|(k, v)| k == "top" && !v.is_empty()) {
        None => 10,
        Some((_, v)) => match v.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(bad("top: a number from 1 to 100"));
            }
        },
    };
    let (by_user, by_model, by_day) = query(db, move |s| {
        Ok((
            s.totals(&f, GroupBy::User)?,
            s.totals(&f, GroupBy::Model)?,
            s.totals(&f, GroupBy::Day)?,
        ))
    })
    .await?;
    let mut total = aperture_log::store::TotalRow {
        key: "total".into(),
        ..Default::default()
    };
    for r in &by_user {
        total.requests += r.requests;
        total.input_tokens += r.input_tokens;
        total.output_tokens += r.output_tokens;
        total.cache_read_tokens += r.cache_read_tokens;
        total.cache_write_tokens += r.cache_write_tokens;
        total.reasoning_tokens += r.reasoning_tokens;
        total.cost_nanodollars += r.cost_nanodollars;
    }
    let ranked = |rows: &[aperture_log::store::TotalRow]| {
        let mut r: Vec<_> = rows.to_vec();
        r.sort_by(|a, b| {
            (b.input_tokens + b.output_tokens)
                .cmp(&(a.input_tokens + a.output_tokens))
                .then_with(|| a.key.cmp(&b.key))
        });
        r.truncate(top);
        r
    };
    let body = json!({
        "totals": total,
        "active_users": by_user.len(),
        "top_users": ranked(&by_user),
        "top_models": ranked(&by_model),
        "by_user": by_user,
        "by_model": by_model,
        "by_day": by_day,
    });
    Ok(json(StatusCode::OK, &body))
}

async fn usage_csv(db: &Arc<dyn Store>, f: Filter) -> Result<Res, Error> {
    let csv = query(db, move |s| s.usage_csv(&f)).await?;
    let mut res = Res::new(crate::body::full(csv));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    res.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"aperture-usage.csv\""),
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_millis() {
        assert_eq!(parse_time("from", "1970-01-01").ok(), Some(0));
        assert_eq!(
            parse_time("from", "2026-01-02").ok(),
            Some(1_767_312_000_000)
        );
        assert_eq!(parse_time("from", "12345").ok(), Some(12_345));
        assert!(parse_time("from", "2026-13-01").is_err());
        assert!(parse_time("from", "yesterday").is_err());
        assert!(parse_time("from", "2026-02-29").is_err());
        assert!(parse_time("from", "2028-02-29").is_ok());
        assert!(parse_time("from", "2026-04-31").is_err());
        assert!(parse_time("to", "9223372036854775807").is_err());
    }

    #[test]
    fn query_decoding() {
        let p = query_pairs(Some("user=a%40b.com&model=openai%2Fgpt-5&x&q=a+b"));
        assert_eq!(p[0], ("user".into(), "a@b.com".into()));
        assert_eq!(p[1], ("model".into(), "openai/gpt-5".into()));
        assert_eq!(p[2], ("x".into(), String::new()));
        assert_eq!(p[3], ("q".into(), "a b".into()));
    }

    fn who(login: &str) -> Identity {
        Identity {
            login: login.into(),
            ..Identity::loopback()
        }
    }

    #[test]
    fn non_admins_are_scoped_to_themselves() {
        let user = Access {
            role: Some(aperture_config::Role::User),
            ..Access::default()
        };
        let (f, _) = filter_from(&[], &who("alice"), &user)
            .ok()
            .unwrap_or_default();
        assert_eq!(f.login.as_deref(), Some("alice"));
        let other = [("user".to_string(), "bob".to_string())];
        assert!(matches!(
            filter_from(&other, &who("alice"), &user),
            Err(Error::AdminRequired)
        ));
        let header = [("header".to_string(), "x-team:a".to_string())];
        assert_eq!(
            filter_from(&header, &who("alice"), &user)
                .map_err(|e| e.status())
                .err(),
            Some(StatusCode::FORBIDDEN)
        );
        let admin = Access {
            role: Some(aperture_config::Role::Admin),
            ..Access::default()
        };
        let (f, _) = filter_from(&other, &who("alice"), &admin)
            .ok()
            .unwrap_or_default();
        assert_eq!(f.login.as_deref(), Some("bob"));
        let (f, _) = filter_from(&[], &who("alice"), &admin)
            .ok()
            .unwrap_or_default();
        assert_eq!(f.login, None);
    }

    #[test]
    fn to_is_inclusive() {
        let admin = Access {
            role: Some(aperture_config::Role::Admin),
            ..Access::default()
        };
        let q = [
            ("from".to_string(), "2026-01-02".to_string()),
            ("to".to_string(), "2026-01-02".to_string()),
        ];
        let (f, _) = filter_from(&q, &who("a"), &admin).ok().unwrap_or_default();
        assert_eq!(f.since_ms, Some(1_767_312_000_000));
        assert_eq!(f.until_ms, Some(1_767_312_000_000 + 86_400_000));
    }
}
