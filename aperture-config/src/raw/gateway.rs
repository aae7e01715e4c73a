//! `gateway`: settings of this gateway that Aperture does not have.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{OneOrMany, RawSize};

/// The `gateway` section. Every field is optional; the defaults are shown in the schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawGateway {
    /// Address (or list of addresses) to listen on. Changing it needs a restart.
    pub listen: OneOrMany,
    /// Host names requests may name in `Host`, besides IP addresses, `localhost` and
    /// `*.ts.net` (a guard against DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// Folder for the database, config history and the install key.
    pub data_dir: String,
    /// Largest request body accepted, in bytes or with `KiB`/`MiB`/`GiB`.
    pub max_request_body: RawSize,
    /// Upstream timeouts.
    pub timeouts: RawTimeouts,
    /// Proxy for upstream connections (`http://host:port`); `HTTP(S)_PROXY` is ignored.
    pub upstream_proxy: String,
    /// Trusted roots for upstream TLS: `webpki` (bundled Mozilla roots), `native` (the
    /// system's), or the path of a PEM file.
    pub tls_roots: String,
    /// How long running streams may finish after SIGTERM.
    pub shutdown_grace: String,
    /// JSON price table overriding the built-in one.
    pub price_file: String,
    /// `text` or `json` log lines.
    pub log_format: String,
    /// Where records, balances and the running config live: `sqlite` (embedded, in
    /// `data_dir`) or a `postgres://` URL shared by several gateways.
    pub store: String,
    /// HTTPS on every listen address.
    pub tls: RawTls,
    /// OpenTelemetry traces over OTLP/HTTP.
    pub otlp: RawOtlp,
    /// Request capture limits.
    pub capture: RawCapture,
    /// Where caller identities come from.
    pub identity: RawIdentity,
}

impl Default for RawGateway {
    fn default() -> Self {
        Self {
            listen: OneOrMany::One("127.0.0.1:8080".into()),
            allowed_hosts: Vec::new(),
            data_dir: "./aperture-data".into(),
            max_request_body: RawSize::Text("32MiB".into()),
            timeouts: RawTimeouts::default(),
            upstream_proxy: String::new(),
            tls_roots: "webpki".into(),
            shutdown_grace: "30s".into(),
            price_file: String::new(),
            log_format: "text".into(),
            store: "sqlite".into(),
            tls: RawTls::default(),
            otlp: RawOtlp::default(),
            capture: RawCapture::default(),
            identity: RawIdentity::default(),
        }
    }
}

/// `gateway.tls`: HTTPS with these files (both set), re-read when they change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawTls {
    /// PEM certificate chain.
    pub cert_file: String,
    /// PEM private key.
    pub key_file: String,
}

/// `gateway.otlp`: OpenTelemetry trace export, off while `endpoint` is empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawOtlp {
    /// Base URL of the OTLP/HTTP receiver (`/v1/traces` is appended).
    pub endpoint: String,
    /// Headers sent with each export.
    pub headers: std::collections::BTreeMap<String, String>,
    /// Share of requests traced, from 0 to 1.
    pub sample_ratio: f64,
    /// Continue the client's W3C `traceparent` and send one upstream.
    pub propagate: bool,
}

impl Default for RawOtlp {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            headers: std::collections::BTreeMap::new(),
            sample_ratio: 1.0,
            propagate: false,
        }
    }
}

/// `gateway.timeouts`: Go-style durations plus `d`; `"0"` means none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawTimeouts {
    /// TCP and TLS connect to the upstream (502 when exceeded).
    pub connect: String,
    /// Upstream response headers (504 when exceeded).
    pub response_headers: String,
    /// Longest silence inside a response stream before it is cut.
    pub stream_idle: String,
    /// Whole request; `"0"` means none.
    pub total: String,
}

impl Default for RawTimeouts {
    fn default() -> Self {
        Self {
            connect: "10s".into(),
            response_headers: "600s".into(),
            stream_idle: "300s".into(),
            total: "0".into(),
        }
    }
}

/// `gateway.capture`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawCapture {
    /// Bodies longer than this are stored truncated.
    pub max_body_bytes: RawSize,
    /// Records waiting for the database writer.
    pub queue_capacity: u64,
    /// How long a full queue may block a request before the record is dropped and counted.
    pub overflow_block: String,
}

impl Default for RawCapture {
    fn default() -> Self {
        Self {
            max_body_bytes: RawSize::Text("32MiB".into()),
            queue_capacity: 10_000,
            overflow_block: "50ms".into(),
        }
    }
}

/// `gateway.identity`: sources tried in order (trusted headers, Tailscale, static, loopback).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawIdentity {
    /// Tailscale LocalAPI WhoIs.
    pub tailscale: RawTailscale,
    /// Identity headers set by a trusted proxy such as `tailscale serve`.
    pub headers: RawIdentityHeaders,
    /// Static CIDR-to-identity table; the first entry holding the peer wins.
    #[serde(rename = "static")]
    pub static_table: Vec<RawStaticIdentity>,
    /// Loopback peers are `(loopback)`.
    pub loopback: bool,
}

impl Default for RawIdentity {
    fn default() -> Self {
        Self {
            tailscale: RawTailscale::default(),
            headers: RawIdentityHeaders::default(),
            static_table: Vec::new(),
            loopback: true,
        }
    }
}

/// `gateway.identity.tailscale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawTailscale {
    /// Ask tailscaled who non-loopback peers are.
    pub enabled: bool,
    /// tailscaled's LocalAPI unix socket.
    pub socket: String,
    /// How long a WhoIs answer is reused for the same peer address.
    pub cache_ttl: String,
    /// Tailnet name for hooks; empty asks tailscaled.
    pub tailnet_name: String,
}

impl Default for RawTailscale {
    fn default() -> Self {
        Self {
            enabled: true,
            socket: "/var/run/tailscale/tailscaled.sock".into(),
            cache_ttl: "10s".into(),
            tailnet_name: String::new(),
        }
    }
}

/// `gateway.identity.headers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawIdentityHeaders {
    /// Peer CIDRs whose `Tailscale-User-*` headers are believed; `[]` disables.
    pub trusted_proxies: Vec<String>,
}

impl Default for RawIdentityHeaders {
    fn default() -> Self {
        Self {
            trusted_proxies: vec!["127.0.0.0/8".into(), "::1/128".into()],
        }
    }
}

/// One static identity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RawStaticIdentity {
    /// Peer addresses this entry covers, `"10.0.0.0/24"`.
    pub cidr: String,
    /// Login; required unless `tags` is given.
    pub login: String,
    /// Display name.
    pub display_name: String,
    /// Node id.
    pub node_id: String,
    /// Tags; a tagged entry without login gets the login `tag:a,tag:b`.
    pub tags: Vec<String>,
    /// Groups, matched by `group:` grant sources.
    pub groups: Vec<String>,
}
