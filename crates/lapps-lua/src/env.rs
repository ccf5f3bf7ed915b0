//! What every module of an instance shares.

use std::rc::Rc;
use std::sync::Arc;

use crate::host::Host;
use crate::mqr::Queues;
use crate::stop::StopSignal;

/// The environment of one instance: its identity, its stop signal, the server behind it
/// and the process-wide queues.
pub struct InstanceEnv {
    /// The service name.
    pub service: Arc<str>,
    /// The instance's index, 0 to `instances - 1`.
    pub index: usize,
    /// The process-unique instance ID (spec §1.3).
    pub instance_id: u64,
    /// Fired when the instance is asked to stop.
    pub stop: StopSignal,
    /// The server.
    pub host: Rc<dyn Host>,
    /// The `mqr` queues, shared by every instance of the server.
    pub queues: Arc<Queues>,
}

impl std::fmt::Debug for InstanceEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceEnv")
            .field("service", &self.service)
            .field("index", &self.index)
            .field("instance_id", &self.instance_id)
            .finish_non_exhaustive()
    }
}
