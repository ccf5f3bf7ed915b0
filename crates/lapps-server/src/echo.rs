//! The built-in raw echo service.

use async_trait::async_trait;

use crate::builder::ServiceConfig;
use crate::instance::InstanceContext;
use crate::service::{ConnectionId, Disposition, Inbound, ReactiveService};

/// Echoes every message with its own opcode, as the `echo` example of spec §9.1 does: a send
/// that is refused (for example with backpressure) closes the connection with 1011.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

#[async_trait(?Send)]
impl ReactiveService for Echo {
    async fn on_message(
        &mut self,
        ctx: &InstanceContext,
        conn: ConnectionId,
        message: Inbound,
    ) -> Disposition {
        match ctx.send(conn, message.kind, &message.data) {
            Ok(()) => Disposition::Keep,
            Err(_) => Disposition::Close,
        }
    }
}

/// Returns the echo service as `name`, at `/<name>`.
pub fn service(name: &str) -> ServiceConfig {
    ServiceConfig::new(name, |_| Ok(Box::new(Echo) as Box<dyn ReactiveService>))
}
