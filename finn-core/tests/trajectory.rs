//! Trajectories: endpoints met exactly (bit for bit) for any parameters in f32 and f64,
//! via-points met to rounding, derivatives consistent, outside policy, typed errors.

use finn_core::trajectory::{OutsidePolicy, Trajectory, Via};
use finn_core::{parameter_count, Activation, Error, Network, Real};
use proptest::prelude::*;

const W: usize = 4;
type Net<T> = Network<T, 1, W, 2>;

fn nets<T: Real>(widths: &[usize], p: &[Vec<f64>], act: Activation) -> [Net<T>; 3] {
    let mk = |v: &Vec<f64>| {
        let q: Vec<T> = v.iter().map(|&x| T::from_f64(x)).collect();
        Net::<T>::signed(act, widths, &q).unwrap()
    };
    [mk(&p[0]), mk(&p[1]), mk(&p[2])]
}

#[derive(Clone, Debug)]
struct Case {
    widths: Vec<usize>,
    params: Vec<Vec<f64>>,
    t0: f64,
    len: f64,
    x0: [f64; 3],
    x1: [f64; 3],
    via: Vec<(f64, [f64; 3])>,
    tanh: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(1usize..=W, 1..=2),
        0usize..=3,
        any::<bool>(),
    )
        .prop_flat_map(|(widths, nvia, tanh)| {
            let count = parameter_count(1, &widths);
            (
                prop::collection::vec(prop::collection::vec(-3.0..3.0f64, count), 3),
                -5.0..5.0f64,
                0.5..10.0f64,
                prop::array::uniform3(-10.0..10.0f64),
                prop::array::uniform3(-10.0..10.0f64),
                prop::collection::vec(prop::array::uniform3(-10.0..10.0f64), nvia),
            )
                .prop_map(move |(params, t0, len, x0, x1, via_pos)| {
                    let k = via_pos.len();
                    let via = via_pos
                        .into_iter()
                        .enumerate()
                        .map(|(i, p)| (t0 + len * (i as f64 + 1.0) / (k as f64 + 1.0), p))
                        .collect();
                    Case {
                        widths: widths.clone(),
                        params,
                        t0,
                        len,
                        x0,
                        x1,
                        via,
                        tanh,
                    }
                })
        })
}

fn build<T: Real>(c: &Case) -> Trajectory<T, 3, W, 2, 3> {
    let act = if c.tanh {
        Activation::Tanh
    } else {
        Activation::Sigma
    };
    let t = |v: f64| T::from_f64(v);
    let via: Vec<Via<T, 3>> = c
        .via
        .iter()
        .map(|(time, p)| Via {
            time: t(*time),
            position: p.map(t),
        })
        .collect();
    Trajectory::new(
        nets::<T>(&c.widths, &c.params, act),
        t(c.t0),
        t(c.t0 + c.len),
        c.x0.map(t),
        c.x1.map(t),
        &via,
        OutsidePolicy::Reject,
    )
    .unwrap()
}

fn endpoints_exact<T: Real>(c: &Case) -> Result<(), TestCaseError> {
    let traj = build::<T>(c);
    let (t0, t1) = traj.interval();
    let (x0, x1) = traj.endpoints();
    prop_assert_eq!(&traj.sample(t0).unwrap().position, x0);
    prop_assert_eq!(&traj.sample(t1).unwrap().position, x1);
    Ok(())
}

fn via_met<T: Real>(c: &Case, tol: f64) -> Result<(), TestCaseError> {
    let traj = build::<T>(c);
    for (time, p) in &c.via {
        let got = traj.sample(T::from_f64(*time)).unwrap().position;
        for i in 0..3 {
            let want = T::from_f64(p[i]).to_f64();
            prop_assert!(
                (got[i].to_f64() - want).abs() <= tol * (1.0 + want.abs()),
                "via at {time}: {} vs {want}",
                got[i]
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn endpoints_are_exact_f64(c in case()) { endpoints_exact::<f64>(&c)?; }
    #[test]
    fn endpoints_are_exact_f32(c in case()) { endpoints_exact::<f32>(&c)?; }
    #[test]
    fn via_points_are_met_f64(c in case()) { via_met::<f64>(&c, 1e-11)?; }

    /// `kinematics` (three jet orders) equals the first three of `sample` bit for bit.
    #[test]
    fn kinematics_is_sample_without_jerk(c in case(), frac in -0.1..1.1f64) {
        let traj = build::<f32>(&c);
        let t = (c.t0 + frac * c.len) as f32;
        match (traj.kinematics(t), traj.sample(t)) {
            (Ok(k), Ok(s)) => {
                prop_assert_eq!(k.position, s.position);
                prop_assert_eq!(k.velocity, s.velocity);
                prop_assert_eq!(k.acceleration, s.acceleration);
            }
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (k, s) => prop_assert!(false, "kinematics {k:?} vs sample {s:?}"),
        }
    }
    #[test]
    fn via_points_are_met_f32(c in case()) { via_met::<f32>(&c, 1e-5)?; }

    /// Velocity, acceleration and jerk are the derivatives of position (central differences).
    #[test]
    fn derivatives_are_consistent(c in case(), frac in 0.1..0.9f64) {
        let traj = build::<f64>(&c);
        let t = c.t0 + frac * c.len;
        let h = 1e-5 * c.len;
        let at = |t: f64| traj.sample(t).unwrap();
        let (m, s, p) = (at(t - h), at(t), at(t + h));
        for i in 0..3 {
            let scale = 1.0 + s.velocity[i].abs() + s.acceleration[i].abs() * c.len + s.jerk[i].abs() * c.len * c.len;
            let v = (p.position[i] - m.position[i]) / (2.0 * h);
            prop_assert!((v - s.velocity[i]).abs() <= 1e-5 * scale, "velocity {v} vs {}", s.velocity[i]);
            let a = (p.velocity[i] - m.velocity[i]) / (2.0 * h);
            prop_assert!((a - s.acceleration[i]).abs() * c.len <= 1e-5 * scale, "acc {a} vs {}", s.acceleration[i]);
            let j = (p.acceleration[i] - m.acceleration[i]) / (2.0 * h);
            prop_assert!((j - s.jerk[i]).abs() * c.len * c.len <= 1e-4 * scale, "jerk {j} vs {}", s.jerk[i]);
        }
    }
}

fn simple(policy: OutsidePolicy) -> Trajectory<f64, 3, W, 2, 3> {
    let p = vec![0.5; parameter_count(1, &[2])];
    let n = Net::<f64>::signed(Activation::Tanh, &[2], &p).unwrap();
    Trajectory::new(
        [n.clone(), n.clone(), n],
        0.0,
        2.0,
        [0.0; 3],
        [1.0, 2.0, 3.0],
        &[],
        policy,
    )
    .unwrap()
}

#[test]
fn outside_policy() {
    let hold = simple(OutsidePolicy::Hold);
    let before = hold.sample(-1.0).unwrap();
    assert_eq!(before.position, [0.0; 3]);
    assert_eq!(before.velocity, [0.0; 3]);
    assert_eq!(hold.sample(5.0).unwrap().position, [1.0, 2.0, 3.0]);
    let reject = simple(OutsidePolicy::Reject);
    assert_eq!(reject.sample(2.0 + 1e-12), Err(Error::OutsideInterval));
    assert_eq!(reject.sample(-1e-12), Err(Error::OutsideInterval));
    assert_eq!(reject.sample(f64::NAN), Err(Error::NonFiniteInput));
}

#[test]
fn bad_construction_is_typed() {
    let p = vec![0.5; parameter_count(1, &[2])];
    let n = Net::<f64>::signed(Activation::Tanh, &[2], &p).unwrap();
    let nets = [n.clone(), n.clone(), n];
    let mk = |t0: f64, t1: f64, via: &[Via<f64, 3>]| {
        Trajectory::<f64, 3, W, 2, 1>::new(
            nets.clone(),
            t0,
            t1,
            [0.0; 3],
            [1.0; 3],
            via,
            OutsidePolicy::Hold,
        )
        .map(|_| ())
    };
    assert_eq!(mk(1.0, 1.0, &[]), Err(Error::EmptyInterval { axis: 0 }));
    assert_eq!(mk(0.0, f64::INFINITY, &[]), Err(Error::NonFiniteInput));
    let at = |time: f64| Via {
        time,
        position: [0.0; 3],
    };
    assert_eq!(mk(0.0, 1.0, &[at(0.0)]), Err(Error::InvalidViaPoints));
    assert_eq!(mk(0.0, 1.0, &[at(1.0)]), Err(Error::InvalidViaPoints));
    assert_eq!(
        mk(0.0, 1.0, &[at(0.3), at(0.6)]),
        Err(Error::InvalidViaPoints)
    ); // over capacity
    let nan = Via {
        time: 0.5,
        position: [f64::NAN, 0.0, 0.0],
    };
    assert_eq!(mk(0.0, 1.0, &[nan]), Err(Error::NonFiniteInput));
}
