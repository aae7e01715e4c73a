//! The gateway as tower layers and the stacks composed from them (in `compose.rs`):
//!
//! ```text
//! CatchPanic → RequestId → Classify → Steer ─┬─ inference: Record → CatchPanic → Identify → Route
//!                                            │      → Authorize → [embedder layers] → Proxy
//!                                            └─ admin: Identify → AdminService
//! ```
//!
//! Each layer takes its settings and dependencies in its constructor. The facts learned on
//! the way travel as request extensions of public types: [`Target`], [`RequestId`],
//! [`aperture_log::RecordSlot`], [`aperture_auth::Identity`], `Arc<`[`aperture_auth::Access`]`>`,
//! [`aperture_route::Route`]. Every refusal is an [`Error`] answered in the caller's own API
//! format by [`Error::respond`], so the stack's error type stays `Infallible`.
//!
//! [`GatewayBuilder`] is the way in for an embedding application: its own store, identity
//! sources, checks after routing, and tower layers.

mod access;
mod admin;
mod api;
mod authorize;
mod builder;
mod classify;
mod dash;
pub mod hooks;
mod identify;
mod models;
mod panic;
pub(crate) mod proxy;
pub(crate) mod quota;
mod quota_api;
pub(crate) mod record;
mod route;
mod steer;
mod ui;
pub mod vertex;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use http::{Request, Response};
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt};

pub use access::{AccessLog, AccessLogLayer};
pub use admin::AdminService;
pub use aperture_log::redact::InstallKey;
pub use authorize::{Authorize, AuthorizeFuture, AuthorizeLayer, AuthorizeService};
pub use builder::GatewayBuilder;
pub use classify::{ApiCall, Classify, ClassifyLayer, Target};
pub use hooks::{HookDispatcher, HookLayer, HookService, HookSettings};
pub use identify::{
    CallerInfo, FromTrustedProxy, Identify, IdentifyLayer, IdentifySettings, IdentityFuture,
    IdentitySource,
};
pub use panic::{CatchPanic, CatchPanicFuture, CatchPanicLayer};
pub use proxy::{Proxy, ProxySettings};
pub use quota::{QuotaLayer, QuotaService, QuotaSettings, bucket_name, buckets_for};
pub use record::{Record, RecordLayer, ResponseOrigin, ResponseOrigins, Telemetry};
pub use route::{BufferedBody, RouteLayer, RouteService, RouteSettings};
pub use steer::{RequestIdLayer, SetRequestId, Steer};

pub use crate::error::{Error, GatewayError, native_error};
pub use crate::request_id::RequestId;

use crate::body::{Body, BoxError};
use crate::config_store::ConfigStore;
use crate::runtime::Snapshot;

/// A request inside the stack.
pub type Req = Request<Body>;
/// A response out of the stack.
pub type Res = Response<Body>;
/// The boxed future most layers return.
pub type BoxFut = Pin<Box<dyn Future<Output = Result<Res, Infallible>> + Send>>;

/// The TCP peer of a request, inserted by the server (or by an embedding app).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// A stack (or a part of one) as one cloneable service.
pub type Stack = BoxCloneSyncService<Req, Res, Infallible>;

/// An error answered at once.
pub(crate) fn respond_now(e: Error, target: &Target) -> BoxFut {
    let res = e.respond(target);
    Box::pin(async move { Ok(res) })
}

/// The answer when a layer finds the facts it needs missing: the stack is wired wrong.
pub(crate) fn misconfigured() -> BoxFut {
    respond_now(Error::StackMisconfigured, &Target::Metrics)
}

/// The dashboard's error page (the browser is the caller).
pub(crate) fn ui_error_page(status: http::StatusCode, message: &str) -> Res {
    ui::error_page(status, message)
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
    /// Builds the gateway for `config` with an in-memory request log (not backed by a file:
    /// saves swap the config in memory and `GET /api/config` shows an empty text). See
    /// [`GatewayBuilder`] for everything else.
    pub fn new(config: Arc<aperture_config::Config>) -> Result<Self, Error> {
        GatewayBuilder::new(config).build()
    }

    /// Builds the gateway for `config`, loaded from `text` (read from `file`, if any): saves
    /// write the file and reloads read it. Records go to `data_dir/aperture.db`; the install
    /// key is `data_dir/install.key`.
    pub fn with_source(
        config: Arc<aperture_config::Config>,
        text: String,
        file: Option<std::path::PathBuf>,
    ) -> Result<Self, Error> {
        GatewayBuilder::new(config)
            .source(text, file)
            .persistent()
            .build()
    }

    /// Starts a [`GatewayBuilder`] for `config`.
    pub fn builder(config: Arc<aperture_config::Config>) -> GatewayBuilder {
        GatewayBuilder::new(config)
    }

    /// The record store (for queries).
    pub fn db(&self) -> &Arc<dyn aperture_log::store::Store> {
        &self.db
    }

    /// Applies `database.retention` once: captures older than the duration are purged (tool
    /// data too with `purge: ["captures", "tools"]`); metric rows stay. Returns how many were
    /// purged. Blocking: call it from a blocking thread.
    pub fn purge_expired(&self) -> Result<usize, Error> {
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
            .map_err(|e| Error::Internal(e.to_string()))
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

    /// The config snapshot: the running version's runtime.
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
