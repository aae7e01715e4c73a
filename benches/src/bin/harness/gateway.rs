//! The gateway under test, in its own process: its config file, spawning the release `aperture`
//! binary, waiting for `/healthz`, its RSS, stopping it, and cold starts.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::Res;

/// What the gateway does beyond the defaults.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Extras {
    /// Every request is checked against and charged to a per-user bucket and a shared pool,
    /// both too large to ever refuse.
    pub(crate) quotas: bool,
    /// Every request first goes to a `pre_request` hook on the mock (`/hook`), which allows it.
    pub(crate) hook: bool,
}

/// Writes the gateway's config: two providers on the harness's upstreams (the mock for `gpt-5`,
/// the stamping SSE ticker for `tick`), key injection, loopback identity with a grant (role,
/// every model, `/metrics`), and the request log in `data_dir`, plus `extras`.
pub(crate) fn write_config(
    path: &Path,
    mock: &str,
    ticker: &str,
    data_dir: &Path,
    extras: Extras,
) -> Res<()> {
    let mut config = serde_json::json!({
        "providers": {
            "mock": {
                "baseurl": mock,
                "apikey": "sk-bench-mock",
                "authorization": "bearer",
                "models": ["gpt-5"],
            },
            "ticker": {
                "baseurl": ticker,
                "apikey": "sk-bench-ticker",
                "authorization": "bearer",
                "models": ["tick"],
            },
        },
        "grants": [{
            "src": ["(loopback)"],
            "app": {"tailscale.com/cap/aperture": [
                {"role": "admin"},
                {"models": "**"},
                {"read_metrics": true},
            ]},
        }],
        "gateway": {
            "listen": "127.0.0.1:8080",
            "data_dir": data_dir.display().to_string(),
            "shutdown_grace": "2s",
        },
    });
    if extras.quotas {
        config["quotas"] = serde_json::json!({
            "daily:<user>": {"capacity": "$1000000.00", "rate": "$1000000.00/day"},
            "pool": {"capacity": "$1000000.00", "rate": "$1000000.00/day"},
        });
        if let Some(caps) = config["grants"][0]["app"]["tailscale.com/cap/aperture"].as_array_mut()
        {
            caps.push(serde_json::json!({"models": "**", "quotas": [{"bucket": "daily:<user>"}, {"bucket": "pool"}]}));
        }
    }
    if extras.hook {
        config["hooks"] = serde_json::json!({"guard": {"url": format!("{mock}/hook")}});
        if let Some(caps) = config["grants"][0]["app"]["tailscale.com/cap/aperture"].as_array_mut()
        {
            caps.push(serde_json::json!({"send_hooks": [
                {"name": "guard", "events": ["pre_request"], "send": ["request_body", "user_message"]}]}));
        }
    }
    std::fs::write(path, serde_json::to_vec_pretty(&config)?)?;
    Ok(())
}

/// A free loopback port (bound, read and released; the gateway binds it right after).
pub(crate) fn free_port() -> Res<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// The `aperture` binary: `--aperture PATH`, else next to this executable.
pub(crate) fn locate(explicit: Option<&Path>) -> Res<PathBuf> {
    if let Some(p) = explicit {
        if p.is_file() {
            return Ok(p.to_path_buf());
        }
        return Err(format!("--aperture {}: no such file", p.display()).into());
    }
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or("cannot locate the harness's own directory")?;
    let candidate = dir.join("aperture");
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(format!(
            "no aperture binary at {}: build it with `cargo build --release -p aperture-server -p aperture-benches`, or pass --aperture PATH",
            candidate.display()
        )
        .into())
    }
}

/// A running `aperture serve`.
#[derive(Debug)]
pub(crate) struct Process {
    child: Option<Child>,
    /// Its listen address.
    pub(crate) addr: SocketAddr,
    /// Its pid.
    pub(crate) pid: u32,
    /// Process start (just before spawn) to the first `200` on `/healthz`.
    pub(crate) ready_after: Duration,
}

impl Process {
    /// Spawns `aperture serve --config CONFIG --listen ADDR` with stdout and stderr appended to
    /// `log`, and waits (up to `timeout`) for `/healthz` to answer 200. Blocking: call it outside
    /// the tokio runtime.
    pub(crate) fn start(
        aperture: &Path,
        config: &Path,
        log: &Path,
        timeout: Duration,
    ) -> Res<Process> {
        let addr = free_port()?;
        let out = File::options().create(true).append(true).open(log)?;
        let err = out.try_clone()?;
        let start = Instant::now();
        let child = Command::new(aperture)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--listen")
            .arg(addr.to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", aperture.display()))?;
        let pid = child.id();
        let mut p = Process {
            child: Some(child),
            addr,
            pid,
            ready_after: Duration::ZERO,
        };
        p.ready_after = p.wait_healthy(start, timeout, log)?;
        Ok(p)
    }

    // Synchronous code, called outside the tokio runtime: sleeping the thread is right here.
    #[allow(clippy::disallowed_methods)]
    fn wait_healthy(&mut self, start: Instant, timeout: Duration, log: &Path) -> Res<Duration> {
        loop {
            if healthz_ok(self.addr) {
                return Ok(start.elapsed());
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    return Err(format!(
                        "aperture exited ({status}) before answering /healthz; see {}",
                        log.display()
                    )
                    .into());
                }
            }
            if start.elapsed() > timeout {
                return Err(format!(
                    "aperture did not answer /healthz within {timeout:?}; see {}",
                    log.display()
                )
                .into());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// `http://ADDR`.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The gateway's resident set size in kB.
    pub(crate) fn rss_kb(&self) -> Option<u64> {
        rss_kb(self.pid)
    }

    /// SIGTERM (via `kill`), then waits up to `timeout` for the exit (the gateway writes every
    /// queued record first); SIGKILL past it. Returns the exit status and how long it took.
    // Synchronous code, called outside the tokio runtime: sleeping the thread is right here.
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn stop(mut self, timeout: Duration) -> Res<(ExitStatus, Duration)> {
        let Some(mut child) = self.child.take() else {
            return Err("gateway already stopped".into());
        };
        let start = Instant::now();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok((status, start.elapsed()));
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                let status = child.wait()?;
                return Err(format!(
                    "aperture did not exit within {timeout:?} of SIGTERM; killed ({status})"
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Only reached on an error path: never leave the gateway running.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `VmRSS` of `pid` in kB, from `/proc/<pid>/status`.
pub(crate) fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// One blocking `GET /healthz`; true on a 200.
fn healthz_ok(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) else {
        return false;
    };
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        match s.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    buf[..n].starts_with(b"HTTP/1.1 200")
}

/// Cold starts: `runs + 1` spawns of the gateway with `config` (the first one, which also
/// creates its data dir and warms the page cache, is not counted); each is timed from just
/// before the spawn to the first 200 on `/healthz`, then stopped. Returns the times in ms.
pub(crate) fn cold_starts(
    aperture: &Path,
    config: &Path,
    log: &Path,
    runs: usize,
) -> Res<Vec<f64>> {
    let mut times = Vec::with_capacity(runs);
    for i in 0..=runs {
        let p = Process::start(aperture, config, log, Duration::from_secs(10))?;
        if i > 0 {
            times.push(p.ready_after.as_secs_f64() * 1e3);
        }
        p.stop(Duration::from_secs(20))?;
    }
    Ok(times)
}

/// Limits that matter for many open streams: (soft, hard) open files of this process.
pub(crate) fn open_file_limit() -> Option<(u64, String)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let rest = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    let mut fields = rest.split_whitespace();
    let soft = fields.next()?.parse().ok()?;
    let hard = fields.next()?.to_string();
    Some((soft, hard))
}

/// The plain TCP relay child (`harness --relay LISTEN UPSTREAM`); killed when dropped.
#[derive(Debug)]
pub(crate) struct Relay {
    child: Child,
    /// Its listen address.
    pub(crate) addr: SocketAddr,
}

impl Relay {
    /// Spawns this executable as a relay to `upstream` and waits until it accepts connections.
    // Synchronous code, called outside the tokio runtime: sleeping the thread is right here.
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn start(upstream: SocketAddr) -> Res<Relay> {
        let addr = free_port()?;
        let child = Command::new(std::env::current_exe()?)
            .arg("--relay")
            .arg(addr.to_string())
            .arg(upstream.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let relay = Relay { child, addr };
        let start = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            if start.elapsed() > Duration::from_secs(5) {
                return Err("the TCP relay did not start listening within 5 s".into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(relay)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
