//! What loads, samples: a trajectory proves at load that every sample in [t0, T] (position,
//! velocity, acceleration, jerk) is finite, or refuses to load (issue 8, item 3); and the end
//! states come back bit for bit, -0.0 included (item 4).

use finn_core::trajectory::{OutsidePolicy, Trajectory, Via};
use finn_core::{parameter_count, Activation, Error, Network};
use proptest::prelude::*;

type Net = Network<f32, 1, 4, 2>;

fn one(params: &[f32]) -> Net {
    Net::signed(Activation::Tanh, &[1], params).unwrap()
}

fn load(
    net: Net,
    t0: f32,
    t1: f32,
    x0: f32,
    x1: f32,
) -> Result<Trajectory<f32, 1, 4, 2, 2>, Error> {
    Trajectory::new([net], t0, t1, [x0], [x1], &[], OutsidePolicy::Hold)
}

/// The four blobs the hostile campaign found loading and then failing at an endpoint.
#[test]
fn unplayable_trajectories_do_not_load() {
    // A weight whose cube overflows f32: the jerk grows like w^3.
    assert_eq!(
        load(one(&[1e30, 0.0, 1.0]), 0.0, 1.0, 0.0, 1.0).unwrap_err(),
        Error::Overflow
    );
    // T - t0 overflows f32.
    assert_eq!(
        load(one(&[1.0, 0.0, 1.0]), -3e38, 3e38, 0.0, 1.0).unwrap_err(),
        Error::Overflow
    );
    // 1/h^3 overflows f32.
    assert_eq!(
        load(one(&[1.0, 0.0, 1.0]), 0.0, 1e-40, 0.0, 1.0).unwrap_err(),
        Error::Overflow
    );
    // The end states' difference overflows f32.
    assert_eq!(
        load(one(&[1.0, 0.0, 1.0]), 0.0, 1.0, -3e38, 3e38).unwrap_err(),
        Error::Overflow
    );
    // The same shapes with sane values load.
    assert!(load(one(&[3.0, 0.0, 1.0]), 0.0, 1.0, -3.0, 3.0).is_ok());
}

#[test]
fn negative_zero_end_states_come_back_bit_for_bit() {
    let t = load(one(&[1.0, 0.5, 2.0]), 0.0, 1.0, -0.0, -0.0).unwrap();
    let (a, b) = (t.sample(0.0).unwrap(), t.sample(1.0).unwrap());
    assert_eq!(a.position[0].to_bits(), (-0.0f32).to_bits());
    assert_eq!(b.position[0].to_bits(), (-0.0f32).to_bits());
    let k = t.kinematics(0.0).unwrap();
    assert_eq!(k.position[0].to_bits(), (-0.0f32).to_bits());
    let t64 = Trajectory::<f64, 1, 4, 2, 0>::new(
        [Network::signed(Activation::Tanh, &[1], &[1.0, 0.5, 2.0]).unwrap()],
        0.0,
        1.0,
        [-0.0],
        [-0.0],
        &[],
        OutsidePolicy::Hold,
    )
    .unwrap();
    assert_eq!(
        t64.sample(0.0).unwrap().position[0].to_bits(),
        (-0.0f64).to_bits()
    );
}

/// Magnitudes spread over the whole f32 range: most such trajectories are refused, and
/// every one that loads samples finite everywhere.
fn wild() -> impl Strategy<Value = f32> {
    prop_oneof![
        -4.0f32..4.0,
        (-38i32..=38, any::<bool>()).prop_map(|(e, neg)| {
            let v = 10f32.powi(e);
            if neg {
                -v
            } else {
                v
            }
        }),
        Just(0.0f32),
        Just(-0.0f32),
    ]
}

#[derive(Clone, Debug)]
struct Case {
    widths: Vec<usize>,
    params: Vec<f32>,
    t0: f32,
    t1: f32,
    x0: f32,
    x1: f32,
    via: Vec<(f32, f32)>,
    sigma: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(1usize..=4, 1..=2),
        0usize..=2,
        any::<bool>(),
    )
        .prop_flat_map(|(widths, nvia, sigma)| {
            let count = parameter_count(1, &widths);
            (
                prop::collection::vec(wild(), count),
                wild(),
                wild(),
                wild(),
                wild(),
                prop::collection::vec((0.0f32..1.0, wild()), nvia),
            )
                .prop_map(move |(params, t0, t1, x0, x1, via)| Case {
                    widths: widths.clone(),
                    params,
                    t0,
                    t1,
                    x0,
                    x1,
                    via,
                    sigma,
                })
        })
}

/// The next float from `x` towards the sign of `dir` (x finite).
fn step(x: f32, dir: f32) -> f32 {
    if x == 0.0 {
        return f32::from_bits(1).copysign(dir);
    }
    let bits = x.to_bits();
    // Away from zero when moving in x's direction, towards it otherwise.
    if (x > 0.0) == (dir > 0.0) {
        f32::from_bits(bits + 1)
    } else {
        f32::from_bits(bits - 1)
    }
}

/// Loads the case; if it loads, samples it densely. Whether it loaded.
fn check(c: &Case) -> Result<bool, TestCaseError> {
    let act = if c.sigma {
        Activation::Sigma
    } else {
        Activation::Tanh
    };
    let Ok(net) = Net::signed(act, &c.widths, &c.params) else {
        return Ok(false);
    };
    let (t0, t1) = (c.t0.min(c.t1), c.t0.max(c.t1));
    let mut via: Vec<Via<f32, 1>> = c
        .via
        .iter()
        .map(|&(s, x)| Via {
            time: t0 + s * (t1 - t0),
            position: [x],
        })
        .collect();
    via.sort_by(|a, b| a.time.total_cmp(&b.time));
    let Ok(traj) = Trajectory::<f32, 1, 4, 2, 2>::new(
        [net],
        t0,
        t1,
        [c.x0],
        [c.x1],
        &via,
        OutsidePolicy::Reject,
    ) else {
        return Ok(false);
    };
    // Dense samples, the ends, and the floats next to them.
    let mut times: Vec<f32> = (0..=2000)
        .map(|k| t0 + (t1 - t0) * (k as f32 / 2000.0))
        .collect();
    times.extend([t0, t1, step(t0, 1.0), step(t1, -1.0)]);
    for t in times {
        if !(t0..=t1).contains(&t) {
            continue;
        }
        let s = traj.sample(t);
        prop_assert!(s.is_ok(), "t = {t:e}: {s:?} ({c:?})");
        let s = s.unwrap();
        for v in [s.position, s.velocity, s.acceleration, s.jerk] {
            prop_assert!(v[0].is_finite(), "t = {t:e}");
        }
    }
    prop_assert_eq!(
        traj.sample(t0).unwrap().position[0].to_bits(),
        c.x0.to_bits()
    );
    prop_assert_eq!(
        traj.sample(t1).unwrap().position[0].to_bits(),
        c.x1.to_bits()
    );
    Ok(true)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]
    #[test]
    fn accepted_trajectories_sample_finite_everywhere(c in case()) {
        check(&c)?;
    }
}

/// The strategy must reach past the load check often enough to test sampling.
#[test]
fn the_campaign_loads_enough_trajectories() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    let mut loaded = 0;
    for _ in 0..1000 {
        let c = strategy.new_tree(&mut runner).unwrap().current();
        if check(&c).unwrap() {
            loaded += 1;
        }
    }
    assert!(loaded >= 100, "only {loaded} of 1000 loaded");
    eprintln!("{loaded} of 1000 wild trajectories loaded and sampled finite");
}
