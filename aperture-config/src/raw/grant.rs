//! `grants` and `temp_grants`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::OneOrMany;

/// The `app` key that holds Aperture's capability objects.
pub const APERTURE_CAP: &str = "tailscale.com/cap/aperture";

/// One grant: the identities in `src` get the capabilities in `app`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawGrant {
    /// Who: `"*"`, a login, a tag login (`tag:ci`), `"(loopback)"`, or a group.
    pub src: Vec<String>,
    /// Ignored (present in tailnet policy grants).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub dst: serde_json::Value,
    /// Ignored (present in tailnet policy grants).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub ip: serde_json::Value,
    /// Capabilities by key: `tailscale.com/cap/aperture` holds Aperture's capability objects,
    /// other keys are custom capabilities passed on to hooks.
    pub app: RawGrantApp,
}

/// A grant's `app` object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawGrantApp {
    /// `app["tailscale.com/cap/aperture"]`.
    pub aperture: Vec<RawCapability>,
    /// Every other key: custom capabilities, kept as written.
    pub custom: BTreeMap<String, serde_json::Value>,
}

impl Serialize for RawGrantApp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        if !self.aperture.is_empty() {
            map.serialize_entry(APERTURE_CAP, &self.aperture)?;
        }
        for (k, v) in &self.custom {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for RawGrantApp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut custom = BTreeMap::<String, serde_json::Value>::deserialize(deserializer)?;
        let aperture = match custom.remove(APERTURE_CAP) {
            Some(v) if !v.is_null() => {
                serde_json::from_value(v).map_err(serde::de::Error::custom)?
            }
            _ => Vec::new(),
        };
        Ok(Self { aperture, custom })
    }
}

impl JsonSchema for RawGrantApp {
    fn schema_name() -> Cow<'static, str> {
        "RawGrantApp".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let caps = generator.subschema_for::<Vec<RawCapability>>();
        json_schema!({
            "description": "Capabilities by key: `tailscale.com/cap/aperture` holds Aperture's capability objects; other keys are custom capabilities.",
            "type": "object",
            "properties": { APERTURE_CAP: caps },
            "additionalProperties": true
        })
    }
}

/// One Aperture capability object. Unknown fields are reported as `json: unknown field`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
#[schemars(extend("x-aperture-unknown-field" = "json"))]
pub struct RawCapability {
    /// `admin` or `user`. Without a role nothing but the health paths and `/metrics` is allowed.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub role: String,
    /// A model glob over `provider/model` (`**`, `anthropic/**`, `*/claude-sonnet*`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub models: String,
    /// Legacy `temp_grants` form: `["p"]` means `"models": "p/**"`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
    /// Quota buckets charged for matching requests.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quotas: Vec<RawQuotaRef>,
    /// Hooks fired for matching requests.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub send_hooks: Vec<RawSendHook>,
    /// Headers set on matching upstream requests, each `"Header-Name: value"`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub add_headers: Vec<String>,
    /// Allows `GET /metrics`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_metrics: bool,
    /// Answers CORS preflights on `cors_paths`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub set_cors: bool,
    /// Path globs that CORS applies to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cors_paths: Vec<String>,
    /// CORS allowed origin (default: the request's `Origin`).
    #[serde(
        rename = "Access-Control-Allow-Origin",
        skip_serializing_if = "String::is_empty"
    )]
    pub cors_allow_origin: String,
    /// CORS allowed methods (default `GET, POST, OPTIONS`).
    #[serde(
        rename = "Access-Control-Allow-Methods",
        skip_serializing_if = "String::is_empty"
    )]
    pub cors_allow_methods: String,
    /// CORS allowed headers (default: those requested).
    #[serde(
        rename = "Access-Control-Allow-Headers",
        skip_serializing_if = "String::is_empty"
    )]
    pub cors_allow_headers: String,
    /// Chat UI access (planned).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enable_chat_ui: bool,
    /// Connector globs (planned).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connectors: Vec<String>,
    /// MCP tool globs `server/tool` (deprecated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcp_tools: Option<OneOrMany>,
    /// MCP resource globs `server/resource` (deprecated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcp_resources: Option<OneOrMany>,
    /// MCP template globs `server/template` (deprecated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcp_templates: Option<OneOrMany>,
    /// Indexed headers usable as log filters: names, or `"*"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filterable_headers: Option<OneOrMany>,
}

/// A quota bucket reference in a grant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
#[schemars(extend("x-aperture-unknown-field" = "json"))]
pub struct RawQuotaRef {
    /// The quota's name, template included (`daily:<user>`).
    pub bucket: String,
}

/// A hook reference in a grant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
#[schemars(extend("x-aperture-unknown-field" = "json"))]
pub struct RawSendHook {
    /// The hook's name in `hooks`.
    pub name: String,
    /// `pre_request`, `entire_request`, `tool_call_entire_request`.
    pub events: Vec<String>,
    /// Payload fields: `request_body`, `response_body`, `raw_responses`, `user_message`,
    /// `tools`, `grants`, `estimated_cost`, `quotas`.
    pub send: Vec<String>,
}

/// A deprecated `temp_grants` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawTempGrant {
    /// Who; `tagged-devices` matches nothing.
    pub src: Vec<String>,
    /// Capability objects, as in `app["tailscale.com/cap/aperture"]`.
    pub grants: Vec<RawCapability>,
}
