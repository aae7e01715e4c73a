//! Config load time: parsing, checking and validating the example configs.
//!
//! `cargo bench -p aperture-benches --bench config_load` prints the median time per load. The
//! config is off the request path (it is loaded at start and on reload), so this guards against
//! pathological slowness rather than microseconds.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aperture_config::{Loader, Mode};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn bench(name: &str, text: &str) {
    let env = |_: &str| Some("value".to_string());
    let loader = Loader::new().mode(Mode::Load).env(&env);
    for _ in 0..50 {
        black_box(loader.load_str(text));
    }
    let samples: Vec<Duration> = (0..500)
        .map(|_| {
            let start = Instant::now();
            black_box(loader.load_str(black_box(text)));
            start.elapsed()
        })
        .collect();
    println!("| {name} | {} bytes | {:?} |", text.len(), median(samples));
}

fn main() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    println!("| config | size | median load |");
    println!("|---|---|---|");
    bench("starter", aperture_config::STARTER_CONFIG);
    for name in [
        "team.hujson",
        "aperture-compatible.hujson",
        "subscriptions.hujson",
    ] {
        let text =
            std::fs::read_to_string(format!("{root}/docs/examples/{name}")).unwrap_or_default();
        bench(name, &text);
    }
    // A large generated config: 200 providers with 20 models each, 200 grants.
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
    bench("generated (200 providers, 200 grants)", &big);
}
