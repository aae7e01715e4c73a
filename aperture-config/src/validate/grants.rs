//! `grants` and `temp_grants` rules.

use std::collections::BTreeMap;

use super::{Ctx, ptr};
use crate::config::{Capability, Grant, GrantSrc, HookEvent, Provider, Role, SendHook};
use crate::glob::ModelGlob;
use crate::lenient::quote;
use crate::raw::{APERTURE_CAP, OneOrMany, RawCapability, RawConfig};

pub(super) fn validate(
    raw: &RawConfig,
    providers: &BTreeMap<String, Provider>,
    mcp_servers: &[String],
    ctx: &mut Ctx<'_>,
) -> Vec<Grant> {
    let refs = Refs {
        raw,
        providers,
        mcp_servers,
    };
    let mut grants = Vec::new();
    for (i, g) in raw.grants.iter().enumerate() {
        let base = ptr(&["grants", &i.to_string(), "app", APERTURE_CAP]);
        let capabilities = g
            .app
            .aperture
            .iter()
            .enumerate()
            .map(|(j, c)| refs.capability(c, i, &format!("{base}/{j}"), ctx))
            .collect();
        grants.push(Grant {
            src: g
                .src
                .iter()
                .map(|s| src(s, &ptr(&["grants", &i.to_string(), "src"]), ctx))
                .collect(),
            capabilities,
            custom: g.app.custom.clone(),
            from_temp_grants: false,
        });
    }
    if !raw.temp_grants.is_empty() {
        ctx.info(
            "/temp_grants",
            "temp_grants is deprecated; it is loaded as grants",
        );
    }
    for (i, t) in raw.temp_grants.iter().enumerate() {
        let base = ptr(&["temp_grants", &i.to_string(), "grants"]);
        let n = raw.grants.len() + i;
        let capabilities = t
            .grants
            .iter()
            .enumerate()
            .map(|(j, c)| refs.capability(c, n, &format!("{base}/{j}"), ctx))
            .collect();
        grants.push(Grant {
            src: t
                .src
                .iter()
                .map(|s| src(s, &ptr(&["temp_grants", &i.to_string(), "src"]), ctx))
                .collect(),
            capabilities,
            custom: BTreeMap::new(),
            from_temp_grants: true,
        });
    }
    grants
}

fn src(s: &str, at: &str, ctx: &mut Ctx<'_>) -> GrantSrc {
    match s {
        "*" => GrantSrc::Everyone,
        "tagged-devices" => {
            ctx.info(at, "src \"tagged-devices\" matches nothing");
            GrantSrc::Nothing
        }
        _ => GrantSrc::Principal(s.to_string()),
    }
}

struct Refs<'a> {
    raw: &'a RawConfig,
    providers: &'a BTreeMap<String, Provider>,
    mcp_servers: &'a [String],
}

impl Refs<'_> {
    fn capability(&self, c: &RawCapability, gi: usize, at: &str, ctx: &mut Ctx<'_>) -> Capability {
        let role = match c.role.as_str() {
            "" => None,
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            other => {
                ctx.warn(
                    &format!("{at}/role"),
                    format!(
                        "invalid role {}: must be \"admin\" or \"user\"",
                        quote(other)
                    ),
                );
                None
            }
        };

        let mut models = Vec::new();
        if !c.models.is_empty() {
            models.extend(self.model_glob(&c.models, &format!("{at}/models"), ctx));
        }
        // Legacy temp_grants form: `providers: ["a", "b"]` is `a/**` and `b/**`.
        for p in &c.providers {
            models.extend(self.model_glob(&format!("{p}/**"), &format!("{at}/providers"), ctx));
        }

        let mut quotas = Vec::new();
        for (j, q) in c.quotas.iter().enumerate() {
            let qat = format!("{at}/quotas/{j}/bucket");
            if let Some(t) = unsupported_template(&q.bucket) {
                ctx.warn(
                    &qat,
                    format!("grants[{gi}] grant {gi} quotas[{j}]: bucket ref {} has unsupported template {}", quote(&q.bucket), quote(t)),
                );
            } else if !self.raw.quotas.contains_key(&q.bucket) {
                ctx.warn(
                    &qat,
                    format!("quotas references undefined quota {}", quote(&q.bucket)),
                );
            }
            // Kept either way: an unresolvable reference fails closed (429) at request time.
            quotas.push(q.bucket.clone());
        }

        let mut send_hooks = Vec::new();
        for (j, h) in c.send_hooks.iter().enumerate() {
            let hat = format!("{at}/send_hooks/{j}");
            if !self.raw.hooks.contains_key(&h.name) {
                ctx.warn(
                    &format!("{hat}/name"),
                    format!("send_hooks references undefined hook {}", quote(&h.name)),
                );
                continue;
            }
            let mut events = Vec::new();
            for (k, e) in h.events.iter().enumerate() {
                match HookEvent::parse(e) {
                    Some(ev) => events.push(ev),
                    None => ctx.warn(
                        &format!("{hat}/events/{k}"),
                        format!("unknown hook event {}", quote(e)),
                    ),
                }
            }
            send_hooks.push(SendHook {
                name: h.name.clone(),
                events,
                send: h.send.clone(),
            });
        }

        let add_headers =
            super::header_lines(&c.add_headers, &format!("{at}/add_headers"), "", ctx);

        let mut cors_paths = Vec::new();
        for (j, p) in c.cors_paths.iter().enumerate() {
            let trimmed = p.strip_prefix('/').unwrap_or(p);
            match ModelGlob::parse(trimmed) {
                Ok(g) => cors_paths.push(g),
                Err(detail) => ctx.warn(
                    &format!("{at}/cors_paths/{j}"),
                    format!("invalid pattern {}: {detail}", quote(p)),
                ),
            }
        }

        let mcp = |field: &str, v: &Option<OneOrMany>, ctx: &mut Ctx| -> Vec<String> {
            let list = v.as_ref().map(OneOrMany::to_vec).unwrap_or_default();
            for p in &list {
                let server = p.split('/').next().unwrap_or("");
                let known = server.contains('*') || self.mcp_servers.iter().any(|s| s == server);
                if !known {
                    ctx.warn(
                        &format!("{at}/{field}"),
                        format!("{field} pattern {} references server {} which does not match any declared MCP server", quote(p), quote(server)),
                    );
                }
            }
            list
        };
        let mcp_tools = mcp("mcp_tools", &c.mcp_tools, ctx);
        let mcp_resources = mcp("mcp_resources", &c.mcp_resources, ctx);
        let mcp_templates = mcp("mcp_templates", &c.mcp_templates, ctx);

        let non_empty = |s: &String| (!s.is_empty()).then(|| s.clone());
        Capability {
            role,
            models,
            quotas,
            send_hooks,
            add_headers,
            read_metrics: c.read_metrics,
            set_cors: c.set_cors,
            cors_paths,
            cors_allow_origin: non_empty(&c.cors_allow_origin),
            cors_allow_methods: non_empty(&c.cors_allow_methods),
            cors_allow_headers: non_empty(&c.cors_allow_headers),
            enable_chat_ui: c.enable_chat_ui,
            connectors: c.connectors.clone(),
            mcp_tools,
            mcp_resources,
            mcp_templates,
            filterable_headers: c
                .filterable_headers
                .as_ref()
                .map(OneOrMany::to_vec)
                .unwrap_or_default(),
        }
    }

    /// Compiles a model glob and checks that its provider part can match a declared provider.
    fn model_glob(&self, pattern: &str, at: &str, ctx: &mut Ctx<'_>) -> Option<ModelGlob> {
        let glob = match ModelGlob::parse(pattern) {
            Ok(g) => g,
            Err(detail) => {
                ctx.warn(at, format!("invalid pattern {}: {detail}", quote(pattern)));
                return None;
            }
        };
        if let Some(first) = glob.first_segment() {
            if !self
                .providers
                .keys()
                .any(|id| glob.first_segment_matches(id))
            {
                ctx.warn(
                    at,
                    format!("models pattern {} references provider {} which does not match any declared provider", quote(pattern), quote(first)),
                );
            }
        }
        Some(glob)
    }
}

/// The template after the colon of a quota name or bucket ref, when it is not `<user>` or
/// `<node>`.
pub(crate) fn unsupported_template(name: &str) -> Option<&str> {
    let (_, t) = name.split_once(':')?;
    (t != "<user>" && t != "<node>").then_some(t)
}

/// Converts capability objects that arrive at run time (a WhoIs `CapMap` entry under
/// `tailscale.com/cap/aperture`) into typed capabilities. Objects that are not capability
/// objects are skipped; problems inside them are ignored the way config warnings are (bad globs
/// and header lines dropped), since there is nobody to report them to.
pub fn capabilities_from_json(values: &[serde_json::Value]) -> Vec<Capability> {
    let raw = RawConfig::default();
    let providers = BTreeMap::new();
    let refs = Refs {
        raw: &raw,
        providers: &providers,
        mcp_servers: &[],
    };
    let mut ctx = Ctx::default();
    let known = crate::load::schema_value()
        .pointer("/$defs/RawCapability/properties")
        .and_then(serde_json::Value::as_object);
    values
        .iter()
        .filter_map(|v| {
            // Unknown fields are ignored, as Go's decoder does.
            let mut obj = v.as_object()?.clone();
            obj.retain(|k, _| known.is_some_and(|p| p.contains_key(k)));
            serde_json::from_value::<RawCapability>(serde_json::Value::Object(obj)).ok()
        })
        .map(|c| refs.capability(&c, 0, "", &mut ctx))
        .collect()
}
