//! `providers.<id>`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SecretText;

/// One upstream LLM provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawProvider {
    /// API root such as `https://api.anthropic.com`; a trailing `/` is trimmed. Required.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub baseurl: String,
    /// Exact upstream model ids served by this provider (no wildcards). Required.
    pub models: Vec<String>,
    /// The provider key, usually `${VAR}`. `keyfile::<base64 JSON>` parses but is not supported
    /// for requests yet.
    #[serde(skip_serializing_if = "SecretText::is_empty")]
    pub apikey: SecretText,
    /// Header that carries the key: `bearer` (`Authorization: Bearer <key>`, the default),
    /// `x-api-key` or `x-goog-api-key`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub authorization: String,
    /// Which credential goes upstream: `""`/`override`/`injected` (the provider key),
    /// `passthrough` (the caller's own), `passthrough-with-fallback`, or `none`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_mode: String,
    /// Display name for the UI.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Description for the UI.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Which API endpoints this provider serves.
    pub compatibility: RawCompatibility,
    /// Price list used for cost: `anthropic`, `openai`, `google`, `vertex`, `bedrock`,
    /// `bedrock-us`, `bedrock-eu`, `bedrock-ap`, `azure`, `azure-eu`, `openrouter`, `vercel`.
    /// Inferred from the compatibility flags when empty and `auto_cost_basis` is on.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cost_basis: String,
    /// When several providers serve a model, the highest preference wins (ties: lowest id).
    pub preference: i64,
    /// Excluded from routing, `/v1/models` and `/api/providers`.
    pub disabled: bool,
    /// Headers set on every upstream request, each `"Header-Name: value"`.
    pub add_headers: Vec<String>,
    /// Pricing aliases: models matching `match` are priced as model `as`.
    pub model_cost_map: Vec<RawCostMapEntry>,
}

/// Endpoint compatibility flags. `openai_chat` defaults to `true` unless another flag is `true`;
/// an explicit value always wins. All others default to `false`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawCompatibility {
    /// `/v1/chat/completions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openai_chat: Option<bool>,
    /// `/v1/responses` and `/codex/responses`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openai_responses: Option<bool>,
    /// `/v1/messages` and `/v1/messages/count_tokens`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anthropic_messages: Option<bool>,
    /// Gemini `models/{m}:generateContent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gemini_generate_content: Option<bool>,
    /// Bedrock `model/{m}/invoke`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bedrock_model_invoke: Option<bool>,
    /// Bedrock `model/{m}/converse`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bedrock_converse: Option<bool>,
    /// Vertex `publishers/{pub}/models/{m}:generateContent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_generate_content: Option<bool>,
    /// Vertex `publishers/{pub}/models/{m}:rawPredict`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_raw_predict: Option<bool>,
    /// Gemini CLI's Vertex paths `/{v1,v1beta1}/publishers/google/models/{m}:{action}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experimental_gemini_cli_vertex_compat: Option<bool>,
}

/// A pricing alias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawCostMapEntry {
    /// Shell glob (`*`, `?`, `[..]`, not across `/`) on the forwarded model.
    #[serde(rename = "match")]
    pub pattern: String,
    /// The model priced instead.
    #[serde(rename = "as")]
    pub price_as: String,
    /// Multiplier applied to the cost; must be greater than 0.
    pub adjustment: f64,
}

impl Default for RawCostMapEntry {
    fn default() -> Self {
        Self {
            pattern: String::new(),
            price_as: String::new(),
            adjustment: 1.0,
        }
    }
}
