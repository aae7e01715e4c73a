//! The gateway as a tower stack (ARCHITECTURE.md "The request path"):
//!
//! ```text
//! SnapshotLayer   one config snapshot and a request id per request; id on every response
//!   ClassifyLayer   path -> Target (inference Endpoint, /v1/models, /api/*); native 400/404/405/501
//!     IdentifyLayer   peer -> Identity + Access (headers, WhoIs, static, loopback); 403 / 503
//!       RouteLayer      body (bounded) -> model -> Route; 400/403/404/413; answers /v1/models, /api/*
//!         Proxy           credentials, headers, upstream URL; pooled client; 502/504; streaming
//! ```
//!
//! Each layer passes what it learned down as request extensions. Every rejection is a response
//! in the caller's own API format, so the stack's error type stays `Infallible`.

mod api;
mod classify;
mod dash;
mod error;
mod identify;
mod models;
mod proxy;
pub(crate) mod record;
mod route;
mod snapshot;
mod ui;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use http::{Request, Response};
use std::sync::Arc;

use aperture_config::Config;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt};

pub use classify::{ApiCall, ClassifyLayer, Target};
pub use error::native_error;
pub use identify::{FromTrustedProxy, IdentifyLayer};
pub use proxy::Proxy;
pub use record::{InstallKey, RecordLayer, ResponseOrigin, ResponseOrigins, Telemetry};
pub use route::RouteLayer;
pub use snapshot::SnapshotLayer;

use crate::body::{Body, BoxError};
use crate::config_store::ConfigStore;
use crate::runtime::{Runtime, Snapshot};
use crate::upstream::UpstreamClient;

/// A request inside the stack.
pub type Req = Request<Body>;
/// A response out of the stack.
pub type Res = Response<Body>;
/// The boxed future every layer returns.
pub type BoxFut = Pin<Box<dyn Future<Output = Result<Res, Infallible>> + Send>>;

/// The TCP peer of a request, inserted by the server (or by an embedding app).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The whole inference stack as one cloneable service.
pub type Stack = BoxCloneSyncService<Req, Res, Infallible>;

/// Composes the stack: snapshot, classify, record, identify, route, proxy.
pub fn stack(store: Arc<ConfigStore>, client: UpstreamClient, telemetry: Arc<Telemetry>) -> Stack {
    let gateway = store.snapshot().load().config.gateway.clone();
    let svc = ServiceBuilder::new()
        .layer(SnapshotLayer::new(store))
        .layer(ClassifyLayer)
        .layer(RecordLayer::new(telemetry))
        .layer(IdentifyLayer)
        .layer(RouteLayer)
        .service(Proxy::new(client, &gateway));
    BoxCloneSyncService::new(svc)
}

/// The gateway, ready to mount: the config store (snapshot, reloads, saves) and the stack.
///
/// The service expects a [`PeerAddr`] extension on each request (the server inserts it; an
/// embedding app copies it from its connection info); requests without one are treated as
/// coming from an unknown peer.
#[derive(Clone)]
pub struct Gateway {
    store: Arc<ConfigStore>,
    stack: Stack,
    telemetry: Arc<Telemetry>,
    writer: Arc<std::sync::Mutex<Option<aperture_log::store::WriterHandle>>>,
    db: Arc<dyn aperture_log::store::Store>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Builds the gateway for `config` (not backed by a file: saves swap the config in memory
    /// and `GET /api/config` shows an empty text).
    pub fn new(config: Arc<Config>) -> Result<Self, String> {
        let db = aperture_log::store::SqliteStore::open_in_memory().map_err(|e| e.to_string())?;
        Self::build(
            config,
            String::new(),
            None,
            Arc::new(db),
            InstallKey::ephemeral(),
        )
    }

    /// Builds the gateway for `config`, loaded from `text` (read from `file`, if any): saves
    /// write the file and reloads read it. Records go to `data_dir/aperture.db`; the install
    /// key is `data_dir/install.key`.
    pub fn with_source(
        config: Arc<Config>,
        text: String,
        file: Option<std::path::PathBuf>,
    ) -> Result<Self, String> {
        let data_dir = config.gateway.data_dir.clone();
        // The data folder holds prompts, responses and the install key: owner only.
        let mut dirs = std::fs::DirBuilder::new();
        dirs.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dirs, 0o700);
        dirs.create(&data_dir)
            .map_err(|e| format!("cannot create data_dir {}: {e}", data_dir.display()))?;
        let db = aperture_log::store::SqliteStore::open(data_dir.join("aperture.db"))
            .map_err(|e| e.to_string())?;
        let key_path = data_dir.join("install.key");
        let key = InstallKey::load_or_create(&key_path)
            .map_err(|e| format!("cannot create {}: {e}", key_path.display()))?;
        Self::build(config, text, file, Arc::new(db), key)
    }

    fn build(
        config: Arc<Config>,
        text: String,
        file: Option<std::path::PathBuf>,
        db: Arc<dyn aperture_log::store::Store>,
        key: InstallKey,
    ) -> Result<Self, String> {
        let client = crate::upstream::build_client(&config.gateway)?;
        let capture = config.gateway.capture;
        let (sink, writer) = aperture_log::store::LogSink::start(
            db.clone(),
            capture.queue_capacity,
            capture.overflow_block,
        );
        let telemetry = Arc::new(Telemetry {
            sink: Some(sink),
            db: Some(db.clone()),
            metrics: crate::metrics::Metrics::default(),
            key,
            responses: record::ResponseOrigins::default(),
        });
        let store = Arc::new(ConfigStore::new(Runtime::new(config), text, file));
        Ok(Self {
            stack: stack(store.clone(), client, telemetry.clone()),
            store,
            telemetry,
            writer: Arc::new(std::sync::Mutex::new(Some(writer))),
            db,
        })
    }

    /// The record store (for queries).
    pub fn db(&self) -> &Arc<dyn aperture_log::store::Store> {
        &self.db
    }

    /// Applies `database.retention` once: captures older than the duration are purged (tool
    /// data too with `purge: ["captures", "tools"]`); metric rows stay. Returns how many were
    /// purged. Blocking: call it from a blocking thread.
    pub fn purge_expired(&self) -> Result<usize, String> {
        let config = self.snapshot().load().config.clone();
        let aperture_config::Retention::For(keep) = config.database.retention else {
            return Ok(0);
        };
        if config.database.require_export {
            // Nothing is exported yet, so nothing may be purged.
            return Ok(0);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let cutoff = now - keep.as_millis() as i64;
        self.db
            .purge(cutoff, config.database.purge_tools)
            .map_err(|e| e.to_string())
    }

    /// The request log's queue and the metrics.
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    /// Drains the record queue into the database and stops the writer (at shutdown). Blocks
    /// while it drains: call it from a blocking thread.
    pub fn shutdown_log(&self) {
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(w) = writer {
            w.shutdown();
        }
    }

    /// The config snapshot; [`Snapshot::store`] swaps in a new config for new requests.
    pub fn snapshot(&self) -> &Snapshot {
        self.store.snapshot()
    }

    /// The config store: reloads, saves, the running text.
    pub fn store(&self) -> &Arc<ConfigStore> {
        &self.store
    }

    /// The stack over the gateway's own body type.
    pub fn stack(&self) -> Stack {
        self.stack.clone()
    }

    /// The stack over any request body, for mounting in another app (axum, tonic, hyper).
    pub fn service<B>(
        &self,
    ) -> impl Service<Request<B>, Response = Res, Error = Infallible, Future: Send>
    + Clone
    + Send
    + Sync
    + 'static
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.stack
            .clone()
            .map_request(|req: Request<B>| req.map(crate::body::boxed))
    }
}
