//! Named in-process message queues (spec §3.14): many producers, many consumers, each
//! message delivered exactly once, FIFO. Shared by Lua and Rust-native services.

use std::time::Duration;

use crate::{StopSignal, Value};

/// The default capacity of a queue, in messages.
pub const DEFAULT_CAPACITY: usize = 65_536;

/// Every queue of one server, by exact name.
#[derive(Debug, Default)]
pub struct Queues {}

/// One queue.
#[derive(Debug)]
pub struct Queue {}

/// Why `post` failed.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
pub enum PostError {
    /// The queue holds `capacity` messages.
    #[error("queue full")]
    Full,
}

/// Why `recv` returned without a message.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
pub enum RecvError {
    /// The timeout expired.
    #[error("timeout")]
    Timeout,
    /// The receiving instance was asked to stop.
    #[error("stopped")]
    Stopped,
}

/// Why `create` failed.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum CreateError {
    /// An empty name.
    #[error("invalid queue name")]
    EmptyName,
    /// A capacity of 0.
    #[error("invalid capacity")]
    ZeroCapacity,
}

impl Queues {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates the queue `name` with `capacity` (default [`DEFAULT_CAPACITY`]), or returns
    /// the existing one (whose capacity stays).
    ///
    /// # Errors
    ///
    /// An empty name or a zero capacity.
    pub fn create(
        &self,
        name: &str,
        capacity: Option<usize>,
    ) -> Result<std::sync::Arc<Queue>, CreateError> {
        let _ = (name, capacity);
        todo!("issue 4: mqr")
    }
}

impl Queue {
    /// Enqueues `value` without blocking.
    ///
    /// # Errors
    ///
    /// [`PostError::Full`] at capacity.
    pub fn post(&self, value: Value) -> Result<(), PostError> {
        let _ = value;
        todo!("issue 4: mqr")
    }

    /// Takes the oldest message, if any.
    pub fn try_recv(&self) -> Option<Value> {
        todo!("issue 4: mqr")
    }

    /// Waits for a message: forever with `None`, up to `timeout` otherwise (zero: do not
    /// wait), and never past `stop`.
    ///
    /// # Errors
    ///
    /// [`RecvError::Timeout`] or [`RecvError::Stopped`].
    pub async fn recv(
        &self,
        timeout: Option<Duration>,
        stop: &StopSignal,
    ) -> Result<Value, RecvError> {
        let _ = (timeout, stop);
        todo!("issue 4: mqr")
    }

    /// Messages waiting now (the queue-depth metric).
    pub fn len(&self) -> usize {
        todo!("issue 4: mqr")
    }

    /// True when no message waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity, in messages.
    pub fn capacity(&self) -> usize {
        todo!("issue 4: mqr")
    }
}
