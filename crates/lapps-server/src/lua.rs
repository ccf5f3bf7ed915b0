//! Lua services: the [`lapps_lua`] host plugged into the server's service traits.
//!
//! Each instance is a LuaJIT VM built on the thread where it lives (a worker for reactive
//! services, its own thread for standalone ones). Its modules reach connections, channels and
//! queues through the instance's [`InstanceContext`].

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use async_trait::async_trait;
use bytes::Bytes;
use lapps_lua::{InstanceEnv, Kind, LappsSendError, LuaInstance, ServiceSpec};

use crate::builder::ServiceConfig;
use crate::config::{Config, Protocol, ServiceSettings};
use crate::instance::InstanceContext;
use crate::service::{
    ConnectionId, DataKind, Disposition, Inbound, ReactiveService, Request, SendError,
    ServiceError, ServiceFactory, Value,
};
use crate::standalone::{StandaloneConfig, StandaloneFactory, StandaloneService};

/// A Lua service's code and loading rules; a factory for its instances.
#[derive(Clone, Debug)]
pub struct LuaService {
    spec: Arc<ServiceSpec>,
}

impl LuaService {
    /// A service `name` whose code is `<apps_dir>/<name>/<name>.lua` (spec §3.2).
    pub fn new(name: impl Into<String>, kind: Kind, apps_dir: impl Into<PathBuf>) -> Self {
        Self {
            spec: Arc::new(ServiceSpec {
                name: name.into(),
                kind,
                apps_dir: apps_dir.into(),
                others: Vec::new(),
                preload: Vec::new(),
                lua_path: std::env::var("LUA_PATH").ok(),
                lua_cpath: std::env::var("LUA_CPATH").ok(),
                source: None,
            }),
        }
    }

    /// A service whose module source is given here rather than read from a file.
    pub fn from_source(name: impl Into<String>, kind: Kind, source: impl Into<Arc<str>>) -> Self {
        let mut service = Self::new(name, kind, PathBuf::new());
        Arc::make_mut(&mut service.spec).source = Some(source.into());
        service
    }

    /// Sets the `preload` list (spec §3.6).
    #[must_use]
    pub fn preload(mut self, modules: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Arc::make_mut(&mut self.spec).preload = modules.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the other services whose directories join `package.path` (spec §3.1).
    #[must_use]
    pub fn others(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Arc::make_mut(&mut self.spec).others = names.into_iter().map(Into::into).collect();
        self
    }

    /// The loading rules.
    pub fn spec(&self) -> &ServiceSpec {
        &self.spec
    }

    fn load(&self, ctx: &InstanceContext) -> Result<LuaInstance, ServiceError> {
        let env = InstanceEnv {
            service: Arc::from(ctx.service()),
            index: ctx.instance(),
            instance_id: ctx.instance_id(),
            stop: ctx.stop_signal().clone(),
            host: Rc::new(ContextHost(ctx.clone())),
            queues: Arc::clone(ctx.queues()),
        };
        Ok(LuaInstance::load(&self.spec, env)?)
    }
}

impl ServiceFactory for LuaService {
    fn create(&self, ctx: &InstanceContext) -> Result<Box<dyn ReactiveService>, ServiceError> {
        Ok(Box::new(Reactive(self.load(ctx)?)))
    }
}

impl StandaloneFactory for LuaService {
    fn create(&self, ctx: &InstanceContext) -> Result<Box<dyn StandaloneService>, ServiceError> {
        Ok(Box::new(Standalone(self.load(ctx)?)))
    }
}

/// The configured services as Lua services (spec §2.6): reactive ones to serve at their
/// request targets, standalone ones to run.
pub fn services_from_config(config: &Config) -> (Vec<ServiceConfig>, Vec<StandaloneConfig>) {
    let apps = &config.directories.applications;
    let names: Vec<String> = config.services.keys().cloned().collect();
    let mut reactive = Vec::new();
    let mut standalone = Vec::new();
    for (name, settings) in &config.services {
        let kind = kind_of(settings);
        let service = LuaService::new(name.as_str(), kind, apps)
            .preload(settings.preload.iter().cloned())
            .others(names.iter().cloned());
        if settings.standalone {
            standalone.push(
                StandaloneConfig::new(name.as_str(), service)
                    .instances(settings.instances)
                    .auto_start(settings.auto_start)
                    .depends(settings.depends.iter().cloned()),
            );
        } else {
            reactive.push(ServiceConfig::from_settings(name, settings, service));
        }
    }
    (reactive, standalone)
}

/// The services of the built-in default configuration (the `lapps` binary without a
/// configuration): the example apps `echo` at `/echo` (raw, 4 instances), `echo_lapps` at
/// `/echo_lapps` (LAppS, 2 instances) and the standalone `time_broadcast` and
/// `broadcast_blob` it depends on. Their code is compiled into the binary.
pub fn builtin_services() -> (Vec<ServiceConfig>, Vec<StandaloneConfig>) {
    const ECHO: &str = include_str!("../../../examples/apps/echo/echo.lua");
    const ECHO_LAPPS: &str = include_str!("../../../examples/apps/echo_lapps/echo_lapps.lua");
    const TIME_BROADCAST: &str =
        include_str!("../../../examples/apps/time_broadcast/time_broadcast.lua");
    const BROADCAST_BLOB: &str =
        include_str!("../../../examples/apps/broadcast_blob/broadcast_blob.lua");
    let reactive = vec![
        ServiceConfig::new("echo", LuaService::from_source("echo", Kind::Raw, ECHO)).instances(4),
        ServiceConfig::new(
            "echo_lapps",
            LuaService::from_source("echo_lapps", Kind::Lapps, ECHO_LAPPS)
                .preload(["time", "murmur"]),
        )
        .protocol(Protocol::LAppS)
        .instances(2)
        .max_message_size(2 << 20)
        .depends(["time_broadcast", "broadcast_blob"]),
    ];
    let standalone = vec![
        StandaloneConfig::new(
            "time_broadcast",
            LuaService::from_source("time_broadcast", Kind::Standalone, TIME_BROADCAST)
                .preload(["nap"]),
        ),
        StandaloneConfig::new(
            "broadcast_blob",
            LuaService::from_source("broadcast_blob", Kind::Standalone, BROADCAST_BLOB)
                .preload(["nap", "time"]),
        ),
    ];
    (reactive, standalone)
}

/// Checks every configured service's Lua module without running it (`lapps check`): the
/// file exists and compiles. Returns one message per failing service.
pub fn check_config(config: &Config) -> Vec<String> {
    let apps = &config.directories.applications;
    config
        .services
        .iter()
        .filter_map(|(name, settings)| {
            let service = LuaService::new(name.as_str(), kind_of(settings), apps);
            lapps_lua::instance::check(service.spec())
                .err()
                .map(|e| e.to_string())
        })
        .collect()
}

fn kind_of(settings: &ServiceSettings) -> Kind {
    if settings.standalone {
        Kind::Standalone
    } else if settings.protocol == Protocol::LAppS {
        Kind::Lapps
    } else {
        Kind::Raw
    }
}

/// The server as the Lua modules see it.
struct ContextHost(InstanceContext);

impl lapps_lua::Host for ContextHost {
    fn send(&self, handler: u64, kind: DataKind, data: &[u8]) -> Result<(), SendError> {
        // `ws:send` checked text as UTF-8 already: once per message is enough.
        self.0.send_checked(ConnectionId(handler), kind, data)
    }

    fn send_lapps(&self, handler: u64, message: &Value) -> Result<(), LappsSendError> {
        // Through the context, which notes a `cid` 0 answer for the −32603 rule.
        self.0.send_lapps(ConnectionId(handler), message)
    }

    fn send_lapps_encoded(
        &self,
        handler: u64,
        payload: &[u8],
        answer: bool,
    ) -> Result<(), SendError> {
        // Checked by `ws:send` already; noted as `send_lapps` notes a `cid` 0 answer.
        let conn = ConnectionId(handler);
        self.0.send_checked(conn, DataKind::Binary, payload)?;
        if answer {
            self.0.answered(conn);
        }
        Ok(())
    }

    fn close(&self, handler: u64, code: u16, reason: &str) -> Result<(), SendError> {
        self.0.close(ConnectionId(handler), code, reason)
    }

    fn bcast_create(&self, id: u64) {
        self.0.bcast_create(id);
    }

    fn bcast_subscribe(&self, id: u64, handler: u64) -> Result<(), SendError> {
        self.0.bcast_subscribe(id, ConnectionId(handler))
    }

    fn bcast_unsubscribe(&self, id: u64, handler: u64) -> Result<(), SendError> {
        self.0.bcast_unsubscribe(id, ConnectionId(handler))
    }

    fn bcast_send(&self, id: u64, payload: Bytes) -> Result<(), SendError> {
        self.0.bcast_send_encoded(id, &payload)
    }
}

struct Reactive(LuaInstance);

#[async_trait(?Send)]
impl ReactiveService for Reactive {
    async fn on_start(&mut self, _: &InstanceContext) -> Result<(), ServiceError> {
        Ok(self.0.start().await?)
    }

    async fn on_message(
        &mut self,
        ctx: &InstanceContext,
        conn: ConnectionId,
        message: Inbound,
    ) -> Disposition {
        match self
            .0
            .on_message_raw(conn.get(), message.kind, &message.data)
            .await
        {
            Ok(true) => Disposition::Keep,
            Ok(false) => Disposition::Close,
            Err(error) => {
                // Spec §3.4: a raised error closes this connection with 1011, nothing more.
                ctx.report_error("onMessage", Some(conn), &error.0);
                Disposition::Close
            }
        }
    }

    async fn on_request(
        &mut self,
        _: &InstanceContext,
        conn: ConnectionId,
        request: Request,
    ) -> Result<Disposition, ServiceError> {
        match self
            .0
            .on_message_lapps(conn.get(), request.msg_type, request.message)
            .await
        {
            Ok(true) => Ok(Disposition::Keep),
            Ok(false) => Ok(Disposition::Close),
            Err(error) => Err(error.into()),
        }
    }

    async fn on_disconnect(&mut self, ctx: &InstanceContext, conn: ConnectionId) {
        if let Err(error) = self.0.on_disconnect(conn.get()).await {
            ctx.report_error("onDisconnect", Some(conn), &error.0);
        }
    }

    async fn on_shutdown(&mut self, ctx: &InstanceContext) {
        if let Err(error) = self.0.on_shutdown().await {
            ctx.report_error("onShutdown", None, &error.0);
        }
    }
}

struct Standalone(LuaInstance);

#[async_trait(?Send)]
impl StandaloneService for Standalone {
    async fn init(&mut self, _: &InstanceContext) -> Result<(), ServiceError> {
        Ok(self.0.start().await?)
    }

    async fn run(&mut self, _: &InstanceContext) -> Result<(), ServiceError> {
        Ok(self.0.run().await?)
    }

    fn interrupter(&self) -> Option<Arc<AtomicBool>> {
        Some(self.0.interrupter())
    }
}
