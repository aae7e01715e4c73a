//! [`GatewayBuilder`]: the gateway with an embedder's own store, identity sources, checks and
//! layers.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;

use aperture_config::Config;
use aperture_log::store::{SqliteStore, Store};
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service};

use super::{Authorize, Gateway, IdentitySource, InstallKey, Req, Res, Stack, Telemetry};
use crate::compose::{Seams, Shared};
use crate::config_store::ConfigStore;
use crate::error::Error;
use crate::gateway::proxy::ClientCell;

/// Builds a [`Gateway`] with seams for an embedding application.
///
/// ```
/// use std::sync::Arc;
/// use aperture_server::gateway::GatewayBuilder;
///
/// let config = aperture_config::load_str(aperture_config::STARTER_CONFIG, Default::default())
///     .config
///     .unwrap();
/// let store = Arc::new(aperture_log::store::SqliteStore::open_in_memory().unwrap());
/// let gateway = GatewayBuilder::new(Arc::new(config)).store(store).build().unwrap();
/// let service = gateway.service::<http_body_util::Full<bytes::Bytes>>(); // mount anywhere
/// # drop(service);
/// ```
pub struct GatewayBuilder {
    config: Arc<Config>,
    text: String,
    file: Option<PathBuf>,
    persistent: bool,
    store: Option<Arc<dyn Store>>,
    key: Option<InstallKey>,
    seams: Seams,
}

impl std::fmt::Debug for GatewayBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayBuilder")
            .field("file", &self.file)
            .field("persistent", &self.persistent)
            .field("identities", &self.seams.identities.len())
            .field("authorizers", &self.seams.authorizers.len())
            .field("layers", &self.seams.layers.len())
            .finish_non_exhaustive()
    }
}

impl GatewayBuilder {
    /// A builder for `config`: an in-memory request log and an ephemeral install key unless
    /// told otherwise.
    pub fn new(config: Arc<Config>) -> Self {
        Self {
            config,
            text: String::new(),
            file: None,
            persistent: false,
            store: None,
            key: None,
            seams: Seams::default(),
        }
    }

    /// The config's text (shown by `GET /api/config`) and the file it came from: saves write
    /// the file, reloads read it.
    pub fn source(mut self, text: String, file: Option<PathBuf>) -> Self {
        self.text = text;
        self.file = file;
        self
    }

    /// Keeps the request log in `data_dir/aperture.db` and the install key in
    /// `data_dir/install.key` (created owner-only), unless [`GatewayBuilder::store`] or
    /// [`GatewayBuilder::install_key`] say otherwise.
    pub fn persistent(mut self) -> Self {
        self.persistent = true;
        self
    }

    /// The record store: records, rollups and the dashboard's queries go there.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The install key (fingerprints of redacted headers, session hashes).
    pub fn install_key(mut self, key: InstallKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Adds an identity source, asked (in the order added) before the built-in ones.
    pub fn identity(mut self, source: impl IdentitySource) -> Self {
        self.seams.identities.push(Arc::new(source));
        self
    }

    /// Adds a check after routing (in the order added); see [`Authorize`].
    pub fn authorize(mut self, check: impl Authorize) -> Self {
        self.seams.authorizers.push(Arc::new(check));
        self
    }

    /// Adds a tower layer after routing and the checks, just before the proxy (the first
    /// added is the outermost). Its service sees the routed request with every fact as an
    /// extension; a response it makes itself is recorded like any other.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<Stack> + Send + Sync + 'static,
        L::Service:
            Service<Req, Response = Res, Error = Infallible> + Clone + Send + Sync + 'static,
        <L::Service as Service<Req>>::Future: Send + 'static,
    {
        self.seams.layers.push(Arc::new(move |inner: Stack| {
            BoxCloneSyncService::new(layer.layer(inner))
        }));
        self
    }

    /// Builds the gateway: opens the store, starts the record writer, composes the stacks.
    pub fn build(self) -> Result<Gateway, Error> {
        let data_dir = &self.config.gateway.data_dir;
        if self.persistent {
            // The data folder holds prompts, responses and the install key: owner only.
            let mut dirs = std::fs::DirBuilder::new();
            dirs.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut dirs, 0o700);
            dirs.create(data_dir).map_err(|e| {
                Error::Internal(format!(
                    "cannot create data_dir {}: {e}",
                    data_dir.display()
                ))
            })?;
        }
        let db: Arc<dyn Store> = match self.store {
            Some(db) => db,
            None if self.persistent => Arc::new(
                SqliteStore::open(data_dir.join("aperture.db"))
                    .map_err(|e| Error::Internal(e.to_string()))?,
            ),
            None => {
                Arc::new(SqliteStore::open_in_memory().map_err(|e| Error::Internal(e.to_string()))?)
            }
        };
        let key = match self.key {
            Some(key) => key,
            None if self.persistent => {
                let path = data_dir.join("install.key");
                InstallKey::load_or_create(&path).map_err(|e| {
                    Error::Internal(format!("cannot create {}: {e}", path.display()))
                })?
            }
            None => InstallKey::ephemeral(),
        };
        let client = ClientCell::new(&self.config.gateway)?;
        let capture = self.config.gateway.capture;
        // Balances as stored, then fitted to this config (gone quotas dropped, capacities
        // capped). A store that cannot read them fails the start: quotas must not reset.
        let balances = db
            .load_balances()
            .map_err(|e| Error::Internal(format!("cannot read quota balances: {e}")))?;
        let quotas = Arc::new(aperture_log::quota::QuotaBook::load(balances));
        quotas.reconcile(&self.config.quotas);
        let (sink, writer) = aperture_log::store::LogSink::start_with_quotas(
            db.clone(),
            capture.queue_capacity,
            capture.overflow_block,
            Some(quotas.clone()),
        );
        let metrics: Arc<crate::metrics::Metrics> = Arc::default();
        let hooks = Arc::new(super::HookDispatcher::new(
            client.client_for(&self.config.gateway),
            quotas.clone(),
            metrics.clone(),
        ));
        let telemetry = Arc::new(Telemetry {
            sink: Some(sink),
            db: Some(db.clone()),
            metrics,
            key,
            responses: Arc::default(),
            quotas,
            hooks,
        });
        let shared = Shared::new(telemetry.clone(), client, self.seams);
        let store = ConfigStore::new(
            self.config,
            self.text,
            self.file,
            Box::new(move |runtime, store| crate::compose::stacks(runtime, store, &shared)),
        );
        Ok(Gateway {
            stack: crate::compose::outer(store.clone()),
            store,
            telemetry,
            writer: Arc::new(std::sync::Mutex::new(Some(writer))),
            db,
        })
    }
}
