//! Management calls (SPEC.md §11): `GET /api/me`, `GET /api/providers` for every caller with a
//! role; `GET`/`PUT /api/config`, `GET /aperture/config` and `POST /aperture/config:validate`
//! for admins.

use aperture_auth::{Access, Identity};
use aperture_config::{CompatFlag, Role, Severity};
use http::{StatusCode, header};
use http_body_util::{BodyExt, Limited};
use serde_json::{Map, Value, json};

use super::admin::AdminContext;
use super::{ApiCall, Req, Res, Target};
use crate::config_store::ConfigStore;
use crate::error::{Error, json};
use crate::runtime::Runtime;

/// The largest config a `PUT` or a validation accepts.
const MAX_CONFIG_BODY: usize = 4 << 20;

/// Answers a management call.
pub(crate) async fn answer(call: ApiCall, req: Req, ctx: &AdminContext, access: &Access) -> Res {
    let target = Target::Api(call);
    answer_or_error(call, req, ctx, access)
        .await
        .unwrap_or_else(|e| e.respond(&target))
}

async fn answer_or_error(
    call: ApiCall,
    req: Req,
    ctx: &AdminContext,
    access: &Access,
) -> Result<Res, Error> {
    let rt: &Runtime = &ctx.runtime;
    let (Some(identity), Some(store)) = (
        req.extensions().get::<Identity>().cloned(),
        ctx.store.upgrade(),
    ) else {
        return Err(Error::StackMisconfigured);
    };
    let admin_only = matches!(
        call,
        ApiCall::GetConfig | ApiCall::PutConfig | ApiCall::Validate | ApiCall::QuotaRefill
    );
    if admin_only && !access.is_admin() {
        return Err(Error::AdminRequired);
    }
    Ok(match call {
        ApiCall::Sessions
        | ApiCall::Session
        | ApiCall::Requests
        | ApiCall::Request
        | ApiCall::Usage
        | ApiCall::UsageCsv => {
            let Some(db) = ctx.telemetry.db.clone() else {
                return Err(Error::refused(
                    StatusCode::NOT_FOUND,
                    "the request log is not kept here",
                ));
            };
            super::dash::answer(call, req.uri(), &db, &identity, access).await
        }
        ApiCall::Quotas => super::quota_api::list(&req, ctx, &identity, access),
        ApiCall::QuotaRefill => super::quota_api::refill(req, ctx).await?,
        ApiCall::Me => me(&identity, access),
        ApiCall::Providers => {
            let include_disabled = req
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|kv| kv == "include_disabled=true"));
            if include_disabled && !access.is_admin() {
                return Err(Error::AdminRequired);
            }
            providers(rt, access, include_disabled)
        }
        ApiCall::GetConfig => {
            let (text, hash) = store.current().await;
            match aperture_config::redact_secrets(&text)
                .or_else(|| text.is_empty().then(String::new))
            {
                Some(shown) => json(StatusCode::OK, &json!({ "config": shown, "hash": hash })),
                None => {
                    return Err(Error::Internal(
                        "the running config text cannot be shown".into(),
                    ));
                }
            }
        }
        ApiCall::PutConfig => {
            let caller = req.extensions().get::<super::identify::Caller>().cloned();
            let identity_for_guard = identity.clone();
            let under = move |cfg: &aperture_config::Config| {
                caller
                    .as_ref()
                    .and_then(|c| super::identify::identity_under(cfg, c, &identity_for_guard))
            };
            put_config(req, &store, &identity, &under).await?
        }
        ApiCall::Validate => validate(req).await?,
    })
}

fn is_json(req: &Req) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        })
}

async fn read_body(req: Req) -> Result<(bool, bytes::Bytes), Error> {
    let json = is_json(&req);
    match Limited::new(req.into_body(), MAX_CONFIG_BODY)
        .collect()
        .await
    {
        Ok(c) => Ok((json, c.to_bytes())),
        Err(_) => Err(Error::refused(
            StatusCode::BAD_REQUEST,
            format!("the request body is not readable or larger than {MAX_CONFIG_BODY} bytes"),
        )),
    }
}

fn diagnostics_json(ds: &aperture_config::Diagnostics) -> Vec<&aperture_config::Diagnostic> {
    ds.iter().filter(|d| d.severity != Severity::Info).collect()
}

async fn put_config(
    req: Req,
    store: &ConfigStore,
    identity: &Identity,
    saver_under: &(dyn Fn(&aperture_config::Config) -> Option<Identity> + Sync),
) -> Result<Res, Error> {
    if !is_json(&req) {
        return Err(Error::refused(
            StatusCode::BAD_REQUEST,
            "PUT /api/config needs Content-Type: application/json",
        ));
    }
    let (_, body) = read_body(req).await?;
    let parsed: Option<(String, String)> =
        serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
            Some((
                v.get("config")?.as_str()?.to_string(),
                v.get("hash")?.as_str()?.to_string(),
            ))
        });
    let Some((text, base_hash)) = parsed else {
        return Err(Error::refused(
            StatusCode::BAD_REQUEST,
            "the body must be {\"config\": \"<text>\", \"hash\": \"<hash>\"}",
        ));
    };
    let hash = store.save(&text, &base_hash, identity, saver_under).await?;
    Ok(json(StatusCode::OK, &json!({ "hash": hash })))
}

/// Body: the config text itself, or `{"config": "<text>"}` with a JSON content type.
async fn validate(req: Req) -> Result<Res, Error> {
    let (is_json, body) = read_body(req).await?;
    let Ok(raw) = std::str::from_utf8(&body) else {
        return Err(Error::refused(
            StatusCode::BAD_REQUEST,
            "the config must be UTF-8 text",
        ));
    };
    let wrapped = is_json
        .then(|| serde_json::from_str::<Value>(raw).ok())
        .flatten()
        .and_then(|v| v.get("config").and_then(Value::as_str).map(str::to_string));
    let text = wrapped.as_deref().unwrap_or(raw);
    let ds = ConfigStore::validate(text);
    let valid = !ds.has_errors();
    Ok(json(
        StatusCode::OK,
        &json!({ "Valid": valid, "diagnostics": diagnostics_json(&ds) }),
    ))
}

fn me(identity: &Identity, access: &Access) -> Res {
    let role = match access.role {
        Some(Role::Admin) => "admin",
        Some(Role::User) => "user",
        None => "",
    };
    json(
        StatusCode::OK,
        &json!({
            "login": identity.login,
            "display_name": identity.display_name,
            "node_id": identity.node_id,
            "node_name": identity.node_name,
            "tags": identity.tags,
            "source": identity.source.as_str(),
            "role": role,
            "read_metrics": access.read_metrics,
        }),
    )
}

/// `[{"id","name","description","models":[granted],"compatibility":{all nine flags}}]`;
/// providers with no granted model are left out, disabled ones unless asked by an admin; never
/// a `baseurl` or `apikey`.
fn providers(rt: &Runtime, access: &Access, include_disabled: bool) -> Res {
    let mut out = Vec::new();
    for p in rt.config.providers.values() {
        if p.disabled && !include_disabled {
            continue;
        }
        let models: Vec<&String> = p
            .models
            .iter()
            .filter(|m| access.model_granted(&p.id, m))
            .collect();
        if models.is_empty() {
            continue;
        }
        let mut flags = Map::new();
        for f in CompatFlag::ALL {
            flags.insert(f.name().to_string(), Value::Bool(p.compatibility.get(f)));
        }
        let mut entry = json!({
            "id": p.id,
            "name": p.name,
            "description": p.description,
            "models": models,
            "compatibility": flags,
        });
        if include_disabled {
            entry["disabled"] = Value::Bool(p.disabled);
        }
        out.push(entry);
    }
    json(StatusCode::OK, &Value::Array(out))
}
