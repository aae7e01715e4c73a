//! Validation: `RawConfig` (substituted) → `Config` plus diagnostics (SPEC.md §1.5).
//!
//! Every rule reports through [`Ctx`] and carries on, so one pass finds every problem. Messages
//! use Aperture's wording; the ones marked "(ours)" in SPEC.md are this gateway's additions.

mod gateway;
pub(crate) mod grants;
mod providers;
mod sections;

use std::collections::HashSet;

use crate::config::Config;
use crate::diagnostic::{Diagnostic, Severity, pointer_push};
use crate::raw::RawConfig;

/// Collects diagnostics during validation, and knows which values came from `${VAR}`.
#[derive(Debug, Default)]
pub(crate) struct Ctx<'a> {
    pub(crate) diagnostics: Vec<Diagnostic>,
    /// The document before substitution, to show `${VAR}` instead of a resolved value.
    pub(crate) unsubstituted: Option<&'a serde_json::Value>,
    /// Pointers of string values that held `${VAR}` references.
    pub(crate) substituted: HashSet<&'a str>,
    /// `(resolved, as written)` for every value from the environment, longest first: each
    /// message has the resolved text replaced by the written one.
    pub(crate) scrub: Vec<(String, String)>,
}

impl Ctx<'_> {
    /// Whether the string at `path` came from the environment (and may be a secret).
    pub(crate) fn came_from_env(&self, path: &str) -> bool {
        self.substituted.contains(path)
    }

    /// The value at `path` as messages may show it: as written in the file when it came from
    /// the environment, so that a resolved secret never reaches a diagnostic.
    pub(crate) fn shown(&self, path: &str, resolved: &str) -> String {
        if self.came_from_env(path) {
            self.unsubstituted
                .and_then(|v| v.pointer(path))
                .and_then(|v| v.as_str())
                .map_or_else(|| "[from environment]".to_string(), str::to_string)
        } else {
            resolved.to_string()
        }
    }

    pub(crate) fn push(&mut self, severity: Severity, path: &str, message: impl Into<String>) {
        let mut message = message.into();
        for (resolved, written) in &self.scrub {
            if message.contains(resolved.as_str()) {
                message = message.replace(resolved.as_str(), written);
            }
        }
        // Anything that looks like a key is scrubbed too (SPEC.md §8.3 (4)).
        let message = crate::redact::scrub_secrets(&message);
        self.diagnostics
            .push(Diagnostic::new(severity, path, message));
    }

    pub(crate) fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.push(Severity::Warning, path, message);
    }

    pub(crate) fn error(&mut self, path: &str, message: impl Into<String>) {
        self.push(Severity::Error, path, message);
    }

    pub(crate) fn info(&mut self, path: &str, message: impl Into<String>) {
        self.push(Severity::Info, path, message);
    }
}

/// Parses `add_headers` entries at `base` (a pointer to the array). Bad entries are warnings
/// (`{prefix}add_headers entry "…" must be in "Header-Name: value" format`) and skipped; values
/// from `${VAR}` are marked sensitive and never shown resolved.
pub(crate) fn header_lines(
    entries: &[String],
    base: &str,
    prefix: &str,
    ctx: &mut Ctx<'_>,
) -> Vec<crate::values::HeaderLine> {
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = pointer_push(base, &i.to_string());
        match crate::values::HeaderLine::parse(entry) {
            Some(h) if is_managed(&h.name) => {
                let shown = crate::lenient::quote(&ctx.shown(&at, entry));
                ctx.warn(
                    &at,
                    format!(
                        "{prefix}add_headers entry {shown} sets {}, which the gateway manages",
                        h.name
                    ),
                );
            }
            Some(mut h) => {
                // Injected header values are marked sensitive (SPEC.md §8.3): never printed.
                h.value.set_sensitive(true);
                out.push(h);
            }
            None => {
                let shown = crate::lenient::quote(&ctx.shown(&at, entry));
                ctx.warn(
                    &at,
                    format!(
                        "{prefix}add_headers entry {shown} must be in \"Header-Name: value\" format"
                    ),
                );
            }
        }
    }
    out
}

/// Headers `add_headers` may not set: framing, routing and identity belong to the gateway.
fn is_managed(name: &http::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "content-length"
            | "transfer-encoding"
            | "connection"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "upgrade"
            | "proxy-authorization"
            | "proxy-authenticate"
    ) || name.as_str().starts_with("tailscale-")
}

/// Builds a JSON pointer from reference tokens.
pub(crate) fn ptr(tokens: &[&str]) -> String {
    tokens
        .iter()
        .fold(String::new(), |p, t| pointer_push(&p, t))
}

/// Validates a substituted raw config.
pub(crate) fn validate(raw: &RawConfig, ctx: &mut Ctx<'_>) -> Config {
    let providers = providers::validate(raw, ctx);
    let mcp_servers = sections::mcp_servers(&raw.mcp);
    let grants = grants::validate(raw, &providers, &mcp_servers, ctx);
    let quotas = sections::quotas(raw, ctx);
    let hooks = sections::hooks(raw, ctx);
    let database = sections::database(raw, ctx);
    let exporters = sections::exporters(raw, ctx);
    let gateway = gateway::validate(&raw.gateway, ctx);

    if providers.is_empty() && mcp_servers.is_empty() {
        ctx.warn(
            "",
            "no providers or mcp servers defined; users will not be able to access any models",
        );
    }
    if !providers.is_empty() && raw.grants.is_empty() && raw.temp_grants.is_empty() {
        ctx.warn(
            "",
            "providers are configured but no grants or temp_grants defined; all access will be denied",
        );
    }
    let has_admin = grants.iter().any(|g| {
        !g.src.is_empty()
            && g.capabilities
                .iter()
                .any(|c| c.role == Some(crate::config::Role::Admin))
    });
    if !has_admin {
        ctx.warn(
            "",
            "no grant in grants or temp_grants assigns role:admin; nobody will be able to manage this instance",
        );
    }
    sections::phase_two_notice(raw, ctx);

    Config {
        providers,
        grants,
        database,
        auto_cost_basis: raw.auto_cost_basis,
        quotas,
        hooks,
        exporters,
        mcp: raw.mcp.clone(),
        connectors: raw.connectors.clone(),
        flags: raw.flags.clone(),
        chat_models: raw.chat_models.clone(),
        gateway,
    }
}

#[cfg(test)]
mod tests;
