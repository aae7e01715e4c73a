//! Config load and compile: parsing, checking and validating configs, then building what the
//! hot path uses from them.
//!
//! - `load/*`: [`Loader::load_str`] (HuJSON parse, `${VAR}` substitution, schema checks,
//!   validation) on the starter config, the three examples in `docs/examples/` and a generated
//!   config of 200 providers × 20 models with 200 grants. `${VAR}`s resolve to `"value"`.
//! - `compile/*`: the same configs compiled for requests: [`RouteTable::new`] alone, and the
//!   whole [`Runtime::new`] (routes, upstreams, the bundled price table, the configured
//!   secrets).
//!
//! Both happen at start and on every reload, off the request path, so these guard against
//! pathological slowness rather than microseconds. Throughput is in config text bytes.
//!
//! Run with `cargo bench -p aperture-benches --bench config_load` (add `-- --quick` for a fast
//! pass, or a filter such as `-- load/`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;

use aperture_config::{Config, Loader, Mode};
use aperture_route::RouteTable;
use aperture_server::runtime::Runtime;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// A large generated config: 200 providers with 20 models each, 200 grants.
fn generated() -> String {
    let mut big = String::from("{\"providers\": {");
    for i in 0..200 {
        let models: Vec<String> = (0..20).map(|m| format!("\"model-{i}-{m}\"")).collect();
        big.push_str(&format!(
            "{}\"p{i}\": {{\"baseurl\": \"https://p{i}.example.com\", \"models\": [{}]}}",
            if i > 0 { "," } else { "" },
            models.join(",")
        ));
    }
    big.push_str("}, \"grants\": [");
    for i in 0..200 {
        big.push_str(&format!(
            "{}{{\"src\": [\"user{i}@example.com\"], \"app\": {{\"tailscale.com/cap/aperture\": [{{\"role\": \"user\"}}, {{\"models\": \"p{i}/**\"}}]}}}}",
            if i > 0 { "," } else { "" }
        ));
    }
    big.push_str("]}");
    big
}

/// (name, text) of every config measured.
fn configs() -> Vec<(String, String)> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut out = vec![(
        "starter".to_owned(),
        aperture_config::STARTER_CONFIG.to_owned(),
    )];
    for name in [
        "team.hujson",
        "aperture-compatible.hujson",
        "subscriptions.hujson",
    ] {
        let path = format!("{root}/docs/examples/{name}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        out.push((name.trim_end_matches(".hujson").to_owned(), text));
    }
    out.push(("generated_200x20_200_grants".to_owned(), generated()));
    out
}

fn load_and_compile(c: &mut Criterion) {
    let env = |_: &str| Some("value".to_string());
    let loader = Loader::new().mode(Mode::Load).env(&env);
    let configs = configs();
    let compiled: Vec<(&str, Arc<Config>)> = configs
        .iter()
        .map(|(name, text)| {
            let loaded = loader.load_str(text);
            match loaded.config {
                Some(config) => (name.as_str(), Arc::new(config)),
                None => panic!("{name} does not load: {:?}", loaded.diagnostics),
            }
        })
        .collect();

    let mut group = c.benchmark_group("load");
    for (name, text) in &configs {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(
            BenchmarkId::new(name.as_str(), format!("{} B", text.len())),
            text,
            |b, text| b.iter(|| loader.load_str(black_box(text))),
        );
    }
    group.finish();

    let mut group = c.benchmark_group("compile");
    for (name, config) in &compiled {
        group.bench_with_input(
            BenchmarkId::new("route_table", name),
            config,
            |b, config| b.iter(|| RouteTable::new(black_box(config))),
        );
        group.bench_with_input(BenchmarkId::new("runtime", name), config, |b, config| {
            b.iter(|| Runtime::new(black_box(config.clone())))
        });
    }
    group.finish();
}

criterion_group!(benches, load_and_compile);
criterion_main!(benches);
