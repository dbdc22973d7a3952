//! Densities: positivity, normalisation, additivity, marginals and conditionals against
//! quadrature and nested duals, log_pdf where f underflows, and the sampler (tolerance,
//! support, chi-square against the model's own box probabilities), f64 and f32.
// Index loops mirror the formulas (axes, subsets, grid cells).
#![allow(clippy::needless_range_loop)]

mod common;

use common::{gauss_legendre, reference_f, Lcg, Nested, RefKind, D1, D2, D3};
use finn_core::{
    parameter_count, Activation, Bound, Constraint, Density, Domain, Error, Finn, Method, Network,
    Real,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Case {
    widths: Vec<usize>,
    params: Vec<f64>,
    lower: Vec<f64>,
    width: Vec<f64>,
}

fn case(n: usize, max_depth: usize, weight: f64) -> impl Strategy<Value = Case> {
    prop::collection::vec(1usize..=4, 1..=max_depth).prop_flat_map(move |widths| {
        let count = parameter_count(n, &widths);
        (
            // Magnitudes from 0.2 up: a zero weight on every path gives f = 0, which no
            // scale can normalise.
            prop::collection::vec(
                (0.2..weight, any::<bool>()).prop_map(|(m, s)| if s { m } else { -m }),
                count,
            ),
            prop::collection::vec(-2.0..0.5f64, n),
            prop::collection::vec(0.5..2.5f64, n),
        )
            .prop_map(move |(params, lower, width)| Case {
                widths: widths.clone(),
                params,
                lower,
                width,
            })
    })
}

fn density<T: Real, const N: usize>(c: &Case) -> Density<T, N, 4, 2>
where
    finn_core::jet::Dim<N>: finn_core::jet::JetDim,
{
    let t = |v: &f64| T::from_f64(*v);
    let p: Vec<T> = c.params.iter().map(t).collect();
    let net = Network::<T, N, 4, 2>::positive(&c.widths, &p).unwrap();
    let lower: [T; N] = core::array::from_fn(|i| T::from_f64(c.lower[i]));
    let upper: [T; N] = core::array::from_fn(|i| T::from_f64(c.lower[i] + c.width[i]));
    let one = Constraint::new(Bound::Equal, Method::Scale, T::ONE);
    let model = Finn::new(net, Domain::new(lower, upper).unwrap(), Some(one))
        .unwrap_or_else(|e| panic!("{e:?} for {c:?}"));
    Density::new(model).unwrap()
}

/// Composite Gauss-Legendre on [a, b]: `panels` panels of `m` points.
fn integrate(a: f64, b: f64, panels: usize, m: usize, mut f: impl FnMut(f64) -> f64) -> f64 {
    let gl = gauss_legendre(m);
    let h = (b - a) / panels as f64;
    let mut sum = 0.0;
    for k in 0..panels {
        let mid = a + (k as f64 + 0.5) * h;
        for &(x, w) in &gl {
            sum += w * 0.5 * h * f(mid + 0.5 * h * x);
        }
    }
    sum
}

fn upper(c: &Case, i: usize) -> f64 {
    c.lower[i] + c.width[i]
}

/// d_S F' of the reference (nested duals over the inputs in S only).
fn reference_partial(c: &Case, x: &[f64], mask: usize) -> f64 {
    fn run<D: Nested>(c: &Case, x: &[f64], mask: usize) -> f64 {
        let mut level = 0;
        let xs: Vec<D> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if mask >> i & 1 == 1 {
                    level += 1;
                    D::variable(v, level - 1)
                } else {
                    D::constant(v)
                }
            })
            .collect();
        reference_f(RefKind::Positive, x.len(), &c.widths, &c.params, &xs).top()
    }
    match mask.count_ones() {
        0 => run::<f64>(c, x, mask),
        1 => run::<D1>(c, x, mask),
        2 => run::<D2>(c, x, mask),
        _ => run::<D3>(c, x, mask),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every subset partial d_S F equals the nested-dual reference (n = 3, depth <= 2).
    #[test]
    fn partials_match_nested_duals(c in case(3, 2, 2.0), s in prop::collection::vec(0.0..1.0f64, 3)) {
        let p: Vec<f64> = c.params.clone();
        let net = Network::<f64, 3, 4, 2>::positive(&c.widths, &p).unwrap();
        let x: Vec<f64> = (0..3).map(|i| c.lower[i] + s[i] * c.width[i]).collect();
        let jet = net.partials(&x).unwrap();
        for mask in 0..8 {
            let r = reference_partial(&c, &x, mask);
            prop_assert!((jet[mask] - r).abs() <= 1e-12 * (1.0 + r.abs()), "S = {mask:b}: {} vs {r}", jet[mask]);
            if mask != 0 {
                prop_assert!(jet[mask] >= 0.0);
            }
        }
    }

    /// pdf >= 0 inside and outside, 0 outside; total probability 1; cdf(b) = 1; the marginal
    /// of the empty set is 1.
    #[test]
    fn positive_and_normalised(c in case(2, 2, 2.0), s in prop::collection::vec(-0.5..1.5f64, 2)) {
        let p = density::<f64, 2>(&c);
        let x = [c.lower[0] + s[0] * c.width[0], c.lower[1] + s[1] * c.width[1]];
        let v = p.pdf(&x).unwrap();
        prop_assert!(v >= 0.0 && v.is_finite());
        if !p.support().contains(&x) {
            prop_assert_eq!(v, 0.0);
            prop_assert_eq!(p.log_pdf(&x).unwrap(), f64::NEG_INFINITY);
        }
        let inf = [f64::INFINITY; 2];
        // The constants make the true integral 1 (to 1e-15); the f64 corner sum that computes
        // it differs by its rounding, which the bound covers.
        let total = p.box_probability_with_bound(&[f64::NEG_INFINITY; 2], &inf).unwrap();
        prop_assert!((total.value - 1.0).abs() <= total.error + 1e-15, "total {total:?}");
        prop_assert!((p.cdf(&inf).unwrap() - 1.0).abs() <= total.error + 1e-15);
        let m = p.marginal_pdf_with_bound(0, &x).unwrap();
        prop_assert!((m.value - 1.0).abs() <= m.error + 1e-13, "{m:?}");
        for mask in 1..4 {
            prop_assert!(p.marginal_pdf(mask, &x).unwrap() >= 0.0);
        }
    }

    /// Splitting a box along an axis: the two halves' probabilities add up to the whole.
    #[test]
    fn additive(c in case(3, 2, 2.0), s in prop::collection::vec(-0.2..1.2f64, 7), axis in 0usize..3) {
        let p = density::<f64, 3>(&c);
        let lo: [f64; 3] = core::array::from_fn(|i| c.lower[i] + s[i].min(s[i + 3]) * c.width[i]);
        let hi: [f64; 3] = core::array::from_fn(|i| c.lower[i] + s[i].max(s[i + 3]) * c.width[i]);
        let cut = lo[axis] + s[6].clamp(0.0, 1.0) * (hi[axis] - lo[axis]);
        let (mut mid_hi, mut mid_lo) = (hi, lo);
        mid_hi[axis] = cut;
        mid_lo[axis] = cut;
        let whole = p.box_probability_with_bound(&lo, &hi).unwrap();
        let left = p.box_probability_with_bound(&lo, &mid_hi).unwrap();
        let right = p.box_probability_with_bound(&mid_lo, &hi).unwrap();
        let tol = whole.error + left.error + right.error + 1e-15;
        prop_assert!((whole.value - left.value - right.value).abs() <= tol,
            "{} vs {} + {} (tol {tol})", whole.value, left.value, right.value);
        prop_assert!(whole.value >= 0.0 && whole.value <= 1.0);
    }

    /// Marginal pdfs against Gauss-Legendre quadrature of the pdf over the other axes, and the
    /// 1-D marginals integrate to 1 (n = 2).
    #[test]
    fn marginals_against_quadrature(c in case(2, 2, 2.0), s in 0.0..1.0f64) {
        let p = density::<f64, 2>(&c);
        for axis in 0..2 {
            let other = 1 - axis;
            let mut x = [0.0; 2];
            x[axis] = c.lower[axis] + s * c.width[axis];
            let m = p.marginal_pdf_with_bound(1 << axis, &x).unwrap();
            let q = integrate(c.lower[other], upper(&c, other), 8, 16, |t| {
                let mut y = x;
                y[other] = t;
                p.pdf(&y).unwrap()
            });
            prop_assert!((m.value - q).abs() <= m.error + 1e-10 * q, "axis {axis}: {m:?} vs {q}");
            let (mut total, mut error) = (0.0, 0.0);
            let gl = gauss_legendre(16);
            let h = c.width[axis] / 8.0;
            for k in 0..8 {
                for &(t, w) in &gl {
                    let mut y = [0.0; 2];
                    y[axis] = c.lower[axis] + (k as f64 + 0.5 + 0.5 * t) * h;
                    let b = p.marginal_pdf_with_bound(1 << axis, &y).unwrap();
                    total += w * 0.5 * h * b.value;
                    error += w * 0.5 * h * b.error;
                }
            }
            // The scale was resolved from the corner sum over the support, whose own rounding
            // (its bound) is how far from 1 the exact total may be.
            let whole = p
                .box_probability_with_bound(p.support().lower(), p.support().upper())
                .unwrap();
            prop_assert!((total - 1.0).abs() < error + whole.error + 1e-10,
                "axis {axis} integrates to {total} (error {error}, normalisation {})", whole.error);
            // The marginal CDF is the integral of the marginal pdf.
            let cdf = p.marginal_cdf(1 << axis, &x).unwrap();
            let int = integrate(c.lower[axis], x[axis].max(c.lower[axis] + 1e-300), 8, 16, |t| {
                let mut y = [0.0; 2];
                y[axis] = t;
                p.marginal_pdf(1 << axis, &y).unwrap()
            });
            let mut hi = *p.support().upper();
            hi[axis] = x[axis];
            let bound = p.box_probability_with_bound(p.support().lower(), &hi).unwrap();
            prop_assert_eq!(bound.value, cdf);
            prop_assert!((cdf - int).abs() < 1e-10 + error + bound.error, "cdf {cdf} vs {int}");
        }
    }

    /// n = 3: marginals over one and two coordinates against quadrature.
    #[test]
    fn marginals_n3(c in case(3, 1, 2.0), s in prop::collection::vec(0.0..1.0f64, 3)) {
        let p = density::<f64, 3>(&c);
        let x: [f64; 3] = core::array::from_fn(|i| c.lower[i] + s[i] * c.width[i]);
        // S = {0, 2}: integrate over axis 1.
        let m = p.marginal_pdf_with_bound(0b101, &x).unwrap();
        let q = integrate(c.lower[1], upper(&c, 1), 4, 16, |t| p.pdf(&[x[0], t, x[2]]).unwrap());
        prop_assert!((m.value - q).abs() <= m.error + 1e-10 * q, "{m:?} vs {q}");
        // S = {1}: integrate over axes 0 and 2.
        let m = p.marginal_pdf_with_bound(0b010, &x).unwrap();
        let q = integrate(c.lower[0], upper(&c, 0), 4, 12, |t0| {
            integrate(c.lower[2], upper(&c, 2), 4, 12, |t2| p.pdf(&[t0, x[1], t2]).unwrap())
        });
        prop_assert!((m.value - q).abs() <= m.error + 1e-9 * q, "{m:?} vs {q}");
    }

    /// Conditional CDFs: monotone, in [0, 1], 0 and 1 at the ends, and the ratio of
    /// quadratures of the pdf along the axis (n = 2, k = 1).
    #[test]
    fn conditional_cdf_monotone(c in case(2, 2, 2.0), s in 0.0..1.0f64) {
        let p = density::<f64, 2>(&c);
        let x0 = c.lower[0] + s * c.width[0];
        let mut last = 0.0;
        let steps = 40;
        for i in 0..=steps {
            let t = if i == steps { upper(&c, 1) } else { c.lower[1] + c.width[1] * i as f64 / steps as f64 };
            let b = p.conditional_cdf_with_bound(1, &[x0, t]).unwrap();
            let v = b.value;
            prop_assert!((0.0..=1.0).contains(&v));
            prop_assert!(v >= last - 2.0 * b.error, "not monotone: {last} then {b:?}");
            last = v;
            if i == 0 { prop_assert_eq!(v, 0.0); }
        }
        prop_assert_eq!(last, 1.0);
        let t = c.lower[1] + 0.37 * c.width[1];
        let den = integrate(c.lower[1], upper(&c, 1), 8, 16, |y| p.pdf(&[x0, y]).unwrap());
        let num = integrate(c.lower[1], t, 8, 16, |y| p.pdf(&[x0, y]).unwrap());
        let v = p.conditional_cdf_with_bound(1, &[x0, t]).unwrap();
        prop_assert!((v.value - num / den).abs() < v.error + 1e-9, "{v:?} vs {}", num / den);
    }

    /// The sampler: in the support, and every conditional CDF meets its uniform (f64).
    #[test]
    fn sample_inverts_cdfs_f64(c in case(3, 2, 2.0), u in prop::collection::vec(0.0..1.0f64, 3)) {
        let p = density::<f64, 3>(&c);
        let u = [u[0], u[1], u[2]];
        let (x, stats) = p.sample_with_stats(&u).unwrap();
        prop_assert!(p.support().contains(&x));
        prop_assert_eq!(stats.capped_axes, 0);
        prop_assert!(stats.max_axis_evaluations <= 12, "{stats:?}");
        for k in 0..3 {
            let v = p.conditional_cdf_with_bound(k, &x).unwrap();
            prop_assert!((v.value - u[k]).abs() <= v.error + 1e-12, "axis {k}: C = {v:?}, u = {}", u[k]);
        }
        // The first axis against the box probability (quadrature where the corners cancel).
        let c0 = p.conditional_cdf_with_bound(0, &x).unwrap();
        prop_assert!((p.marginal_cdf(1, &x).unwrap() - u[0]).abs() <= 2.0 * c0.error + 1e-12);
    }

    /// The same in f32 (tolerance 1e-3: corner sums in f32 lose digits).
    #[test]
    fn sample_inverts_cdfs_f32(c in case(2, 1, 2.0), u in prop::collection::vec(0.0..1.0f64, 2)) {
        let p = density::<f32, 2>(&c);
        let u = [u[0] as f32, u[1] as f32];
        let (x, stats) = p.sample_with_stats(&u).unwrap();
        prop_assert!(p.support().contains(&x));
        prop_assert_eq!(stats.capped_axes, 0);
        for k in 0..2 {
            let v = p.conditional_cdf_with_bound(k, &x).unwrap();
            prop_assert!((v.value - u[k]).abs() <= v.error + 1e-5, "axis {k}: C = {v:?}, u = {}", u[k]);
        }
    }

    /// Sharp densities (large weights): samples never NaN, always in the support, whatever
    /// the uniforms (ends included); zero-mass prefixes fall back to uniform.
    #[test]
    fn sample_never_leaves_support(c in case(2, 2, 30.0), u in prop::collection::vec(prop_oneof![Just(0.0), Just(1.0), 0.0..1.0f64], 2)) {
        let Ok(net) = Network::<f64, 2, 4, 2>::positive(&c.widths, &c.params) else { return Ok(()) };
        let d = Domain::new([c.lower[0], c.lower[1]], [upper(&c, 0), upper(&c, 1)]).unwrap();
        let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
        let Ok(model) = Finn::new(net, d, Some(one)) else { return Ok(()) };
        let p = Density::new(model).unwrap();
        match p.sample_with_stats(&[u[0], u[1]]) {
            Ok((x, _)) => {
                prop_assert!(x.iter().all(|v| v.is_finite()) && p.support().contains(&x));
            }
            Err(e) => prop_assert_eq!(e, Error::Overflow),
        }
    }

    /// log_pdf = ln(pdf) wherever pdf is a normal number (depth 1: log-sum-exp; depth 2: ln).
    #[test]
    fn log_pdf_matches_ln_pdf(c in case(2, 2, 3.0), s in prop::collection::vec(0.0..1.0f64, 2)) {
        let p = density::<f64, 2>(&c);
        let x = [c.lower[0] + s[0] * c.width[0], c.lower[1] + s[1] * c.width[1]];
        let v = p.pdf(&x).unwrap();
        let l = p.log_pdf(&x).unwrap();
        if v > 1e-300 {
            prop_assert!((l - v.ln()).abs() <= 1e-12 * (1.0 + l.abs()), "{l} vs ln {v}");
        } else {
            prop_assert!(!l.is_nan() && l < -690.0);
        }
    }
}

/// A sharp one-layer model: in f32 its pdf underflows to 0 over much of the support while
/// log_pdf stays finite and matches the f64 model's.
#[test]
fn log_pdf_where_f32_underflows() {
    let params = [6.0, 5.0, 0.5, 4.0, -7.0, 1.0, 1.0, 2.0];
    let case = Case {
        widths: vec![2],
        params: params.to_vec(),
        lower: vec![-3.0, -3.0],
        width: vec![6.0, 6.0],
    };
    let p64 = density::<f64, 2>(&case);
    let p32 = density::<f32, 2>(&case);
    let mut underflowed = 0;
    let mut worst = 0.0f64;
    for i in 0..=60 {
        for j in 0..=60 {
            let x = [-3.0 + 0.1 * i as f64, -3.0 + 0.1 * j as f64];
            let x32 = [x[0] as f32, x[1] as f32];
            let l64 = p64.log_pdf(&x).unwrap();
            let l32 = p32.log_pdf(&x32).unwrap();
            assert!(l32.is_finite(), "f32 log_pdf at {x:?}: {l32}");
            if p32.pdf(&x32).unwrap() == 0.0 {
                underflowed += 1;
                // x32 is x rounded to f32: compare at the same point.
                let l = p64.log_pdf(&[x32[0] as f64, x32[1] as f64]).unwrap();
                worst = worst.max((l32 as f64 - l).abs() / (1.0 + l.abs()));
            }
            assert!(l64.is_finite());
        }
    }
    assert!(underflowed > 100, "only {underflowed} points underflow");
    assert!(worst < 2e-6, "relative error {worst}");
}

/// Chi-square test of samples against the model's own exact cell probabilities: 100,000
/// samples in release builds, 20,000 in debug builds (the sampler is ~20x slower there).
#[test]
fn chi_square_against_box_probabilities() {
    let n_samples = if cfg!(debug_assertions) {
        20_000
    } else {
        100_000
    };
    let params: Vec<f64> = (0..parameter_count(2, &[4, 3]))
        .map(|i| 1.5 * ((i as f64) * 1.3 + 0.4).sin())
        .collect();
    let case = Case {
        widths: vec![4, 3],
        params,
        lower: vec![-1.5, -1.0],
        width: vec![3.0, 2.5],
    };
    let p = density::<f64, 2>(&case);
    const G: usize = 8;
    let edge = |axis: usize, k: usize| case.lower[axis] + case.width[axis] * k as f64 / G as f64;
    let mut counts = [[0usize; G]; G];
    let mut rng = Lcg(20240611);
    let mut max_evals = 0;
    let mut evals = 0;
    for _ in 0..n_samples {
        let u = [rng.next_f64(), rng.next_f64()];
        let (x, stats) = p.sample_with_stats(&u).unwrap();
        assert!(p.support().contains(&x));
        max_evals = max_evals.max(stats.max_axis_evaluations);
        evals += stats.evaluations;
        let cell = |axis: usize| {
            (((x[axis] - case.lower[axis]) / case.width[axis] * G as f64) as usize).min(G - 1)
        };
        counts[cell(0)][cell(1)] += 1;
    }
    let mut chi2 = 0.0;
    let mut total_p = 0.0;
    for i in 0..G {
        for j in 0..G {
            let pr = p
                .box_probability(&[edge(0, i), edge(1, j)], &[edge(0, i + 1), edge(1, j + 1)])
                .unwrap();
            total_p += pr;
            let expected = pr * n_samples as f64;
            assert!(
                expected > 5.0,
                "cell ({i}, {j}) too light for the test: {expected}"
            );
            chi2 += (counts[i][j] as f64 - expected).powi(2) / expected;
        }
    }
    assert!((total_p - 1.0).abs() < 1e-12);
    // 63 degrees of freedom: the 0.9999 quantile is about 111.
    println!(
        "chi2 = {chi2:.1} (63 dof), {n_samples} samples, mean evaluations per sample {:.2}, max per axis {max_evals}",
        evals as f64 / n_samples as f64
    );
    assert!(chi2 < 111.0, "chi2 = {chi2}");
    assert!(max_evals <= 12);
}

#[test]
fn errors() {
    let params = [1.0, -0.5, 0.2, 0.3, 1.0, 2.0];
    let d = Domain::new([0.0], [2.0]).unwrap();
    let signed = Network::<f64, 1, 4, 1>::signed(Activation::Tanh, &[2], &params).unwrap();
    let shift = Constraint::new(Bound::Equal, Method::Shift, 1.0);
    let m = Finn::new(signed, d, Some(shift)).unwrap();
    assert_eq!(Density::new(m).unwrap_err(), Error::NotADensity);
    let pos = Network::<f64, 1, 4, 1>::positive(&[2], &params).unwrap();
    let none = Finn::new(pos.clone(), d, None).unwrap();
    assert_eq!(Density::new(none).unwrap_err(), Error::NotADensity);
    let at_most = Constraint::new(Bound::AtMost, Method::Scale, 1.0);
    let m = Finn::new(pos.clone(), d, Some(at_most)).unwrap();
    assert_eq!(Density::new(m).unwrap_err(), Error::NotADensity);
    let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    let p = Density::new(Finn::new(pos, d, Some(one)).unwrap()).unwrap();
    assert_eq!(p.pdf(&[f64::NAN]), Err(Error::NonFiniteInput));
    assert_eq!(p.log_pdf(&[f64::NAN]), Err(Error::NonFiniteInput));
    assert_eq!(p.cdf(&[f64::NAN]), Err(Error::NonFiniteInput));
    assert_eq!(
        p.box_probability(&[0.0], &[f64::NAN]),
        Err(Error::NonFiniteInput)
    );
    assert_eq!(p.sample(&[f64::NAN]), Err(Error::NonFiniteInput));
    assert_eq!(p.sample(&[f64::INFINITY]), Err(Error::NonFiniteInput));
    assert!(matches!(
        p.marginal_pdf(0b10, &[0.5]),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        p.marginal_cdf(usize::MAX, &[0.5]),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        p.conditional_cdf(1, &[0.5]),
        Err(Error::DimensionMismatch { .. })
    ));
    // Uniforms outside [0, 1] are clamped.
    assert_eq!(p.sample(&[-3.0]).unwrap(), [0.0]);
    assert_eq!(p.sample(&[7.0]).unwrap(), [2.0]);
    // Reversed and out-of-support boxes have probability 0.
    assert_eq!(p.box_probability(&[1.5], &[0.5]).unwrap(), 0.0);
    assert_eq!(p.box_probability(&[-9.0], &[-1.0]).unwrap(), 0.0);
}

/// A ridge density f ~ exp(-(w0 x0 + w1 x1 + b)^2) with a steep ridge: given x0 at the
/// support's lower end the conditional along x1 has (numerically) no mass, so the axis is
/// degenerate and sampled uniformly, and the conditional CDF says the same.
#[test]
fn zero_mass_prefix_is_uniform() {
    let case = Case {
        widths: vec![1],
        params: vec![40.0, 40.0, -60.0, 1.0],
        lower: vec![-1.0, -1.0],
        width: vec![2.0, 2.0],
    };
    let p = density::<f64, 2>(&case);
    // At x0 = -1 the ridge 40 x0 + 40 x1 = 60 needs x1 = 2.5: outside the support.
    let c = p.conditional_cdf(1, &[-1.0, 0.0]).unwrap();
    assert!((c - 0.5).abs() < 1e-15, "{c}");
    let (x, stats) = p.sample_with_stats(&[0.0, 0.25]).unwrap();
    assert_eq!(x[0], -1.0);
    assert_eq!(stats.degenerate_axes, 1);
    assert!((x[1] - (-0.5)).abs() < 1e-15);
}

/// A density loads in double-double and its conditional CDFs agree with f64's within f64's
/// bound, with a bound of their own about 1e-11 times smaller. Failed before: the load's
/// overflow limit, T::MAX / 1024, is NaN in double-double (its product near f64::MAX
/// overflows), so every double-double model was refused with `Overflow`; and double-double's
/// sigma_n error was taken as f64's 1e-12.
#[test]
fn a_double_double_density_loads_and_bounds_its_cdfs_tightly() {
    use finn_core::dd::DoubleDouble as Dd;
    let widths = [3, 2];
    let params: Vec<f64> = (0..parameter_count(2, &widths))
        .map(|i| 0.3 + (i as f64 * 0.9).sin().abs())
        .collect();
    let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    let fast = Density::new(
        Finn::new(
            Network::<f64, 2, 4, 2>::positive(&widths, &params).unwrap(),
            Domain::new([-1.0, 0.0], [1.0, 2.0]).unwrap(),
            Some(one),
        )
        .unwrap(),
    )
    .unwrap();
    let wide_params: Vec<Dd> = params.iter().map(|&p| Dd::from_f64(p)).collect();
    // The f64 model's constants, checked to f64's precision (as the host's sample check does).
    let k = fast.finn().constants();
    let wide = Density::new(
        Finn::with_constants_to(
            Network::<Dd, 2, 4, 2>::positive(&widths, &wide_params).unwrap(),
            Domain::new([-1.0, 0.0].map(Dd::from_f64), [1.0, 2.0].map(Dd::from_f64)).unwrap(),
            Some(Constraint::new(Bound::Equal, Method::Scale, Dd::ONE)),
            finn_core::Resolved::scaled(Dd::from_f64(k.scale)),
            Dd::from_f64(f64::EPSILON),
        )
        .unwrap(),
    )
    .unwrap();
    let mut rng = Lcg(3);
    for _ in 0..50 {
        let x = [rng.uniform(-1.0, 1.0), rng.uniform(0.0, 2.0)];
        for k in 0..2 {
            let f = fast.conditional_cdf_with_bound(k, &x).unwrap();
            let w = wide
                .conditional_cdf_with_bound(k, &x.map(Dd::from_f64))
                .unwrap();
            assert!((f.value - w.value.to_f64()).abs() <= f.error + w.error.to_f64());
            assert!(w.error.to_f64() < 1e-11 * f.error, "{w:?} vs {f:?}");
        }
    }
}
