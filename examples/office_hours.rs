//! A check after routing: the most expensive model only during office hours. Outside them the
//! caller gets a 403 in its own API's envelope (Anthropic's for Claude Code, OpenAI's for
//! Codex), and the refusal is in the request log like the gateway's own.
//!
//! ```text
//! cargo run -p aperture-examples --example office_hours
//! ```
//!
//! The check reads what the gateway learned, from the request's extensions: the `Route`
//! (provider and model) and the caller's `Identity`. The clock is a parameter so the test can
//! fix the hour.

use std::sync::Arc;

use aperture_auth::Identity;
use aperture_route::Route;
use aperture_server::Error;
use aperture_server::gateway::{Gateway, Req};
use http::StatusCode;

/// The model kept to office hours.
const EXPENSIVE: &str = "claude-opus-4-1";

/// Office hours, UTC: 08:00 to 18:00.
fn open(hour: u32) -> bool {
    (8..18).contains(&hour)
}

/// The current UTC hour.
fn utc_hour() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(secs / 3600 % 24).unwrap_or(0)
}

/// The gateway for `config` with the office-hours check; `hour` tells the time.
fn gateway(
    config: aperture_config::Config,
    hour: impl Fn() -> u32 + Send + Sync + 'static,
) -> Result<Gateway, Error> {
    let hour = Arc::new(hour);
    Gateway::builder(Arc::new(config))
        .authorize(move |req: Req| {
            let hour = hour.clone();
            async move {
                let route = req.extensions().get::<Route>();
                let expensive = route.is_some_and(|r| r.upstream_model == EXPENSIVE);
                if expensive && !open(hour()) {
                    let who = req
                        .extensions()
                        .get::<Identity>()
                        .map_or("you", |i| i.login.as_str());
                    let message =
                        format!("{EXPENSIVE} is available to {who} from 08:00 to 18:00 UTC");
                    return Err(Error::refused(StatusCode::FORBIDDEN, message));
                }
                Ok(req)
            }
        })
        .build()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = std::env::var("ANTHROPIC_API_KEY").unwrap_or_default();
    let text = aperture_examples::config_text("https://api.anthropic.com", &key, "");
    let config = aperture_config::load_str(&text, Default::default())
        .config
        .ok_or("invalid config")?;
    let gateway = gateway(config, utc_hour)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3003").await?;
    println!("listening on {}", listener.local_addr()?);
    aperture_server::serve_gateway(listener, gateway, aperture_server::shutdown_signal()).await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aperture_examples::{http, post};
    use aperture_log::store::{Filter, Page};
    use aperture_mock::MockUpstream;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn the_expensive_model_is_refused_after_hours_natively_and_on_the_record() {
        let mut mock = MockUpstream::start_default().await.unwrap();
        let text = aperture_examples::config_text(&mock.base_url(), "sk-provider", "");
        let config = aperture_config::load_str(&text, Default::default())
            .config
            .unwrap();
        let now = Arc::new(AtomicU32::new(21));
        let clock = now.clone();
        let gateway = gateway(config, move || clock.load(Ordering::Relaxed)).unwrap();
        let db = gateway.db().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(aperture_server::serve_gateway(
            listener,
            gateway,
            std::future::pending(),
        ));
        let opus = format!(r#"{{"model":"{EXPENSIVE}","max_tokens":8,"messages":[]}}"#);

        // 21:00: refused, in Anthropic's envelope, and never forwarded.
        let late = http(addr, &post("/v1/messages", &[], &opus)).await.unwrap();
        assert!(late.starts_with("HTTP/1.1 403"), "{late}");
        assert!(late.contains(r#""type":"error""#), "{late}");
        assert!(late.contains("from 08:00 to 18:00 UTC"), "{late}");
        assert!(mock.try_next_request().is_none());
        // Other models are fine at any hour.
        let chat = r#"{"model":"gpt-5","messages":[]}"#;
        let other = http(addr, &post("/v1/chat/completions", &[], chat))
            .await
            .unwrap();
        assert!(other.starts_with("HTTP/1.1 200"), "{other}");
        assert_eq!(mock.next_request().await.unwrap().json()["model"], "gpt-5");
        // 10:00: allowed.
        now.store(10, Ordering::Relaxed);
        let day = http(addr, &post("/v1/messages", &[], &opus)).await.unwrap();
        assert!(day.starts_with("HTTP/1.1 200"), "{day}");

        let mut rows = Vec::new();
        for _ in 0..500 {
            rows = db.requests(&Filter::default(), Page::default()).unwrap();
            if rows.len() == 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let refused: Vec<_> = rows.iter().filter(|r| r.status == 403).collect();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].model, EXPENSIVE);
        assert_eq!(refused[0].login, "(loopback)");
        assert!(refused[0].error.as_deref().unwrap().contains("08:00"));
        assert_eq!(rows.iter().filter(|r| r.status == 200).count(), 2);
    }
}
