//! `aperture serve [--config PATH] [--listen ADDR] [--log-format text|json]`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use std::time::Duration;

use aperture_config::{Loader, LogFormat, Mode, STARTER_CONFIG, Severity};

use crate::config_store::{ConfigStore, ReloadSource};
use crate::gateway::Gateway;

use super::usage;

/// Parses the flags, loads the config and serves until SIGINT or SIGTERM.
pub(super) fn run(args: &[&str], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let mut config_path: Option<PathBuf> = None;
    let mut listen: Option<SocketAddr> = None;
    let mut log_format: Option<LogFormat> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match *arg {
            "--config" => match it.next() {
                Some(p) => config_path = Some(PathBuf::from(p)),
                None => return usage(err, "--config needs a PATH"),
            },
            "--listen" => match it.next().map(|a| a.parse::<SocketAddr>()) {
                Some(Ok(a)) => listen = Some(a),
                _ => return usage(err, "--listen needs an address such as 127.0.0.1:8080"),
            },
            "--log-format" => match it.next().copied() {
                Some("text") => log_format = Some(LogFormat::Text),
                Some("json") => log_format = Some(LogFormat::Json),
                _ => return usage(err, "--log-format needs text or json"),
            },
            a => return usage(err, &format!("unknown argument {a}")),
        }
    }
    let path = config_path
        .or_else(|| std::env::var_os("APERTURE_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("aperture.json"));
    let shown = path.display().to_string();

    let text = if path.exists() {
        match std::fs::read(&path).map(String::from_utf8) {
            Ok(Ok(t)) => t,
            Ok(Err(_)) => {
                let _ = writeln!(
                    err,
                    "aperture: cannot read {shown}: the file is not valid UTF-8"
                );
                return 2;
            }
            Err(e) => {
                let _ = writeln!(err, "aperture: cannot read {shown}: {e}");
                return 2;
            }
        }
    } else {
        let written = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                use std::io::Write;
                crate::config_store::private_file(&path, 0o600, false)?
                    .write_all(STARTER_CONFIG.as_bytes())
            });
        match written {
            Ok(()) => {
                let _ = writeln!(
                    err,
                    "aperture: no config at {shown}: wrote the starter config there"
                );
            }
            Err(e) => {
                let _ = writeln!(
                    err,
                    "aperture: no config at {shown} and cannot write one ({e}): serving the starter config"
                );
            }
        }
        STARTER_CONFIG.to_string()
    };
    let loaded = Loader::new().mode(Mode::Load).load_str(&text);
    for d in loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity != Severity::Info)
    {
        let _ = writeln!(err, "{}", d.render(&shown));
    }
    let Some(config) = loaded.config else {
        let _ = writeln!(err, "aperture: {shown} has errors; not starting");
        return 1;
    };
    let config = Arc::new(config);
    let filter = match super::logging::filter(&super::logging::directives()) {
        Ok(f) => f,
        Err(e) => return usage(err, &e),
    };
    // Held to the end of `run`: dropping it flushes the queued log lines.
    let _log = super::logging::install(log_format.unwrap_or(config.gateway.log_format), filter);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "aperture: cannot start the runtime: {e}");
            return 1;
        }
    };
    let addrs = crate::listen_addrs(&config, listen);
    let file = path.exists().then(|| path.clone());
    runtime.block_on(async {
        let gateway = match Gateway::with_source(config.clone(), text, file) {
            Ok(g) => g,
            Err(e) => {
                let _ = writeln!(err, "aperture: {e}");
                return 1;
            }
        };
        // Reloads: the file is watched, and SIGHUP re-reads it.
        tokio::spawn(gateway.store().clone().watch(Duration::from_millis(250)));
        // Registered before the first connection, so an early SIGHUP cannot kill the process.
        #[cfg(unix)]
        let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        #[cfg(not(unix))]
        let hangups = None::<()>;
        tokio::spawn(reload_on_sighup(gateway.store().clone(), hangups));
        // Retention: purge at startup and every hour.
        let purger = gateway.clone();
        tokio::spawn(async move {
            let mut hourly = tokio::time::interval(Duration::from_secs(3600));
            loop {
                hourly.tick().await;
                let g = purger.clone();
                match tokio::task::spawn_blocking(move || g.purge_expired()).await {
                    Ok(Ok(0)) | Err(_) => {}
                    Ok(Ok(n)) => tracing::info!(purged = n, "retention purge"),
                    Ok(Err(e)) => tracing::error!(error = %e, "retention purge failed"),
                }
            }
        });
        let mut listeners = Vec::new();
        for addr in addrs {
            match crate::listen(addr) {
                Ok(l) => listeners.push(l),
                Err(e) => {
                    let _ = writeln!(err, "aperture: cannot listen on {addr}: {e}");
                    return 1;
                }
            }
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for l in listeners {
            if let Ok(a) = l.local_addr() {
                let _ = writeln!(out, "listening on {a}");
            }
            let mut stop = stop_rx.clone();
            let gateway = gateway.clone();
            tasks.push(tokio::spawn(async move {
                let _ = crate::serve_gateway(l, gateway, async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            }));
        }
        let _ = out.flush();
        crate::shutdown_signal().await;
        tracing::info!("shutdown signal: stopping listeners, draining streams");
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
        // Every record still queued goes to the database before the process ends.
        let _ = tokio::task::spawn_blocking(move || gateway.shutdown_log()).await;
        0
    })
}

/// Re-reads the config file on every SIGHUP.
#[cfg(unix)]
async fn reload_on_sighup(store: Arc<ConfigStore>, hangups: Option<tokio::signal::unix::Signal>) {
    let Some(mut hup) = hangups else { return };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP: re-reading the config file");
        store.reload(ReloadSource::Signal).await;
    }
}

/// SIGHUP does not exist here.
#[cfg(not(unix))]
async fn reload_on_sighup(_store: Arc<ConfigStore>, _hangups: Option<()>) {}
