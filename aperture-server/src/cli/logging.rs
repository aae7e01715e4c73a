//! The binary's log subscriber: text or JSON lines on stderr (`gateway.log_format`, or
//! `--log-format`), filtered by `APERTURE_LOG` (else `RUST_LOG`, else `info`).
//!
//! The filter takes `tracing` target directives such as `info`, `warn,aperture::access=off` or
//! `aperture_server=debug`. Library code only emits events; installing a subscriber is the
//! binary's (or the embedding application's) choice.

use aperture_config::LogFormat;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The filter directives in force: `APERTURE_LOG`, else `RUST_LOG`, else `info`.
pub(crate) fn directives() -> String {
    std::env::var("APERTURE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_string())
}

/// Parses filter directives; the error names the bad one.
pub(crate) fn filter(spec: &str) -> Result<Targets, String> {
    spec.parse::<Targets>()
        .map_err(|e| format!("APERTURE_LOG/RUST_LOG {spec:?}: {e}"))
}

/// Installs the global subscriber. A second call (tests running the CLI in one process) keeps
/// the first.
pub(crate) fn install(format: LogFormat, filter: Targets) {
    let layer = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .boxed(),
        _ => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}
