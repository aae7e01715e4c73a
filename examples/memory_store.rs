//! A custom request-log store handed to the gateway: records kept in memory (a stand-in for
//! the database or queue an application already runs), read back through the same `Store`
//! trait the dashboard uses.
//!
//! ```text
//! cargo run -p aperture-examples --example memory_store
//! ```
//!
//! The gateway's writer thread calls [`Store::write_batch`] with batches of records; the
//! dashboard's calls read through the other methods. This store answers request lists and
//! single requests; the aggregate views (sessions, usage) are left empty for brevity.

use std::sync::{Arc, Mutex};

use aperture_log::store::{
    Filter, GroupBy, Page, RequestRecord, RequestSummary, SessionSummary, Store, StoreError,
    TotalRow, USAGE_CSV_HEADER,
};
use aperture_server::gateway::Gateway;

/// Records in memory, newest last.
#[derive(Debug, Default)]
pub struct MemoryStore(Mutex<Vec<RequestRecord>>);

impl MemoryStore {
    fn rows(&self) -> std::sync::MutexGuard<'_, Vec<RequestRecord>> {
        match self.0.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

fn matches(r: &RequestRecord, f: &Filter) -> bool {
    f.login.as_ref().is_none_or(|l| *l == r.identity.login)
        && f.model.as_ref().is_none_or(|m| *m == r.model)
        && f.status.is_none_or(|s| s == r.status)
        && f.session_id.as_ref().is_none_or(|s| *s == r.session_id)
        && f.since_ms.is_none_or(|t| r.time_ms >= t)
        && f.until_ms.is_none_or(|t| r.time_ms < t)
}

impl Store for MemoryStore {
    fn write_batch(&self, records: &[RequestRecord]) -> Result<(), StoreError> {
        let mut rows = self.rows();
        for r in records {
            if !rows.iter().any(|have| have.id == r.id) {
                rows.push(r.clone());
            }
        }
        Ok(())
    }

    fn sessions(&self, _: &Filter, _: Page) -> Result<Vec<SessionSummary>, StoreError> {
        Ok(Vec::new())
    }

    fn requests(&self, filter: &Filter, page: Page) -> Result<Vec<RequestSummary>, StoreError> {
        Ok(self
            .rows()
            .iter()
            .rev()
            .filter(|r| matches(r, filter))
            .skip(page.offset as usize)
            .take(page.limit as usize)
            .cloned()
            .map(RequestSummary::from)
            .collect())
    }

    fn request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError> {
        Ok(self.rows().iter().find(|r| r.id == id).cloned())
    }

    fn totals(&self, _: &Filter, _: GroupBy) -> Result<Vec<TotalRow>, StoreError> {
        Ok(Vec::new())
    }

    fn usage_csv(&self, _: &Filter) -> Result<String, StoreError> {
        Ok(format!("{USAGE_CSV_HEADER}\n"))
    }

    fn purge(&self, older_than_ms: i64, _also_tools: bool) -> Result<usize, StoreError> {
        let mut purged = 0;
        for r in self.rows().iter_mut().filter(|r| r.time_ms < older_than_ms) {
            if r.request_body.take().is_some() | r.response_body.take().is_some() {
                purged += 1;
            }
            r.request_headers.clear();
            r.response_headers.clear();
        }
        Ok(purged)
    }
}

/// The gateway for `config`, logging to `store`.
fn gateway(
    config: aperture_config::Config,
    store: Arc<MemoryStore>,
) -> Result<Gateway, aperture_server::Error> {
    Gateway::builder(Arc::new(config)).store(store).build()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = aperture_config::load_str(aperture_config::STARTER_CONFIG, Default::default())
        .config
        .ok_or("the starter config is valid")?;
    let store = Arc::new(MemoryStore::default());
    let gateway = gateway(config, store.clone())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3002").await?;
    println!("listening on {}", listener.local_addr()?);
    aperture_server::serve_gateway(listener, gateway, aperture_server::shutdown_signal()).await?;
    println!("{} requests were logged in memory", store.rows().len());
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aperture_examples::{http, post};
    use aperture_mock::MockUpstream;

    #[tokio::test]
    async fn records_and_the_dashboard_calls_use_the_custom_store() {
        let mock = MockUpstream::start_default().await.unwrap();
        let text = aperture_examples::config_text(&mock.base_url(), "sk-provider", "");
        let config = aperture_config::load_str(&text, Default::default())
            .config
            .unwrap();
        let store = Arc::new(MemoryStore::default());
        let gateway = gateway(config, store.clone()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(aperture_server::serve_gateway(
            listener,
            gateway,
            std::future::pending(),
        ));
        let body = r#"{"model":"gpt-5","messages":[]}"#;
        let answer = http(addr, &post("/v1/chat/completions", &[], body))
            .await
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let unknown = r#"{"model":"no-such-model","messages":[]}"#;
        let answer = http(addr, &post("/v1/chat/completions", &[], unknown))
            .await
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");

        for _ in 0..500 {
            if store.rows().len() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let mut statuses: Vec<u16> = store.rows().iter().map(|r| r.status).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 404]);
        // The dashboard's request list reads the same store.
        let list =
            "GET /api/requests?status=404 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        let listed = http(addr, list).await.unwrap();
        assert!(listed.starts_with("HTTP/1.1 200"), "{listed}");
        assert!(listed.contains("no-such-model"), "{listed}");
        assert!(!listed.contains(r#""status":200"#), "{listed}");
    }
}
