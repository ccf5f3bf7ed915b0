//! Shared by the balancer tests: a reference model of spec §1.4, written independently of the
//! crate's ranking code, and small load builders.

use lapps_balancer::{Load, Strategy};

/// Every strategy worth testing: the two plain ones, and `weighted` with ordinary weights
/// (dyadic ones, so that sums are exact and connections tie with queued events) and with each
/// out-of-range weight the crate documents.
pub(crate) const STRATEGIES: &[Strategy] = &[
    Strategy::RoundRobin,
    Strategy::LeastConnections,
    Strategy::Weighted {
        connection_weight: 1.0,
    },
    Strategy::Weighted {
        connection_weight: 0.5,
    },
    Strategy::Weighted {
        connection_weight: 3.0,
    },
    Strategy::Weighted {
        connection_weight: 0.0,
    },
    Strategy::Weighted {
        connection_weight: -1.0,
    },
    Strategy::Weighted {
        connection_weight: f64::NAN,
    },
    Strategy::Weighted {
        connection_weight: f64::INFINITY,
    },
];

/// A running instance.
pub(crate) const fn up(connections: usize, queued: usize) -> Load {
    Load {
        running: true,
        connections,
        queued,
    }
}

/// The score the spec gives an instance, as a pair compared lexicographically: the formula
/// and 0, except under an infinite weight, where it is (connections, queued).
#[expect(clippy::cast_precision_loss, reason = "test counts are small")]
pub(crate) fn score(strategy: &Strategy, load: &Load) -> (f64, f64) {
    let connections = load.connections as f64;
    let queued = load.queued as f64;
    match *strategy {
        Strategy::RoundRobin => (0.0, 0.0),
        Strategy::LeastConnections => (connections, 0.0),
        Strategy::Weighted { connection_weight } if connection_weight.is_nan() => (queued, 0.0),
        Strategy::Weighted { connection_weight } if connection_weight == f64::INFINITY => {
            (connections, queued)
        }
        Strategy::Weighted { connection_weight } => {
            (connections * connection_weight.max(0.0) + queued, 0.0)
        }
    }
}

/// The running instances of minimal score, in index order.
pub(crate) fn tied_minimum(strategy: &Strategy, loads: &[Load]) -> Vec<usize> {
    let scores: Vec<_> = loads
        .iter()
        .map(|load| load.running.then(|| score(strategy, load)))
        .collect();
    let Some(lowest) = scores
        .iter()
        .flatten()
        .copied()
        .reduce(|a, b| if b < a { b } else { a })
    else {
        return Vec::new();
    };
    (0..loads.len())
        .filter(|&i| scores[i] == Some(lowest))
        .collect()
}

/// What the spec says a pick with the cursor at `cursor` returns: the first tied instance at
/// or after the cursor, wrapping.
pub(crate) fn expected_pick(tied: &[usize], cursor: usize) -> Option<usize> {
    tied.iter()
        .copied()
        .find(|&i| i >= cursor)
        .or_else(|| tied.first().copied())
}
