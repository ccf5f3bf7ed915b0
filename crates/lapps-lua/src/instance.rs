//! Loading a service into a VM and calling its callbacks (spec §3.2, §3.4, §3.5).

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use lapps_proto::lapps::MsgType;
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, VmState};

use crate::env::InstanceEnv;
use crate::host::DataKind;
use crate::modules;
use crate::{StopSignal, Value};

/// LuaJIT's built-in `package.path` (luaconf.h `LUA_PATH_DEFAULT` with the `/usr/local`
/// prefix of the vendored build): where `;;` in `LUA_PATH` points, and the last part of every
/// service's path (spec §3.1).
pub const DEFAULT_LUA_PATH: &str = "./?.lua;/usr/local/share/luajit-2.1/?.lua;\
                                    /usr/local/share/lua/5.1/?.lua;/usr/local/share/lua/5.1/?/init.lua";

/// The protocol of a reactive service, as far as Lua is concerned.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Kind {
    /// `onMessage(handler, opcode, message)`.
    Raw,
    /// `onMessage(handler, msg_type, request)`, with `bcast`.
    Lapps,
    /// `init` and `run`, with `bcast` and `must_stop`.
    Standalone,
}

/// What the loader needs to know about a service (spec §3.2).
#[derive(Clone, Debug)]
pub struct ServiceSpec {
    /// The service name: module name, file stem, global and directory name.
    pub name: String,
    /// The kind of service.
    pub kind: Kind,
    /// The applications directory; the service lives in `<apps>/<name>/`.
    pub apps_dir: PathBuf,
    /// The other configured services, whose directories join the module path (spec §3.1).
    pub others: Vec<String>,
    /// `preload`: the optional modules to expose (spec §3.6). Unknown names are ignored here;
    /// the configuration warned about them.
    pub preload: Vec<String>,
    /// `LUA_PATH`, as read from the environment (`None` when unset).
    pub lua_path: Option<String>,
    /// `LUA_CPATH`, as read from the environment (`None` when unset).
    pub lua_cpath: Option<String>,
    /// The module's source, for services built into the binary: `require` finds it before
    /// any file (through `package.preload`).
    pub source: Option<Arc<str>>,
}

impl ServiceSpec {
    /// The service's own directory, `<apps>/<name>`.
    pub fn dir(&self) -> PathBuf {
        self.apps_dir.join(&self.name)
    }

    /// `package.path` for the service (spec §3.1): its own directory, `LUA_PATH` with `;;`
    /// expanded, the other services' directories, then the default path unless `LUA_PATH`
    /// already included it.
    pub fn package_path(&self) -> String {
        let mut parts = dir_patterns(&self.apps_dir, &self.name);
        let mut has_default = false;
        if let Some(lua_path) = self.lua_path.as_deref().filter(|p| !p.is_empty()) {
            if lua_path.contains(";;") {
                has_default = true;
                parts.push(lua_path.replacen(";;", &format!(";{DEFAULT_LUA_PATH};"), 1));
            } else {
                parts.push(lua_path.to_owned());
            }
        }
        for other in self.others.iter().filter(|o| **o != self.name) {
            parts.extend(dir_patterns(&self.apps_dir, other));
        }
        if !has_default {
            parts.push(DEFAULT_LUA_PATH.to_owned());
        }
        let joined = parts.join(";");
        // `;;` expansion at either end leaves an empty entry behind; drop it.
        joined.trim_matches(';').replace(";;", ";")
    }
}

fn dir_patterns(apps: &Path, name: &str) -> Vec<String> {
    let dir = apps.join(name);
    let dir = dir.display();
    vec![format!("{dir}/?.lua"), format!("{dir}/?/init.lua")]
}

/// Why an instance could not be loaded or started; the service start fails (spec §3.2).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A Lua error while loading: syntax, a runtime error in the module body, or an error
    /// raised by `onStart` or `init`; the text carries the traceback.
    #[error("service {service}: {message}")]
    Lua {
        /// The service.
        service: String,
        /// The error and its traceback.
        message: String,
    },
    /// `require` did not return a table.
    #[error("service {service}: module {service} must return a table, got {got}")]
    NotATable {
        /// The service.
        service: String,
        /// The Lua type it returned.
        got: String,
    },
    /// A required callback is missing.
    #[error("service {service}: {service}.{function} must be a function")]
    MissingCallback {
        /// The service.
        service: String,
        /// The callback, e.g. `onMessage`.
        function: &'static str,
    },
}

/// Checks what can be checked of a service without running it (`lapps check`): its module
/// file `<apps>/<name>/<name>.lua` (or `<apps>/<name>/<name>/init.lua`) exists and compiles.
///
/// # Errors
///
/// A [`LoadError::Lua`] naming the file: missing, unreadable, or a syntax error.
pub fn check(spec: &ServiceSpec) -> Result<(), LoadError> {
    let fail = |message: String| LoadError::Lua {
        service: spec.name.clone(),
        message,
    };
    let (code, chunk) = if let Some(source) = &spec.source {
        (source.to_string(), format!("{}.lua", spec.name))
    } else {
        let dir = spec.dir();
        let file = dir.join(format!("{}.lua", spec.name));
        // The two places `require` looks first: `<dir>/?.lua` and `<dir>/?/init.lua`.
        let file = if file.exists() {
            file
        } else {
            dir.join(&spec.name).join("init.lua")
        };
        let code = std::fs::read_to_string(&file).map_err(|e| {
            fail(format!(
                "cannot read {}: {e}",
                dir.join(format!("{}.lua", spec.name)).display()
            ))
        })?;
        (code, file.display().to_string())
    };
    let lua = Lua::new();
    lua.load(code)
        .set_name(format!("@{chunk}"))
        .into_function()
        .map(drop)
        .map_err(|e| fail(e.to_string()))
}

/// A callback that raised; the text has the Lua error and its traceback.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CallError(pub String);

impl From<mlua::Error> for CallError {
    fn from(error: mlua::Error) -> Self {
        Self(error.to_string())
    }
}

/// One instance of a Lua service: its VM, its module table and its callbacks.
pub struct LuaInstance {
    lua: Lua,
    env: Rc<InstanceEnv>,
    kind: Kind,
    on_message: Option<Function>,
    on_start: Option<Function>,
    on_disconnect: Option<Function>,
    on_shutdown: Option<Function>,
    init: Option<Function>,
    run: Option<Function>,
    /// Call callbacks as coroutines: only when an async module (`nap`, `mqr`) is loaded.
    async_calls: bool,
    interrupt: Arc<AtomicBool>,
}

impl std::fmt::Debug for LuaInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LuaInstance")
            .field("env", &self.env)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Creates a VM with every standard library, LuaJIT's `bit`, `ffi` and `jit` included.
#[expect(
    unsafe_code,
    reason = "docs/decisions/0003: services are trusted code (spec §3.1)"
)]
fn new_vm() -> Lua {
    // SAFETY: `unsafe_new_with` is unsafe only because the VM may load C modules and use
    // `ffi` and `debug`, which can break memory safety from Lua. Spec §3.1 requires those
    // libraries (LAppS services use `ffi`), and services are trusted code, like the binary.
    unsafe { Lua::unsafe_new_with(StdLib::ALL, LuaOptions::default()) }
}

impl LuaInstance {
    /// Loads one instance (spec §3.2 steps 1–6): the VM, `package.path`, the globals, the
    /// module, and the callback check. The start callback (`onStart` or `init`) is
    /// [`start`](Self::start).
    ///
    /// # Errors
    ///
    /// A [`LoadError`] naming the service: a Lua error with its traceback, a module that is
    /// not a table, or a missing callback.
    pub fn load(spec: &ServiceSpec, env: InstanceEnv) -> Result<Self, LoadError> {
        let lua = new_vm();
        let env = Rc::new(env);
        let interrupt = Arc::new(AtomicBool::new(false));
        let lua_error = |e: mlua::Error| LoadError::Lua {
            service: spec.name.clone(),
            message: e.to_string(),
        };
        let async_calls = spec.preload.iter().any(|m| m == "nap" || m == "mqr");
        globals(&lua, spec, &env).map_err(lua_error)?;
        if spec.kind == Kind::Standalone {
            interrupt_hook(&lua, &interrupt).map_err(lua_error)?;
            // LuaJIT's compiled code never calls hooks, so a compiled `run` loop that ignores
            // `must_stop()` could not be interrupted (spec §3.5 step 4). Standalone VMs
            // therefore start interpreted; `jit.on()` opts back in (docs/decisions/0004).
            lua.load("jit.off()").exec().map_err(lua_error)?;
        }
        if let Some(source) = &spec.source {
            preload_source(&lua, &spec.name, source).map_err(lua_error)?;
        }
        let require: Function = lua.globals().get("require").map_err(lua_error)?;
        let module: mlua::Value = require.call(spec.name.as_str()).map_err(lua_error)?;
        let mlua::Value::Table(module) = module else {
            return Err(LoadError::NotATable {
                service: spec.name.clone(),
                // LuaJIT's integers are numbers to Lua (mlua names them apart).
                got: match module {
                    mlua::Value::Integer(_) => "number".to_owned(),
                    other => other.type_name().to_owned(),
                },
            });
        };
        lua.globals()
            .set(spec.name.as_str(), &module)
            .map_err(lua_error)?;
        let callback =
            |name: &'static str, required: bool| -> Result<Option<Function>, LoadError> {
                match module.get::<mlua::Value>(name).map_err(lua_error)? {
                    mlua::Value::Function(f) => Ok(Some(f)),
                    mlua::Value::Nil if !required => Ok(None),
                    _ => Err(LoadError::MissingCallback {
                        service: spec.name.clone(),
                        function: name,
                    }),
                }
            };
        let mut instance = Self {
            lua,
            env: Rc::clone(&env),
            kind: spec.kind,
            on_message: None,
            on_start: None,
            on_disconnect: None,
            on_shutdown: None,
            init: None,
            run: None,
            async_calls,
            interrupt,
        };
        if spec.kind == Kind::Standalone {
            instance.init = callback("init", true)?;
            instance.run = callback("run", true)?;
        } else {
            instance.on_message = callback("onMessage", true)?;
            instance.on_start = callback("onStart", false)?;
            instance.on_disconnect = callback("onDisconnect", false)?;
            instance.on_shutdown = callback("onShutdown", false)?;
        }
        Ok(instance)
    }

    /// The instance's environment.
    pub fn env(&self) -> &InstanceEnv {
        &self.env
    }

    /// The VM, for embedders and tests.
    pub fn lua(&self) -> &Lua {
        &self.lua
    }

    /// Step 7 of spec §3.2: `onStart()` for reactive services, `init()` for standalone ones.
    ///
    /// # Errors
    ///
    /// The error the callback raised; the service start fails.
    pub async fn start(&self) -> Result<(), CallError> {
        let f = if self.kind == Kind::Standalone {
            self.init.as_ref()
        } else {
            self.on_start.as_ref()
        };
        match f {
            Some(f) => self.call::<()>(f, ()).await,
            None => Ok(()),
        }
    }

    /// `onMessage(handler, opcode, message)` for a raw message. Returns `false` when the
    /// callback returned `false` (close with 1011), `true` otherwise.
    ///
    /// # Errors
    ///
    /// The error the callback raised.
    pub async fn on_message_raw(
        &self,
        handler: u64,
        kind: DataKind,
        data: &[u8],
    ) -> Result<bool, CallError> {
        let Some(f) = &self.on_message else {
            return Ok(true);
        };
        let message = self.lua.create_string(data)?;
        let result: mlua::Value = self
            .call(
                f,
                (handler_number(handler), f64::from(kind.opcode()), message),
            )
            .await?;
        Ok(!matches!(result, mlua::Value::Boolean(false)))
    }

    /// `onMessage(handler, msg_type, request)` for a valid LAppS message. Returns `false`
    /// when the callback returned `false`.
    ///
    /// # Errors
    ///
    /// The error the callback raised. Whether it answered first (then no −32603 follows)
    /// is for the host to tell: it sees every `cid` 0 message through
    /// [`Host::send_lapps`](crate::Host::send_lapps).
    pub async fn on_message_lapps(
        &self,
        handler: u64,
        msg_type: MsgType,
        request: Value,
    ) -> Result<bool, CallError> {
        let Some(f) = &self.on_message else {
            return Ok(true);
        };
        let doc = modules::nljson::document(&self.lua, request)?;
        let result: mlua::Value = self
            .call(f, (handler_number(handler), f64::from(msg_type as u8), doc))
            .await?;
        Ok(!matches!(result, mlua::Value::Boolean(false)))
    }

    /// `onDisconnect(handler)`.
    ///
    /// # Errors
    ///
    /// The error the callback raised.
    pub async fn on_disconnect(&self, handler: u64) -> Result<(), CallError> {
        match &self.on_disconnect {
            Some(f) => self.call::<()>(f, handler_number(handler)).await,
            None => Ok(()),
        }
    }

    /// `onShutdown()`.
    ///
    /// # Errors
    ///
    /// The error the callback raised.
    pub async fn on_shutdown(&self) -> Result<(), CallError> {
        match &self.on_shutdown {
            Some(f) => self.call::<()>(f, ()).await,
            None => Ok(()),
        }
    }

    /// `run()` of a standalone service; it should loop until `must_stop()`.
    ///
    /// # Errors
    ///
    /// The error `run` raised, including `instance stopped` after
    /// [`interrupter`](Self::interrupter) was set.
    pub async fn run(&self) -> Result<(), CallError> {
        match &self.run {
            Some(f) => self.call::<()>(f, ()).await,
            None => Ok(()),
        }
    }

    /// A handle that makes a running standalone instance raise `instance stopped` from
    /// inside Lua, repeatedly (spec §3.5 step 4). It may be used from any thread.
    pub fn interrupter(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.interrupt)
    }

    async fn call<R: mlua::FromLuaMulti>(
        &self,
        f: &Function,
        args: impl mlua::IntoLuaMulti,
    ) -> Result<R, CallError> {
        if self.async_calls {
            Ok(f.call_async(args).await?)
        } else {
            Ok(f.call(args)?)
        }
    }
}

/// The last resort of a stop (spec §3.5 step 4): once `flag` is set, raise
/// `instance stopped` inside Lua, again every 10,000 instructions.
fn interrupt_hook(lua: &Lua, flag: &Arc<AtomicBool>) -> mlua::Result<()> {
    let flag = Arc::clone(flag);
    lua.set_global_hook(
        HookTriggers::new().every_nth_instruction(10_000),
        move |_, _| {
            if flag.load(Ordering::Relaxed) {
                Err(mlua::Error::runtime("instance stopped"))
            } else {
                Ok(VmState::Continue)
            }
        },
    )
}

/// Makes `require(name)` find `source` first, for services built into the binary.
fn preload_source(lua: &Lua, name: &str, source: &str) -> mlua::Result<()> {
    let loader = lua
        .load(source)
        .set_name(format!("@{name}.lua"))
        .into_function()?;
    let package: Table = lua.globals().get("package")?;
    let preload: Table = package.get("preload")?;
    preload.set(name, loader)
}

#[expect(
    clippy::cast_precision_loss,
    reason = "handlers are below 2^53 (spec §3.3)"
)]
fn handler_number(handler: u64) -> f64 {
    handler as f64
}

/// Replaces `coroutine.create`, `coroutine.wrap` and `coroutine.yield` (see `globals`).
const YIELD_GUARD: &str = r#"
local create, resume, yield, running = coroutine.create, coroutine.resume, coroutine.yield,
  coroutine.running
local error, select, unpack = error, select, unpack
local ours = setmetatable({}, { __mode = "k" })
coroutine.create = function(f)
  local co = create(f)
  ours[co] = true
  return co
end
local function pass(ok, ...)
  if not ok then error((...), 0) end
  return ...
end
coroutine.wrap = function(f)
  local co = coroutine.create(f)
  return function(...) return pass(resume(co, ...)) end
end
local getinfo = debug.getinfo
coroutine.yield = function(...)
  local co = running()
  -- mlua's async functions (nap, mqr) wait by yielding from their own poll loop.
  if co == nil or not (ours[co] or getinfo(2, "S").source == "=__mlua_async_poll") then
    error("attempt to yield across the host boundary (a callback cannot yield)", 2)
  end
  return yield(...)
end
"#;

/// Steps 1–4 of spec §3.2 after the VM exists.
fn globals(lua: &Lua, spec: &ServiceSpec, env: &Rc<InstanceEnv>) -> mlua::Result<()> {
    let g = lua.globals();
    let package: Table = g.get("package")?;
    package.set("path", spec.package_path())?;
    if let Some(cpath) = &spec.lua_cpath {
        package.set("cpath", cpath.as_str())?;
    }
    // os.getenv("LAPPS_APPS_DIR") answers even in embedded servers that never set it.
    let os: Table = g.get("os")?;
    let getenv: Function = os.get("getenv")?;
    let apps = spec.apps_dir.display().to_string();
    os.set(
        "getenv",
        lua.create_function(move |lua, args: MultiValue| {
            if let Some(mlua::Value::String(name)) = args.front()
                && name.as_bytes().as_ref() == b"LAPPS_APPS_DIR"
            {
                return Ok(mlua::Value::String(lua.create_string(&apps)?));
            }
            getenv.call::<mlua::Value>(args)
        })?,
    )?;
    // Spec §3.1: coroutines are free inside an instance, but a callback must not yield
    // across the host boundary. Coroutines made by the service are remembered; a yield from
    // any other thread (the callback's own) is an error in that callback.
    lua.load(YIELD_GUARD).set_name("=lapps").exec()?;
    g.set("nljson", modules::nljson::install(lua, env)?)?;
    for name in &spec.preload {
        match name.as_str() {
            "nap" => g.set("nap", modules::nap::install(lua, env)?)?,
            "time" => g.set("time", modules::time::install(lua)?)?,
            "murmur" => g.set("murmur", modules::murmur::install(lua)?)?,
            "mqr" => g.set("mqr", modules::mqr::install(lua, env)?)?,
            // Spec §3.6: naming a module this build lacks fails the service's start.
            "cws" | "pam_auth" => {
                return Err(mlua::Error::runtime(format!(
                    "preload: module {name} is not available in this lapps build"
                )));
            }
            _ => {}
        }
    }
    if spec.kind != Kind::Standalone {
        g.set("ws", modules::ws::install(lua, env)?)?;
    }
    if spec.kind != Kind::Raw {
        g.set("bcast", modules::bcast::install(lua, env)?)?;
    }
    if spec.kind == Kind::Standalone {
        let stop: StopSignal = env.stop.clone();
        g.set(
            "must_stop",
            lua.create_function(move |_, ()| Ok(stop.is_stopped()))?,
        )?;
    }
    g.set("instance_id", env.instance_id.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::{DEFAULT_LUA_PATH, Kind, ServiceSpec};

    fn spec(lua_path: Option<&str>) -> ServiceSpec {
        ServiceSpec {
            name: "echo".to_owned(),
            kind: Kind::Raw,
            apps_dir: PathBuf::from("/apps"),
            others: vec!["echo".to_owned(), "other".to_owned()],
            preload: Vec::new(),
            lua_path: lua_path.map(str::to_owned),
            lua_cpath: None,
            source: None,
        }
    }

    #[test]
    fn package_path_without_lua_path() {
        assert_eq!(
            spec(None).package_path(),
            format!(
                "/apps/echo/?.lua;/apps/echo/?/init.lua;/apps/other/?.lua;/apps/other/?/init.lua;{DEFAULT_LUA_PATH}"
            )
        );
    }

    #[test]
    fn package_path_lua_path_without_default() {
        assert_eq!(
            spec(Some("/x/?.lua")).package_path(),
            format!(
                "/apps/echo/?.lua;/apps/echo/?/init.lua;/x/?.lua;/apps/other/?.lua;/apps/other/?/init.lua;{DEFAULT_LUA_PATH}"
            )
        );
    }

    #[test]
    fn package_path_double_semicolon_expands_once() {
        assert_eq!(
            spec(Some("/x/?.lua;;")).package_path(),
            format!(
                "/apps/echo/?.lua;/apps/echo/?/init.lua;/x/?.lua;{DEFAULT_LUA_PATH};/apps/other/?.lua;/apps/other/?/init.lua"
            )
        );
        assert_eq!(
            spec(Some(";;/y/?.lua")).package_path(),
            format!(
                "/apps/echo/?.lua;/apps/echo/?/init.lua;{DEFAULT_LUA_PATH};/y/?.lua;/apps/other/?.lua;/apps/other/?/init.lua"
            )
        );
    }

    #[test]
    fn default_path_is_luajits() {
        if std::env::var_os("LUA_PATH").is_some() {
            return; // LuaJIT would have read it; the comparison below needs the built-in
        }
        let lua = super::new_vm();
        let path: String = lua.load("return package.path").eval().unwrap_or_default();
        assert_eq!(path, DEFAULT_LUA_PATH);
    }
}
