//! `quotas`, `hooks`, `database`, `exporters` and `mcp` rules.

use std::collections::BTreeMap;
use std::time::Duration;

use http::HeaderName;

use super::grants::unsupported_template;
use super::{Ctx, ptr};
use crate::config::{
    BucketTemplate, Database, Exporters, FailPolicy, FilterableHeader, Hook, HookAuth, Quota,
    Retention, S3Exporter,
};
use crate::lenient::quote;
use crate::raw::RawConfig;
use crate::units::{parse_duration, parse_money, parse_rate};
use crate::values::{Secret, parse_http_url};

/// Declared MCP server names: the keys of `mcp.servers` (or the `name`s of its entries).
pub(super) fn mcp_servers(mcp: &serde_json::Value) -> Vec<String> {
    match mcp.get("servers") {
        Some(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|s| s.get("name").and_then(|n| n.as_str()).map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

pub(super) fn quotas(raw: &RawConfig, ctx: &mut Ctx<'_>) -> BTreeMap<String, Quota> {
    let mut out = BTreeMap::new();
    for (name, q) in &raw.quotas {
        let at = ptr(&["quotas", name]);
        let template = match name.split_once(':').map(|(_, t)| t) {
            None => None,
            Some("<user>") => Some(BucketTemplate::User),
            Some("<node>") => Some(BucketTemplate::Node),
            Some(_) => {
                let t = unsupported_template(name).unwrap_or_default();
                ctx.warn(
                    &at,
                    format!(
                        "quota {}: quota name {} has unsupported template {} after colon",
                        quote(name),
                        quote(name),
                        quote(t)
                    ),
                );
                None
            }
        };
        let capacity = parse_money(&q.capacity).map_err(|e| {
            ctx.error(
                &format!("{at}/capacity"),
                format!("quota {name}: invalid capacity: {e}"),
            )
        });
        let rate = parse_rate(&q.rate).map_err(|e| {
            ctx.error(
                &format!("{at}/rate"),
                format!("quota {name}: invalid rate: {e}"),
            )
        });
        if !matches!(q.on_exceed.as_str(), "" | "reject") {
            ctx.error(
                &format!("{at}/on_exceed"),
                format!(
                    "quota {name}: unsupported on_exceed {}: only \"reject\" is supported",
                    quote(&q.on_exceed)
                ),
            );
        }
        if let (Ok(capacity), Ok(rate)) = (capacity, rate) {
            out.insert(
                name.clone(),
                Quota {
                    name: name.clone(),
                    capacity,
                    rate,
                    template,
                },
            );
        }
    }
    out
}

pub(super) fn hooks(raw: &RawConfig, ctx: &mut Ctx<'_>) -> BTreeMap<String, Hook> {
    let mut out = BTreeMap::new();
    for (name, h) in &raw.hooks {
        let at = ptr(&["hooks", name]);
        let url = if h.url.is_empty() {
            ctx.warn(&at, format!("hook {name} has no url configured"));
            None
        } else {
            match parse_http_url(&h.url) {
                Ok(u) => Some(u),
                Err(_) => {
                    let url_at = format!("{at}/url");
                    let shown = ctx.shown(&url_at, &h.url);
                    ctx.warn(
                        &url_at,
                        format!(
                            "hook {name} has invalid URL scheme (must be http:// or https://): {shown}"
                        ),
                    );
                    None
                }
            }
        };
        let authorization = HookAuth::parse(&h.authorization).unwrap_or_else(|| {
            let auth_at = format!("{at}/authorization");
            let shown = ctx.shown(&auth_at, &h.authorization);
            ctx.warn(
                &auth_at,
                format!("hook {name} has invalid authorization type: {shown}"),
            );
            HookAuth::Bearer
        });
        let timeout = if h.timeout.is_empty() {
            Some(Duration::from_secs(5))
        } else {
            match parse_duration(&h.timeout) {
                Ok(d) => (!d.is_zero()).then_some(d),
                Err(e) => {
                    ctx.warn(
                        &format!("{at}/timeout"),
                        format!("hook {name}: invalid timeout: {e}"),
                    );
                    Some(Duration::from_secs(5))
                }
            }
        };
        let fail_policy = match h.fail_policy.as_str() {
            "" | "fail_open" => FailPolicy::FailOpen,
            "fail_closed" => FailPolicy::FailClosed,
            other => {
                ctx.warn(
                    &format!("{at}/fail_policy"),
                    format!("hook {name}: invalid fail_policy {}: must be \"fail_open\" or \"fail_closed\"", quote(other)),
                );
                FailPolicy::FailOpen
            }
        };
        out.insert(
            name.clone(),
            Hook {
                name: name.clone(),
                url,
                apikey: (!h.apikey.is_empty()).then(|| Secret::new(h.apikey.0.clone())),
                authorization,
                timeout,
                disabled: h.disabled,
                fail_policy,
                preference: h.preference,
            },
        );
    }
    out
}

pub(super) fn database(raw: &RawConfig, ctx: &mut Ctx<'_>) -> Database {
    let db = &raw.database;
    let d = &db.retention.duration;
    let retention = match d.as_str() {
        "" => Retention::Forever,
        "0" => Retention::Never,
        _ => match parse_duration(d) {
            Ok(v) if v >= Duration::from_secs(3600) && v <= Duration::from_secs(3650 * 86_400) => {
                Retention::For(v)
            }
            _ => {
                ctx.error(
                    "/database/retention/duration",
                    format!(
                        "database.retention.duration {}: must be 0 or between 1h and 3650d",
                        quote(d)
                    ),
                );
                Retention::Forever
            }
        },
    };
    let mut purge_tools = false;
    for (i, p) in db.retention.purge.iter().enumerate() {
        match p.as_str() {
            "captures" => {}
            "tools" => purge_tools = true,
            other => ctx.warn(
                &format!("/database/retention/purge/{i}"),
                format!(
                    "database.retention.purge: unknown value {}: use \"captures\" or \"tools\"",
                    quote(other)
                ),
            ),
        }
    }
    let mut filterable_headers = Vec::new();
    for (i, h) in db.headers.filterable.iter().enumerate() {
        match HeaderName::from_bytes(h.name.as_bytes()) {
            Ok(name) => {
                let credential = matches!(
                    name.as_str(),
                    "authorization"
                        | "proxy-authorization"
                        | "x-api-key"
                        | "x-goog-api-key"
                        | "api-key"
                        | "cookie"
                        | "set-cookie"
                );
                filterable_headers.push(FilterableHeader {
                    name,
                    redact_values: h.redact_values || credential,
                });
            }
            Err(_) => ctx.warn(
                &format!("/database/headers/filterable/{i}/name"),
                format!(
                    "database.headers.filterable: invalid header name {}",
                    quote(&h.name)
                ),
            ),
        }
    }
    if db.keep_encrypted_blobs {
        ctx.info(
            "/database/keep_encrypted_blobs",
            "database.keep_encrypted_blobs is ignored",
        );
    }
    Database {
        retention,
        purge_tools,
        require_export: db.retention.require_export,
        filterable_headers,
        save_raws: db.save_raws,
    }
}

pub(super) fn exporters(raw: &RawConfig, ctx: &mut Ctx<'_>) -> Exporters {
    let Some(s3) = &raw.exporters.s3 else {
        return Exporters::default();
    };
    if s3.prefix.ends_with('/') {
        ctx.warn(
            "/exporters/s3/prefix",
            "exporters.s3.prefix must not end with a slash",
        );
    }
    ctx.info(
        "/exporters/s3",
        "exporters.s3 is accepted but export is not implemented yet",
    );
    Exporters {
        s3: Some(S3Exporter {
            endpoint: s3.endpoint.clone(),
            bucket_name: s3.bucket_name.clone(),
            region: s3.region.clone(),
            prefix: s3.prefix.clone(),
            access_key_id: Secret::new(s3.access_key_id.0.clone()),
            access_secret: Secret::new(s3.access_secret.0.clone()),
            every: Duration::from_secs(s3.every),
            limit: s3.limit.min(10_000),
        }),
    }
}

/// Sections accepted but not implemented yet: say so when they are used.
pub(super) fn phase_two_notice(raw: &RawConfig, ctx: &mut Ctx<'_>) {
    for key in ["mcp", "connectors", "chat_models"] {
        let v = match key {
            "mcp" => &raw.mcp,
            "connectors" => &raw.connectors,
            _ => &raw.chat_models,
        };
        if !v.is_null() {
            ctx.info(
                &format!("/{key}"),
                format!("{key} is accepted but not implemented yet"),
            );
        }
    }
}
