//! The compiled config the hot path uses: routing table and per-provider upstream settings.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aperture_auth::{Access, CredentialStrategy, Identity};
use aperture_config::{ApiKey, Config, HeaderLine, Retention, Url};
use aperture_log::build::{RecordPolicy, Secrets};
use aperture_route::RouteTable;

use crate::tailscale::WhoIsClient;

/// One provider, ready to send to.
#[derive(Debug)]
pub struct Upstream {
    /// Provider id.
    pub id: String,
    /// API root (trailing `/` trimmed).
    pub baseurl: Url,
    /// What `auth_mode` does to credentials.
    pub strategy: CredentialStrategy,
    /// Provider `add_headers`.
    pub add_headers: Vec<HeaderLine>,
    /// A `keyfile::` credential (SPEC.md §2.2): the service account, or why it cannot be
    /// read (requests then get 502).
    pub vertex: Option<
        Result<Arc<crate::gateway::vertex::VertexAuth>, aperture_auth::keyfile::KeyfileError>,
    >,
}

/// Everything a request needs from the config, built once per config version. The compose
/// step derives each layer's settings from it.
#[derive(Debug)]
pub struct Runtime {
    /// The config it was built from.
    pub config: Arc<Config>,
    /// Model → provider.
    pub routes: Arc<RouteTable>,
    /// Routable, enabled providers by id.
    pub upstreams: Arc<HashMap<String, Upstream>>,
    /// Prices: the bundled table with `gateway.price_file` merged over it.
    pub prices: Arc<aperture_log::pricing::PriceTable>,
    /// Every credential in the config, to scrub from stored records (computed once).
    pub secrets: Arc<Secrets>,
    /// Tailscale WhoIs, when `gateway.identity.tailscale` is enabled.
    pub whois: Option<Arc<WhoIsClient>>,
    /// The grants, with each login's evaluation remembered.
    pub grants: Arc<GrantCache>,
}

impl Runtime {
    /// Compiles a validated config.
    pub fn new(config: Arc<Config>) -> Self {
        let upstreams = config
            .providers
            .values()
            .filter(|p| p.routable && !p.disabled)
            .filter_map(|p| {
                let baseurl = p.baseurl.clone()?;
                let host = baseurl.host().unwrap_or_default().to_string();
                Some((
                    p.id.clone(),
                    Upstream {
                        id: p.id.clone(),
                        baseurl,
                        strategy: CredentialStrategy::for_provider(p),
                        add_headers: p.add_headers.clone(),
                        vertex: match &p.apikey {
                            ApiKey::Keyfile(secret) => Some(
                                crate::gateway::vertex::VertexAuth::new(
                                    &p.id,
                                    secret.expose(),
                                    &host,
                                )
                                .map(Arc::new)
                                .inspect_err(|e| {
                                    tracing::warn!(provider = %p.id, error = %e, "unusable keyfile:: credential");
                                }),
                            ),
                            _ => None,
                        },
                    },
                ))
            })
            .collect();
        let whois = config
            .gateway
            .identity
            .tailscale
            .as_ref()
            .map(|t| Arc::new(WhoIsClient::new(t.socket.clone(), t.cache_ttl)));
        let mut prices = aperture_log::pricing::PriceTable::bundled();
        if let Some(path) = &config.gateway.price_file {
            match std::fs::read_to_string(path)
                .map(|t| aperture_log::pricing::PriceTable::from_json(&t))
            {
                Ok(Ok(table)) => prices.merge(table),
                Ok(Err(e)) => tracing::warn!(
                    price_file = %path.display(),
                    error = %e,
                    "price_file cannot be used; using the bundled prices"
                ),
                Err(e) => tracing::warn!(
                    price_file = %path.display(),
                    error = %e,
                    "price_file cannot be read; using the bundled prices"
                ),
            }
        }
        Self {
            routes: Arc::new(RouteTable::new(&config)),
            upstreams: Arc::new(upstreams),
            prices: Arc::new(prices),
            secrets: Arc::new(Secrets(aperture_log::redact::configured_secrets(&config))),
            whois,
            grants: Arc::new(GrantCache::new(config.clone())),
            config,
        }
    }

    /// The grants of `identity`, evaluated once per login and config version.
    pub fn access(&self, identity: &Identity) -> Arc<Access> {
        self.grants.access(identity)
    }

    /// What the record layer keeps and how it prices under this config.
    pub fn record_policy(&self) -> RecordPolicy {
        let config = &self.config;
        let capture = !matches!(config.database.retention, Retention::Never);
        RecordPolicy {
            prices: self.prices.clone(),
            secrets: self.secrets.clone(),
            costs: Arc::new(
                config
                    .providers
                    .values()
                    .map(|p| (p.id.clone(), (p.cost_basis, p.model_cost_map.clone())))
                    .collect(),
            ),
            capture,
            keep_tools: capture || !config.database.purge_tools,
            max_body_bytes: usize::try_from(config.gateway.capture.max_body_bytes)
                .unwrap_or(usize::MAX),
            filterable_headers: config.database.filterable_headers.clone(),
        }
    }
}

/// A config's grants, with each login's evaluation remembered (grants only change with the
/// config, which replaces the whole cache).
#[derive(Debug)]
pub struct GrantCache {
    config: Arc<Config>,
    access: RwLock<HashMap<String, Arc<Access>>>,
}

/// Logins whose access is remembered per config before the cache starts over.
const ACCESS_CACHE_LIMIT: usize = 10_000;

impl GrantCache {
    /// The grants of `config`.
    pub fn new(config: Arc<Config>) -> Self {
        Self {
            config,
            access: RwLock::default(),
        }
    }

    /// The grants of `identity`, evaluated once per login and group set.
    pub fn access(&self, identity: &Identity) -> Arc<Access> {
        if !identity.capabilities.is_empty() {
            // Network grants vary per node: not cached here (the WhoIs answer is).
            return Arc::new(Access::for_identity(&self.config.grants, identity));
        }
        let key = identity_key(identity);
        if let Some(a) = self.access.read().ok().and_then(|m| m.get(&key).cloned()) {
            return a;
        }
        let access = Arc::new(Access::for_identity(&self.config.grants, identity));
        if let Ok(mut m) = self.access.write() {
            if m.len() >= ACCESS_CACHE_LIMIT {
                m.clear();
            }
            m.insert(key, access.clone());
        }
        access
    }
}

/// What grants match on: the login and the groups.
fn identity_key(identity: &Identity) -> String {
    let mut key = identity.login.clone();
    for g in &identity.groups {
        key.push('\n');
        key.push_str(g);
    }
    key
}

/// One config version at work: its runtime and the two stacks composed from it.
#[derive(Debug)]
pub struct Active {
    /// The compiled config.
    pub runtime: Arc<Runtime>,
    /// The stacks composed for it.
    pub(crate) stacks: crate::compose::Stacks,
}

/// The current config version, swapped whole on reload; each request takes one and runs to
/// its end on it.
#[derive(Debug, Clone)]
pub struct Snapshot(Arc<RwLock<Arc<Active>>>);

impl Snapshot {
    /// Starts with `active`.
    pub(crate) fn new(active: Active) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(active))))
    }

    /// The current version.
    pub(crate) fn active(&self) -> Arc<Active> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The current runtime.
    pub fn load(&self) -> Arc<Runtime> {
        self.active().runtime.clone()
    }

    /// Replaces the version; requests already running keep theirs.
    pub(crate) fn store(&self, active: Active) {
        let new = Arc::new(active);
        match self.0.write() {
            Ok(mut g) => *g = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }
}
