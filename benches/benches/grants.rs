//! Grant evaluation: what a caller may use.
//!
//! - `for_identity/*`: [`Access::for_identity`], the union of the grants whose `src` matches,
//!   over a generated config of 1,000 grants (900 users, 90 groups, 9 tags, one `*` grant)
//!   loaded with `aperture_config::load_str`; the caller is a user in 5 groups (7 grants
//!   match), a stranger (only `*` matches), and loopback in the starter config (1 grant). The
//!   gateway caches the result per login and config version, so this is the cost of a cache
//!   miss.
//! - `runtime_access/cached`: [`Runtime::access`] for a login already seen (what most requests
//!   pay).
//! - `model_granted/{1,10,100}_globs/*`: [`Access::model_granted`] with 1, 10 and 100
//!   `provider/**`-style globs, granted by the first glob, by the last, or not at all (every
//!   glob is tried).
//! - `headers_for`: the grant headers that apply to a routed request.
//!
//! Run with `cargo bench -p aperture-benches --bench grants` (add `-- --quick` for a fast
//! pass).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;

use aperture_auth::{Access, Identity, IdentitySource};
use aperture_config::{Config, Mode, ModelGlob, STARTER_CONFIG, load_str};
use aperture_server::runtime::Runtime;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// Providers in the generated config (grants name them).
const PROVIDERS: usize = 50;

fn load(text: &str) -> Config {
    let loaded = load_str(text, Mode::Load);
    match loaded.config {
        Some(config) => config,
        None => panic!("config does not load: {:?}", loaded.diagnostics),
    }
}

/// 50 providers and 1,000 grants.
fn config_text() -> String {
    let providers: Vec<String> = (0..PROVIDERS)
        .map(|p| {
            format!(
                r#""provider-{p:02}": {{"baseurl": "https://p{p}.example.com/v1", "apikey": "sk-{p}",
                    "models": ["model-{p:02}-a", "model-{p:02}-b", "claude-sonnet-4-6"]}}"#
            )
        })
        .collect();
    let cap = r#""tailscale.com/cap/aperture""#;
    let mut grants = Vec::new();
    for u in 0..900 {
        let p = u % PROVIDERS;
        grants.push(format!(
            r#"{{"src": ["user{u}@example.com"], "app": {{{cap}: [{{"role": "user"}},
                {{"models": "provider-{p:02}/**"}}]}}}}"#
        ));
    }
    for g in 0..90 {
        let p = g % PROVIDERS;
        grants.push(format!(
            r#"{{"src": ["group:team{g}"], "app": {{{cap}: [{{"role": "user"}},
                {{"models": "provider-{p:02}/model-*", "add_headers": ["X-Team: team{g}"]}},
                {{"models": "*/claude-*"}}]}}}}"#
        ));
    }
    for t in 0..9 {
        grants.push(format!(
            r#"{{"src": ["tag:ci{t}"], "app": {{{cap}: [{{"role": "user"}}, {{"models": "**"}}]}}}}"#
        ));
    }
    grants.push(format!(
        r#"{{"src": ["*"], "app": {{{cap}: [{{"read_metrics": true}}, {{"add_headers": ["X-Gateway: aperture"]}}]}}}}"#
    ));
    format!(
        r#"{{"providers": {{{}}}, "grants": [{}]}}"#,
        providers.join(",\n"),
        grants.join(",\n")
    )
}

/// A user with a grant of their own and 5 groups.
fn member() -> Identity {
    let mut id = Identity::new("user17@example.com", IdentitySource::Headers);
    id.groups = [3, 17, 40, 61, 88]
        .iter()
        .map(|g| format!("group:team{g}"))
        .collect();
    id
}

fn for_identity(c: &mut Criterion) {
    let config = load(&config_text());
    assert_eq!(config.grants.len(), 1000);
    let starter = load(STARTER_CONFIG);
    let member = member();
    let stranger = Identity::new("eve@example.org", IdentitySource::Headers);
    let loopback = Identity::loopback();

    let access = Access::for_identity(&config.grants, &member);
    assert!(access.model_granted("provider-17", "model-17-a"));
    assert!(access.model_granted("provider-40", "model-40-b"));
    assert!(access.model_granted("provider-33", "claude-sonnet-4-6"));
    assert!(!access.model_granted("provider-33", "model-33-a"));
    assert!(
        Access::for_identity(&config.grants, &stranger)
            .models
            .is_empty()
    );

    let mut group = c.benchmark_group("for_identity");
    group.bench_function("1000_grants/member_of_5_groups", |b| {
        b.iter(|| Access::for_identity(black_box(&config.grants), black_box(&member)))
    });
    group.bench_function("1000_grants/stranger", |b| {
        b.iter(|| Access::for_identity(black_box(&config.grants), black_box(&stranger)))
    });
    group.bench_function("starter/loopback", |b| {
        b.iter(|| Access::for_identity(black_box(&starter.grants), black_box(&loopback)))
    });
    group.finish();

    let runtime = Runtime::new(Arc::new(config));
    runtime.access(&member);
    let mut group = c.benchmark_group("runtime_access");
    group.bench_function("cached", |b| b.iter(|| runtime.access(black_box(&member))));
    group.finish();

    let mut group = c.benchmark_group("headers_for");
    group.bench_function("member_of_5_groups", |b| {
        b.iter(|| {
            access
                .headers_for(black_box("provider-17"), black_box("model-17-a"))
                .count()
        })
    });
    group.finish();
}

fn model_granted(c: &mut Criterion) {
    for n in [1usize, 10, 100] {
        let globs = (0..n)
            .map(|i| ModelGlob::parse(&format!("provider-{i:03}/**")).unwrap())
            .collect();
        let access = Access {
            models: globs,
            ..Access::default()
        };
        let first = "provider-000".to_owned();
        let last = format!("provider-{:03}", n - 1);
        assert!(access.model_granted(&last, "claude-sonnet-4-6"));
        assert!(!access.model_granted("openrouter", "anthropic/claude-sonnet-4-6"));

        let mut group = c.benchmark_group(format!("model_granted/{n}_globs"));
        for (case, provider, model) in [
            ("first_glob", first.as_str(), "claude-sonnet-4-6"),
            ("last_glob", last.as_str(), "claude-sonnet-4-6"),
            ("no_match", "openrouter", "anthropic/claude-sonnet-4-6"),
        ] {
            group.bench_with_input(
                BenchmarkId::from_parameter(case),
                &(provider, model),
                |b, (p, m)| b.iter(|| access.model_granted(black_box(p), black_box(m))),
            );
        }
        group.finish();
    }
}

criterion_group!(benches, for_identity, model_granted);
criterion_main!(benches);
