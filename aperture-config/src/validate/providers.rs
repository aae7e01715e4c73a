//! `providers` rules.

use std::collections::BTreeMap;

use super::{Ctx, ptr};
use crate::config::{
    ApiKey, AuthHeader, AuthMode, CompatFlag, Compatibility, CostAlias, CostBasis, Provider,
};
use crate::glob::ShellGlob;
use crate::lenient::quote;
use crate::raw::{RawCompatibility, RawConfig, RawProvider};
use crate::values::{Secret, parse_http_url};

pub(super) fn validate(raw: &RawConfig, ctx: &mut Ctx<'_>) -> BTreeMap<String, Provider> {
    raw.providers
        .iter()
        .map(|(id, p)| (id.clone(), provider(id, p, raw.auto_cost_basis, ctx)))
        .collect()
}

fn provider(id: &str, p: &RawProvider, auto_cost_basis: bool, ctx: &mut Ctx<'_>) -> Provider {
    let at = ptr(&["providers", id]);
    let mut routable = true;

    if id.contains('/') {
        ctx.warn(
            &at,
            format!("provider id {} must not contain \"/\"", quote(id)),
        );
        routable = false;
    }

    let baseurl = if p.baseurl.is_empty() {
        ctx.warn(&at, format!("provider {id} has no baseurl configured"));
        routable = false;
        None
    } else {
        match parse_http_url(p.baseurl.trim_end_matches('/')) {
            Ok(uri) => Some(uri),
            Err(e) => {
                ctx.warn(
                    &ptr(&["providers", id, "baseurl"]),
                    format!("provider {id} has invalid baseurl: {e}"),
                );
                routable = false;
                None
            }
        }
    };

    let authorization = AuthHeader::parse(&p.authorization).unwrap_or_else(|| {
        let at = ptr(&["providers", id, "authorization"]);
        let shown = ctx.shown(&at, &p.authorization);
        ctx.warn(
            &at,
            format!("provider {id} has invalid authorization type: {shown}"),
        );
        routable = false;
        AuthHeader::Bearer
    });

    let auth_mode = AuthMode::parse(&p.auth_mode).unwrap_or_else(|| {
        let at = ptr(&["providers", id, "auth_mode"]);
        let shown = ctx.shown(&at, &p.auth_mode);
        ctx.warn(&at, format!("provider {id} has invalid auth_mode: {shown}"));
        routable = false;
        AuthMode::Injected
    });
    let needs_key = matches!(
        p.auth_mode.as_str(),
        "override" | "injected" | "passthrough-with-fallback"
    );
    if needs_key && p.apikey.is_empty() {
        ctx.warn(
            &ptr(&["providers", id, "auth_mode"]),
            format!(
                "provider {id}: auth_mode \"{}\" requires an apikey",
                p.auth_mode
            ),
        );
    }

    let apikey = if p.apikey.is_empty() {
        ApiKey::None
    } else if p.apikey.0.starts_with("keyfile::") {
        ApiKey::Keyfile(Secret::new(p.apikey.0.clone()))
    } else {
        ApiKey::Key(Secret::new(p.apikey.0.clone()))
    };

    if p.models.is_empty() {
        ctx.warn(&at, format!("provider {id} has no models configured"));
    }

    let compatibility = compatibility(&p.compatibility);
    let cost_basis = if p.cost_basis.is_empty() {
        if auto_cost_basis {
            CostBasis::infer(compatibility)
        } else {
            None
        }
    } else {
        CostBasis::parse(&p.cost_basis).or_else(|| {
            let at = ptr(&["providers", id, "cost_basis"]);
            let shown = ctx.shown(&at, &p.cost_basis);
            ctx.warn(
                &at,
                format!("provider {id} has unknown cost_basis: {shown}"),
            );
            None
        })
    };

    let add_headers = super::header_lines(
        &p.add_headers,
        &ptr(&["providers", id, "add_headers"]),
        &format!("provider {id}: "),
        ctx,
    );

    let mut model_cost_map = Vec::new();
    for (i, e) in p.model_cost_map.iter().enumerate() {
        let at = ptr(&["providers", id, "model_cost_map", &i.to_string()]);
        let pattern = match ShellGlob::parse(&e.pattern) {
            Ok(g) if !e.pattern.is_empty() => g,
            Ok(_) => {
                ctx.warn(
                    &at,
                    format!("invalid pattern {}: empty pattern", quote(&e.pattern)),
                );
                continue;
            }
            Err(detail) => {
                ctx.warn(
                    &at,
                    format!("invalid pattern {}: {detail}", quote(&e.pattern)),
                );
                continue;
            }
        };
        if !(e.adjustment > 0.0 && e.adjustment.is_finite()) {
            ctx.warn(
                &format!("{at}/adjustment"),
                format!("provider {id}: model_cost_map adjustment must be greater than 0"),
            );
            continue;
        }
        model_cost_map.push(CostAlias {
            pattern,
            price_as: e.price_as.clone(),
            adjustment: e.adjustment,
        });
    }

    Provider {
        id: id.to_string(),
        baseurl,
        models: p.models.clone(),
        apikey,
        authorization,
        auth_mode,
        name: if p.name.is_empty() {
            id.to_string()
        } else {
            p.name.clone()
        },
        description: p.description.clone(),
        compatibility,
        cost_basis,
        preference: p.preference,
        disabled: p.disabled,
        add_headers,
        model_cost_map,
        routable,
    }
}

/// Applies the defaults: `openai_chat` is on unless another flag is on; explicit values win.
pub(crate) fn compatibility(raw: &RawCompatibility) -> Compatibility {
    use CompatFlag::*;
    let explicit = [
        (OpenaiChat, raw.openai_chat),
        (OpenaiResponses, raw.openai_responses),
        (AnthropicMessages, raw.anthropic_messages),
        (GeminiGenerateContent, raw.gemini_generate_content),
        (BedrockModelInvoke, raw.bedrock_model_invoke),
        (BedrockConverse, raw.bedrock_converse),
        (GoogleGenerateContent, raw.google_generate_content),
        (GoogleRawPredict, raw.google_raw_predict),
        (
            ExperimentalGeminiCliVertexCompat,
            raw.experimental_gemini_cli_vertex_compat,
        ),
    ];
    let mut c = Compatibility::default();
    for (flag, v) in explicit {
        c.set(flag, v.unwrap_or(false));
    }
    if raw.openai_chat.is_none() {
        let other_on = explicit
            .iter()
            .any(|(f, v)| *f != OpenaiChat && *v == Some(true));
        c.set(OpenaiChat, !other_on);
    }
    c
}
