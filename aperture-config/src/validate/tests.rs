//! One test (at least) per validation rule of SPEC.md §1.5.

use crate::{Loaded, Loader, Mode, Severity};

fn env(name: &str) -> Option<String> {
    match name {
        "OPENAI_KEY" => Some("sk-sentinel-openai".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn load(text: &str) -> Loaded {
    Loader::new().env(&env).load_str(text)
}

const ADMIN: &str = r#""grants": [{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"role": "admin"}, {"models": "**"}]}}]"#;

/// A config with one good provider `p`, an admin grant, and `extra` top-level members.
fn with(extra: &str) -> String {
    format!(
        r#"{{"providers": {{"p": {{"baseurl": "https://x.example", "models": ["m"]}}}}, {ADMIN}{}{extra}}}"#,
        if extra.is_empty() { "" } else { ", " }
    )
}

/// Asserts that loading `text` reports `message` at `path` with `severity`.
#[track_caller]
fn expect(text: &str, severity: Severity, path: &str, message: &str) -> Loaded {
    let loaded = load(text);
    let found = loaded.diagnostics.iter().find(|d| d.message == message);
    let Some(d) = found else {
        panic!(
            "{message:?} not reported; got:\n{}",
            loaded.diagnostics.render("t")
        );
    };
    assert_eq!((d.severity, d.path.as_str()), (severity, path), "{message}");
    assert!(d.line.is_some(), "{message} has a position");
    loaded
}

#[test]
fn a_clean_config_has_no_diagnostics() {
    let loaded = load(&with(""));
    assert!(
        loaded.diagnostics.is_empty(),
        "{}",
        loaded.diagnostics.render("t")
    );
    let strict = Loader::new()
        .env(&env)
        .mode(Mode::Strict)
        .load_str(&with(""));
    assert!(strict.is_ok());
}

#[test]
fn no_providers() {
    expect(
        &format!("{{{ADMIN}}}"),
        Severity::Warning,
        "",
        "no providers or mcp servers defined; users will not be able to access any models",
    );
    // An MCP server counts.
    let loaded = load(&format!(
        r#"{{"mcp": {{"servers": {{"s": {{}}}}}}, {ADMIN}}}"#
    ));
    assert!(
        loaded
            .diagnostics
            .find(
                "no providers or mcp servers defined; users will not be able to access any models"
            )
            .is_none()
    );
}

#[test]
fn provider_without_baseurl_is_unroutable() {
    let l = expect(
        &format!(r#"{{"providers": {{"p": {{"models": ["m"]}}}}, {ADMIN}}}"#),
        Severity::Warning,
        "/providers/p",
        "provider p has no baseurl configured",
    );
    assert!(!l.config.unwrap().providers["p"].routable);
}

#[test]
fn invalid_authorization_type() {
    let l = expect(
        &format!(
            r#"{{"providers": {{"p": {{"baseurl": "https://x", "models": ["m"], "authorization": "basic"}}}}, {ADMIN}}}"#
        ),
        Severity::Warning,
        "/providers/p/authorization",
        "provider p has invalid authorization type: basic",
    );
    assert!(!l.config.unwrap().providers["p"].routable);
}

#[test]
fn invalid_auth_mode() {
    let l = expect(
        &format!(
            r#"{{"providers": {{"p": {{"baseurl": "https://x", "models": ["m"], "auth_mode": "magic"}}}}, {ADMIN}}}"#
        ),
        Severity::Warning,
        "/providers/p/auth_mode",
        "provider p has invalid auth_mode: magic",
    );
    assert!(!l.config.unwrap().providers["p"].routable);
}

#[test]
fn auth_modes_that_need_a_key() {
    for mode in ["override", "injected", "passthrough-with-fallback"] {
        expect(
            &format!(
                r#"{{"providers": {{"p": {{"baseurl": "https://x", "models": ["m"], "auth_mode": "{mode}"}}}}, {ADMIN}}}"#
            ),
            Severity::Warning,
            "/providers/p/auth_mode",
            &format!("provider p: auth_mode \"{mode}\" requires an apikey"),
        );
    }
    // Passthrough and the default need none.
    for mode in ["", "passthrough", "none"] {
        let l = load(&format!(
            r#"{{"providers": {{"p": {{"baseurl": "https://x", "models": ["m"], "auth_mode": "{mode}"}}}}, {ADMIN}}}"#
        ));
        assert!(
            l.diagnostics.is_empty(),
            "{mode}: {}",
            l.diagnostics.render("t")
        );
    }
}

#[test]
fn provider_id_with_slash() {
    let l = expect(
        &format!(
            r#"{{"providers": {{"a/b": {{"baseurl": "https://x", "models": ["m"]}}}}, {ADMIN}}}"#
        ),
        Severity::Warning,
        "/providers/a~1b",
        "provider id \"a/b\" must not contain \"/\"",
    );
    assert!(!l.config.unwrap().providers["a/b"].routable);
}

#[test]
fn provider_without_models() {
    expect(
        &format!(r#"{{"providers": {{"p": {{"baseurl": "https://x"}}}}, {ADMIN}}}"#),
        Severity::Warning,
        "/providers/p",
        "provider p has no models configured",
    );
}

#[test]
fn unknown_cost_basis() {
    let l = expect(
        &format!(
            r#"{{"providers": {{"p": {{"baseurl": "https://x", "models": ["m"], "cost_basis": "acme"}}}}, {ADMIN}}}"#
        ),
        Severity::Warning,
        "/providers/p/cost_basis",
        "provider p has unknown cost_basis: acme",
    );
    assert_eq!(l.config.unwrap().providers["p"].cost_basis, None);
}

#[test]
fn unsubstituted_macros_in_order_of_appearance() {
    let text = format!(
        r#"{{"providers": {{"z": {{"baseurl": "https://x", "models": ["m"], "apikey": "${{OPENAI_KEY}}"}},
            "b": {{"baseurl": "${{ZETA}}", "models": ["m"]}},
            "a": {{"baseurl": "https://x", "models": ["${{ALPHA}}", "${{ZETA}}"]}}}}, {ADMIN}}}"#
    );
    let l = expect(
        &text,
        Severity::Error,
        "/providers/b/baseurl",
        "unsubstituted macros: [ZETA ALPHA]",
    );
    assert!(l.config.is_none());
    // The empty variable counts as set.
    let l = load(&with(r#""gateway": {"tls_roots": "${EMPTY}webpki"}"#));
    assert!(l.is_ok(), "{}", l.diagnostics.render("t"));
}

#[test]
fn syntax_errors_point_at_the_fault() {
    let l = load("{\n  \"providers\": {\n    \"p\": {\"baseurl\": \"x\",, }\n  }\n}");
    let d = l.diagnostics.iter().next().unwrap();
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(
        d.message,
        "invalid config: invalid character ',' looking for beginning of object key string"
    );
    assert_eq!((d.line, d.column), (Some(3), Some(26)));
    assert!(l.config.is_none() && l.raw.is_none());
}

#[test]
fn quota_errors() {
    for (quota, path, message) in [
        (
            r#"{"capacity": "10", "rate": "$5.00/day"}"#,
            "/quotas/q/capacity",
            "quota q: invalid capacity: \"10\" must start with \"$\"",
        ),
        (
            r#"{"capacity": "$10", "rate": "$5.00/fortnight"}"#,
            "/quotas/q/rate",
            "quota q: invalid rate: unknown rate unit \"fortnight\" (use min, hour, day, week or month)",
        ),
        (
            r#"{"capacity": "$10", "rate": "$5.00/day", "on_exceed": "throttle"}"#,
            "/quotas/q/on_exceed",
            "quota q: unsupported on_exceed \"throttle\": only \"reject\" is supported",
        ),
    ] {
        let l = expect(
            &with(&format!(r#""quotas": {{"q": {quota}}}"#)),
            Severity::Error,
            path,
            message,
        );
        assert!(l.config.is_none());
    }
    let l = load(&with(
        r#""quotas": {"daily:<user>": {"capacity": "$10.00", "rate": "$5.00/day", "on_exceed": "reject"}}"#,
    ));
    let q = &l.config.unwrap().quotas["daily:<user>"];
    assert_eq!(q.capacity, 10_000_000_000);
    assert_eq!(q.template, Some(crate::BucketTemplate::User));
}

#[test]
fn duplicate_keys_last_wins() {
    let text = format!(
        r#"{{"providers": {{"p": {{"baseurl": "https://a", "baseurl": "https://b", "models": ["m"]}}}}, {ADMIN}}}"#
    );
    let l = expect(
        &text,
        Severity::Warning,
        "/providers/p/baseurl",
        "duplicate config key \"baseurl\"",
    );
    let d = l
        .diagnostics
        .find("duplicate config key \"baseurl\"")
        .unwrap();
    // Points at the second key.
    assert_eq!(
        d.column,
        Some(text.find("\"baseurl\": \"https://b").unwrap() as u32 + 1)
    );
    assert_eq!(
        l.config.unwrap().providers["p"]
            .baseurl
            .as_ref()
            .unwrap()
            .host(),
        Some("b")
    );
}

#[test]
fn unknown_keys_with_suggestions() {
    let text = format!(
        r#"{{"providers": {{"p": {{"basurl": "https://a", "baseurl": "https://b", "models": ["m"]}}}}, {ADMIN}, "gatway": {{}}}}"#
    );
    let l = expect(
        &text,
        Severity::Warning,
        "/providers/p/basurl",
        "unknown config key \"basurl\"",
    );
    let d = l.diagnostics.find("unknown config key \"basurl\"").unwrap();
    assert_eq!(d.help.as_deref(), Some("did you mean \"baseurl\"?"));
    let d = l.diagnostics.find("unknown config key \"gatway\"").unwrap();
    assert_eq!(d.help.as_deref(), Some("did you mean \"gateway\"?"));
    // Fatal in strict mode.
    let strict = Loader::new().env(&env).mode(Mode::Strict).load_str(&text);
    assert!(strict.config.is_none());
    assert_eq!(
        strict
            .diagnostics
            .find("unknown config key \"basurl\"")
            .unwrap()
            .severity,
        Severity::Error
    );
}

#[test]
fn type_mismatch_uses_the_default() {
    let text = format!(
        r#"{{"providers": {{"p": {{"baseurl": "https://a", "models": ["m", 7], "preference": "high", "disabled": 1}}}}, {ADMIN}}}"#
    );
    let l = expect(
        &text,
        Severity::Warning,
        "/providers/p/preference",
        "json: cannot unmarshal string into providers.p.preference of type int",
    );
    expect(
        &text,
        Severity::Warning,
        "/providers/p/disabled",
        "json: cannot unmarshal number into providers.p.disabled of type bool",
    );
    expect(
        &text,
        Severity::Warning,
        "/providers/p/models/1",
        "json: cannot unmarshal number into providers.p.models of type string",
    );
    let p = &l.config.unwrap().providers["p"];
    assert_eq!((p.preference, p.disabled), (0, false));
    assert_eq!(p.models, ["m", ""]);
    let l = load(&with(
        r#""auto_cost_basis": "yes", "gateway": {"capture": {"queue_capacity": -1}}"#,
    ));
    assert!(
        l.config.as_ref().unwrap().auto_cost_basis,
        "default true kept"
    );
    assert!(
        l.diagnostics
            .find(
                "json: cannot unmarshal number -1 into gateway.capture.queue_capacity of type uint"
            )
            .is_some(),
        "{}",
        l.diagnostics.render("t")
    );
}

#[test]
fn provider_add_headers_format() {
    let text = format!(
        r#"{{"providers": {{"p": {{"baseurl": "https://a", "models": ["m"], "add_headers": ["X-Team: a", "nocolon", "Bad Name: v"]}}}}, {ADMIN}}}"#
    );
    expect(
        &text,
        Severity::Warning,
        "/providers/p/add_headers/1",
        "provider p: add_headers entry \"nocolon\" must be in \"Header-Name: value\" format",
    );
    let l = expect(
        &text,
        Severity::Warning,
        "/providers/p/add_headers/2",
        "provider p: add_headers entry \"Bad Name: v\" must be in \"Header-Name: value\" format",
    );
    assert_eq!(l.config.unwrap().providers["p"].add_headers.len(), 1);
}

#[test]
fn quota_name_template() {
    expect(
        &with(r#""quotas": {"daily:<team>": {"capacity": "$1", "rate": "$1/day"}}"#),
        Severity::Warning,
        "/quotas/daily:<team>",
        "quota \"daily:<team>\": quota name \"daily:<team>\" has unsupported template \"<team>\" after colon",
    );
}

fn grant_cap(cap: &str) -> String {
    format!(
        r#"{{"providers": {{"p": {{"baseurl": "https://x", "models": ["m"]}}}}, "grants": [{{"src": ["*"], "app": {{"tailscale.com/cap/aperture": [{{"role": "admin"}}, {cap}]}}}}]"#
    )
}

fn close(s: String, extra: &str) -> String {
    format!("{s}{extra}}}")
}

#[test]
fn unknown_field_in_capability() {
    let l = expect(
        &close(grant_cap(r#"{"models": "**", "modles": "p/**"}"#), ""),
        Severity::Warning,
        "/grants/0/app/tailscale.com~1cap~1aperture/1/modles",
        "json: unknown field \"modles\"",
    );
    let d = l
        .diagnostics
        .find("json: unknown field \"modles\"")
        .unwrap();
    assert_eq!(d.help.as_deref(), Some("did you mean \"models\"?"));
}

#[test]
fn models_pattern_must_name_a_provider() {
    expect(
        &close(grant_cap(r#"{"models": "openai/**"}"#), ""),
        Severity::Warning,
        "/grants/0/app/tailscale.com~1cap~1aperture/1/models",
        "models pattern \"openai/**\" references provider \"openai\" which does not match any declared provider",
    );
    for ok in ["**", "p/**", "*/m", "p*/**"] {
        let l = load(&close(grant_cap(&format!(r#"{{"models": "{ok}"}}"#)), ""));
        assert!(
            l.diagnostics.is_empty(),
            "{ok}: {}",
            l.diagnostics.render("t")
        );
    }
}

#[test]
fn mcp_patterns_must_name_a_server() {
    for field in ["mcp_tools", "mcp_resources", "mcp_templates"] {
        expect(
            &close(
                grant_cap(&format!(r#"{{"{field}": ["gh/*"]}}"#)),
                r#", "mcp": {"servers": {"fs": {}}}"#,
            ),
            Severity::Warning,
            &format!("/grants/0/app/tailscale.com~1cap~1aperture/1/{field}"),
            &format!(
                "{field} pattern \"gh/*\" references server \"gh\" which does not match any declared MCP server"
            ),
        );
    }
    let l = load(&close(
        grant_cap(r#"{"mcp_tools": "fs/*"}"#),
        r#", "mcp": {"servers": {"fs": {}}}"#,
    ));
    assert!(
        l.diagnostics.of(Severity::Warning).next().is_none(),
        "{}",
        l.diagnostics.render("t")
    );
}

#[test]
fn send_hooks_must_name_a_hook() {
    expect(
        &close(
            grant_cap(r#"{"send_hooks": [{"name": "nope", "events": ["pre_request"]}]}"#),
            "",
        ),
        Severity::Warning,
        "/grants/0/app/tailscale.com~1cap~1aperture/1/send_hooks/0/name",
        "send_hooks references undefined hook \"nope\"",
    );
}

#[test]
fn quota_refs() {
    let l = expect(
        &close(grant_cap(r#"{"quotas": [{"bucket": "missing"}]}"#), ""),
        Severity::Warning,
        "/grants/0/app/tailscale.com~1cap~1aperture/1/quotas/0/bucket",
        "quotas references undefined quota \"missing\"",
    );
    // Kept so that the request path fails closed.
    assert_eq!(
        l.config.unwrap().grants[0].capabilities[1].quotas,
        ["missing"]
    );
    expect(
        &close(grant_cap(r#"{"quotas": [{"bucket": "daily:<team>"}]}"#), ""),
        Severity::Warning,
        "/grants/0/app/tailscale.com~1cap~1aperture/1/quotas/0/bucket",
        "grants[0] grant 0 quotas[0]: bucket ref \"daily:<team>\" has unsupported template \"<team>\"",
    );
}

#[test]
fn grant_add_headers_format() {
    expect(
        &close(grant_cap(r#"{"add_headers": ["oops"]}"#), ""),
        Severity::Warning,
        "/grants/0/app/tailscale.com~1cap~1aperture/1/add_headers/0",
        "add_headers entry \"oops\" must be in \"Header-Name: value\" format",
    );
}

#[test]
fn hook_rules() {
    let hooks = r#""hooks": {"a": {}, "b": {"url": "ftp://x"}, "c": {"url": "https://h", "authorization": "digest"}}"#;
    let text = with(hooks);
    expect(
        &text,
        Severity::Warning,
        "/hooks/a",
        "hook a has no url configured",
    );
    expect(
        &text,
        Severity::Warning,
        "/hooks/b/url",
        "hook b has invalid URL scheme (must be http:// or https://): ftp://x",
    );
    expect(
        &text,
        Severity::Warning,
        "/hooks/c/authorization",
        "hook c has invalid authorization type: digest",
    );
    // Splunk HEC and Cloudflare AI Gateway are authorization types of hooks (not providers).
    let hooks = r#""hooks": {"s": {"url": "https://h", "authorization": "hec", "apikey": "k"},
                              "c": {"url": "https://h", "authorization": "cf-aig-authorization"}}"#;
    let l = crate::load_str(&with(hooks), Mode::Strict);
    assert!(l.diagnostics.is_empty(), "{:?}", l.diagnostics);
    let config = l.config.unwrap();
    assert_eq!(config.hooks["s"].authorization, crate::HookAuth::Hec);
    assert_eq!(
        crate::HookAuth::Hec.header("k"),
        ("authorization", "Splunk k".to_string())
    );
    assert_eq!(
        config.hooks["c"].authorization.header("k"),
        ("cf-aig-authorization", "Bearer k".to_string())
    );
}

#[test]
fn s3_prefix_and_limit() {
    let l = expect(
        &with(r#""exporters": {"s3": {"bucket_name": "b", "prefix": "logs/", "limit": 50000}}"#),
        Severity::Warning,
        "/exporters/s3/prefix",
        "exporters.s3.prefix must not end with a slash",
    );
    assert_eq!(l.config.unwrap().exporters.s3.unwrap().limit, 10_000);
}

#[test]
fn admin_and_grant_presence() {
    let providers = r#""providers": {"p": {"baseurl": "https://x", "models": ["m"]}}"#;
    let l = expect(
        &format!("{{{providers}}}"),
        Severity::Warning,
        "",
        "providers are configured but no grants or temp_grants defined; all access will be denied",
    );
    assert!(l.diagnostics.find("no grant in grants or temp_grants assigns role:admin; nobody will be able to manage this instance").is_some());
    expect(
        &format!(
            r#"{{{providers}, "grants": [{{"src": ["*"], "app": {{"tailscale.com/cap/aperture": [{{"role": "user"}}]}}}}]}}"#
        ),
        Severity::Warning,
        "",
        "no grant in grants or temp_grants assigns role:admin; nobody will be able to manage this instance",
    );
}

#[test]
fn bad_globs_are_ignored_with_a_warning() {
    let l = expect(
        &close(grant_cap(r#"{"models": "p//x"}"#), ""),
        Severity::Warning,
        "/grants/0/app/tailscale.com~1cap~1aperture/1/models",
        "invalid pattern \"p//x\": empty path segment",
    );
    assert!(
        l.config.unwrap().grants[0].capabilities[1]
            .models
            .is_empty()
    );
    expect(
        &format!(
            r#"{{"providers": {{"p": {{"baseurl": "https://x", "models": ["m"], "model_cost_map": [{{"match": "claude-[", "as": "x"}}]}}}}, {ADMIN}}}"#
        ),
        Severity::Warning,
        "/providers/p/model_cost_map/0",
        "invalid pattern \"claude-[\": unclosed character class",
    );
}

#[test]
fn retention_duration_bounds() {
    for bad in ["30m", "3651d", "forever"] {
        let l = expect(
            &with(&format!(
                r#""database": {{"retention": {{"duration": "{bad}"}}}}"#
            )),
            Severity::Error,
            "/database/retention/duration",
            &format!("database.retention.duration \"{bad}\": must be 0 or between 1h and 3650d"),
        );
        assert!(l.config.is_none());
    }
    for good in ["", "0", "1h", "30d", "720h", "3650d"] {
        let l = load(&with(&format!(
            r#""database": {{"retention": {{"duration": "{good}"}}}}"#
        )));
        assert!(l.is_ok(), "{good}: {}", l.diagnostics.render("t"));
    }
}

#[test]
fn gateway_errors() {
    for (gw, path, message) in [
        (
            r#"{"listen": "localhost"}"#,
            "/gateway/listen",
            "gateway.listen: invalid address \"localhost\": use IP:PORT such as \"127.0.0.1:8080\"",
        ),
        (
            r#"{"max_request_body": "1TB"}"#,
            "/gateway/max_request_body",
            "gateway.max_request_body: unknown size unit \"TB\" in \"1TB\" (use KiB, MiB or GiB)",
        ),
        (
            r#"{"timeouts": {"connect": "10"}}"#,
            "/gateway/timeouts/connect",
            "gateway.timeouts.connect: missing unit in duration \"10\"",
        ),
        (
            r#"{"store": "postgres://u@db/aperture"}"#,
            "/gateway/store",
            "gateway.store: only \"sqlite\" is supported by this build (PostgreSQL is not yet)",
        ),
        (
            r#"{"tls": {"cert_file": "c.pem"}}"#,
            "/gateway/tls",
            "gateway.tls: cert_file and key_file must both be set",
        ),
        (
            r#"{"otlp": {"endpoint": "http://127.0.0.1:4318"}}"#,
            "/gateway/otlp",
            "gateway.otlp: OpenTelemetry export is not supported yet",
        ),
        (
            r#"{"log_format": "xml"}"#,
            "/gateway/log_format",
            "gateway.log_format: unknown format \"xml\": use \"text\" or \"json\"",
        ),
        (
            r#"{"identity": {"headers": {"trusted_proxies": ["10.0.0.0/40"]}}}"#,
            "/gateway/identity/headers/trusted_proxies",
            "gateway.identity.headers.trusted_proxies: invalid CIDR \"10.0.0.0/40\"",
        ),
        (
            r#"{"identity": {"static": [{"cidr": "10.0.0.0/8"}]}}"#,
            "/gateway/identity/static/0/login",
            "gateway.identity.static.0.login: login is required unless tags are given",
        ),
    ] {
        let l = expect(
            &with(&format!(r#""gateway": {gw}"#)),
            Severity::Error,
            path,
            message,
        );
        assert!(l.config.is_none());
    }
}

#[test]
fn gateway_defaults() {
    let g = load(&with("")).config.unwrap().gateway;
    assert_eq!(g.listen, ["127.0.0.1:8080".parse().unwrap()]);
    assert_eq!(g.max_request_body, 32 << 20);
    assert_eq!(g.timeouts.connect, Some(std::time::Duration::from_secs(10)));
    assert_eq!(
        g.timeouts.response_headers,
        Some(std::time::Duration::from_secs(600))
    );
    assert_eq!(
        g.timeouts.stream_idle,
        Some(std::time::Duration::from_secs(300))
    );
    assert_eq!(g.timeouts.total, None);
    assert_eq!(g.identity.trusted_proxies.len(), 2);
    assert!(g.identity.loopback && g.identity.tailscale.is_some());
    let t = load(&with(
        r#""gateway": {"identity": {"static": [{"cidr": "10.1.0.0/16", "tags": ["tag:prod", "tag:api"]}]}}"#,
    ));
    let s = &t.config.unwrap().gateway.identity.static_table[0];
    assert_eq!(s.login, "tag:api,tag:prod");
}

#[test]
fn compatibility_defaults() {
    use crate::CompatFlag::*;
    let cfg = load(&format!(
        r#"{{"providers": {{
            "none": {{"baseurl": "https://x", "models": ["a"]}},
            "ant": {{"baseurl": "https://x", "models": ["b"], "compatibility": {{"anthropic_messages": true}}}},
            "both": {{"baseurl": "https://x", "models": ["c"], "compatibility": {{"anthropic_messages": true, "openai_chat": true}}}},
            "off": {{"baseurl": "https://x", "models": ["d"], "compatibility": {{"openai_chat": false}}}}
        }}, {ADMIN}}}"#
    ))
    .config
    .unwrap();
    let p = &cfg.providers;
    assert!(p["none"].compatibility.get(OpenaiChat));
    assert!(
        !p["ant"].compatibility.get(OpenaiChat) && p["ant"].compatibility.get(AnthropicMessages)
    );
    assert!(p["both"].compatibility.get(OpenaiChat));
    assert!(p["off"].compatibility.enabled().next().is_none());
    assert_eq!(p["ant"].cost_basis, Some(crate::CostBasis::Anthropic));
    assert_eq!(p["none"].cost_basis, Some(crate::CostBasis::Openai));
    assert_eq!(p["off"].cost_basis, None);
}

#[test]
fn temp_grants_and_keyfile_pass_strict() {
    let text = r#"{
      // Aperture configs carry comments, and keys this gateway only keeps.
      "providers": {
        "bedrock": {"baseurl": "https://bedrock-runtime.us-east-1.amazonaws.com", "models": ["m"],
                    "compatibility": {"bedrock_converse": true}},
        "vertex": {"baseurl": "https://aiplatform.googleapis.com", "models": ["gemini-2.5-pro"],
                   "apikey": "keyfile::eyJ0eXBlIjoic2VydmljZV9hY2NvdW50In0=",
                   "compatibility": {"google_generate_content": true}},
      },
      "temp_grants": [
        {"src": ["alice@example.com"], "grants": [{"role": "admin"}, {"providers": ["vertex", "bedrock"]}]},
        {"src": ["tagged-devices"], "grants": [{"role": "user"}]},
      ],
      "mcp": {"servers": {}}, "flags": {"anything": [1, 2]}, "chat_models": ["x"],
    }"#;
    let l = Loader::new().env(&env).mode(Mode::Strict).load_str(text);
    assert!(l.is_ok(), "{}", l.diagnostics.render("t"));
    let cfg = l.config.unwrap();
    assert!(matches!(
        cfg.providers["vertex"].apikey,
        crate::ApiKey::Keyfile(_)
    ));
    let g = &cfg.grants[0];
    assert!(g.from_temp_grants);
    let globs: Vec<&str> = g.capabilities[1]
        .models
        .iter()
        .map(|m| m.as_str())
        .collect();
    assert_eq!(
        globs,
        ["vertex/**", "bedrock/**"],
        "every legacy provider is granted"
    );
    assert_eq!(cfg.grants[1].src, [crate::GrantSrc::Nothing]);
    assert!(l.diagnostics.of(Severity::Info).count() >= 2);
}

#[test]
fn secrets_never_appear_in_diagnostics_or_debug() {
    let text = format!(
        r#"{{"providers": {{"p": {{"baseurl": "https://x", "models": ["m"], "apikey": "${{OPENAI_KEY}}", "auth_mode": "bogus", "authorization": "bogus"}}}}, {ADMIN}}}"#
    );
    let l = load(&text);
    let rendered = l.diagnostics.render("t");
    assert!(!rendered.contains("sk-sentinel-openai"));
    let cfg = l.config.unwrap();
    assert!(!format!("{cfg:?}").contains("sk-sentinel-openai"));
    assert!(
        matches!(&cfg.providers["p"].apikey, crate::ApiKey::Key(s) if s.expose() == "sk-sentinel-openai")
    );
    // The raw config keeps the reference, not the value.
    let raw = l.raw.unwrap();
    assert_eq!(raw.providers["p"].apikey.0, "${OPENAI_KEY}");
    assert_eq!(l.substituted, ["/providers/p/apikey"]);
}

#[test]
fn values_from_the_environment_are_shown_as_written() {
    let env = |name: &str| match name {
        "BAD_HEADER" => Some("sk-sentinel-header-no-colon".to_string()),
        "GOOD_HEADER" => Some("X-Key: sk-sentinel-header-value".to_string()),
        "HOOK_URL" => Some("ftp://sk-sentinel-url".to_string()),
        "MODE" => Some("sk-sentinel-mode".to_string()),
        _ => None,
    };
    let text = format!(
        r#"{{"providers": {{"p": {{"baseurl": "https://x", "models": ["m"], "auth_mode": "${{MODE}}",
              "add_headers": ["${{BAD_HEADER}}", "${{GOOD_HEADER}}"]}}}},
            "hooks": {{"h": {{"url": "${{HOOK_URL}}"}}}}, {ADMIN}}}"#
    );
    let l = Loader::new().env(&env).load_str(&text);
    let rendered = l.diagnostics.render("t");
    assert!(!rendered.contains("sk-sentinel"), "{rendered}");
    assert!(l.diagnostics.find("provider p: add_headers entry \"${BAD_HEADER}\" must be in \"Header-Name: value\" format").is_some(), "{rendered}");
    assert!(
        l.diagnostics
            .find("hook h has invalid URL scheme (must be http:// or https://): ${HOOK_URL}")
            .is_some(),
        "{rendered}"
    );
    assert!(
        l.diagnostics
            .find("provider p has invalid auth_mode: ${MODE}")
            .is_some(),
        "{rendered}"
    );
    let cfg = l.config.unwrap();
    let h = &cfg.providers["p"].add_headers[0];
    assert!(h.value.is_sensitive());
    assert!(!format!("{cfg:?}").contains("sk-sentinel"));
}

#[test]
fn capabilities_from_a_capmap() {
    let caps = crate::capabilities_from_json(&[
        serde_json::json!({"role": "user"}),
        serde_json::json!({"models": "anthropic/**", "future_field": 1}),
        serde_json::json!("not an object"),
        serde_json::json!({"models": "a//b"}),
    ]);
    assert_eq!(caps.len(), 3);
    assert_eq!(caps[0].role, Some(crate::Role::User));
    assert_eq!(caps[1].models[0].as_str(), "anthropic/**");
    assert!(caps[2].models.is_empty(), "a bad glob is dropped");
}

#[test]
fn no_diagnostic_or_debug_output_repeats_a_resolved_value() {
    const SECRET: &str = "SENTINEL-SECRET-VALUE";
    let env = |name: &str| (name == "S").then(|| SECRET.to_string());
    let s = "${S}";
    let text = format!(
        r#"{{
      "providers": {{
        "p": {{"baseurl": "{s}", "models": ["{s}"], "apikey": "{s}", "authorization": "{s}", "auth_mode": "{s}",
               "name": "{s}", "cost_basis": "{s}", "add_headers": ["{s}", "X-Ok: {s}"],
               "model_cost_map": [{{"match": "[{s}", "as": "{s}"}}]}},
        "q": {{"baseurl": "https://x.example/?token={s}", "models": ["m"], "add_headers": ["X-Literal: literal-header-secret"]}}
      }},
      "grants": [{{"src": ["{s}"], "app": {{"tailscale.com/cap/aperture": [
        {{"role": "{s}", "models": "{s}/**", "quotas": [{{"bucket": "{s}"}}, {{"bucket": "a:{s}"}}],
          "send_hooks": [{{"name": "{s}"}}, {{"name": "h", "events": ["{s}"]}}],
          "add_headers": ["{s}"], "cors_paths": ["a//{s}"], "mcp_tools": ["{s}/x"]}},
        {{"models": "x//{s}"}}]}}}}],
      "quotas": {{"q:{s}": {{"capacity": "{s}", "rate": "{s}", "on_exceed": "{s}"}}}},
      "hooks": {{"h": {{"url": "{s}", "authorization": "{s}", "timeout": "{s}", "fail_policy": "{s}"}},
                 "t": {{"url": "https://hook.example/?token={s}"}}}},
      "database": {{"retention": {{"duration": "{s}", "purge": ["{s}"]}}, "headers": {{"filterable": [{{"name": "{s} x"}}]}}}},
      "exporters": {{"s3": {{"prefix": "{s}/", "access_key_id": "{s}", "access_secret": "{s}"}}}},
      "gateway": {{"listen": "{s}", "max_request_body": "{s}", "timeouts": {{"connect": "{s}"}},
                   "upstream_proxy": "http://user:{s}@proxy.example", "log_format": "{s}", "shutdown_grace": "{s}",
                   "capture": {{"max_body_bytes": "{s}", "overflow_block": "{s}"}},
                   "identity": {{"headers": {{"trusted_proxies": ["{s}"]}}, "static": [{{"cidr": "{s}"}}],
                                 "tailscale": {{"cache_ttl": "{s}"}}}}}}
    }}"#
    );
    let l = Loader::new().env(&env).load_str(&text);
    assert!(
        l.diagnostics.len() > 20,
        "the sweep reaches many rules: {}",
        l.diagnostics.render("t")
    );
    for d in l.diagnostics.iter() {
        assert!(!d.message.contains(SECRET), "{}", d.message);
        assert!(
            !d.help.as_deref().unwrap_or_default().contains(SECRET),
            "{:?}",
            d.help
        );
    }
    // A config without errors, for the Debug check.
    let ok = format!(
        r#"{{"providers": {{"q": {{"baseurl": "https://u:{s}@x.example/?token={s}", "models": ["m"], "apikey": "{s}",
                "add_headers": ["X-Literal: literal-header-secret", "X-Env: {s}"]}}}},
            "hooks": {{"t": {{"url": "https://hook.example/?token={s}", "apikey": "{s}"}}}},
            "grants": [{{"src": ["*"], "app": {{"tailscale.com/cap/aperture": [{{"role": "admin"}}, {{"models": "**", "add_headers": ["X-G: grant-header-secret"]}}]}}}}]}}"#
    );
    let l = Loader::new().env(&env).load_str(&ok);
    let cfg = l
        .config
        .unwrap_or_else(|| panic!("{}", l.diagnostics.render("t")));
    let debug = format!("{cfg:?}");
    for secret in [SECRET, "literal-header-secret", "grant-header-secret"] {
        assert!(!debug.contains(secret), "{secret} in Debug output");
    }
    // The values are still there for the one place that sends them.
    assert_eq!(
        cfg.providers["q"].baseurl.as_ref().unwrap().query(),
        Some("token=SENTINEL-SECRET-VALUE")
    );
}

#[test]
fn add_headers_may_not_set_headers_the_gateway_manages() {
    let text = format!(
        r#"{{"providers": {{"p": {{"baseurl": "https://a", "models": ["m"],
             "add_headers": ["Host: evil.example", "Content-Length: 3", "Tailscale-User-Login: x", "X-Fine: 1"]}}}}, {ADMIN}}}"#
    );
    let l = expect(
        &text,
        Severity::Warning,
        "/providers/p/add_headers/0",
        "provider p: add_headers entry \"Host: evil.example\" sets host, which the gateway manages",
    );
    assert!(l.diagnostics.find("provider p: add_headers entry \"Content-Length: 3\" sets content-length, which the gateway manages").is_some());
    let names: Vec<_> = l.config.unwrap().providers["p"]
        .add_headers
        .iter()
        .map(|h| h.name.to_string())
        .collect();
    assert_eq!(names, ["x-fine"]);
}
