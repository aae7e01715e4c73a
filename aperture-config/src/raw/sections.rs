//! `database`, `quotas`, `hooks` and `exporters`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SecretText;

/// The `database` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawDatabase {
    /// How long captures are kept.
    pub retention: RawRetention,
    /// Indexed headers.
    pub headers: RawDatabaseHeaders,
    /// Keep the raw request and response bytes too.
    pub save_raws: bool,
    /// Accepted and ignored.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub keep_encrypted_blobs: bool,
}

/// `database.retention`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawRetention {
    /// `""` keeps captures forever; `"0"` never writes them; otherwise between `1h` and `3650d`
    /// (`"30d"`, `"720h"`).
    pub duration: String,
    /// What the purge removes: `["captures"]` (the default: bodies and headers) or
    /// `["captures", "tools"]` (tool data too). Metric rows always stay.
    pub purge: Vec<String>,
    /// Purge only exported captures.
    pub require_export: bool,
}

/// `database.headers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawDatabaseHeaders {
    /// Request and response headers indexed for filtering.
    pub filterable: Vec<RawFilterableHeader>,
}

/// One indexed header.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawFilterableHeader {
    /// Header name, case-insensitive.
    pub name: String,
    /// Index presence only, not values (forced for credential headers).
    pub redact_values: bool,
}

/// One quota: a dollar token bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawQuota {
    /// Maximum and starting balance, `"$10.00"`.
    pub capacity: String,
    /// Refill rate, `"$5.00/day"` (units `min`, `hour`, `day`, `week`, `month`).
    pub rate: String,
    /// Only `reject`.
    pub on_exceed: String,
}

/// One webhook.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawHook {
    /// Where the JSON POST goes (`http://` or `https://`). Required.
    pub url: String,
    /// Key sent to the hook; `""` sends no auth header.
    #[serde(skip_serializing_if = "SecretText::is_empty")]
    pub apikey: SecretText,
    /// `bearer`, `x-api-key` or `x-goog-api-key`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub authorization: String,
    /// Call timeout, `"5s"`; `"0"` means none.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub timeout: String,
    /// Never called.
    pub disabled: bool,
    /// `fail_open` (default) or `fail_closed` (503 when a `pre_request` call fails).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fail_policy: String,
    /// Higher runs first; ties by name.
    pub preference: i64,
}

/// The `exporters` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawExporters {
    /// Export to S3-compatible storage (planned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3: Option<RawS3Exporter>,
}

/// `exporters.s3`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawS3Exporter {
    /// S3 endpoint URL.
    pub endpoint: String,
    /// Bucket.
    pub bucket_name: String,
    /// Region.
    pub region: String,
    /// Object name prefix; must not end with `/`.
    pub prefix: String,
    /// Access key id.
    #[serde(skip_serializing_if = "SecretText::is_empty")]
    pub access_key_id: SecretText,
    /// Secret access key.
    #[serde(skip_serializing_if = "SecretText::is_empty")]
    pub access_secret: SecretText,
    /// Seconds between exports.
    pub every: u64,
    /// Records per export, at most 10000.
    pub limit: u64,
}

impl Default for RawS3Exporter {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            bucket_name: String::new(),
            region: "us-east-1".into(),
            prefix: String::new(),
            access_key_id: SecretText::default(),
            access_secret: SecretText::default(),
            every: 3600,
            limit: 1000,
        }
    }
}
