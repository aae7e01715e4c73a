//! The record slot: what the layers inside the record layer learn about a request, for its
//! record.
//!
//! The record layer sits outside identity, routing and policy so that refused requests are on
//! the record too; an outer layer cannot see what inner layers add to the request, so it puts a
//! [`RecordSlot`] into the request's extensions and the inner layers write into it. An
//! embedder's own layer can do the same (for example to name the login its API-key check
//! found).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use crate::store::RecordIdentity;

/// A per-request slot, shared by clones; inner layers fill it, the record layer takes it when
/// the response ends.
#[derive(Debug, Clone, Default)]
pub struct RecordSlot(Arc<Mutex<SlotData>>);

/// What a [`RecordSlot`] holds.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct SlotData {
    /// Who called, once known.
    pub identity: Option<RecordIdentity>,
    /// The provider id the request went to.
    pub provider: String,
    /// The model as sent upstream.
    pub model: String,
    /// The model as the caller asked for it.
    pub requested_model: String,
    /// The request body as forwarded (a capped copy for streamed bodies).
    pub request_body: Option<Bytes>,
    /// How long the provider took to answer with a head.
    pub upstream_wait: Option<Duration>,
    /// The quota buckets the request is charged to (name and quota), once it passed the check.
    pub quota_buckets: Vec<(String, aperture_config::Quota)>,
    /// Time spent waiting for `pre_request` hooks (not the gateway's own work).
    pub hook_wait: Duration,
    /// The hooks to call after the response (SPEC.md §10.2), each with what it sends.
    pub hooks: Vec<aperture_config::SendHook>,
    /// The caller's custom capabilities, for those hooks' `metadata.grants`.
    pub hook_grants: serde_json::Value,
    /// The absolute URL the caller used (query redacted), for those hooks' `metadata.url`.
    pub hook_url: String,
}

impl RecordSlot {
    fn with(&self, f: impl FnOnce(&mut SlotData)) {
        if let Ok(mut d) = self.0.lock() {
            f(&mut d);
        }
    }

    /// Sets who called.
    pub fn identity(&self, identity: RecordIdentity) {
        self.with(|d| d.identity = Some(identity));
    }

    /// Sets the provider, the upstream model and the requested model.
    pub fn route(&self, provider: &str, model: &str, requested: &str) {
        self.with(|d| {
            d.provider = provider.to_string();
            d.model = model.to_string();
            d.requested_model = requested.to_string();
        });
    }

    /// Sets how long the provider took to answer with a head (time the gateway only waited).
    pub fn upstream_wait(&self, wait: Duration) {
        self.with(|d| d.upstream_wait = Some(wait));
    }

    /// Adds time spent waiting for a `pre_request` hook.
    pub fn hook_wait(&self, wait: Duration) {
        self.with(|d| d.hook_wait += wait);
    }

    /// Sets the request body as forwarded.
    pub fn request_body(&self, body: &Bytes) {
        self.with(|d| d.request_body = Some(body.clone()));
    }

    /// Sets the quota buckets the request is charged to after its response.
    pub fn quota_buckets(&self, buckets: Vec<(String, aperture_config::Quota)>) {
        self.with(|d| d.quota_buckets = buckets);
    }

    /// Sets the hooks to call after the response, the caller's custom capabilities and the URL
    /// they called.
    pub fn hooks(
        &self,
        hooks: Vec<aperture_config::SendHook>,
        grants: serde_json::Value,
        url: String,
    ) {
        self.with(|d| {
            d.hooks = hooks;
            d.hook_grants = grants;
            d.hook_url = url;
        });
    }

    /// Reads what was written so far (`None` if the slot is poisoned).
    pub fn peek<R>(&self, f: impl FnOnce(&SlotData) -> R) -> Option<R> {
        self.0.lock().ok().map(|d| f(&d))
    }

    /// Takes what was written, leaving the slot empty.
    pub fn take(&self) -> SlotData {
        self.0
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_slot_and_take_empties_it() {
        let slot = RecordSlot::default();
        let inner = slot.clone();
        inner.route("openai", "gpt-5", "openai/gpt-5");
        inner.identity(RecordIdentity {
            login: "alice".into(),
            ..RecordIdentity::default()
        });
        let data = slot.take();
        assert_eq!(data.provider, "openai");
        assert_eq!(data.requested_model, "openai/gpt-5");
        assert_eq!(data.identity.map(|i| i.login).as_deref(), Some("alice"));
        assert!(slot.take().identity.is_none());
    }
}
