//! The per-service balancer: a strategy plus the round-robin cursor.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::Load;
use crate::strategy::{Rank, Strategy};

/// Binds connections to the instances of one service (spec §1.4).
///
/// One `Balancer` serves one service. It holds the [`Strategy`] and a cursor that the
/// round-robin tie-break moves; it holds no load figures, which the caller passes to each
/// [`pick`](Self::pick). It is `Send + Sync`: `pick` takes `&self` and may be called from
/// several threads at once.
#[derive(Debug, Default)]
pub struct Balancer {
    strategy: Strategy,
    /// Where the next tie-break starts its search: one past the last pick. Read modulo the
    /// number of instances, so a service that changes its instance count needs no reset.
    cursor: AtomicUsize,
}

impl Balancer {
    /// Creates a balancer whose cursor starts at instance 0.
    pub fn new(strategy: Strategy) -> Self {
        Self {
            strategy,
            cursor: AtomicUsize::new(0),
        }
    }

    /// Returns the strategy this balancer applies.
    pub fn strategy(&self) -> &Strategy {
        &self.strategy
    }

    /// Chooses the instance to bind a new connection to: an index into `loads`, or `None` when
    /// no instance is running (including when `loads` is empty).
    ///
    /// The choice is a running instance of lowest rank under the strategy. Among the tied
    /// lowest, it is the first at or after the cursor in index order, wrapping past the end;
    /// the cursor then moves just past the chosen index. So repeated picks over unchanged loads
    /// cycle through the tied instances in index order.
    ///
    /// Picks from several threads are safe and never fail. Each pick chooses and moves the
    /// cursor in one atomic step (it retries if another pick moved the cursor in between), so
    /// concurrent picks over the same loads behave as if they ran one after another.
    ///
    /// ```
    /// use lapps_balancer::{Balancer, Load, Strategy};
    ///
    /// let up = |connections| Load { running: true, connections, queued: 0 };
    /// let balancer = Balancer::new(Strategy::LeastConnections);
    /// let loads = [up(2), up(1), Load::default(), up(1)];
    /// // Instances 1 and 3 tie; instance 2 is not running.
    /// assert_eq!(balancer.pick(&loads), Some(1));
    /// assert_eq!(balancer.pick(&loads), Some(3));
    /// assert_eq!(balancer.pick(&loads), Some(1));
    /// assert_eq!(balancer.pick(&[Load::default()]), None);
    /// ```
    pub fn pick(&self, loads: &[Load]) -> Option<usize> {
        if loads.is_empty() {
            return None;
        }
        let mut chosen = None;
        // On `None` from the closure (nothing running) the cursor stays and `chosen` is `None`.
        let _ = self
            .cursor
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cursor| {
                chosen = self.choose(loads, cursor % loads.len());
                // Not reduced modulo the length: if the instance count grows, the next
                // search still starts just past this pick.
                chosen.map(|index| index + 1)
            });
        chosen
    }

    /// The first running instance of lowest rank, searching from `start` and wrapping.
    fn choose(&self, loads: &[Load], start: usize) -> Option<usize> {
        let (before, from) = loads.split_at(start);
        let in_search_order = (start..).zip(from).chain((0..).zip(before));
        let mut best: Option<(usize, Rank)> = None;
        for (index, load) in in_search_order {
            if !load.running {
                continue;
            }
            let rank = self.strategy.rank(load);
            // Strictly lower only: on a tie the earlier one in search order stays.
            if best.is_none_or(|(_, lowest)| rank < lowest) {
                best = Some((index, rank));
            }
        }
        best.map(|(index, _)| index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn up(connections: usize, queued: usize) -> Load {
        Load {
            running: true,
            connections,
            queued,
        }
    }

    const DOWN: Load = Load {
        running: false,
        connections: 0,
        queued: 0,
    };

    fn picks(balancer: &Balancer, loads: &[Load], n: usize) -> Vec<Option<usize>> {
        (0..n).map(|_| balancer.pick(loads)).collect()
    }

    #[test]
    fn is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Balancer>();
    }

    #[test]
    fn nothing_to_pick() {
        for strategy in [
            Strategy::RoundRobin,
            Strategy::LeastConnections,
            Strategy::Weighted {
                connection_weight: 1.0,
            },
        ] {
            let balancer = Balancer::new(strategy);
            assert_eq!(balancer.pick(&[]), None);
            assert_eq!(balancer.pick(&[DOWN, DOWN, DOWN]), None);
            // A failed pick leaves the cursor where it was.
            assert_eq!(balancer.pick(&[up(0, 0), up(0, 0)]), Some(0));
        }
    }

    #[test]
    fn round_robin_skips_instances_that_are_not_running() {
        let balancer = Balancer::new(Strategy::RoundRobin);
        let loads = [up(9, 9), DOWN, up(0, 0), DOWN];
        assert_eq!(
            picks(&balancer, &loads, 5),
            [Some(0), Some(2), Some(0), Some(2), Some(0)]
        );
    }

    #[test]
    fn cursor_survives_a_change_of_instance_count() {
        let balancer = Balancer::new(Strategy::RoundRobin);
        let six = [up(0, 0); 6];
        assert_eq!(picks(&balancer, &six, 5).last(), Some(&Some(4)));
        // The cursor (5) read modulo 3 is 2.
        assert_eq!(picks(&balancer, &six[..3], 2), [Some(2), Some(0)]);
    }

    #[test]
    fn weighted_prefers_the_idle_queue() {
        let balancer = Balancer::new(Strategy::Weighted {
            connection_weight: 1.0,
        });
        // Scores 5, 3, 4.
        assert_eq!(balancer.pick(&[up(1, 4), up(2, 1), up(0, 4)]), Some(1));
    }

    #[test]
    fn strategy_is_kept() {
        let strategy = Strategy::Weighted {
            connection_weight: 3.0,
        };
        assert_eq!(Balancer::new(strategy).strategy(), &strategy);
        assert_eq!(Balancer::default().strategy(), &Strategy::RoundRobin);
    }
}
