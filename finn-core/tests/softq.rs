//! Soft-Q models: V against an independent quadrature of exp(beta Q) over A (m = 1 and 2, with
//! |beta Q| up to 80 in f64), the policy's normalisation, the sampler against its CDFs and
//! against quadrature, hostile states, and f32 against f64 at |beta Q| = 30.
#![allow(clippy::needless_range_loop)]

mod common;

use common::{gauss_legendre, Lcg};
use finn_core::softq::{SoftQ, SoftQProblem};
use finn_core::{Antiderivative, Domain, Error};
use proptest::prelude::*;

const S: usize = 3;
type Q1 = SoftQ<f64, S, 8, 32, 1, 6, 2>;
type Q2 = SoftQ<f64, S, 8, 32, 2, 6, 2>;
type Q1f = SoftQ<f32, S, 8, 32, 1, 6, 2>;

/// Random parameters for a hypernetwork of widths `hyper` over S features whose head emits
/// `outputs` values; c's row is zeroed and its bias set to `c_bias`, so that
/// c(s) = log_scale * c_bias exactly.
fn params(rng: &mut Lcg, hyper: &[usize], outputs: usize, c_bias: f64) -> Vec<f64> {
    let mut p = Vec::new();
    let mut fan_in = S;
    for &w in hyper {
        for _ in 0..w * fan_in + w {
            p.push(rng.uniform(-1.0, 1.0));
        }
        fan_in = w;
    }
    for o in 0..outputs {
        for _ in 0..fan_in {
            p.push(if o + 1 == outputs {
                0.0
            } else {
                rng.uniform(-0.3, 0.3)
            });
        }
    }
    for o in 0..outputs {
        p.push(if o + 1 == outputs {
            c_bias
        } else {
            rng.uniform(-1.5, 1.5)
        });
    }
    p
}

fn outputs(m: usize, action: &[usize]) -> usize {
    finn_core::parameter_count(m, action) + 1
}

fn state(rng: &mut Lcg) -> [f64; S] {
    [
        rng.uniform(-1.0, 1.0),
        rng.uniform(-1.0, 1.0),
        rng.uniform(-3.0, 3.0),
    ]
}

/// Composite Gauss-Legendre nodes on [lo, hi]: `panels` panels of `order` nodes.
fn rule(lo: f64, hi: f64, panels: usize, order: usize) -> Vec<(f64, f64)> {
    let gl = gauss_legendre(order);
    let h = (hi - lo) / panels as f64;
    let mut out = Vec::new();
    for k in 0..panels {
        let a = lo + k as f64 * h;
        for &(x, w) in &gl {
            out.push((a + 0.5 * h * (x + 1.0), 0.5 * h * w));
        }
    }
    out
}

#[test]
fn v_matches_quadrature_in_one_action_dimension_up_to_beta_q_80() {
    let mut rng = Lcg(11);
    let nodes = rule(-2.0, 2.0, 40, 10);
    let mut worst: f64 = 0.0;
    for (case, action) in [[6usize].as_slice(), &[3, 3]].iter().enumerate() {
        for c_bias in [-1.0, 0.0, 1.0] {
            let beta = 2.5;
            let p = params(&mut rng, &[8, 5], outputs(1, action), c_bias);
            let a = Domain::new([-2.0], [2.0]).unwrap();
            let q = Q1::new(&[8, 5], action, a, beta, 80.0, &p).unwrap();
            for _ in 0..5 {
                let s = state(&mut rng);
                // beta Q reaches about +-80 here: exp(beta Q) is 1e+-35, still fine in f64.
                let quad: f64 = nodes
                    .iter()
                    .map(|&(x, w)| w * (beta * q.q(&s, &[x]).unwrap()).exp())
                    .sum();
                let err = (beta * q.v(&s).unwrap() - quad.ln()).abs();
                worst = worst.max(err);
                assert!(err < 1e-11, "case {case} c {c_bias}: beta V off by {err}");
                let mid = beta * q.q(&s, &[0.0]).unwrap();
                assert!(c_bias == 0.0 || mid.abs() > 70.0, "beta Q = {mid}");
            }
        }
    }
    println!("m = 1: worst |beta V - ln quadrature| = {worst:.2e}");
}

#[test]
fn v_matches_quadrature_in_two_action_dimensions() {
    let mut rng = Lcg(12);
    let nodes = rule(-1.0, 1.5, 16, 8);
    let mut worst: f64 = 0.0;
    for action in [[4usize].as_slice(), &[3, 3]] {
        for c_bias in [-1.0, 1.0] {
            let beta = 0.5;
            let p = params(&mut rng, &[6], outputs(2, action), c_bias);
            let a = Domain::new([-1.0, -1.0], [1.5, 1.5]).unwrap();
            let q = Q2::new(&[6], action, a, beta, 40.0, &p).unwrap();
            for _ in 0..3 {
                let s = state(&mut rng);
                let at = q.at(&s).unwrap();
                let mut quad = 0.0;
                let mut pdf_mass = 0.0;
                for &(x, wx) in &nodes {
                    for &(y, wy) in &nodes {
                        quad += wx * wy * (beta * at.q(&[x, y]).unwrap()).exp();
                        pdf_mass += wx * wy * at.policy_pdf(&[x, y]).unwrap();
                    }
                }
                let err = (beta * at.v() - quad.ln()).abs();
                worst = worst.max(err);
                assert!(err < 1e-11, "beta V off by {err}");
                assert!((at.v() - q.v(&s).unwrap()).abs() < 1e-12 * (1.0 + at.v().abs()));
                assert!((pdf_mass - 1.0).abs() < 1e-11, "policy mass {pdf_mass}");
            }
        }
    }
    println!("m = 2: worst |beta V - ln quadrature| = {worst:.2e}");
}

#[test]
fn policy_is_the_boltzmann_density_and_integrates_to_one() {
    let mut rng = Lcg(13);
    let nodes = rule(-2.0, 2.0, 40, 10);
    let p = params(&mut rng, &[8], outputs(1, &[6]), 0.5);
    let beta = 4.0;
    let q = Q1::new(
        &[8],
        &[6],
        Domain::new([-2.0], [2.0]).unwrap(),
        beta,
        20.0,
        &p,
    )
    .unwrap();
    for _ in 0..5 {
        let s = state(&mut rng);
        let at = q.at(&s).unwrap();
        let mass: f64 = nodes
            .iter()
            .map(|&(x, w)| w * at.policy_pdf(&[x]).unwrap())
            .sum();
        assert!((mass - 1.0).abs() < 1e-12, "mass {mass}");
        for &(x, _) in nodes.iter().step_by(37) {
            let lp = at.log_policy_pdf(&[x]).unwrap();
            let want = beta * (at.q(&[x]).unwrap() - at.v());
            assert!((lp - want).abs() < 1e-10, "{lp} vs {want}");
            assert!((lp - q.log_policy_pdf(&s, &[x]).unwrap()).abs() < 1e-12);
        }
        assert_eq!(at.policy_pdf(&[2.5]).unwrap(), 0.0);
        assert_eq!(at.log_policy_pdf(&[-2.5]).unwrap(), f64::NEG_INFINITY);
    }
}

#[test]
fn samples_invert_the_cdf_which_matches_quadrature() {
    let mut rng = Lcg(14);
    let p = params(&mut rng, &[8], outputs(1, &[6]), 0.0);
    let beta = 3.0;
    let q = Q1::new(
        &[8],
        &[6],
        Domain::new([-2.0], [2.0]).unwrap(),
        beta,
        10.0,
        &p,
    )
    .unwrap();
    let s = state(&mut rng);
    let at = q.at(&s).unwrap();
    let total: f64 = rule(-2.0, 2.0, 40, 10)
        .iter()
        .map(|&(x, w)| w * (beta * at.q(&[x]).unwrap()).exp())
        .sum();
    for k in 0..=20 {
        let u = k as f64 / 20.0;
        let a = q.sample_action(&s, &[u]).unwrap();
        assert!((-2.0..=2.0).contains(&a[0]));
        let cdf = at.density().cdf(&a).unwrap();
        assert!((cdf - u).abs() < 1e-10, "u {u}: cdf {cdf}");
        if a[0] > -2.0 {
            let part: f64 = rule(-2.0, a[0], 40, 10)
                .iter()
                .map(|&(x, w)| w * (beta * at.q(&[x]).unwrap()).exp())
                .sum();
            assert!(
                (part / total - u).abs() < 1e-10,
                "quadrature cdf {}",
                part / total
            );
        }
    }
    // Two action dimensions: each conditional CDF at the sample is its uniform.
    let p = params(&mut rng, &[6], outputs(2, &[4]), 0.0);
    let q = Q2::new(
        &[6],
        &[4],
        Domain::new([-1.0, 0.0], [1.0, 2.0]).unwrap(),
        1.0,
        5.0,
        &p,
    );
    let q = q.unwrap();
    for _ in 0..20 {
        let s = state(&mut rng);
        let u = [rng.next_f64(), rng.next_f64()];
        let a = q.sample_action(&s, &u).unwrap();
        let at = q.at(&s).unwrap();
        assert!(q.actions().contains(&a));
        for k in 0..2 {
            let c = at.density().conditional_cdf(k, &a).unwrap();
            assert!((c - u[k]).abs() < 1e-9, "axis {k}: {c} vs {}", u[k]);
        }
    }
}

#[test]
fn f32_against_f64_at_beta_q_30() {
    let mut rng = Lcg(15);
    let mut worst_q: f64 = 0.0;
    let mut worst_v: f64 = 0.0;
    for c_bias in [-1.0, 1.0] {
        let p = params(&mut rng, &[8, 5], outputs(1, &[6]), c_bias);
        let pf: Vec<f32> = p.iter().map(|&v| v as f32).collect();
        let beta = 1.5;
        let q = Q1::new(
            &[8, 5],
            &[6],
            Domain::new([-2.0], [2.0]).unwrap(),
            beta,
            30.0,
            &p,
        );
        let q = q.unwrap();
        let af = Domain::new([-2.0f32], [2.0]).unwrap();
        let qf = Q1f::new(&[8, 5], &[6], af, beta as f32, 30.0, &pf).unwrap();
        for _ in 0..20 {
            let s = state(&mut rng);
            let sf = s.map(|v| v as f32);
            let x = rng.uniform(-2.0, 2.0);
            let b64 = beta * q.q(&s, &[x]).unwrap();
            let b32 = beta as f32 * qf.q(&sf, &[x as f32]).unwrap();
            assert!(b64.abs() > 20.0);
            worst_q = worst_q.max((b64 - b32 as f64).abs());
            let v64 = beta * q.v(&s).unwrap();
            let v32 = beta as f32 * qf.v(&sf).unwrap();
            worst_v = worst_v.max((v64 - v32 as f64).abs());
            let a = qf.sample_action(&sf, &[0.3]).unwrap();
            assert!((-2.0..=2.0).contains(&a[0]));
        }
    }
    println!("f32 vs f64 at |beta Q| ~ 30: beta Q {worst_q:.2e}, beta V {worst_v:.2e}");
    // A few f32 ulps of 30 (1.9e-6 each) plus the rounding of the f32 parameters.
    assert!(worst_q < 1e-4 && worst_v < 1e-4, "{worst_q} {worst_v}");
}

#[test]
fn settings_and_inputs_are_refused_with_typed_errors() {
    let a = Domain::new([-2.0], [2.0]).unwrap();
    let n = Q1::parameter_count(S, &[4], &[2]);
    let p = vec![0.1; n];
    let mk = |beta: f64, scale: f64, widths: &[usize], p: &[f64]| {
        Q1::new(widths, &[2], a, beta, scale, p).map(|_| ())
    };
    assert_eq!(
        mk(0.0, 1.0, &[4], &p),
        Err(Error::NotASoftQ(SoftQProblem::Beta))
    );
    assert_eq!(
        mk(1.0, f64::NAN, &[4], &p),
        Err(Error::NotASoftQ(SoftQProblem::LogScale))
    );
    assert_eq!(
        mk(1.0, 1.0, &[4, 4, 4], &p),
        Err(Error::NotASoftQ(SoftQProblem::StateWidths))
    );
    assert_eq!(
        mk(1.0, 1.0, &[9], &p),
        Err(Error::NotASoftQ(SoftQProblem::StateWidths))
    );
    assert_eq!(
        mk(1.0, 1.0, &[4], &p[1..]),
        Err(Error::DimensionMismatch {
            expected: n,
            found: n - 1
        })
    );
    let mut bad = p.clone();
    bad[3] = f64::INFINITY;
    assert_eq!(mk(1.0, 1.0, &[4], &bad), Err(Error::NonFiniteParameter));
    // A head too small for the action network: P = 32 < 3 * 16 + 1.
    let big = SoftQ::<f64, S, 8, 32, 1, 16, 1>::parameter_count(S, &[4], &[16]);
    let r = SoftQ::<f64, S, 8, 32, 1, 16, 1>::new(&[4], &[16], a, 1.0, 1.0, &vec![0.0; big]);
    assert_eq!(r.unwrap_err(), Error::NotASoftQ(SoftQProblem::HeadTooSmall));
    let q = Q1::new(&[4], &[2], a, 1.0, 1.0, &p).unwrap();
    assert_eq!(
        q.v(&[0.0, 0.0]),
        Err(Error::DimensionMismatch {
            expected: 3,
            found: 2
        })
    );
    assert_eq!(q.v(&[0.0, f64::NAN, 0.0]), Err(Error::NonFiniteInput));
    assert_eq!(
        q.q(&[0.0; 3], &[2.5]),
        Err(Error::ActionOutsideBox { axis: 0 })
    );
    assert_eq!(
        q.sample_action(&[0.0; 3], &[f64::NAN]),
        Err(Error::NonFiniteInput)
    );
    assert_eq!(
        q.policy_pdf(&[0.0; 3], &[f64::NAN]),
        Err(Error::NonFiniteInput)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any finite state, however large, gives finite Q and V, a positive policy density on A
    /// and samples inside A: tanh bounds the hypernetwork's hidden units.
    #[test]
    fn hostile_states_give_finite_outputs(
        seed in 0u64..1000,
        s in prop::array::uniform3(prop_oneof![
            -1e300f64..1e300,
            -1e3f64..1e3,
            Just(f64::MAX),
            Just(-f64::MIN_POSITIVE),
        ]),
        u in 0.0f64..=1.0,
        x in -2.0f64..=2.0,
    ) {
        let mut rng = Lcg(seed);
        let p = params(&mut rng, &[8, 5], outputs(1, &[6]), rng_sign(seed));
        let q = Q1::new(&[8, 5], &[6], Domain::new([-2.0], [2.0]).unwrap(), 2.0, 80.0, &p).unwrap();
        let at = q.at(&s).unwrap();
        let qv = at.q(&[x]).unwrap();
        prop_assert!(qv.is_finite() && at.v().is_finite());
        prop_assert!(at.policy_pdf(&[x]).unwrap() > 0.0);
        let a = at.sample(&[u]).unwrap();
        prop_assert!((-2.0..=2.0).contains(&a[0]));
        // ln pi = beta (Q - V), the log-scale c (up to +-80) cancelling.
        let lp = at.log_policy_pdf(&[x]).unwrap();
        prop_assert!((lp - 2.0 * (qv - at.v())).abs() < 1e-11 * (1.0 + 2.0 * qv.abs()));
        let net = q.action_network(&s).unwrap().0;
        prop_assert!(net.integrand(&[x]).unwrap() >= 0.0);
        // The policy is normalised by the same corner sum as V: at(s).v() is v(s) exactly.
        prop_assert_eq!(at.v().to_bits(), q.v(&s).unwrap().to_bits());
    }

    /// In f32 too (the device's precision), the policy at a state and V(s) agree bit for
    /// bit, and the policy's total mass is 1 to a few f32 ulps.
    #[test]
    fn policy_and_value_share_one_normaliser_in_f32(seed in 0u64..1000, x in -2.0f32..=2.0) {
        let mut rng = Lcg(seed);
        let p: Vec<f32> = params(&mut rng, &[8, 5], outputs(1, &[6]), rng_sign(seed))
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let q = Q1f::new(&[8, 5], &[6], Domain::new([-2.0], [2.0]).unwrap(), 2.0, 30.0, &p).unwrap();
        let s = state(&mut rng).map(|v| v as f32);
        let at = q.at(&s).unwrap();
        prop_assert_eq!(at.v().to_bits(), q.v(&s).unwrap().to_bits());
        prop_assert!(at.policy_pdf(&[x]).unwrap() >= 0.0);
        prop_assert!((at.density().cdf(&[2.0]).unwrap() - 1.0).abs() < 8.0 * f32::EPSILON);
    }
}

fn rng_sign(seed: u64) -> f64 {
    if seed % 2 == 0 {
        1.0
    } else {
        -1.0
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Hostile parameters (scaled up to 1e6) and uniforms outside [0, 1]: every call returns
    /// a finite value or a typed error, never NaN and never a panic; samples stay in A.
    #[test]
    fn hostile_parameters_give_values_or_typed_errors(
        seed in 0u64..1000,
        scale in prop_oneof![Just(1.0f64), Just(30.0), Just(1e3), Just(1e6)],
        u in -2.0f64..3.0,
        x in -2.0f64..=2.0,
    ) {
        let mut rng = Lcg(seed);
        let p: Vec<f64> = params(&mut rng, &[8], outputs(1, &[6]), 0.5)
            .into_iter()
            .map(|v| v * scale)
            .collect();
        let q = Q1::new(&[8], &[6], Domain::new([-2.0], [2.0]).unwrap(), 2.0, 80.0, &p).unwrap();
        let s = state(&mut rng);
        let results = [q.q(&s, &[x]), q.v(&s), q.log_policy_pdf(&s, &[x]), q.policy_pdf(&s, &[x])];
        for v in results.into_iter().flatten() {
            prop_assert!(!v.is_nan());
        }
        if let Ok(a) = q.sample_action(&s, &[u]) {
            prop_assert!((-2.0..=2.0).contains(&a[0]));
        }
        let f = q.sample_action(&s, &[u]);
        let ok = matches!(
            f,
            Ok(_) | Err(Error::DegenerateIntegral) | Err(Error::Overflow)
                | Err(Error::InconsistentConstants(_))
        );
        prop_assert!(ok, "{:?}", f);
    }
}
