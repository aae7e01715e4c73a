//! Management calls available to every caller with a role: `GET /api/me`,
//! `GET /api/providers` (SPEC.md §11).

use aperture_auth::{Access, Identity};
use aperture_config::{CompatFlag, Role};
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::error::{json, plain_error};
use super::{ApiCall, Req, Res};
use crate::runtime::Runtime;

/// Answers a management call.
pub(crate) fn answer(call: ApiCall, req: &Req, rt: &Runtime, access: &Access) -> Res {
    let Some(identity) = req.extensions().get::<Identity>() else {
        return plain_error(StatusCode::INTERNAL_SERVER_ERROR, "stack_misconfigured");
    };
    match call {
        ApiCall::Me => me(identity, access),
        ApiCall::Providers => {
            let include_disabled = req
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|kv| kv == "include_disabled=true"));
            if include_disabled && !access.is_admin() {
                return plain_error(StatusCode::FORBIDDEN, "admin role required");
            }
            providers(rt, access, include_disabled)
        }
    }
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
