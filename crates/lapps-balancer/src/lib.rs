//! Placement of new connections onto the instances of a service (spec §1.4).
//!
//! A *service* runs several *instances*, each a Lua VM. When a handshake for a reactive service
//! succeeds, lapps binds the connection to one running instance for the connection's whole
//! life; that choice is the *placement*, and this crate makes it. It is pure logic over plain
//! load figures: no IO, no clock, no threads of its own. lapps-server keeps the figures
//! ([`Load`]: running or not, bound connections, queued events) and asks a [`Balancer`] for an
//! index.
//!
//! # Strategies
//!
//! | [`Strategy`] | config name | chooses the running instance with |
//! |---|---|---|
//! | [`RoundRobin`](Strategy::RoundRobin) | `round_robin` (default) | any: the cursor decides |
//! | [`LeastConnections`](Strategy::LeastConnections) | `least_connections` | the fewest bound connections |
//! | [`Weighted`](Strategy::Weighted) | `weighted` | the lowest `connections × connection_weight + queued` |
//!
//! # Guarantees
//!
//! * **Only running instances.** [`Balancer::pick`] returns a running instance of lowest rank
//!   under the strategy, or `None` if no instance is running.
//! * **Fair ties.** Ties are broken round-robin: among the tied instances, the first at or after
//!   the balancer's cursor in index order (wrapping) wins, and the cursor moves just past it.
//!   Equal loads therefore spread evenly, and `round_robin` is exactly this tie-break.
//! * **Any weight works.** The `weighted` strategy accepts every `f64` weight without failing;
//!   see [`Strategy::Weighted`] for what zero, negative, NaN and infinite weights mean.
//! * **Thread-safe.** `pick` takes `&self`; concurrent picks never panic and behave as if they
//!   ran one after another.
//!
//! Affinity (a connection stays on its instance) is the caller's to keep: the balancer is asked
//! once per connection.
//!
//! # Example
//!
//! ```
//! use lapps_balancer::{Balancer, Load, Strategy};
//!
//! let strategy = Strategy::from_name("weighted", 2.0).expect("a known strategy name");
//! let balancer = Balancer::new(strategy);
//! let mut loads = [Load { running: true, connections: 0, queued: 0 }; 3];
//! loads[0].queued = 3; // instance 0 is busy: score 3, the others 0
//!
//! // Each bind adds 2.0 to the chosen instance's score. Ties go round-robin.
//! let mut bound = Vec::new();
//! for _ in 0..5 {
//!     let index = balancer.pick(&loads).expect("instances are running");
//!     loads[index].connections += 1;
//!     bound.push(index);
//! }
//! assert_eq!(bound, [1, 2, 1, 2, 0]);
//! ```

#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod balancer;
mod load;
mod strategy;

pub use balancer::Balancer;
pub use load::Load;
pub use strategy::Strategy;
