//! `GET /v1/models` and `GET /v1/models/{id}` (SPEC.md §6.5).

use aperture_auth::Access;
use aperture_route::ApiFormat;
use http::StatusCode;
use serde_json::{Value, json};

use super::Res;
use crate::error::{json, native_error};
use crate::runtime::Runtime;

/// The models the caller may use: one entry per enabled provider and granted model, by
/// provider id then config order. Query parameters are ignored; never paginated.
pub(crate) fn answer(rt: &Runtime, access: &Access, id: Option<&str>) -> Res {
    let mut data = Vec::new();
    for p in rt
        .config
        .providers
        .values()
        .filter(|p| !p.disabled && p.routable)
    {
        for m in p.models.iter().filter(|m| access.model_granted(&p.id, m)) {
            let mut e = entry(&p.id, &p.name, m);
            if let Some(basis) = p.cost_basis {
                let prices = rt.prices.model_pricing(basis, m, &p.model_cost_map);
                if !prices.is_empty() {
                    let map: serde_json::Map<String, Value> = prices
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), Value::String(v)))
                        .collect();
                    e["pricing"] = Value::Object(map);
                }
            }
            data.push(e);
        }
    }
    match id {
        None => json(
            StatusCode::OK,
            &json!({ "object": "list", "has_more": false, "data": data }),
        ),
        Some(id) => match data.into_iter().find(|e| e["id"] == id) {
            Some(e) => json(StatusCode::OK, &e),
            None => native_error(
                ApiFormat::OpenAi,
                StatusCode::NOT_FOUND,
                &format!(
                    "no route found for model {}",
                    serde_json::to_string(id).unwrap_or_default()
                ),
            ),
        },
    }
}

fn entry(provider: &str, name: &str, model: &str) -> Value {
    json!({
        "id": model,
        "object": "model",
        "type": "model",
        "display_name": model,
        "created": 0,
        "owned_by": provider,
        "metadata": { "provider": { "id": provider, "name": name } },
    })
}
