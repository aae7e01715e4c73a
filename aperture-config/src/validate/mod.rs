//! Validation: `RawConfig` (substituted) → `Config` plus diagnostics (SPEC.md §1.5).
//!
//! Every rule reports through [`Ctx`] and carries on, so one pass finds every problem. Messages
//! use Aperture's wording; the ones marked "(ours)" in SPEC.md are this gateway's additions.

mod gateway;
mod grants;
mod providers;
mod sections;

use crate::config::Config;
use crate::diagnostic::{Diagnostic, Severity, pointer_push};
use crate::raw::RawConfig;

/// Collects diagnostics during validation.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl Ctx {
    pub(crate) fn push(&mut self, severity: Severity, path: &str, message: impl Into<String>) {
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

/// Builds a JSON pointer from reference tokens.
pub(crate) fn ptr(tokens: &[&str]) -> String {
    tokens
        .iter()
        .fold(String::new(), |p, t| pointer_push(&p, t))
}

/// Validates a substituted raw config.
pub(crate) fn validate(raw: &RawConfig, ctx: &mut Ctx) -> Config {
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
    sections::phase_two_notice(raw, &grants, ctx);

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
