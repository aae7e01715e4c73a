//! Routing lookup: [`RouteTable::find`] in a config listing 1,000 models.
//!
//! The config is generated JSON text loaded with `aperture_config::load_str`: 50 providers
//! (`provider-00` … `provider-49`) with 20 models each. `claude-sonnet-4-6` is listed by the
//! first 10 providers (preferences 0 to 9, only `provider-00` has `anthropic_messages`), and
//! `provider-40` lists `qwen/qwen3-235b-a22b-2507` (a bare name with a `/`).
//!
//! - `find/*`: lookups with every provider granted: a model listed once, a model listed by 10
//!   providers, the same on an endpoint only the least preferred provider serves (all 10
//!   candidates are checked), a qualified `provider/model`, a bare name with a `/` that is not a
//!   provider, and an unknown model (404).
//! - `find_granted/*`: the same lookups filtered by a caller's grants
//!   ([`Access::model_granted`], 26 model globs), as the gateway does.
//! - `runtime/access_then_find`: the gateway's per-request routing work on a compiled
//!   [`Runtime`]: the cached grants of the caller ([`Runtime::access`]), then the lookup.
//!
//! Run with `cargo bench -p aperture-benches --bench route_lookup` (add `-- --quick` for a
//! fast pass).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;

use aperture_auth::{Access, Identity, IdentitySource};
use aperture_config::{CompatFlag, Config, Mode, load_str};
use aperture_route::RouteTable;
use aperture_server::runtime::Runtime;
use criterion::{Criterion, criterion_group, criterion_main};

/// Providers in the generated config.
const PROVIDERS: usize = 50;
/// Models per provider.
const MODELS: usize = 20;
/// The model listed by several providers.
const SHARED: &str = "claude-sonnet-4-6";
/// How many providers list [`SHARED`].
const SHARED_BY: usize = 10;
/// The caller whose grants filter `find_granted`.
const CALLER: &str = "alice@example.com";

/// The generated config text: 1,000 model listings and a grant for [`CALLER`].
fn config_text() -> String {
    let mut providers = Vec::new();
    for p in 0..PROVIDERS {
        let mut models: Vec<String> = (0..MODELS)
            .map(|m| format!("model-{p:02}-{m:02}"))
            .collect();
        if p < SHARED_BY {
            models[MODELS - 1] = SHARED.to_owned();
        }
        if p == 40 {
            models[MODELS - 1] = "qwen/qwen3-235b-a22b-2507".to_owned();
        }
        let compat = if p == 0 {
            r#"{"openai_chat": true, "anthropic_messages": true}"#
        } else {
            r#"{"openai_chat": true, "openai_responses": true}"#
        };
        providers.push(format!(
            r#""provider-{p:02}": {{"baseurl": "https://p{p}.example.com/v1", "apikey": "sk-{p}",
                "compatibility": {compat}, "preference": {pref}, "models": {models}}}"#,
            pref = if p < SHARED_BY { p } else { 0 },
            models = serde_json::to_string(&models).unwrap(),
        ));
    }
    // Alice: 20 whole providers, Claude models on 5 more, one exact model: 26 globs.
    let mut globs: Vec<String> = (30..PROVIDERS)
        .map(|p| format!("provider-{p:02}/**"))
        .collect();
    globs.extend((0..5).map(|p| format!("provider-{p:02}/claude-*")));
    globs.push("provider-12/model-12-07".to_owned());
    let caps: Vec<String> = globs
        .iter()
        .map(|g| format!(r#"{{"models": "{g}"}}"#))
        .collect();
    format!(
        r#"{{"providers": {{{}}}, "grants": [
            {{"src": ["{CALLER}"], "app": {{"tailscale.com/cap/aperture": [{{"role": "user"}}, {}]}}}}
        ]}}"#,
        providers.join(",\n"),
        caps.join(", "),
    )
}

fn config() -> Config {
    let loaded = load_str(&config_text(), Mode::Load);
    match loaded.config {
        Some(config) => config,
        None => panic!("generated config does not load: {:?}", loaded.diagnostics),
    }
}

fn caller() -> Identity {
    Identity::new(CALLER, IdentitySource::Headers)
}

fn lookups(c: &mut Criterion) {
    let config = config();
    let listed: usize = config.providers.values().map(|p| p.models.len()).sum();
    assert_eq!(listed, PROVIDERS * MODELS);
    let table = RouteTable::new(&config);
    let access = Access::for_identity(&config.grants, &caller());
    assert_eq!(access.models.len(), 26);

    // (name, requested model, endpoint flag, expected provider or None for an error)
    let cases: [(&str, &str, CompatFlag, Option<&str>); 6] = [
        (
            "bare_unique",
            "model-37-05",
            CompatFlag::OpenaiChat,
            Some("provider-37"),
        ),
        (
            "bare_shared_by_10",
            SHARED,
            CompatFlag::OpenaiChat,
            Some("provider-09"),
        ),
        (
            "bare_shared_flag_scan",
            SHARED,
            CompatFlag::AnthropicMessages,
            Some("provider-00"),
        ),
        (
            "qualified",
            "provider-37/model-37-05",
            CompatFlag::OpenaiChat,
            Some("provider-37"),
        ),
        (
            "slash_not_provider",
            "qwen/qwen3-235b-a22b-2507",
            CompatFlag::OpenaiChat,
            Some("provider-40"),
        ),
        ("no_route", "gpt-7-ultra", CompatFlag::OpenaiChat, None),
    ];
    let everything = |_: &str, _: &str| true;
    let granted = |p: &str, m: &str| access.model_granted(p, m);

    let mut group = c.benchmark_group("find");
    for (name, model, flag, expected) in cases {
        let got = table.find(model, false, flag, everything).ok();
        assert_eq!(
            got.as_ref().map(|r| r.provider.as_str()),
            expected,
            "{name}"
        );
        group.bench_function(name, |b| {
            b.iter(|| table.find(black_box(model), false, flag, everything))
        });
    }
    group.finish();

    // With Alice's grants: the shared model goes to provider-04 (the best she is granted).
    let mut group = c.benchmark_group("find_granted");
    for (name, model, flag) in [
        ("bare_unique", "model-37-05", CompatFlag::OpenaiChat),
        ("bare_shared_by_10", SHARED, CompatFlag::OpenaiChat),
        (
            "qualified",
            "provider-37/model-37-05",
            CompatFlag::OpenaiChat,
        ),
        ("not_granted", "model-20-05", CompatFlag::OpenaiChat),
    ] {
        let got = table.find(model, false, flag, granted);
        if name == "bare_shared_by_10" {
            assert_eq!(
                got.as_ref().map(|r| r.provider.as_str()).ok(),
                Some("provider-04")
            );
        }
        assert_eq!(got.is_ok(), name != "not_granted", "{name}");
        group.bench_function(name, |b| {
            b.iter(|| table.find(black_box(model), false, flag, granted))
        });
    }
    group.finish();

    let runtime = Runtime::new(Arc::new(config));
    let identity = caller();
    let mut group = c.benchmark_group("runtime");
    group.bench_function("access_then_find", |b| {
        b.iter(|| {
            let access = runtime.access(black_box(&identity));
            runtime.routes.find(
                black_box(SHARED),
                false,
                CompatFlag::OpenaiChat,
                |p: &str, m: &str| access.model_granted(p, m),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
