//! `gateway` rules: every problem is an error `gateway.{field}: {detail}`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::Ctx;
use crate::config::{
    Capture, Gateway, IdentitySources, LogFormat, StaticIdentity, TailscaleSource, Timeouts,
    TlsFiles, TlsRoots,
};
use crate::lenient::quote;
use crate::raw::{RawGateway, RawSize};
use crate::units::{parse_duration, parse_size};
use crate::values::{Cidr, parse_http_url};

struct G<'a, 'b> {
    ctx: &'a mut Ctx<'b>,
}

impl G<'_, '_> {
    fn fail(&mut self, field: &str, detail: impl std::fmt::Display) {
        self.ctx.error(
            &format!("/gateway/{}", field.replace('.', "/")),
            format!("gateway.{field}: {detail}"),
        );
    }

    fn duration(&mut self, field: &str, s: &str, default: Duration) -> Duration {
        parse_duration(s).unwrap_or_else(|e| {
            self.fail(field, e);
            default
        })
    }

    /// A duration where `"0"` means none.
    fn limit(&mut self, field: &str, s: &str) -> Option<Duration> {
        let d = self.duration(field, s, Duration::ZERO);
        (!d.is_zero()).then_some(d)
    }

    fn size(&mut self, field: &str, s: &RawSize, default: u64) -> u64 {
        parse_size(s).unwrap_or_else(|e| {
            self.fail(field, e);
            default
        })
    }
}

pub(super) fn validate(raw: &RawGateway, ctx: &mut Ctx<'_>) -> Gateway {
    let mut g = G { ctx };

    let mut listen = Vec::new();
    let addrs = raw.listen.to_vec();
    if addrs.is_empty() {
        g.fail("listen", "at least one address is needed");
    }
    for a in &addrs {
        match a.parse::<SocketAddr>() {
            Ok(addr) => listen.push(addr),
            Err(_) => g.fail(
                "listen",
                format!(
                    "invalid address {}: use IP:PORT such as \"127.0.0.1:8080\"",
                    quote(a)
                ),
            ),
        }
    }

    if raw.data_dir.is_empty() {
        g.fail("data_dir", "must not be empty");
    }
    let max_request_body = g.size("max_request_body", &raw.max_request_body, 32 << 20);
    if max_request_body == 0 {
        g.fail("max_request_body", "must be greater than 0");
    }
    let timeouts = Timeouts {
        connect: g.limit("timeouts.connect", &raw.timeouts.connect),
        response_headers: g.limit("timeouts.response_headers", &raw.timeouts.response_headers),
        stream_idle: g.limit("timeouts.stream_idle", &raw.timeouts.stream_idle),
        total: g.limit("timeouts.total", &raw.timeouts.total),
    };
    if timeouts.total.is_some() {
        g.ctx.info(
            "/gateway/timeouts/total",
            "gateway.timeouts.total is not enforced yet",
        );
    }
    let upstream_proxy = if raw.upstream_proxy.is_empty() {
        None
    } else {
        let parsed = parse_http_url(&raw.upstream_proxy)
            .map_err(|e| g.fail("upstream_proxy", e))
            .ok();
        if parsed.is_some() {
            // Refused here rather than at startup, so `validate` and `serve` agree.
            g.fail("upstream_proxy", "upstream proxies are not supported yet");
        }
        parsed
    };
    // Accepted so configs written for the SPEC load; refused when they ask for what this build
    // does not do yet, so `validate` and `serve` agree and nothing silently runs differently.
    if !matches!(raw.store.as_str(), "" | "sqlite") {
        g.fail(
            "store",
            "only \"sqlite\" is supported by this build (PostgreSQL is not yet)",
        );
    }
    let tls = match (raw.tls.cert_file.is_empty(), raw.tls.key_file.is_empty()) {
        (true, true) => None,
        (false, false) => Some(TlsFiles {
            cert_file: PathBuf::from(&raw.tls.cert_file),
            key_file: PathBuf::from(&raw.tls.key_file),
        }),
        _ => {
            g.fail("tls", "cert_file and key_file must both be set");
            None
        }
    };
    if !raw.otlp.endpoint.is_empty() {
        g.fail("otlp", "OpenTelemetry export is not supported yet");
    }
    let tls_roots = match raw.tls_roots.as_str() {
        "" | "webpki" => TlsRoots::Webpki,
        "native" | "system" => TlsRoots::Native,
        path => {
            let path = PathBuf::from(path);
            if !path.is_file() {
                g.fail(
                    "tls_roots",
                    format!("{} is not a readable PEM file", path.display()),
                );
            }
            TlsRoots::File(path)
        }
    };
    let shutdown_grace = g.duration(
        "shutdown_grace",
        &raw.shutdown_grace,
        Duration::from_secs(30),
    );
    let log_format = match raw.log_format.as_str() {
        "" | "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            g.fail(
                "log_format",
                format!("unknown format {}: use \"text\" or \"json\"", quote(other)),
            );
            LogFormat::Text
        }
    };
    let capture = Capture {
        max_body_bytes: g.size(
            "capture.max_body_bytes",
            &raw.capture.max_body_bytes,
            32 << 20,
        ),
        queue_capacity: usize::try_from(raw.capture.queue_capacity).unwrap_or(usize::MAX),
        overflow_block: g.duration(
            "capture.overflow_block",
            &raw.capture.overflow_block,
            Duration::from_millis(50),
        ),
    };
    if capture.queue_capacity == 0 {
        g.fail("capture.queue_capacity", "must be greater than 0");
    }

    let id = &raw.identity;
    let tailscale = if id.tailscale.enabled {
        let cache_ttl = g.duration(
            "identity.tailscale.cache_ttl",
            &id.tailscale.cache_ttl,
            Duration::from_secs(10),
        );
        if id.tailscale.socket.is_empty() {
            g.fail(
                "identity.tailscale.socket",
                "must not be empty when tailscale is enabled",
            );
        }
        Some(TailscaleSource {
            socket: PathBuf::from(&id.tailscale.socket),
            cache_ttl,
            tailnet_name: (!id.tailscale.tailnet_name.is_empty())
                .then(|| id.tailscale.tailnet_name.clone()),
        })
    } else {
        None
    };
    let mut trusted_proxies = Vec::new();
    for c in &id.headers.trusted_proxies {
        match Cidr::parse(c) {
            Ok(c) => trusted_proxies.push(c),
            Err(e) => g.fail("identity.headers.trusted_proxies", e),
        }
    }
    let mut static_table = Vec::new();
    for (i, s) in id.static_table.iter().enumerate() {
        let field = format!("identity.static.{i}");
        let cidr = match Cidr::parse(&s.cidr) {
            Ok(c) => c,
            Err(e) => {
                g.fail(&format!("{field}.cidr"), e);
                continue;
            }
        };
        let mut tags = s.tags.clone();
        tags.sort();
        tags.dedup();
        let login = if !s.login.is_empty() {
            s.login.clone()
        } else if !tags.is_empty() {
            tags.join(",")
        } else {
            g.fail(
                &format!("{field}.login"),
                "login is required unless tags are given",
            );
            continue;
        };
        static_table.push(StaticIdentity {
            cidr,
            login,
            display_name: s.display_name.clone(),
            node_id: s.node_id.clone(),
            tags,
            groups: s.groups.clone(),
        });
    }

    Gateway {
        listen,
        allowed_hosts: raw
            .allowed_hosts
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect(),
        data_dir: PathBuf::from(&raw.data_dir),
        max_request_body,
        timeouts,
        upstream_proxy,
        tls_roots,
        tls,
        shutdown_grace,
        price_file: (!raw.price_file.is_empty()).then(|| PathBuf::from(&raw.price_file)),
        log_format,
        capture,
        identity: IdentitySources {
            tailscale,
            trusted_proxies,
            static_table,
            loopback: id.loopback,
        },
    }
}
