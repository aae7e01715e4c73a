//! Prometheus metrics (SPEC.md §11): counters and histograms updated when a request record is
//! emitted, rendered as text format 0.0.4. No logins and no credentials are ever labels; unknown
//! models are labelled `(unknown)`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Histogram bucket bounds, in seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0, 5.0, 30.0, 120.0, 600.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// One finished request, as metrics see it.
#[derive(Debug, Clone, Default)]
pub struct RequestSample<'a> {
    /// Provider id, `""` when none was chosen.
    pub provider: &'a str,
    /// Forwarded model, `""` when unknown.
    pub model: &'a str,
    /// `api_type`, `""` for non-inference requests.
    pub api_type: &'a str,
    /// Status sent to the client (499 when it left).
    pub status: u16,
    /// Token counts by kind (`input`, `output`, `cache_read`, …), zero ones skipped.
    pub tokens: &'a [(&'static str, u64)],
    /// Web searches.
    pub web_search: u64,
    /// Cost, when known.
    pub cost_nanodollars: Option<u64>,
    /// Head arrival to the last byte, seconds.
    pub duration: f64,
    /// Head arrival to the first body byte, seconds, when any byte was sent.
    pub ttfb: Option<f64>,
    /// Time the gateway itself spent (minus upstream waits), seconds.
    pub overhead: Option<f64>,
}

#[derive(Debug, Default)]
struct State {
    requests: BTreeMap<(String, String, String, u16), u64>,
    tokens: BTreeMap<(String, String, &'static str), u64>,
    cost: BTreeMap<(String, String), u64>,
    duration: BTreeMap<(String, String), Histogram>,
    ttfb: BTreeMap<(String, String), Histogram>,
    overhead: BTreeMap<String, Histogram>,
    identity: BTreeMap<(&'static str, &'static str), u64>,
    quota_rejections: BTreeMap<String, u64>,
    hook_calls: BTreeMap<(String, &'static str, &'static str), u64>,
}

/// The gateway's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    state: Mutex<State>,
    /// Set by the log sink's owner before rendering.
    pub log_queue_depth: AtomicU64,
    /// Set by the log sink's owner before rendering.
    pub log_records_dropped: AtomicU64,
    /// Failed database writes (a full disk shows here), set before rendering.
    pub log_write_errors: AtomicU64,
}

fn model_label(model: &str) -> String {
    if model.is_empty() {
        "(unknown)".into()
    } else {
        model.to_string()
    }
}

impl Metrics {
    /// Counts one finished request.
    pub fn observe(&self, s: &RequestSample<'_>) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        let (provider, model) = (s.provider.to_string(), model_label(s.model));
        *st.requests
            .entry((
                provider.clone(),
                model.clone(),
                s.api_type.to_string(),
                s.status,
            ))
            .or_default() += 1;
        for (kind, n) in s.tokens.iter().filter(|(_, n)| *n > 0) {
            *st.tokens
                .entry((provider.clone(), model.clone(), kind))
                .or_default() += n;
        }
        if s.web_search > 0 {
            *st.tokens
                .entry((provider.clone(), model.clone(), "web_search"))
                .or_default() += s.web_search;
        }
        if let Some(c) = s.cost_nanodollars {
            *st.cost.entry((provider.clone(), model)).or_default() += c;
        }
        let key = (provider, s.api_type.to_string());
        st.duration
            .entry(key.clone())
            .or_default()
            .observe(s.duration);
        if let Some(t) = s.ttfb {
            st.ttfb.entry(key).or_default().observe(t);
        }
        if let Some(o) = s.overhead {
            st.overhead
                .entry(s.api_type.to_string())
                .or_default()
                .observe(o);
        }
    }

    /// Counts one identity lookup (`source`: headers, tailscale, static, loopback;
    /// `result`: hit, miss, error).
    pub fn identity_lookup(&self, source: &'static str, result: &'static str) {
        if let Ok(mut st) = self.state.lock() {
            *st.identity.entry((source, result)).or_default() += 1;
        }
    }

    /// Counts one request refused by a bucket of `quota` (the quota's configured name, such as
    /// `daily:<user>`: never a login).
    pub fn quota_rejected(&self, quota: &str) {
        if let Ok(mut st) = self.state.lock() {
            *st.quota_rejections.entry(quota.to_string()).or_default() += 1;
        }
    }

    /// Counts one call (or dropped delivery) of `hook` for `event` with `outcome`: `allow`,
    /// `block`, `modify`, `failed` before forwarding; `sent`, `failed`, `dropped` after.
    pub fn hook_call(&self, hook: &str, event: &'static str, outcome: &'static str) {
        if let Ok(mut st) = self.state.lock() {
            *st.hook_calls
                .entry((hook.to_string(), event, outcome))
                .or_default() += 1;
        }
    }

    /// How many calls of `hook` for `event` ended with `outcome` so far.
    pub fn hook_calls(&self, hook: &str, event: &str, outcome: &str) -> u64 {
        self.state.lock().map_or(0, |st| {
            st.hook_calls
                .iter()
                .filter(|((h, e, o), _)| h == hook && *e == event && *o == outcome)
                .map(|(_, n)| *n)
                .sum()
        })
    }

    /// Renders the quota gauges and counters: `balances` gives `(quota, nanodollars)` for the
    /// shared quotas (those without a template; per-user balances are not metrics).
    pub fn render_quotas(&self, out: &mut String, balances: &[(String, i64)]) {
        header(
            out,
            "aperture_quota_balance_dollars",
            "gauge",
            "Balance of each shared quota (no template), dollars, refilled to now.",
        );
        for (quota, n) in balances {
            let dollars = *n as f64 / 1e9;
            let _ = writeln!(
                out,
                "aperture_quota_balance_dollars{{quota=\"{}\"}} {dollars}",
                esc(quota)
            );
        }
        header(
            out,
            "aperture_quota_rejections_total",
            "counter",
            "Requests refused by an empty quota bucket, by quota.",
        );
        if let Ok(st) = self.state.lock() {
            for (quota, n) in &st.quota_rejections {
                let _ = writeln!(
                    out,
                    "aperture_quota_rejections_total{{quota=\"{}\"}} {n}",
                    esc(quota)
                );
            }
        }
        header(
            out,
            "aperture_hook_calls_total",
            "counter",
            "Hook calls by hook, event and outcome (allow, block, modify, sent, failed, dropped).",
        );
        if let Ok(st) = self.state.lock() {
            for ((hook, event, outcome), n) in &st.hook_calls {
                let _ = writeln!(
                    out,
                    "aperture_hook_calls_total{{hook=\"{}\",event=\"{event}\",outcome=\"{outcome}\"}} {n}",
                    esc(hook)
                );
            }
        }
    }

    /// Renders everything in Prometheus text format 0.0.4. `reloads` gives
    /// `(source, result, count)` for `aperture_config_reloads_total`.
    pub fn render(&self, reloads: &[(&str, &str, u64)]) -> String {
        let mut out = String::new();
        let Ok(st) = self.state.lock() else {
            return out;
        };

        header(
            &mut out,
            "aperture_requests_total",
            "counter",
            "Requests by provider, model, API type and status.",
        );
        for ((p, m, a, s), n) in &st.requests {
            let _ = writeln!(
                out,
                "aperture_requests_total{{provider=\"{}\",model=\"{}\",api_type=\"{}\",status=\"{s}\"}} {n}",
                esc(p),
                esc(m),
                esc(a)
            );
        }
        header(
            &mut out,
            "aperture_tokens_total",
            "counter",
            "Tokens by provider, model and kind (web_search counts calls).",
        );
        for ((p, m, k), n) in &st.tokens {
            let _ = writeln!(
                out,
                "aperture_tokens_total{{provider=\"{}\",model=\"{}\",kind=\"{k}\"}} {n}",
                esc(p),
                esc(m)
            );
        }
        header(
            &mut out,
            "aperture_cost_nanodollars_total",
            "counter",
            "Estimated cost in nanodollars (1e9 = $1).",
        );
        for ((p, m), n) in &st.cost {
            let _ = writeln!(
                out,
                "aperture_cost_nanodollars_total{{provider=\"{}\",model=\"{}\"}} {n}",
                esc(p),
                esc(m)
            );
        }
        for (name, help, map) in [
            (
                "aperture_request_duration_seconds",
                "Head arrival to last byte.",
                &st.duration,
            ),
            (
                "aperture_time_to_first_byte_seconds",
                "Head arrival to first body byte.",
                &st.ttfb,
            ),
        ] {
            header(&mut out, name, "histogram", help);
            for ((p, a), h) in map {
                histogram(
                    &mut out,
                    name,
                    &format!("provider=\"{}\",api_type=\"{}\"", esc(p), esc(a)),
                    h,
                );
            }
        }
        header(
            &mut out,
            "aperture_gateway_overhead_seconds",
            "histogram",
            "Time spent in the gateway itself, upstream waits excluded.",
        );
        for (a, h) in &st.overhead {
            histogram(
                &mut out,
                "aperture_gateway_overhead_seconds",
                &format!("api_type=\"{}\"", esc(a)),
                h,
            );
        }
        header(
            &mut out,
            "aperture_log_queue_depth",
            "gauge",
            "Records waiting for the database writer.",
        );
        let _ = writeln!(
            out,
            "aperture_log_queue_depth {}",
            self.log_queue_depth.load(Ordering::Relaxed)
        );
        header(
            &mut out,
            "aperture_log_records_dropped_total",
            "counter",
            "Records dropped because the queue was full.",
        );
        let _ = writeln!(
            out,
            "aperture_log_records_dropped_total {}",
            self.log_records_dropped.load(Ordering::Relaxed)
        );
        header(
            &mut out,
            "aperture_log_write_errors_total",
            "counter",
            "Failed database writes.",
        );
        let _ = writeln!(
            out,
            "aperture_log_write_errors_total {}",
            self.log_write_errors.load(Ordering::Relaxed)
        );
        header(
            &mut out,
            "aperture_config_reloads_total",
            "counter",
            "Config reloads by source and result.",
        );
        for (source, result, n) in reloads {
            let _ = writeln!(
                out,
                "aperture_config_reloads_total{{source=\"{source}\",result=\"{result}\"}} {n}"
            );
        }
        header(
            &mut out,
            "aperture_identity_lookups_total",
            "counter",
            "Identity lookups by source and result.",
        );
        for ((source, result), n) in &st.identity {
            let _ = writeln!(
                out,
                "aperture_identity_lookups_total{{source=\"{source}\",result=\"{result}\"}} {n}"
            );
        }
        out
    }
}

/// A label value escaped for the text format.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    for (bound, count) in BUCKETS.iter().zip(h.counts.iter()) {
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {count}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        let tokens = [("input", 12u64), ("output", 5), ("cache_read", 0)];
        m.observe(&RequestSample {
            provider: "anthropic",
            model: "claude-sonnet-4-6",
            api_type: "ant_messages",
            status: 200,
            tokens: &tokens,
            cost_nanodollars: Some(111),
            duration: 0.2,
            ttfb: Some(0.05),
            overhead: Some(0.0002),
            ..RequestSample::default()
        });
        m.observe(&RequestSample {
            status: 404,
            ..RequestSample::default()
        });
        m.identity_lookup("loopback", "hit");
        let text = m.render(&[("file", "success", 2)]);
        for line in [
            "aperture_requests_total{provider=\"anthropic\",model=\"claude-sonnet-4-6\",api_type=\"ant_messages\",status=\"200\"} 1",
            "aperture_requests_total{provider=\"\",model=\"(unknown)\",api_type=\"\",status=\"404\"} 1",
            "aperture_tokens_total{provider=\"anthropic\",model=\"claude-sonnet-4-6\",kind=\"input\"} 12",
            "aperture_cost_nanodollars_total{provider=\"anthropic\",model=\"claude-sonnet-4-6\"} 111",
            "aperture_request_duration_seconds_bucket{provider=\"anthropic\",api_type=\"ant_messages\",le=\"0.25\"} 1",
            "aperture_request_duration_seconds_bucket{provider=\"anthropic\",api_type=\"ant_messages\",le=\"0.05\"} 0",
            "aperture_gateway_overhead_seconds_count{api_type=\"ant_messages\"} 1",
            "aperture_config_reloads_total{source=\"file\",result=\"success\"} 2",
            "aperture_identity_lookups_total{source=\"loopback\",result=\"hit\"} 1",
            "# TYPE aperture_log_queue_depth gauge",
        ] {
            assert!(text.contains(line), "missing {line}\n{text}");
        }
        assert!(
            !text.contains("kind=\"cache_read\""),
            "zero counts are not series"
        );
    }
}
