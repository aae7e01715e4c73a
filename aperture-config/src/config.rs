//! The validated config: references checked, values typed, globs compiled, secrets wrapped.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;

use crate::glob::{ModelGlob, ShellGlob};
use crate::units::Rate;
use crate::values::{Cidr, HeaderLine, Secret, Url};

/// A validated gateway config.
#[derive(Debug, Clone)]
pub struct Config {
    /// Providers by id, including unroutable and disabled ones (see [`Provider::routable`]).
    pub providers: BTreeMap<String, Provider>,
    /// `grants` followed by the converted `temp_grants`.
    pub grants: Vec<Grant>,
    /// Request-log storage.
    pub database: Database,
    /// Infer `cost_basis` from compatibility flags.
    pub auto_cost_basis: bool,
    /// Quotas by name.
    pub quotas: BTreeMap<String, Quota>,
    /// Hooks by name.
    pub hooks: BTreeMap<String, Hook>,
    /// Exporters.
    pub exporters: Exporters,
    /// `mcp`, kept as written (planned).
    pub mcp: serde_json::Value,
    /// `connectors`, kept as written (planned).
    pub connectors: serde_json::Value,
    /// `flags`, kept as written.
    pub flags: serde_json::Value,
    /// `chat_models`, kept as written (planned).
    pub chat_models: serde_json::Value,
    /// This gateway's own settings.
    pub gateway: Gateway,
}

/// A provider.
#[derive(Debug, Clone)]
pub struct Provider {
    /// The id (the key in `providers`).
    pub id: String,
    /// API root with any trailing `/` trimmed; `None` when missing or invalid.
    pub baseurl: Option<Url>,
    /// Exact upstream model ids.
    pub models: Vec<String>,
    /// The provider key.
    pub apikey: ApiKey,
    /// Which header carries the key.
    pub authorization: AuthHeader,
    /// Which credential goes upstream.
    pub auth_mode: AuthMode,
    /// Display name (the id when empty).
    pub name: String,
    /// Description.
    pub description: String,
    /// Endpoint flags with their defaults applied.
    pub compatibility: Compatibility,
    /// Price list; `None` means no cost is computed.
    pub cost_basis: Option<CostBasis>,
    /// Higher wins for a shared model.
    pub preference: i64,
    /// Excluded from routing and listings.
    pub disabled: bool,
    /// Headers set on every upstream request.
    pub add_headers: Vec<HeaderLine>,
    /// Pricing aliases, first match wins.
    pub model_cost_map: Vec<CostAlias>,
    /// False when a warning made the provider unusable (no baseurl, bad authorization type or
    /// auth_mode, `/` in the id); routing skips it.
    pub routable: bool,
}

/// A provider key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKey {
    /// No key configured.
    None,
    /// A key.
    Key(Secret),
    /// A `keyfile::` credential: a Vertex service account the gateway mints tokens from
    /// (SPEC.md §2.2).
    Keyfile(Secret),
}

/// The header that carries a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthHeader {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `x-api-key: <key>`.
    XApiKey,
    /// `x-goog-api-key: <key>`.
    XGoogApiKey,
}

impl AuthHeader {
    /// Parses `bearer`, `x-api-key`, `x-goog-api-key` (any case); `""` is `bearer`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "" | "bearer" => Some(Self::Bearer),
            "x-api-key" => Some(Self::XApiKey),
            "x-goog-api-key" => Some(Self::XGoogApiKey),
            _ => None,
        }
    }
}

/// Which credential goes upstream (SPEC.md §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Client credentials removed; the provider key injected (`""`, `override`, `injected`).
    Injected,
    /// The client's credentials as sent; the provider key only when the client sent none.
    Passthrough,
    /// As `Passthrough`, with a required provider key.
    PassthroughWithFallback,
    /// No credential at all.
    None,
}

impl AuthMode {
    /// Parses an `auth_mode` value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "" | "override" | "injected" => Some(Self::Injected),
            "passthrough" => Some(Self::Passthrough),
            "passthrough-with-fallback" => Some(Self::PassthroughWithFallback),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// The nine endpoint compatibility flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CompatFlag {
    /// `openai_chat`.
    OpenaiChat,
    /// `openai_responses`.
    OpenaiResponses,
    /// `anthropic_messages`.
    AnthropicMessages,
    /// `gemini_generate_content`.
    GeminiGenerateContent,
    /// `bedrock_model_invoke`.
    BedrockModelInvoke,
    /// `bedrock_converse`.
    BedrockConverse,
    /// `google_generate_content`.
    GoogleGenerateContent,
    /// `google_raw_predict`.
    GoogleRawPredict,
    /// `experimental_gemini_cli_vertex_compat`.
    ExperimentalGeminiCliVertexCompat,
}

impl CompatFlag {
    /// All flags, in the order the config documents them.
    pub const ALL: [CompatFlag; 9] = [
        Self::OpenaiChat,
        Self::OpenaiResponses,
        Self::AnthropicMessages,
        Self::GeminiGenerateContent,
        Self::BedrockModelInvoke,
        Self::BedrockConverse,
        Self::GoogleGenerateContent,
        Self::GoogleRawPredict,
        Self::ExperimentalGeminiCliVertexCompat,
    ];

    /// The flag's config key.
    pub fn name(self) -> &'static str {
        match self {
            Self::OpenaiChat => "openai_chat",
            Self::OpenaiResponses => "openai_responses",
            Self::AnthropicMessages => "anthropic_messages",
            Self::GeminiGenerateContent => "gemini_generate_content",
            Self::BedrockModelInvoke => "bedrock_model_invoke",
            Self::BedrockConverse => "bedrock_converse",
            Self::GoogleGenerateContent => "google_generate_content",
            Self::GoogleRawPredict => "google_raw_predict",
            Self::ExperimentalGeminiCliVertexCompat => "experimental_gemini_cli_vertex_compat",
        }
    }
}

/// Endpoint flags with defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Compatibility {
    bits: u16,
}

impl Compatibility {
    /// Whether `flag` is on.
    pub fn get(self, flag: CompatFlag) -> bool {
        self.bits & (1 << flag as u16) != 0
    }

    /// Turns `flag` on or off.
    pub fn set(&mut self, flag: CompatFlag, on: bool) {
        if on {
            self.bits |= 1 << flag as u16;
        } else {
            self.bits &= !(1 << flag as u16);
        }
    }

    /// The flags that are on.
    pub fn enabled(self) -> impl Iterator<Item = CompatFlag> {
        CompatFlag::ALL.into_iter().filter(move |f| self.get(*f))
    }
}

/// A price list (SPEC.md §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CostBasis {
    /// `anthropic`.
    Anthropic,
    /// `openai`.
    Openai,
    /// `google`.
    Google,
    /// `vertex`.
    Vertex,
    /// `bedrock`.
    Bedrock,
    /// `bedrock-us`.
    BedrockUs,
    /// `bedrock-eu`.
    BedrockEu,
    /// `bedrock-ap`.
    BedrockAp,
    /// `azure`.
    Azure,
    /// `azure-eu`.
    AzureEu,
    /// `openrouter`.
    Openrouter,
    /// `vercel`.
    Vercel,
}

impl CostBasis {
    /// Every basis with its config name.
    pub const ALL: [(CostBasis, &'static str); 12] = [
        (Self::Anthropic, "anthropic"),
        (Self::Openai, "openai"),
        (Self::Google, "google"),
        (Self::Vertex, "vertex"),
        (Self::Bedrock, "bedrock"),
        (Self::BedrockUs, "bedrock-us"),
        (Self::BedrockEu, "bedrock-eu"),
        (Self::BedrockAp, "bedrock-ap"),
        (Self::Azure, "azure"),
        (Self::AzureEu, "azure-eu"),
        (Self::Openrouter, "openrouter"),
        (Self::Vercel, "vercel"),
    ];

    /// Parses a config name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == s).map(|(b, _)| *b)
    }

    /// The config name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(b, _)| *b == self)
            .map_or("", |(_, n)| n)
    }

    /// The basis inferred from flags: the first of `anthropic_messages` → anthropic,
    /// `openai_*` → openai, `gemini_generate_content` → google, `google_*` → vertex,
    /// `bedrock_*` → bedrock.
    pub fn infer(c: Compatibility) -> Option<Self> {
        use CompatFlag::*;
        if c.get(AnthropicMessages) {
            Some(Self::Anthropic)
        } else if c.get(OpenaiChat) || c.get(OpenaiResponses) {
            Some(Self::Openai)
        } else if c.get(GeminiGenerateContent) {
            Some(Self::Google)
        } else if c.get(GoogleGenerateContent) || c.get(GoogleRawPredict) {
            Some(Self::Vertex)
        } else if c.get(BedrockModelInvoke) || c.get(BedrockConverse) {
            Some(Self::Bedrock)
        } else {
            None
        }
    }
}

/// A pricing alias.
#[derive(Debug, Clone)]
pub struct CostAlias {
    /// Glob on the forwarded model.
    pub pattern: ShellGlob,
    /// The model priced instead.
    pub price_as: String,
    /// Cost multiplier, > 0.
    pub adjustment: f64,
}

/// A grant.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Who it applies to.
    pub src: Vec<GrantSrc>,
    /// Aperture capability objects.
    pub capabilities: Vec<Capability>,
    /// Custom capabilities by key, kept as written.
    pub custom: BTreeMap<String, serde_json::Value>,
    /// Converted from `temp_grants`.
    pub from_temp_grants: bool,
}

/// A grant source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantSrc {
    /// `"*"`: everyone, loopback included.
    Everyone,
    /// A login, tag login, `(loopback)`, or group name: matched exactly against the login and
    /// the identity's groups.
    Principal(String),
    /// `tagged-devices` in `temp_grants`: matches nothing.
    Nothing,
}

/// A role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Any access.
    User,
    /// Also config, all users' data and refills.
    Admin,
}

/// One Aperture capability object.
#[derive(Debug, Clone, Default)]
pub struct Capability {
    /// The role, if any.
    pub role: Option<Role>,
    /// The model globs (one from `models`, one per legacy `providers` entry); none makes the
    /// object floating.
    pub models: Vec<ModelGlob>,
    /// Quota bucket references.
    pub quotas: Vec<String>,
    /// Hooks to fire.
    pub send_hooks: Vec<SendHook>,
    /// Upstream headers.
    pub add_headers: Vec<HeaderLine>,
    /// `/metrics` access.
    pub read_metrics: bool,
    /// CORS on.
    pub set_cors: bool,
    /// Paths CORS applies to.
    pub cors_paths: Vec<ModelGlob>,
    /// `Access-Control-Allow-Origin`.
    pub cors_allow_origin: Option<String>,
    /// `Access-Control-Allow-Methods`.
    pub cors_allow_methods: Option<String>,
    /// `Access-Control-Allow-Headers`.
    pub cors_allow_headers: Option<String>,
    /// Chat UI (planned).
    pub enable_chat_ui: bool,
    /// Connector globs (planned).
    pub connectors: Vec<String>,
    /// MCP tool globs.
    pub mcp_tools: Vec<String>,
    /// MCP resource globs.
    pub mcp_resources: Vec<String>,
    /// MCP template globs.
    pub mcp_templates: Vec<String>,
    /// Filterable headers: names, or `["*"]` for all.
    pub filterable_headers: Vec<String>,
}

/// `gateway.tls`: the PEM certificate chain and private key the listeners serve HTTPS with,
/// re-read when they change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert_file: PathBuf,
    /// The private key.
    pub key_file: PathBuf,
}

/// A hook reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendHook {
    /// The hook's name.
    pub name: String,
    /// When it fires.
    pub events: Vec<HookEvent>,
    /// Payload fields.
    pub send: Vec<String>,
}

/// When a hook fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookEvent {
    /// Before forwarding, synchronously.
    PreRequest,
    /// After each completed request.
    EntireRequest,
    /// After each response with tool calls.
    ToolCallEntireRequest,
}

impl HookEvent {
    /// Parses an event name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pre_request" => Some(Self::PreRequest),
            "entire_request" => Some(Self::EntireRequest),
            "tool_call_entire_request" => Some(Self::ToolCallEntireRequest),
            _ => None,
        }
    }
}

/// A quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// Its name, template included.
    pub name: String,
    /// Capacity and starting balance, nanodollars.
    pub capacity: i64,
    /// Refill rate.
    pub rate: Rate,
    /// What the name's template expands (`None`: one shared bucket).
    pub template: Option<BucketTemplate>,
}

/// A quota name template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketTemplate {
    /// `<user>`: the login.
    User,
    /// `<node>`: the node id.
    Node,
}

/// A hook.
#[derive(Debug, Clone)]
pub struct Hook {
    /// Its name.
    pub name: String,
    /// Where it posts; `None` when missing or invalid.
    pub url: Option<Url>,
    /// Its key.
    pub apikey: Option<Secret>,
    /// The key's header.
    pub authorization: HookAuth,
    /// Call timeout (`None`: none).
    pub timeout: Option<Duration>,
    /// Never called.
    pub disabled: bool,
    /// What a failed `pre_request` call does.
    pub fail_policy: FailPolicy,
    /// Order.
    pub preference: i64,
}

/// How a hook's key is sent (SPEC.md §10.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookAuth {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `X-Api-Key: <key>`.
    XApiKey,
    /// `X-Goog-Api-Key: <key>`.
    XGoogApiKey,
    /// `Authorization: Splunk <key>` (a Splunk HTTP Event Collector).
    Hec,
    /// `cf-aig-authorization: Bearer <key>` (Cloudflare AI Gateway).
    CfAig,
}

impl HookAuth {
    /// Parses `bearer`, `x-api-key`, `x-goog-api-key`, `hec`, `cf-aig-authorization` (any
    /// case); `""` is `bearer`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "" | "bearer" => Some(Self::Bearer),
            "x-api-key" => Some(Self::XApiKey),
            "x-goog-api-key" => Some(Self::XGoogApiKey),
            "hec" => Some(Self::Hec),
            "cf-aig-authorization" => Some(Self::CfAig),
            _ => None,
        }
    }

    /// The header name and value that carry `key`.
    pub fn header(self, key: &str) -> (&'static str, String) {
        match self {
            Self::Bearer => ("authorization", format!("Bearer {key}")),
            Self::XApiKey => ("x-api-key", key.to_string()),
            Self::XGoogApiKey => ("x-goog-api-key", key.to_string()),
            Self::Hec => ("authorization", format!("Splunk {key}")),
            Self::CfAig => ("cf-aig-authorization", format!("Bearer {key}")),
        }
    }
}

/// What a failed `pre_request` hook does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailPolicy {
    /// Continue.
    #[default]
    FailOpen,
    /// Answer 503.
    FailClosed,
}

/// Request-log storage settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// How long captures are kept.
    pub retention: Retention,
    /// Purge tool data too.
    pub purge_tools: bool,
    /// Purge only exported captures.
    pub require_export: bool,
    /// Indexed headers.
    pub filterable_headers: Vec<FilterableHeader>,
    /// Keep raw bytes.
    pub save_raws: bool,
}

/// Capture retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// `""`: kept forever.
    Forever,
    /// `"0"`: captures never written.
    Never,
    /// Purged after this long.
    For(Duration),
}

/// An indexed header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterableHeader {
    /// The header name.
    pub name: HeaderName,
    /// Index presence only.
    pub redact_values: bool,
}

/// Exporters.
#[derive(Debug, Clone, Default)]
pub struct Exporters {
    /// S3 export (planned).
    pub s3: Option<S3Exporter>,
}

/// `exporters.s3`.
#[derive(Debug, Clone)]
pub struct S3Exporter {
    /// Endpoint.
    pub endpoint: String,
    /// Bucket.
    pub bucket_name: String,
    /// Region.
    pub region: String,
    /// Object prefix.
    pub prefix: String,
    /// Access key id.
    pub access_key_id: Secret,
    /// Secret key.
    pub access_secret: Secret,
    /// Seconds between exports.
    pub every: Duration,
    /// Records per export (at most 10000).
    pub limit: u64,
}

/// This gateway's own settings.
#[derive(Debug, Clone)]
pub struct Gateway {
    /// Listen addresses.
    pub listen: Vec<SocketAddr>,
    /// Extra host names allowed in `Host` (lowercase).
    pub allowed_hosts: Vec<String>,
    /// Data folder.
    pub data_dir: PathBuf,
    /// Largest request body, bytes.
    pub max_request_body: u64,
    /// Upstream timeouts.
    pub timeouts: Timeouts,
    /// Upstream proxy.
    pub upstream_proxy: Option<Url>,
    /// TLS roots for upstreams.
    pub tls_roots: TlsRoots,
    /// HTTPS on every listen address with these files (`gateway.tls`), when both are set.
    pub tls: Option<TlsFiles>,
    /// Grace period for streams at shutdown.
    pub shutdown_grace: Duration,
    /// Price table override.
    pub price_file: Option<PathBuf>,
    /// Log line format.
    pub log_format: LogFormat,
    /// Capture limits.
    pub capture: Capture,
    /// Identity sources.
    pub identity: IdentitySources,
}

/// Upstream timeouts; `None` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Connect.
    pub connect: Option<Duration>,
    /// Response headers.
    pub response_headers: Option<Duration>,
    /// Silence inside a stream.
    pub stream_idle: Option<Duration>,
    /// Whole request.
    pub total: Option<Duration>,
}

/// Trusted roots for upstream TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsRoots {
    /// Bundled Mozilla roots.
    Webpki,
    /// The operating system's store.
    Native,
    /// A PEM file.
    File(PathBuf),
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// Capture limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capture {
    /// Body bytes stored per request.
    pub max_body_bytes: u64,
    /// Records waiting for the writer.
    pub queue_capacity: usize,
    /// How long a full queue may block.
    pub overflow_block: Duration,
}

/// Identity sources.
#[derive(Debug, Clone)]
pub struct IdentitySources {
    /// Tailscale WhoIs, when enabled.
    pub tailscale: Option<TailscaleSource>,
    /// Peers whose identity headers are believed.
    pub trusted_proxies: Vec<Cidr>,
    /// The static table.
    pub static_table: Vec<StaticIdentity>,
    /// Loopback peers are `(loopback)`.
    pub loopback: bool,
}

/// Tailscale WhoIs settings.
#[derive(Debug, Clone)]
pub struct TailscaleSource {
    /// LocalAPI socket path.
    pub socket: PathBuf,
    /// Cache lifetime per peer address.
    pub cache_ttl: Duration,
    /// Configured tailnet name, if any.
    pub tailnet_name: Option<String>,
}

/// A static identity entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticIdentity {
    /// The peers it covers.
    pub cidr: Cidr,
    /// The login (the sorted, comma-joined tags for a tagged entry without login).
    pub login: String,
    /// Display name.
    pub display_name: String,
    /// Node id.
    pub node_id: String,
    /// Sorted tags.
    pub tags: Vec<String>,
    /// Groups.
    pub groups: Vec<String>,
}
