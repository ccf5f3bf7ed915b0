//! Simulated binds: each pick bumps the chosen instance's connection count, as the server
//! does, and the final spread is checked exactly. Also concurrent picks from several threads.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use lapps_balancer::{Balancer, Load, Strategy};
use proptest::prelude::*;
use support::{STRATEGIES, expected_pick, score, tied_minimum, up};

/// Binds `binds` connections: each pick is checked against the reference model (tracking the
/// cursor the spec describes) and then counted on the chosen instance. Returns the picks.
fn simulate(strategy: Strategy, loads: &mut [Load], binds: usize) -> Vec<usize> {
    let balancer = Balancer::new(strategy);
    let mut cursor = 0;
    let mut picked = Vec::with_capacity(binds);
    for _ in 0..binds {
        let tied = tied_minimum(&strategy, loads);
        let pick = balancer.pick(loads);
        assert_eq!(
            pick,
            expected_pick(&tied, cursor),
            "{strategy:?}, {loads:?}"
        );
        let Some(index) = pick else { break };
        cursor = (index + 1) % loads.len();
        loads[index].connections += 1;
        picked.push(index);
    }
    picked
}

fn connections(loads: &[Load]) -> Vec<usize> {
    loads.iter().map(|load| load.connections).collect()
}

fn running(mask: &[bool]) -> impl Iterator<Item = usize> + '_ {
    (0..mask.len()).filter(|&i| mask[i])
}

/// From equal loads, `binds` picks leave every running instance with `binds / r` connections,
/// plus one for the first `binds % r` running instances in index order.
fn even_spread(mask: &[bool], binds: usize) -> Vec<usize> {
    let r = mask.iter().filter(|&&up| up).count();
    let mut spread = vec![0; mask.len()];
    for (k, i) in running(mask).enumerate() {
        spread[i] = binds / r + usize::from(k < binds % r);
    }
    spread
}

fn with_mask(mask: &[bool], load: impl Fn(usize) -> Load) -> Vec<Load> {
    (0..mask.len())
        .map(|i| Load {
            running: mask[i],
            ..load(i)
        })
        .collect()
}

#[test]
fn round_robin_spreads_400_binds_as_100_each() {
    let mut loads = [up(0, 0); 4];
    let picked = simulate(Strategy::RoundRobin, &mut loads, 400);
    assert_eq!(connections(&loads), [100, 100, 100, 100]);
    assert_eq!(picked[..6], [0, 1, 2, 3, 0, 1]);
}

#[test]
fn round_robin_ignores_load() {
    let mut loads = [up(50, 9), up(0, 0), Load::default(), up(7, 100)];
    simulate(Strategy::RoundRobin, &mut loads, 300);
    assert_eq!(connections(&loads), [150, 100, 0, 107]);
}

#[test]
fn least_connections_fills_the_emptiest_first() {
    let mut loads = [up(5, 0), up(0, 0), up(2, 0), up(5, 0)];
    let picked = simulate(Strategy::LeastConnections, &mut loads, 10);
    // 1 up to 2 connections alone, then 1 and 2 in turn up to 5, then all four in turn from
    // the cursor, which is just past instance 1.
    assert_eq!(picked, [1, 1, 2, 1, 2, 1, 2, 1, 2, 3]);
    assert_eq!(connections(&loads), [5, 5, 6, 6]);
}

#[test]
fn weighted_avoids_the_instance_with_queued_events() {
    // Instance 0 has 10 queued events: the others fill up to score 10 before it gets any.
    for (connection_weight, binds, spread) in [
        (1.0, 30, [0, 10, 10, 10]),
        (1.0, 34, [1, 11, 11, 11]),
        (2.0, 15, [0, 5, 5, 5]),
        (2.0, 19, [1, 6, 6, 6]),
        (0.5, 60, [0, 20, 20, 20]),
        (0.5, 61, [1, 20, 20, 20]),
        (3.0, 12, [0, 4, 4, 4]),
        // Score 12 at instances 1–3 against 10 + 3 at instance 0 after 13 binds.
        (3.0, 13, [1, 4, 4, 4]),
    ] {
        let strategy = Strategy::Weighted { connection_weight };
        let mut loads = [up(0, 10), up(0, 0), up(0, 0), up(0, 0)];
        simulate(strategy, &mut loads, binds);
        assert_eq!(connections(&loads), spread, "weight {connection_weight}");
    }
}

#[test]
fn weighted_with_zero_weight_goes_by_queued_events_only() {
    let mut loads = [up(0, 2), up(0, 0), up(0, 1), up(0, 0)];
    let picked = simulate(
        Strategy::Weighted {
            connection_weight: 0.0,
        },
        &mut loads,
        10,
    );
    assert_eq!(picked, [1, 3, 1, 3, 1, 3, 1, 3, 1, 3]);
}

#[test]
fn weighted_with_infinite_weight_is_least_connections_then_queued() {
    let mut loads = [up(1, 0), up(0, 3), up(0, 2), up(1, 1)];
    let picked = simulate(
        Strategy::Weighted {
            connection_weight: f64::INFINITY,
        },
        &mut loads,
        6,
    );
    // Idle 2 (2 queued) before idle 1 (3 queued); then all at one connection: 0, 3, 2, 1 by
    // queued events (0, 1, 2, 3).
    assert_eq!(picked, [2, 1, 0, 3, 2, 1]);
}

#[test]
fn concurrent_picks_are_serialised() {
    const THREADS: usize = 4;
    const PICKS: usize = 2500;
    let balancer = Balancer::new(Strategy::RoundRobin);
    let loads = [up(0, 0), Load::default(), up(0, 0), up(0, 0), up(0, 0)];
    let counts: [AtomicUsize; 5] = Default::default();
    thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..PICKS {
                    // A failed pick counts on instance 1, which is not running.
                    let index = balancer.pick(&loads).unwrap_or(1);
                    counts[index].fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let counts: Vec<_> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    assert_eq!(counts, [2500, 0, 2500, 2500, 2500]);
}

#[test]
fn concurrent_picks_over_changing_loads_stay_on_minimal_running_instances() {
    let strategy = Strategy::Weighted {
        connection_weight: 1.0,
    };
    let balancer = Balancer::new(strategy);
    let failed = AtomicBool::new(false);
    thread::scope(|scope| {
        for thread in 0..4 {
            let (balancer, failed) = (&balancer, &failed);
            scope.spawn(move || {
                for round in 0..2000 {
                    // Each thread sees its own loads; they share only the cursor.
                    let loads = with_mask(&[round % 3 != 0, true, thread % 2 == 0], |i| {
                        up((round + i) % 4, (thread + i) % 3)
                    });
                    let tied = tied_minimum(&strategy, &loads);
                    if !balancer.pick(&loads).is_some_and(|i| tied.contains(&i)) {
                        failed.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert!(!failed.load(Ordering::Relaxed));
}

proptest! {
    #[test]
    fn loads_that_change_between_picks_follow_the_model(
        strategy in prop::sample::select(STRATEGIES.to_vec()),
        rounds in prop::collection::vec(
            prop::collection::vec((any::<bool>(), 0..4_usize, 0..4_usize), 1..=6),
            1..50,
        ),
    ) {
        // The server's figures change freely between binds (and so may the instance count);
        // the cursor carries over, read modulo the current count.
        let balancer = Balancer::new(strategy);
        let mut cursor = 0;
        for round in rounds {
            let loads: Vec<_> = round
                .iter()
                .map(|&(running, connections, queued)| Load { running, connections, queued })
                .collect();
            let pick = balancer.pick(&loads);
            let tied = tied_minimum(&strategy, &loads);
            prop_assert_eq!(pick, expected_pick(&tied, cursor % loads.len()), "{:?}", loads);
            if let Some(index) = pick {
                cursor = index + 1;
            }
        }
    }

    #[test]
    fn least_connections_from_equal_loads_spreads_evenly(
        mask in prop::collection::vec(any::<bool>(), 1..=8),
        binds in 0..400_usize,
    ) {
        let mut loads = with_mask(&mask, |_| up(0, 0));
        let picked = simulate(Strategy::LeastConnections, &mut loads, binds);
        if mask.contains(&true) {
            prop_assert_eq!(connections(&loads), even_spread(&mask, binds));
            let counts: Vec<_> = running(&mask).map(|i| loads[i].connections).collect();
            let (min, max) = (counts.iter().min(), counts.iter().max());
            prop_assert!(max.zip(min).is_some_and(|(max, min)| max - min <= 1));
        } else {
            prop_assert!(picked.is_empty());
        }
    }

    #[test]
    fn least_connections_levels_uneven_loads(
        start in prop::collection::vec((any::<bool>(), 0..20_usize), 1..=8),
        binds in 0..400_usize,
    ) {
        let mask: Vec<_> = start.iter().map(|&(up, _)| up).collect();
        let mut loads = with_mask(&mask, |i| up(start[i].1, 0));
        let picked = simulate(Strategy::LeastConnections, &mut loads, binds);
        let Some(max_before) = running(&mask).map(|i| start[i].1).max() else {
            prop_assert!(picked.is_empty());
            return Ok(());
        };
        let deficit: usize = running(&mask).map(|i| max_before - start[i].1).sum();
        let counts: Vec<_> = running(&mask).map(|i| loads[i].connections).collect();
        let min = counts.iter().copied().min().unwrap_or_default();
        let max = counts.iter().copied().max().unwrap_or_default();
        for i in 0..mask.len() {
            let gained = loads[i].connections - start[i].1;
            // Only running instances gain, and only while they were among the emptiest.
            prop_assert!(mask[i] || gained == 0);
            prop_assert!(gained == 0 || loads[i].connections - 1 <= min);
        }
        if binds >= deficit {
            prop_assert!(max - min <= 1, "{:?}", counts);
        } else {
            prop_assert_eq!(max, max_before);
        }
    }

    #[test]
    fn round_robin_spreads_exactly(
        start in prop::collection::vec((any::<bool>(), 0..20_usize, 0..20_usize), 1..=8),
        binds in 0..400_usize,
    ) {
        let mask: Vec<_> = start.iter().map(|&(up, _, _)| up).collect();
        let mut loads = with_mask(&mask, |i| up(start[i].1, start[i].2));
        simulate(Strategy::RoundRobin, &mut loads, binds);
        let gained: Vec<_> = (0..mask.len()).map(|i| loads[i].connections - start[i].1).collect();
        if mask.contains(&true) {
            prop_assert_eq!(gained, even_spread(&mask, binds));
        } else {
            prop_assert!(gained.iter().all(|&g| g == 0));
        }
    }

    #[test]
    fn weighted_fills_up_to_the_busy_instances_level(
        start in prop::collection::vec((any::<bool>(), 0..50_usize), 1..=8),
        connection_weight in prop::sample::select(vec![0.25, 0.5, 1.0, 2.0, 3.0]),
        binds in 0..300_usize,
    ) {
        let strategy = Strategy::Weighted { connection_weight };
        let mask: Vec<_> = start.iter().map(|&(up, _)| up).collect();
        let mut loads = with_mask(&mask, |i| up(0, start[i].1));
        let picked = simulate(strategy, &mut loads, binds);
        let scores: Vec<_> = running(&mask).map(|i| score(&strategy, &loads[i]).0).collect();
        let Some(lowest) = scores.iter().copied().reduce(f64::min) else {
            prop_assert!(picked.is_empty());
            return Ok(());
        };
        prop_assert_eq!(picked.len(), binds);
        #[expect(clippy::cast_precision_loss, reason = "test counts are small")]
        for (i, load) in loads.iter().enumerate() {
            // The last bind of an instance went to a minimum, and scores only grow: its score
            // before that bind is at most today's minimum. An instance whose queued events
            // alone exceed the final minimum was never chosen.
            let before_last = score(&strategy, load).0 - connection_weight;
            prop_assert!(load.connections == 0 || before_last <= lowest);
            if load.queued as f64 > lowest {
                prop_assert_eq!(load.connections, 0);
            }
            prop_assert!(mask[i] || load.connections == 0);
        }
    }
}
