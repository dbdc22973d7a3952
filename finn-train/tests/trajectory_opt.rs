//! Trajectory optimisation: exact gradients of every cost term (central differences), states
//! equal to finn-core's `Trajectory`, and constraints enforced until the certificate proves
//! them, checked by dense independent sampling.

use finn_core::trajectory::{OutsidePolicy, Trajectory, Via};
use finn_core::{Activation, Kind, Network};
use finn_train::model::Architecture;
use finn_train::solve::{self, Settings};
use finn_train::trajectory::enforce::{enforce, EnforceSettings};
use finn_train::trajectory::path::{NetworkPath, Path};
use finn_train::trajectory::{
    Constraint, Endpoints, Enforcement, Lagrangian, Limit, Obstacle, PointMass, Quantity,
    TrajectoryProblem, TwoLinkArm,
};

fn arch(widths: &[usize]) -> Architecture {
    Architecture {
        n: 1,
        kind: Kind::Signed,
        activation: Activation::Tanh,
        widths: widths.to_vec(),
    }
}

fn constraints() -> Vec<Constraint> {
    vec![
        // Radius + clearance exceeds the start's distance: active for any path.
        Constraint::Clearance {
            obstacle: Obstacle::Ball {
                center: vec![1.0, 0.5],
                radius: 1.0,
            },
            clearance: 0.3,
        },
        Constraint::Clearance {
            obstacle: Obstacle::Box {
                lower: vec![0.2, -0.5],
                upper: vec![0.6, 0.4],
            },
            clearance: 0.1,
        },
        Constraint::Limit {
            quantity: Quantity::Velocity,
            limit: Limit::Norm(0.5),
        },
        Constraint::Limit {
            quantity: Quantity::Acceleration,
            limit: Limit::Axes(vec![0.5, 0.3]),
        },
        Constraint::Limit {
            quantity: Quantity::Jerk,
            limit: Limit::Norm(0.2),
        },
    ]
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
        constraints: constraints(),
        enforcement: Enforcement::Penalty { weight: 50.0 },
        energy_weight: 0.7,
        dynamics: Some(if arm {
            (Box::new(TwoLinkArm::default()), 0.01)
        } else {
            (Box::new(PointMass { mass: 2.0, dims: 2 }), 0.1)
        }),
        endpoints,
        nodes: 12,
    }
}

/// Augmented-Lagrangian terms at a few times with positive multipliers (so that both the
/// active and the inactive branches occur).
fn lagrangian(pb: &TrajectoryProblem) -> Enforcement {
    let times = vec![0.0, 0.35, 1.1, 1.9];
    let count = times.len() * pb.residuals_per_time();
    Enforcement::Lagrangian(Lagrangian {
        times,
        multipliers: (0..count).map(|k| (k % 3) as f64 * 0.4).collect(),
        rho: 7.0,
        margin: 0.05,
    })
}

#[test]
fn gradient_matches_central_differences() {
    for widths in [&[4][..], &[3, 3][..]] {
        for endpoints in [Endpoints::Exact, Endpoints::Penalty(10.0)] {
            for arm in [false, true] {
                for via in [false, true] {
                    for augmented in [false, true] {
                        let mut pb = problem(widths, endpoints, arm, via);
                        if augmented {
                            pb.enforcement = lagrangian(&pb);
                        }
                        check_gradient(&pb, widths, &format!("{widths:?} {endpoints:?} arm={arm} via={via} augmented={augmented}"));
                    }
                }
            }
        }
    }
}

fn check_gradient(pb: &TrajectoryProblem, widths: &[usize], label: &str) {
    let p: Vec<f64> = solve::initial_parameters(&arch(widths), 4)
        .into_iter()
        .chain(solve::initial_parameters(&arch(widths), 5))
        .map(|v| 2.0 * v)
        .collect();
    let mut g = vec![0.0; p.len()];
    let terms = pb.cost_and_gradient(&p, Some(&mut g)).unwrap();
    assert!(terms.constraints != 0.0 && terms.effort > 0.0, "{label}");
    let h = 1e-6;
    let scale = g.iter().map(|v| v.abs()).fold(1e-9, f64::max);
    for i in 0..p.len() {
        let (mut up, mut dn) = (p.clone(), p.clone());
        up[i] += h;
        dn[i] -= h;
        let fd = (pb.terms(&up).unwrap().total - pb.terms(&dn).unwrap().total) / (2.0 * h);
        assert!(
            (g[i] - fd).abs() <= 2e-6 * scale,
            "{label} p[{i}]: {} vs {fd}",
            g[i]
        );
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

/// Around an obstacle on the straight line, under a speed limit: the augmented Lagrangian
/// finds a path the certificate proves, and a dense independent check of 20,001 samples agrees;
/// the endpoints stay exact.
#[test]
fn enforced_constraints_are_proven_and_hold_between_nodes() {
    let widths = [8];
    let make = |enforcement: Enforcement| {
        let mut pb = problem(&widths, Endpoints::Exact, false, false);
        pb.constraints = vec![
            Constraint::Clearance {
                obstacle: Obstacle::Ball {
                    center: vec![1.0, 0.5],
                    radius: 0.3,
                },
                clearance: 0.1,
            },
            Constraint::Limit {
                quantity: Quantity::Velocity,
                limit: Limit::Norm(1.6),
            },
        ];
        pb.enforcement = enforcement;
        pb.dynamics = None;
        pb.energy_weight = 1.0;
        pb.nodes = 24;
        pb
    };
    let init: Vec<f64> = solve::initial_parameters(&arch(&widths), 1)
        .into_iter()
        .chain(solve::initial_parameters(&arch(&widths), 2))
        .collect();
    let settings = Settings {
        max_iters: 150,
        ..Settings::default()
    };
    let path_of = |p: &[f64]| -> Result<Box<dyn Path>, finn_train::TrainError> {
        let pc = p.len() / 2;
        Ok(Box::new(NetworkPath::new(
            Activation::Tanh,
            &widths,
            &[p[..pc].to_vec(), p[pc..].to_vec()],
            (0.0, 2.0),
            &[0.0, 0.0],
            &[2.0, 1.0],
            &[],
            Endpoints::Exact,
        )?))
    };
    let enforced = enforce(
        &make,
        init,
        &settings,
        &EnforceSettings::default(),
        &path_of,
        &mut finn_train::observer::Silent,
    )
    .unwrap();
    assert!(enforced.certificate.proven(), "{:?}", enforced.certificate);
    let params = &enforced.report.params;
    let pb = make(Enforcement::Penalty { weight: 0.0 });
    let times: Vec<f64> = (0..=20_000).map(|k| 2.0 * k as f64 / 20_000.0).collect();
    let states = pb.states(params, &times).unwrap();
    for (t, st) in times.iter().zip(&states) {
        let dist = ((st.position[0] - 1.0).powi(2) + (st.position[1] - 0.5).powi(2)).sqrt();
        assert!(dist - 0.3 >= 0.1, "clearance {} at t = {t}", dist - 0.3);
        let speed = st.velocity.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!(speed <= 1.6, "speed {speed} at t = {t}");
    }
    // The proved lower bounds are below what the dense check sees.
    for (v, c) in enforced.certificate.verdicts.iter().zip(&pb.constraints) {
        let dense = states
            .iter()
            .map(|st| c.slack(st.derivative(c.order())))
            .fold(f64::INFINITY, f64::min);
        assert!(
            v.lower <= dense + 1e-12 && dense - v.lower < 1e-3,
            "{} {dense}",
            v.lower
        );
    }
    assert_eq!(states[0].position, vec![0.0, 0.0]);
    assert_eq!(states[20_000].position, vec![2.0, 1.0]);
}
