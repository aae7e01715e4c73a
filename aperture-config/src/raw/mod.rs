//! The raw config: the file's data, typed but not yet checked.
//!
//! Every field has a default, so a missing key is never an error here (Aperture's Go decoder
//! behaves the same). Strings hold the file's text before `${VAR}` substitution. The JSON schema
//! is derived from these types; their doc comments become its descriptions.

mod gateway;
mod grant;
mod provider;
mod sections;

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use gateway::*;
pub use grant::*;
pub use provider::*;
pub use sections::*;

/// An Aperture gateway configuration file (JSON or HuJSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
#[schemars(title = "Aperture gateway configuration")]
pub struct RawConfig {
    /// The URL or path of a JSON schema for editors; ignored by the gateway.
    #[serde(rename = "$schema", skip_serializing_if = "String::is_empty")]
    pub schema: String,
    /// LLM providers by id. The id is the `provider` in `provider/model` names and must not
    /// contain `/`.
    pub providers: BTreeMap<String, RawProvider>,
    /// Who may use what: each grant gives the identities in `src` a list of capabilities.
    pub grants: Vec<RawGrant>,
    /// Deprecated form of `grants`, still accepted.
    pub temp_grants: Vec<RawTempGrant>,
    /// Request-log storage: retention, indexed headers, raw captures.
    pub database: RawDatabase,
    /// Infer a provider's `cost_basis` from its compatibility flags when it has none.
    pub auto_cost_basis: bool,
    /// Dollar token buckets by name (`daily:<user>`), enforced before forwarding (SPEC §10.1).
    pub quotas: BTreeMap<String, RawQuota>,
    /// Webhooks by name, fired by grants' `send_hooks` (SPEC §10.2).
    pub hooks: BTreeMap<String, RawHook>,
    /// Export of request records to object storage (planned).
    pub exporters: RawExporters,
    /// MCP server aggregation (planned; kept as written).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub mcp: serde_json::Value,
    /// Connectors (planned; kept as written).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub connectors: serde_json::Value,
    /// Feature flags (kept as written).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub flags: serde_json::Value,
    /// Chat UI models (planned; kept as written).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub chat_models: serde_json::Value,
    /// Settings of this gateway that Aperture does not have: listeners, timeouts, identity
    /// sources, storage location.
    pub gateway: RawGateway,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            schema: String::new(),
            providers: BTreeMap::new(),
            grants: Vec::new(),
            temp_grants: Vec::new(),
            database: RawDatabase::default(),
            auto_cost_basis: true,
            quotas: BTreeMap::new(),
            hooks: BTreeMap::new(),
            exporters: RawExporters::default(),
            mcp: serde_json::Value::Null,
            connectors: serde_json::Value::Null,
            flags: serde_json::Value::Null,
            chat_models: serde_json::Value::Null,
            gateway: RawGateway::default(),
        }
    }
}

/// A secret as written in the file (usually `${VAR}`). Its `Debug` output is redacted; it
/// serialises as written, since writing a config back must keep it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct SecretText(pub String);

impl SecretText {
    /// Whether no secret is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("[REDACTED]")
        }
    }
}

/// One string or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A single string.
    One(String),
    /// A list of strings.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The strings, as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

impl Default for OneOrMany {
    fn default() -> Self {
        OneOrMany::Many(Vec::new())
    }
}

/// A byte size: a number of bytes, or a string such as `"32MiB"` (`KiB`, `MiB`, `GiB`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawSize {
    /// A number of bytes.
    Bytes(u64),
    /// A size with a unit.
    Text(String),
}
