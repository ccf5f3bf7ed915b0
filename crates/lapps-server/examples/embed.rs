//! A Rust program embedding lapps: a Rust-native service of its own beside the built-in echo
//! and a Lua service, and a shutdown the program decides (here: after 60 seconds, or Ctrl-C).
//!
//! Run with: `cargo run -p lapps-server --example embed`
//! then talk to `ws://127.0.0.1:5084/count`: every message is answered with how many messages
//! this instance has seen; `ws://127.0.0.1:5084/shout` answers in upper case, in Lua.

use std::time::Duration;

use async_trait::async_trait;
use lapps_server::lua::LuaService;
use lapps_server::lua_host::Kind;
use lapps_server::service::{ConnectionId, DataKind, Disposition, Inbound, ReactiveService};
use lapps_server::{InstanceContext, Server, ServiceConfig, echo};

/// A Lua service; `LuaService::new(name, kind, apps_dir)` loads `<apps_dir>/<name>/<name>.lua`.
const SHOUT: &str = r"
local shout = {}
function shout.onMessage(handler, opcode, message)
  return ws:send(handler, opcode, message:upper())
end
return shout
";

/// Counts the messages its instance has handled. Instances share nothing, so each of the
/// two instances keeps its own count; `&mut self` needs no lock.
#[derive(Default)]
struct Count {
    seen: u64,
}

#[async_trait(?Send)]
impl ReactiveService for Count {
    async fn on_message(
        &mut self,
        ctx: &InstanceContext,
        conn: ConnectionId,
        _: Inbound,
    ) -> Disposition {
        self.seen += 1;
        let reply = format!(
            "instance {} has seen {} messages",
            ctx.instance(),
            self.seen
        );
        match ctx.send(conn, DataKind::Text, reply.as_bytes()) {
            Ok(()) => Disposition::Keep,
            Err(_) => Disposition::Close,
        }
    }
}

#[tokio::main(flavor = "current_thread")]
#[expect(
    clippy::print_stdout,
    reason = "the example reports its address on stdout"
)]
async fn main() -> Result<(), lapps_server::Error> {
    let server = Server::builder()
        .workers(2)
        .service(echo::service("echo"))
        .service(
            ServiceConfig::new("count", |_| {
                Ok(Box::new(Count::default()) as Box<dyn ReactiveService>)
            })
            .instances(2),
        )
        .service(ServiceConfig::new(
            "shout",
            LuaService::from_source("shout", Kind::Raw, SHOUT),
        ))
        .bind("127.0.0.1:5084")
        .await?;
    println!("listening on {}", server.local_addr());
    let stop = server.shutdown_handle();
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
        stop.shutdown();
    });
    server.await
}
