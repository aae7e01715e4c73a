//! `GET /api/quotas` and `POST /api/quotas/refill` (SPEC.md §10.1): bucket balances, exact to
//! the nanodollar, and an admin's refill.

use std::collections::BTreeMap;

use aperture_auth::{Access, Identity};
use aperture_config::{Quota, Rate, format_money, parse_money};
use aperture_log::quota::Balance;
use aperture_log::store::rfc3339_ms;
use http::StatusCode;
use http_body_util::{BodyExt, Limited};
use serde_json::{Value, json};

use super::admin::AdminContext;
use super::quota::{bucket_name, now_ms};
use super::{PeerAddr, Req, Res};
use crate::error::{Error, json};

/// The largest refill body read.
const MAX_BODY: usize = 4096;

/// `"$5.00/day"`.
pub(crate) fn format_rate(rate: Rate) -> String {
    let unit = match rate.per.as_secs() {
        60 => "min".to_string(),
        3_600 => "hour".to_string(),
        86_400 => "day".to_string(),
        604_800 => "week".to_string(),
        2_592_000 => "month".to_string(),
        s => format!("{s}s"),
    };
    format!("{}/{unit}", format_money(rate.nanodollars))
}

fn view(b: &Balance, q: &Quota) -> Value {
    json!({
        "name": b.bucket,
        "quota": q.name,
        "balance": format_money(b.nanodollars),
        "capacity": format_money(q.capacity),
        "rate": format_rate(q.rate),
        "updated_at": (b.updated_ms > 0).then(|| rfc3339_ms(b.updated_ms)),
    })
}

/// Buckets in use, plus the ones `names` would create (at capacity, never updated).
fn views(
    balances: Vec<Balance>,
    quotas: &BTreeMap<String, Quota>,
    wanted: impl Fn(&Balance) -> bool,
    unused: Vec<(String, &Quota)>,
) -> Vec<Value> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for b in balances.iter().filter(|b| wanted(b)) {
        if let Some(q) = quotas.get(&b.quota) {
            out.push((b.bucket.clone(), view(b, q)));
        }
    }
    for (name, q) in unused {
        if !out.iter().any(|(n, _)| *n == name) {
            let fresh = Balance {
                bucket: name.clone(),
                quota: q.name.clone(),
                nanodollars: q.capacity,
                updated_ms: 0,
            };
            out.push((name, view(&fresh, q)));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.into_iter().map(|(_, v)| v).collect()
}

/// `GET /api/quotas`: admins see every bucket in use and every shared one; others the buckets
/// their own requests are charged to.
pub(crate) fn list(req: &Req, ctx: &AdminContext, identity: &Identity, access: &Access) -> Res {
    let quotas = &ctx.runtime.config.quotas;
    let balances = ctx.telemetry.quotas.balances(quotas, now_ms());
    let buckets = if access.is_admin() {
        let shared = quotas
            .values()
            .filter(|q| q.template.is_none())
            .map(|q| (q.name.clone(), q))
            .collect();
        views(balances, quotas, |_| true, shared)
    } else {
        let peer = req.extensions().get::<PeerAddr>().map(|p| p.0);
        let mine: Vec<(String, &Quota)> = access
            .quotas
            .iter()
            .filter_map(|(_, reference)| {
                let q = quotas.get(reference)?;
                Some((bucket_name(reference, q, identity, peer)?, q))
            })
            .collect();
        let names: Vec<String> = mine.iter().map(|(n, _)| n.clone()).collect();
        views(balances, quotas, |b| names.contains(&b.bucket), mine)
    };
    let charged = charged_models(ctx, identity, access, req.extensions().get::<PeerAddr>());
    let buckets: Vec<Value> = buckets
        .into_iter()
        .map(|mut b| {
            let name = b["name"].as_str().unwrap_or_default();
            b["models"] = json!(charged.get(name).cloned().unwrap_or_default());
            b
        })
        .collect();
    json(StatusCode::OK, &json!({ "buckets": buckets }))
}

/// For each bucket the caller's own requests are charged to, the configured models
/// (`provider/model`) whose requests it is charged for: what the dashboard's Models page shows
/// beside each model.
fn charged_models(
    ctx: &AdminContext,
    identity: &Identity,
    access: &Access,
    peer: Option<&PeerAddr>,
) -> BTreeMap<String, Vec<String>> {
    let quotas = &ctx.runtime.config.quotas;
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if access.quotas.is_empty() {
        return out;
    }
    for (pid, provider) in &ctx.runtime.config.providers {
        for model in &provider.models {
            for reference in access.quotas_for(pid, model) {
                let Some(q) = quotas.get(reference) else {
                    continue;
                };
                if let Some(bucket) = bucket_name(reference, q, identity, peer.map(|p| p.0)) {
                    out.entry(bucket)
                        .or_default()
                        .push(format!("{pid}/{model}"));
                }
            }
        }
    }
    out
}

/// `POST /api/quotas/refill` with `{"bucket": "…", "amount": "$5.00"}` (admin).
pub(crate) async fn refill(req: Req, ctx: &AdminContext) -> Result<Res, Error> {
    let bad = |m: String| Error::refused(StatusCode::BAD_REQUEST, m);
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|_| bad(format!("the body must be JSON of at most {MAX_BODY} bytes")))?
        .to_bytes();
    let v: Value = serde_json::from_slice(&body)
        .map_err(|_| bad("the body must be {\"bucket\": \"…\", \"amount\": \"$5.00\"}".into()))?;
    let bucket = v
        .get("bucket")
        .and_then(Value::as_str)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| bad("bucket: a bucket name is required".into()))?;
    let amount = v
        .get("amount")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("amount: a dollar amount such as \"$5.00\" is required".into()))?;
    let nanos = parse_money(amount).map_err(|e| bad(format!("amount: {e}")))?;
    if nanos <= 0 {
        return Err(bad("amount: must be more than $0".into()));
    }
    let quotas = &ctx.runtime.config.quotas;
    let Some(balance) = ctx.telemetry.quotas.refill(bucket, nanos, quotas, now_ms()) else {
        return Err(Error::refused(
            StatusCode::NOT_FOUND,
            format!("unknown bucket {}", Value::from(bucket)),
        ));
    };
    tracing::info!(bucket = %bucket, amount = %format_money(nanos), "quota refilled");
    if let Some(db) = ctx.telemetry.db.clone() {
        let book = ctx.telemetry.quotas.clone();
        let _ = tokio::task::spawn_blocking(move || {
            aperture_log::store::save_balances(db.as_ref(), &book)
        })
        .await;
    }
    let q = quotas
        .get(&balance.quota)
        .ok_or(Error::StackMisconfigured)?;
    Ok(json(StatusCode::OK, &view(&balance, q)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rates_read_as_written() {
        let rate = |n, s| Rate {
            nanodollars: n,
            per: Duration::from_secs(s),
        };
        assert_eq!(format_rate(rate(5_000_000_000, 86_400)), "$5.00/day");
        assert_eq!(format_rate(rate(132_163, 2_592_000)), "$0.000132163/month");
        assert_eq!(format_rate(rate(0, 60)), "$0.00/min");
    }
}
