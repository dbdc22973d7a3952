//! Trajectory optimisation: exact gradients of every cost term (central differences), states
//! equal to finn-core's `Trajectory`, and an L-BFGS solve around obstacles.

use finn_core::trajectory::{OutsidePolicy, Trajectory, Via};
use finn_core::{Activation, Kind, Network};
use finn_train::model::Architecture;
use finn_train::solve::{self, Settings};
use finn_train::trajectory::{Endpoints, Obstacle, PointMass, TrajectoryProblem, TwoLinkArm};

fn arch(widths: &[usize]) -> Architecture {
    Architecture {
        n: 1,
        kind: Kind::Signed,
        activation: Activation::Tanh,
        widths: widths.to_vec(),
    }
}

fn problem(widths: &[usize], endpoints: Endpoints, arm: bool, via: bool) -> TrajectoryProblem {
    TrajectoryProblem {
        architecture: arch(widths),
        interval: (0.0, 2.0),
        start: vec![0.0, 0.0],
        end: vec![2.0, 1.0],
        via: if via {
            vec![(0.7, vec![0.5, 1.2])]
        } else {
            vec![]
        },
        // Radius + clearance exceeds the start's distance: the penalty is active for any path.
        obstacles: vec![Obstacle {
            center: vec![1.0, 0.5],
            radius: 1.0,
        }],
        clearance: 0.3,
        obstacle_weight: 50.0,
        energy_weight: 0.7,
        velocity_limit: Some((0.5, 3.0)),
        acceleration_limit: Some((0.5, 2.0)),
        dynamics: Some(if arm {
            (Box::new(TwoLinkArm::default()), 0.01)
        } else {
            (Box::new(PointMass { mass: 2.0, dims: 2 }), 0.1)
        }),
        endpoints,
        nodes: 12,
    }
}

#[test]
fn gradient_matches_central_differences() {
    for widths in [&[4][..], &[3, 3][..]] {
        for endpoints in [Endpoints::Exact, Endpoints::Penalty(10.0)] {
            for arm in [false, true] {
                for via in [false, true] {
                    let pb = problem(widths, endpoints, arm, via);
                    let p: Vec<f64> = solve::initial_parameters(&arch(widths), 4)
                        .into_iter()
                        .chain(solve::initial_parameters(&arch(widths), 5))
                        .map(|v| 2.0 * v)
                        .collect();
                    let mut g = vec![0.0; p.len()];
                    let terms = pb.cost_and_gradient(&p, Some(&mut g)).unwrap();
                    assert!(terms.obstacles > 0.0 && terms.limits > 0.0 && terms.effort > 0.0);
                    let h = 1e-6;
                    let scale = g.iter().map(|v| v.abs()).fold(1e-9, f64::max);
                    for i in 0..p.len() {
                        let (mut up, mut dn) = (p.clone(), p.clone());
                        up[i] += h;
                        dn[i] -= h;
                        let fd = (pb.terms(&up).unwrap().total - pb.terms(&dn).unwrap().total)
                            / (2.0 * h);
                        assert!(
                            (g[i] - fd).abs() <= 2e-6 * scale,
                            "{widths:?} {endpoints:?} arm={arm} via={via} p[{i}]: {} vs {fd}",
                            g[i]
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn states_equal_finn_core_trajectory() {
    let widths = [4, 3];
    let pb = problem(&widths, Endpoints::Exact, false, true);
    let p: Vec<f64> = solve::initial_parameters(&arch(&widths), 8)
        .into_iter()
        .chain(solve::initial_parameters(&arch(&widths), 9))
        .collect();
    let pc = p.len() / 2;
    let nets = [0, 1].map(|i| {
        Network::<f64, 1, 4, 2>::signed(Activation::Tanh, &widths, &p[i * pc..(i + 1) * pc])
            .unwrap()
    });
    let via = [Via {
        time: 0.7,
        position: [0.5, 1.2],
    }];
    let traj = Trajectory::<f64, 2, 4, 2, 1>::new(
        nets,
        0.0,
        2.0,
        [0.0, 0.0],
        [2.0, 1.0],
        &via,
        OutsidePolicy::Reject,
    )
    .unwrap();
    let times = [0.0, 0.3, 0.7, 1.1, 2.0];
    let states = pb.states(&p, &times).unwrap();
    for (t, st) in times.iter().zip(&states) {
        let s = traj.sample(*t).unwrap();
        for i in 0..2 {
            assert!((st.position[i] - s.position[i]).abs() <= 1e-13, "x at {t}");
            assert!((st.velocity[i] - s.velocity[i]).abs() <= 1e-12, "v at {t}");
            assert!(
                (st.acceleration[i] - s.acceleration[i]).abs() <= 1e-11,
                "a at {t}"
            );
        }
    }
    assert_eq!(states[0].position, vec![0.0, 0.0]);
    assert_eq!(states[4].position, vec![2.0, 1.0]);
}

/// Around an obstacle on the straight line: L-BFGS finds a path that keeps the clearance, the
/// endpoints stay exact; the soft-penalty baseline misses its end.
#[test]
fn obstacle_avoidance_solves() {
    let widths = [8];
    let mut pb = problem(&widths, Endpoints::Exact, false, false);
    pb.obstacles = vec![Obstacle {
        center: vec![1.0, 0.5],
        radius: 0.3,
    }];
    pb.clearance = 0.1;
    pb.velocity_limit = None;
    pb.acceleration_limit = None;
    pb.dynamics = None;
    pb.obstacle_weight = 1e3;
    pb.energy_weight = 1.0;
    pb.nodes = 24;
    let init: Vec<f64> = solve::initial_parameters(&arch(&widths), 1)
        .into_iter()
        .chain(solve::initial_parameters(&arch(&widths), 2))
        .collect();
    let settings = Settings {
        max_iters: 200,
        ..Settings::default()
    };
    let report = solve::fit_problem(pb, init, &settings, |_| {}).unwrap();
    assert!(report.loss.is_finite());
    let mut exact = problem(&widths, Endpoints::Exact, false, false);
    exact.obstacles = vec![Obstacle {
        center: vec![1.0, 0.5],
        radius: 0.3,
    }];
    exact.clearance = 0.1;
    exact.nodes = 24;
    let terms = exact.terms(&report.params).unwrap();
    assert!(
        terms.min_clearance > 0.05,
        "clearance {}",
        terms.min_clearance
    );
    let ends = exact.states(&report.params, &[0.0, 2.0]).unwrap();
    assert_eq!(ends[0].position, vec![0.0, 0.0]);
    assert_eq!(ends[1].position, vec![2.0, 1.0]);
}
