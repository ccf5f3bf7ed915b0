//! The placement strategies of spec §1.4 and how each one ranks an instance.

use std::fmt;

use crate::Load;

/// How a [`Balancer`](crate::Balancer) chooses among the running instances of a service.
///
/// Each strategy ranks every running instance; the balancer binds to one with the lowest rank,
/// and breaks ties round-robin. The variants follow the spec table (not the alphabet), with
/// the default, `round_robin`, first.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Strategy {
    /// `round_robin`: every running instance ranks the same, so the round-robin tie-break is
    /// the whole choice: a cursor cycles through the instances in index order, skipping those
    /// that are not running.
    #[default]
    RoundRobin,
    /// `least_connections`: the instance with the fewest bound connections.
    LeastConnections,
    /// `weighted`: the instance with the lowest score
    /// `connections × connection_weight + queued` (spec §1.4).
    ///
    /// The score is computed in `f64` as `connections as f64 * w + queued as f64`, and two
    /// instances tie when their scores are equal as `f64`s. The weight `w` is read as follows,
    /// so that no weight can make a pick fail or prefer a busier instance:
    ///
    /// * **positive and finite:** as written. The configuration only admits these.
    /// * **zero:** bound connections do not count; only queued events do.
    /// * **negative or NaN:** treated as zero. A negative weight would prefer instances with
    ///   *more* connections, and NaN has no order; zero is the nearest weight that means
    ///   neither.
    /// * **+∞:** connections dominate: the instance with the fewest connections wins and
    ///   queued events only break ties between equal connection counts. (Computed naively, an
    ///   idle instance would score ∞ × 0 = NaN.)
    ///
    /// A huge finite weight can overflow a score to +∞; such instances tie with each other.
    Weighted {
        /// Weight of one bound connection against one queued event (`connection_weight` in
        /// `ws.json`, default 1.0).
        connection_weight: f64,
    },
}

impl Strategy {
    /// Parses a strategy by its configuration name (`balancer` in spec §2.4 and §2.6):
    /// `"round_robin"`, `"least_connections"` or `"weighted"`. `connection_weight` is used by
    /// `weighted` only. Returns `None` for any other name; names are case-sensitive.
    ///
    /// ```
    /// use lapps_balancer::Strategy;
    ///
    /// assert_eq!(Strategy::from_name("least_connections", 1.0), Some(Strategy::LeastConnections));
    /// assert_eq!(
    ///     Strategy::from_name("weighted", 2.5),
    ///     Some(Strategy::Weighted { connection_weight: 2.5 })
    /// );
    /// assert_eq!(Strategy::from_name("random", 1.0), None);
    /// ```
    pub fn from_name(name: &str, connection_weight: f64) -> Option<Self> {
        match name {
            "round_robin" => Some(Self::RoundRobin),
            "least_connections" => Some(Self::LeastConnections),
            "weighted" => Some(Self::Weighted { connection_weight }),
            _ => None,
        }
    }

    /// Returns the configuration name of the strategy, as accepted by
    /// [`from_name`](Self::from_name).
    pub fn name(&self) -> &'static str {
        match self {
            Self::RoundRobin => "round_robin",
            Self::LeastConnections => "least_connections",
            Self::Weighted { .. } => "weighted",
        }
    }

    /// Ranks one instance: lower is better, equal ranks tie.
    pub(crate) fn rank(&self, load: &Load) -> Rank {
        match *self {
            Self::RoundRobin => Rank::default(),
            Self::LeastConnections => Rank {
                connections: load.connections,
                ..Rank::default()
            },
            Self::Weighted { connection_weight } => weighted_rank(connection_weight, load),
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The rank of an instance, compared field by field (the derived `PartialOrd` is
/// lexicographic in declaration order). `score` is never NaN, so any two ranks are ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub(crate) struct Rank {
    score: f64,
    connections: usize,
    queued: usize,
}

/// The `weighted` rank, with the weight read as documented on [`Strategy::Weighted`].
#[expect(
    clippy::cast_precision_loss,
    reason = "the spec's score is a double; counts above 2^53 are not reachable"
)]
fn weighted_rank(connection_weight: f64, load: &Load) -> Rank {
    if connection_weight == f64::INFINITY {
        // The limit of a growing weight: connections first, then queued events.
        return Rank {
            connections: load.connections,
            queued: load.queued,
            ..Rank::default()
        };
    }
    // `!(w >= 0)` catches NaN as well as negative weights. A finite weight times a count is
    // never NaN, so neither is the score (an overflow gives +inf, which still compares).
    let weight = if connection_weight >= 0.0 {
        connection_weight
    } else {
        0.0
    };
    Rank {
        score: load.connections as f64 * weight + load.queued as f64,
        ..Rank::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(connections: usize, queued: usize) -> Load {
        Load {
            running: true,
            connections,
            queued,
        }
    }

    #[test]
    fn names_round_trip() {
        for strategy in [
            Strategy::RoundRobin,
            Strategy::LeastConnections,
            Strategy::Weighted {
                connection_weight: 0.75,
            },
        ] {
            assert_eq!(Strategy::from_name(strategy.name(), 0.75), Some(strategy));
            assert_eq!(strategy.to_string(), strategy.name());
        }
        assert_eq!(Strategy::default(), Strategy::RoundRobin);
    }

    #[test]
    fn unknown_names_are_refused() {
        for name in [
            "",
            "Round_Robin",
            "round-robin",
            "least",
            "weighted ",
            "random",
        ] {
            assert_eq!(Strategy::from_name(name, 1.0), None, "{name:?}");
        }
    }

    #[test]
    #[expect(
        clippy::float_cmp,
        reason = "small integers and a dyadic weight: sums are exact"
    )]
    fn weighted_score_follows_the_formula() {
        let strategy = Strategy::Weighted {
            connection_weight: 2.5,
        };
        assert_eq!(strategy.rank(&load(4, 3)).score, 13.0);
        assert_eq!(strategy.rank(&load(0, 0)).score, 0.0);
        // 2 connections at 2.5 tie with 5 queued events.
        assert_eq!(strategy.rank(&load(2, 0)), strategy.rank(&load(0, 5)));
    }

    #[test]
    fn negative_and_nan_weights_count_as_zero() {
        for connection_weight in [0.0, -0.0, -1.0, f64::NEG_INFINITY, f64::NAN] {
            let strategy = Strategy::Weighted { connection_weight };
            assert_eq!(strategy.rank(&load(7, 2)), strategy.rank(&load(0, 2)));
            assert!(strategy.rank(&load(9, 1)) < strategy.rank(&load(0, 2)));
        }
    }

    #[test]
    fn infinite_weight_orders_by_connections_then_queued() {
        let strategy = Strategy::Weighted {
            connection_weight: f64::INFINITY,
        };
        assert!(strategy.rank(&load(0, 1000)) < strategy.rank(&load(1, 0)));
        assert!(strategy.rank(&load(1, 0)) < strategy.rank(&load(1, 1)));
        assert_eq!(strategy.rank(&load(3, 2)), strategy.rank(&load(3, 2)));
    }

    #[test]
    fn overflowing_scores_tie_at_infinity() {
        let strategy = Strategy::Weighted {
            connection_weight: f64::MAX,
        };
        assert_eq!(strategy.rank(&load(2, 0)), strategy.rank(&load(3, 9)));
        assert!(strategy.rank(&load(1, 9)) < strategy.rank(&load(2, 0)));
    }
}
