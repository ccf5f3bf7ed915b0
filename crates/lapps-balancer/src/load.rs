//! What the balancer knows about one instance.

/// The load figures of one instance of a service, as the server sees them at bind time.
///
/// The server keeps these figures; the balancer only reads them. A slice of `Load`s is indexed
/// like the service's instances, and [`Balancer::pick`](crate::Balancer::pick) answers with an
/// index into that slice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Load {
    /// Whether the instance can take connections. An instance that is starting, stopping or
    /// has failed is never picked.
    pub running: bool,
    /// Connections currently bound to the instance.
    pub connections: usize,
    /// Events waiting in the instance's queue (`queued_events` in spec §1.4).
    pub queued: usize,
}
