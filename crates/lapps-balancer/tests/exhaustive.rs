//! Exhaustive checks of `Balancer::pick` against the reference model in `support`: for every
//! strategy, every instance count from 1 to 6, every running mask, every connection vector with
//! counts 0..=3 up to four instances (sampled above that), and every cursor position.

mod support;

use lapps_balancer::{Balancer, Load, Strategy};
use support::{STRATEGIES, expected_pick, tied_minimum, up};

/// Checks one load vector under one strategy: from every cursor position the pick is the first
/// tied-minimal running instance at or after the cursor, and repeated picks from a fresh
/// balancer cycle through the tied set in index order.
fn check(strategy: Strategy, loads: &[Load]) {
    let tied = tied_minimum(&strategy, loads);
    for cursor in 0..loads.len() {
        let balancer = Balancer::new(strategy);
        move_cursor(&balancer, loads.len(), cursor);
        let picked = balancer.pick(loads);
        assert_eq!(
            picked,
            expected_pick(&tied, cursor),
            "{strategy:?}, cursor {cursor}, {loads:?}"
        );
        if let Some(index) = picked {
            assert!(loads[index].running);
        }
    }
    let balancer = Balancer::new(strategy);
    let cycle: Vec<_> = (0..=2 * tied.len()).map(|_| balancer.pick(loads)).collect();
    let expected: Vec<_> = if tied.is_empty() {
        vec![None]
    } else {
        (0..cycle.len())
            .map(|k| Some(tied[k % tied.len()]))
            .collect()
    };
    assert_eq!(cycle, expected, "{strategy:?}, {loads:?}");
}

/// Moves a fresh balancer's cursor to `to` through the public API: over `n` equal running
/// instances every strategy picks 0, 1, 2, … in turn.
fn move_cursor(balancer: &Balancer, n: usize, to: usize) {
    let equal = vec![up(1, 1); n];
    for expected in 0..to {
        assert_eq!(balancer.pick(&equal), Some(expected));
    }
}

/// Every vector of `n` entries drawn from `digits`.
fn all_vectors(n: usize, digits: &[usize]) -> Vec<Vec<usize>> {
    let mut vectors = vec![Vec::new()];
    for _ in 0..n {
        vectors = vectors
            .into_iter()
            .flat_map(|prefix| {
                digits.iter().map(move |&d| {
                    let mut v = prefix.clone();
                    v.push(d);
                    v
                })
            })
            .collect();
    }
    vectors
}

fn loads(mask: u32, connections: &[usize], queued: &[usize]) -> Vec<Load> {
    connections
        .iter()
        .zip(queued)
        .enumerate()
        .map(|(i, (&connections, &queued))| Load {
            running: mask & (1 << i) != 0,
            connections,
            queued,
        })
        .collect()
}

/// Queued-event values per instance: all of 0..=3 where the product stays small, fewer where
/// it would not (connections and masks are always complete).
fn queued_digits(n: usize) -> &'static [usize] {
    match n {
        1 | 2 => &[0, 1, 2, 3],
        3 => &[0, 1, 3],
        _ => &[0, 3],
    }
}

#[test]
fn every_load_vector_up_to_four_instances() {
    let mut checked = 0_usize;
    for n in 1..=4 {
        let connection_vectors = all_vectors(n, &[0, 1, 2, 3]);
        let queued_vectors = all_vectors(n, queued_digits(n));
        for &strategy in STRATEGIES {
            for mask in 0..1_u32 << n {
                for connections in &connection_vectors {
                    for queued in &queued_vectors {
                        check(strategy, &loads(mask, connections, queued));
                        checked += 1;
                    }
                }
            }
        }
    }
    // Masks × connection vectors × queued vectors, for n = 1..=4, under 9 strategies.
    assert_eq!(
        checked,
        9 * (2 * 4 * 4 + 4 * 16 * 16 + 8 * 64 * 27 + 16 * 256 * 16)
    );
}

#[test]
fn sampled_load_vectors_for_five_and_six_instances() {
    let mut random = XorShift(0x9e37_79b9_7f4a_7c15);
    for n in 5..=6 {
        for &strategy in STRATEGIES {
            for mask in 0..1_u32 << n {
                for _ in 0..40 {
                    let connections: Vec<_> = (0..n).map(|_| random.below(4)).collect();
                    let queued: Vec<_> = (0..n).map(|_| random.below(4)).collect();
                    check(strategy, &loads(mask, &connections, &queued));
                }
                // Equal loads: the whole running set ties.
                check(strategy, &loads(mask, &vec![2; n], &vec![1; n]));
            }
        }
    }
}

#[test]
fn each_load_field_decides_only_where_the_spec_says() {
    // Instance 1 has fewer connections, instance 0 fewer queued events.
    let loads = [up(3, 0), up(1, 5)];
    let pick = |strategy| Balancer::new(strategy).pick(&loads);
    assert_eq!(pick(Strategy::RoundRobin), Some(0));
    assert_eq!(pick(Strategy::LeastConnections), Some(1));
    // Scores 3 and 6.
    assert_eq!(
        pick(Strategy::Weighted {
            connection_weight: 1.0
        }),
        Some(0)
    );
    // Scores 9 and 8.
    assert_eq!(
        pick(Strategy::Weighted {
            connection_weight: 3.0
        }),
        Some(1)
    );
    // Queued events only.
    assert_eq!(
        pick(Strategy::Weighted {
            connection_weight: 0.0
        }),
        Some(0)
    );
    assert_eq!(
        pick(Strategy::Weighted {
            connection_weight: -5.0
        }),
        Some(0)
    );
    assert_eq!(
        pick(Strategy::Weighted {
            connection_weight: f64::NAN
        }),
        Some(0)
    );
    // Connections first.
    assert_eq!(
        pick(Strategy::Weighted {
            connection_weight: f64::INFINITY
        }),
        Some(1)
    );
}

/// A small deterministic generator, so that the sample is the same on every run.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, bound: u64) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % bound).unwrap_or_default()
    }
}
