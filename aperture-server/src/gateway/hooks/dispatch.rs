//! Hook calls: the synchronous `pre_request` call, and deliveries after the response through a
//! bounded queue per hook, each drained by its own task, so a slow or dead hook never delays
//! another hook's deliveries or any response. Deliveries are never retried; a full queue drops
//! the delivery, counts it and logs at most once a minute per hook.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use aperture_config::{Hook, HookEvent};
use aperture_log::quota::QuotaBook;
use bytes::Bytes;
use tokio::sync::{Semaphore, mpsc};

use super::client::{self, CallError, POST_RESPONSE_CEILING};
use super::payload::{self, Common, Outcome};
use crate::metrics::Metrics;
use crate::upstream::UpstreamClient;

/// Deliveries waiting per hook before new ones are dropped.
pub const QUEUE_CAPACITY: usize = 1024;
/// Deliveries in flight per hook.
pub const CONCURRENCY: usize = 8;
/// At most one "dropped" log line per hook per this long.
const DROP_LOG_EVERY: Duration = Duration::from_secs(60);

/// One delivery after the response.
struct Job {
    event: HookEvent,
    send: Vec<String>,
    common: Arc<Common>,
    outcome: Arc<Outcome>,
}

/// Calls hooks: shared by every config version (the queues outlive reloads); the hooks' URLs,
/// keys and timeouts are the running config's.
pub struct HookDispatcher {
    client: UpstreamClient,
    book: Arc<QuotaBook>,
    metrics: Arc<Metrics>,
    hooks: RwLock<Arc<BTreeMap<String, Arc<Hook>>>>,
    queues: Mutex<HashMap<String, mpsc::Sender<Job>>>,
    last_drop_log: Mutex<HashMap<String, Instant>>,
}

impl std::fmt::Debug for HookDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookDispatcher").finish_non_exhaustive()
    }
}

impl HookDispatcher {
    /// A dispatcher calling hooks with `client`, reading quota balances for payloads from
    /// `book`, counting calls in `metrics`.
    pub fn new(client: UpstreamClient, book: Arc<QuotaBook>, metrics: Arc<Metrics>) -> Self {
        Self {
            client,
            book,
            metrics,
            hooks: RwLock::default(),
            queues: Mutex::default(),
            last_drop_log: Mutex::default(),
        }
    }

    /// Takes the hooks of a new config version.
    pub fn configure(&self, hooks: &BTreeMap<String, Hook>) {
        let map = hooks
            .iter()
            .map(|(n, h)| (n.clone(), Arc::new(h.clone())))
            .collect();
        if let Ok(mut w) = self.hooks.write() {
            *w = Arc::new(map);
        }
    }

    /// The running config's hook `name`, when it exists, is enabled and has a URL.
    pub(crate) fn hook(&self, name: &str) -> Option<Arc<Hook>> {
        let hooks = self.hooks.read().ok()?.clone();
        hooks
            .get(name)
            .filter(|h| !h.disabled && h.url.is_some())
            .cloned()
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(crate) fn book(&self) -> &QuotaBook {
        &self.book
    }

    /// Calls `hook` before forwarding; its reply body.
    pub(crate) async fn call(&self, hook: &Hook, payload: Bytes) -> Result<Bytes, CallError> {
        client::post(&self.client, hook, payload).await
    }

    /// Queues the post-response deliveries of one request: each hook in `hooks` whose events
    /// include `entire_request` (always) or `tool_call_entire_request` (when the response had
    /// tool calls). Never waits.
    pub(crate) fn after_response(
        self: &Arc<Self>,
        hooks: &[aperture_config::SendHook],
        common: Common,
        outcome: Outcome,
    ) {
        let (common, outcome) = (Arc::new(common), Arc::new(outcome));
        let had_tools = !outcome.tool_calls.is_empty();
        for h in hooks {
            for event in [HookEvent::EntireRequest, HookEvent::ToolCallEntireRequest] {
                let fires =
                    h.events.contains(&event) && (event == HookEvent::EntireRequest || had_tools);
                if !fires || self.hook(&h.name).is_none() {
                    continue;
                }
                self.enqueue(
                    &h.name,
                    Job {
                        event,
                        send: h.send.clone(),
                        common: common.clone(),
                        outcome: outcome.clone(),
                    },
                );
            }
        }
    }

    fn enqueue(self: &Arc<Self>, name: &str, job: Job) {
        let event = payload::event_name(job.event);
        let Some(tx) = self.sender(name) else {
            self.dropped(name, event);
            return;
        };
        if tx.try_send(job).is_err() {
            self.dropped(name, event);
        }
    }

    /// The queue of hook `name`, its draining task started on first use.
    fn sender(self: &Arc<Self>, name: &str) -> Option<mpsc::Sender<Job>> {
        let mut queues = self.queues.lock().ok()?;
        if let Some(tx) = queues.get(name).filter(|tx| !tx.is_closed()) {
            return Some(tx.clone());
        }
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        handle.spawn(drain(Arc::downgrade(self), name.to_string(), rx));
        queues.insert(name.to_string(), tx.clone());
        Some(tx)
    }

    fn dropped(&self, name: &str, event: &'static str) {
        self.metrics.hook_call(name, event, "dropped");
        let Ok(mut last) = self.last_drop_log.lock() else {
            return;
        };
        let now = Instant::now();
        let due = last
            .get(name)
            .is_none_or(|t| now.duration_since(*t) >= DROP_LOG_EVERY);
        if due {
            last.insert(name.to_string(), now);
            tracing::warn!(
                hook = %name,
                dropped_total = self.metrics.hook_calls(name, event, "dropped"),
                "hook deliveries dropped: its queue is full (the hook is slow or down)"
            );
        }
    }
}

/// Drains one hook's queue, at most [`CONCURRENCY`] deliveries at a time. Ends when the
/// dispatcher is gone.
async fn drain(
    dispatcher: std::sync::Weak<HookDispatcher>,
    name: String,
    mut rx: mpsc::Receiver<Job>,
) {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    while let Some(job) = rx.recv().await {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let Some(d) = dispatcher.upgrade() else {
            return;
        };
        let name = name.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let event = payload::event_name(job.event);
            let Some(hook) = d.hook(&name) else {
                return;
            };
            let bytes = payload::build(
                job.event,
                &job.send,
                &job.common,
                Some(&job.outcome),
                d.book(),
            );
            let limit = hook.timeout.unwrap_or(POST_RESPONSE_CEILING);
            let result = tokio::time::timeout(limit, d.call(&hook, bytes))
                .await
                .unwrap_or(Err(CallError::Timeout));
            match result {
                Ok(_) => d.metrics.hook_call(&name, event, "sent"),
                Err(e) => {
                    d.metrics.hook_call(&name, event, "failed");
                    tracing::debug!(hook = %name, event, error = %e, "hook delivery failed");
                }
            }
        });
    }
}
