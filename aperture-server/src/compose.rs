//! The one place a config becomes stacks.
//!
//! ```text
//! outer (built once):   CatchPanic → RequestId → Classify → Steer
//!                                                             │ one config version per request
//!   inference (per version): Record → CatchPanic → Identify → Route → Quota → Authorize
//!                            → Hooks → [embedder layers] → Proxy
//!   admin     (per version): AccessLog → Identify → AdminService
//!                            (/v1/models, /api/*, /ui/, /metrics)
//! ```
//!
//! `/`, `/healthz` and `/api/hello` are answered by the server before the stack (no identity
//! needed). Each reload composes new per-version stacks from the new config; a request runs to
//! its end on the stacks it started with. Layers get their settings and dependencies here, in
//! their constructors, and read nothing else of the config.

use std::sync::{Arc, Weak};

use tower::ServiceBuilder;
use tower::util::BoxCloneSyncService;

use crate::config_store::ConfigStore;
use crate::gateway::proxy::ClientCell;
use crate::gateway::{
    AccessLogLayer, AdminService, Authorize, AuthorizeLayer, CatchPanicLayer, ClassifyLayer,
    HookLayer, HookSettings, IdentifyLayer, IdentifySettings, IdentitySource, Proxy, ProxySettings,
    QuotaLayer, QuotaSettings, RecordLayer, RequestIdLayer, RouteLayer, RouteSettings, Stack,
    Steer, Telemetry,
};
use crate::runtime::Runtime;

/// The two stacks of one config version.
#[derive(Debug)]
pub(crate) struct Stacks {
    /// Inference requests.
    pub(crate) inference: Stack,
    /// Everything else the gateway answers.
    pub(crate) admin: Stack,
}

/// An embedder's layer, applied between the authorize checks and the proxy.
pub(crate) type LayerFn = Arc<dyn Fn(Stack) -> Stack + Send + Sync>;

/// What an embedder added to the stacks with the builder.
#[derive(Clone, Default)]
pub(crate) struct Seams {
    /// Identity sources asked before the built-in ones.
    pub(crate) identities: Vec<Arc<dyn IdentitySource>>,
    /// Checks after routing.
    pub(crate) authorizers: Vec<Arc<dyn Authorize>>,
    /// Layers after the checks, outermost first.
    pub(crate) layers: Vec<LayerFn>,
}

/// What lives across config versions.
pub(crate) struct Shared {
    /// The request log, metrics, response origins.
    pub(crate) telemetry: Arc<Telemetry>,
    /// The upstream client (and its connection pool).
    pub(crate) client: ClientCell,
    /// The embedder's additions.
    pub(crate) identities: Arc<[Arc<dyn IdentitySource>]>,
    pub(crate) authorizers: Arc<[Arc<dyn Authorize>]>,
    pub(crate) layers: Vec<LayerFn>,
}

impl Shared {
    pub(crate) fn new(telemetry: Arc<Telemetry>, client: ClientCell, seams: Seams) -> Self {
        Self {
            telemetry,
            client,
            identities: seams.identities.into(),
            authorizers: seams.authorizers.into(),
            layers: seams.layers,
        }
    }
}

/// The stacks for one config version.
pub(crate) fn stacks(rt: Arc<Runtime>, store: Weak<ConfigStore>, shared: &Shared) -> Stacks {
    // Balances follow the config: buckets of removed quotas vanish, capacities cap.
    shared.telemetry.quotas.reconcile(&rt.config.quotas);
    // Hooks' URLs, keys and timeouts follow the config; their queues live on.
    shared.telemetry.hooks.configure(&rt.config.hooks);
    let metrics = shared.telemetry.metrics.clone();
    // Who is calling (the embedder's sources, trusted headers, WhoIs, static table, loopback)
    // and what their grants allow; refuses unknown callers, callers without a role,
    // cross-site browser requests and foreign hosts.
    let identify = IdentifyLayer::new(
        IdentifySettings::from_runtime(&rt),
        shared.identities.clone(),
        metrics,
    );

    // Innermost first: the proxy (credentials by auth_mode, upstream URL, pooled client,
    // timeouts, streaming), then the embedder's layers around it.
    let proxy = Proxy::new(
        shared.client.client_for(&rt.config.gateway),
        ProxySettings::from_runtime(&rt),
    );
    let mut after_checks: Stack = BoxCloneSyncService::new(proxy);
    for layer in shared.layers.iter().rev() {
        after_checks = layer(after_checks);
    }

    let inference = ServiceBuilder::new()
        // Every inference request gets a record when its response ends, refusals included;
        // the layers below fill its slot.
        .layer(RecordLayer::new(
            shared.telemetry.clone(),
            rt.record_policy(),
        ))
        // A panic below is a recorded 500 in the caller's format.
        .layer(CatchPanicLayer::new())
        .layer(identify.clone())
        // The model (body, bounded, or path) → a granted provider; 400/403/404/413.
        .layer(RouteLayer::new(
            RouteSettings::from_runtime(&rt),
            shared.telemetry.responses.clone(),
        ))
        // Quota buckets for the routed model must be positive; 429 with Retry-After.
        .layer(QuotaLayer::new(
            QuotaSettings::from_runtime(&rt),
            shared.telemetry.quotas.clone(),
            shared.telemetry.metrics.clone(),
        ))
        // The embedder's checks; refusals are native.
        .layer(AuthorizeLayer::new(shared.authorizers.clone()))
        // pre_request hooks (allow, block, modify); post-response ones go to the record.
        .layer(HookLayer::new(
            HookSettings::from_runtime(&rt),
            shared.telemetry.clone(),
        ))
        .service(after_checks);

    let admin = ServiceBuilder::new()
        // One access line per request (inference requests get theirs from the record).
        .layer(AccessLogLayer::new())
        .layer(identify)
        .service(AdminService::new(rt, shared.telemetry.clone(), store));

    Stacks {
        inference: BoxCloneSyncService::new(inference),
        admin: BoxCloneSyncService::new(admin),
    }
}

/// The outer stack, the same for every config version.
pub(crate) fn outer(store: Arc<ConfigStore>) -> Stack {
    let svc = ServiceBuilder::new()
        // A panic anywhere becomes a 500 and the gateway keeps serving.
        .layer(CatchPanicLayer::new())
        // A request id on the request (for the record) and on every response.
        .layer(RequestIdLayer::new())
        // The path → Target; unknown paths get their native 404/405/400/501 here.
        .layer(ClassifyLayer::new())
        // The running config version's inference stack or admin service.
        .service(Steer::new(store));
    BoxCloneSyncService::new(svc)
}
