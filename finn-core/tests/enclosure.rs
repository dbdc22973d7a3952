//! Enclosures of f over a box (issue 11, item 2): for random positive and signed networks
//! (n = 1..4, depth 1..3, widths <= 6) and random boxes, f at the corners and at random points
//! lies inside `integrand_enclosure` (f64; f32 against both the f32 value and the f64 value
//! of the same rounded parameters, i.e. the exact f up to f64's error), the enclosure's width shrinks
//! linearly with the box, and the enclosure of a degenerate box holds f at that point. The same
//! for the centred (mean-value) form, which must also lie inside the natural one, and the
//! gradient enclosure holds the difference quotients inside the box.

use finn_core::{
    parameter_count, Activation, Antiderivative, Bound, Constraint, Density, Domain, Finn,
    Interval, Kind, Method, Network, Real,
};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Case {
    positive: bool,
    widths: Vec<usize>,
    params: Vec<f64>,
    lower: Vec<f64>,
    side: Vec<f64>,
    seed: u64,
}

fn case(n: usize) -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        prop::collection::vec(1usize..=6, 1..=3),
        any::<u64>(),
    )
        .prop_flat_map(move |(positive, widths, seed)| {
            let count = parameter_count(n, &widths);
            (
                prop::collection::vec(-2.0..2.0f64, count),
                prop::collection::vec(-2.0..1.5f64, n),
                prop::collection::vec(0.0..1.5f64, n),
            )
                .prop_map(move |(params, lower, side)| Case {
                    positive,
                    widths: widths.clone(),
                    // Representable in f32, so the f32 and f64 networks are the same function.
                    params: params.iter().map(|&v| v as f32 as f64).collect(),
                    lower: lower.iter().map(|&v| v as f32 as f64).collect(),
                    side,
                    seed,
                })
        })
}

fn network<T: Real, const N: usize>(c: &Case) -> Network<T, N, 6, 3>
where
    finn_core::jet::Dim<N>: finn_core::jet::JetDim,
{
    let p: Vec<T> = c.params.iter().map(|&v| T::from_f64(v)).collect();
    let (kind, act) = if c.positive {
        (Kind::Positive, Activation::Sigma)
    } else {
        (Kind::Signed, Activation::Tanh)
    };
    Network::new(kind, act, &c.widths, &p).unwrap()
}

/// A small deterministic generator.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64) / ((1u64 << 53) as f64)
    }
}

/// The box's corners and 60 random points in it, all f32-representable.
fn points(lo: &[f64], hi: &[f64], seed: u64) -> Vec<Vec<f64>> {
    let n = lo.len();
    let mut out = Vec::new();
    for k in 0..(1usize << n) {
        out.push(
            (0..n)
                .map(|i| if k >> i & 1 == 1 { hi[i] } else { lo[i] })
                .collect(),
        );
    }
    let mut rng = Lcg(seed);
    for _ in 0..60 {
        out.push(
            (0..n)
                .map(|i| ((lo[i] + (hi[i] - lo[i]) * rng.next()) as f32 as f64).clamp(lo[i], hi[i]))
                .collect(),
        );
    }
    out
}

fn check_contains<const N: usize>(c: &Case) -> Result<(), TestCaseError>
where
    finn_core::jet::Dim<N>: finn_core::jet::JetDim,
{
    let lo = c.lower.clone();
    let hi: Vec<f64> = lo
        .iter()
        .zip(&c.side)
        .map(|(a, s)| (a + s) as f32 as f64)
        .collect();
    let net64 = network::<f64, N>(c);
    let net32 = network::<f32, N>(c);
    let e64 = net64.integrand_enclosure(&lo, &hi).unwrap();
    let (lo32, hi32): (Vec<f32>, Vec<f32>) = (
        lo.iter().map(|&v| v as f32).collect(),
        hi.iter().map(|&v| v as f32).collect(),
    );
    let e32 = net32.integrand_enclosure(&lo32, &hi32);
    // The centred form is the natural one intersected with the mean-value form.
    let c64 = net64.integrand_enclosure_centred(&lo, &hi).unwrap();
    prop_assert!(
        c64.lo >= e64.lo && c64.hi <= e64.hi,
        "{c64:?} not in {e64:?}"
    );
    let c32 = net32.integrand_enclosure_centred(&lo32, &hi32);
    // The gradient enclosure holds every difference quotient inside the box (the mean value
    // theorem puts each at some d_i f in the box), up to the quotient's own rounding.
    let g = net64.integrand_gradient_enclosure(&lo, &hi).unwrap();
    for x in points(&lo, &hi, c.seed) {
        let f = net64.integrand(&x).unwrap();
        prop_assert!(
            e64.contains(f),
            "f64: f({x:?}) = {f:e} outside [{:e}, {:e}]",
            e64.lo,
            e64.hi
        );
        // The exact f of the f32 parameters is the f64 value up to f64's error.
        if let Ok(e) = e32 {
            let slack = 1e-10 * f.abs().max(e64.magnitude());
            prop_assert!(
                (e.lo as f64) <= f + slack && f - slack <= e.hi as f64,
                "f32: f({x:?}) = {f:e} outside [{:e}, {:e}]",
                e.lo,
                e.hi
            );
        }
        prop_assert!(c64.contains(f), "centred: f({x:?}) = {f:e} outside {c64:?}");
        for i in 0..N {
            let h = 1e-3 * (hi[i] - lo[i]);
            if h == 0.0 || x[i] + h > hi[i] {
                continue;
            }
            let mut y = x.clone();
            y[i] += h;
            let q = (net64.integrand(&y).unwrap() - f) / h;
            let slack = 1e-12 * e64.magnitude() / h;
            prop_assert!(
                g[i].lo - slack <= q && q <= g[i].hi + slack,
                "axis {i}: quotient {q:e} outside {:?}",
                g[i]
            );
        }
        if let Ok(e) = c32 {
            let slack = 1e-10 * f.abs().max(e64.magnitude());
            prop_assert!(
                (e.lo as f64) <= f + slack && f - slack <= e.hi as f64,
                "f32 centred: f({x:?}) = {f:e} outside {e:?}"
            );
        }
        // And so does the f32 value the f32 network computes there.
        if let Ok(e) = e32 {
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            if let Ok(v) = net32.integrand(&x32) {
                prop_assert!(e.contains(v), "f32 value {v:e} outside {e:?} (f64: {f:e})");
            }
        }
        // A point is a degenerate box: its enclosure holds f there.
        let p = net64.integrand_enclosure(&x, &x).unwrap();
        prop_assert!(p.contains(f), "point {x:?}: {f:e} outside {p:?}");
        prop_assert!(p.lo >= e64.lo && p.hi <= e64.hi || p.width() < 1e-9 * p.magnitude().max(1.0));
    }
    // f32 enclosures exist wherever the f32 network evaluates (overflow is an error).
    if c.positive {
        prop_assert!(e64.lo >= 0.0);
    }
    Ok(())
}

/// Width against the box's half-side h = 1e-2, 1e-3, 1e-4, 1e-5 around a random centre: each
/// tenfold shrink of the box shrinks the width at least fivefold (linear: tenfold), until the
/// activations' allowances (about 4e-12 relative) are reached. (Wider boxes can be capped by
/// global bounds of tanh's derivatives, which do not shrink.)
fn check_shrinks<const N: usize>(c: &Case) -> Result<(), TestCaseError>
where
    finn_core::jet::Dim<N>: finn_core::jet::JetDim,
{
    let net = network::<f64, N>(c);
    let centre: Vec<f64> = c
        .lower
        .iter()
        .zip(&c.side)
        .map(|(a, s)| a + 0.5 * s)
        .collect();
    let mut widths = Vec::new();
    let mut centred = Vec::new();
    for h in [1e-2, 1e-3, 1e-4, 1e-5] {
        let lo: Vec<f64> = centre.iter().map(|v| v - h).collect();
        let hi: Vec<f64> = centre.iter().map(|v| v + h).collect();
        widths.push(net.integrand_enclosure(&lo, &hi).unwrap());
        centred.push(net.integrand_enclosure_centred(&lo, &hi).unwrap());
    }
    // The centred form's width is |grad f| h-like plus O(h^2): it shrinks at least as fast.
    for k in 1..centred.len() {
        let (a, b) = (centred[k - 1].width(), centred[k].width());
        let floor = 1e-9 * centred[0].magnitude() + 1e-290;
        prop_assert!(b <= 0.2 * a || b <= floor, "centred: {centred:?}");
    }
    let floor = 1e-9 * widths[0].magnitude() + 1e-290;
    for k in 1..widths.len() {
        let (a, b) = (widths[k - 1].width(), widths[k].width());
        prop_assert!(
            b <= 0.2 * a || b <= floor,
            "h = 1e-{}: width {b:e} after {a:e} (enclosures {:?})",
            k + 2,
            widths
        );
    }
    Ok(())
}

macro_rules! enclosure_tests {
    ($contains:ident, $shrinks:ident, $n:literal, $cases:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases($cases))]
            #[test]
            fn $contains(c in case($n)) {
                check_contains::<$n>(&c)?;
            }
            #[test]
            fn $shrinks(c in case($n)) {
                check_shrinks::<$n>(&c)?;
            }
        }
    };
}

enclosure_tests!(contains_f_n1, shrinks_n1, 1, 200);
enclosure_tests!(contains_f_n2, shrinks_n2, 2, 200);
enclosure_tests!(contains_f_n3, shrinks_n3, 3, 100);
enclosure_tests!(contains_f_n4, shrinks_n4, 4, 60);

#[test]
fn model_and_density_enclosures_apply_the_constants_and_the_support() {
    let params: Vec<f64> = (0..parameter_count(2, &[4, 3]))
        .map(|i| (i as f64 * 0.7).sin())
        .collect();
    let net = Network::<f64, 2, 4, 2>::positive(&[4, 3], &params).unwrap();
    let support = Domain::new([-1.0, -1.0], [1.0, 2.0]).unwrap();
    let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    let p = Density::new(Finn::new(net.clone(), support, Some(one)).unwrap()).unwrap();
    let all = p
        .pdf_enclosure(&[f64::NEG_INFINITY; 2], &[f64::INFINITY; 2])
        .unwrap();
    assert_eq!(all.lo, 0.0);
    let inner = p.pdf_enclosure(&[-0.5, 0.0], &[0.5, 1.0]).unwrap();
    assert!(inner.lo > 0.0 && inner.hi <= all.hi);
    let mut rng = Lcg(7);
    for _ in 0..2000 {
        let x = [-1.5 + 3.0 * rng.next(), -1.5 + 4.0 * rng.next()];
        let v = p.pdf(&x).unwrap();
        assert!(all.contains(v));
    }
    assert_eq!(
        p.pdf_enclosure(&[2.0, 0.0], &[3.0, 1.0]).unwrap(),
        Interval::point(0.0)
    );
    // A shift constraint on a signed network: f = f' + c.
    let signed = Network::<f64, 2, 4, 2>::signed(Activation::Tanh, &[4, 3], &params).unwrap();
    let shift = Constraint::new(Bound::Equal, Method::Shift, 5.0);
    let model = Finn::new(signed, support, Some(shift)).unwrap();
    let e = model
        .integrand_enclosure(&[-1.0, -1.0], &[1.0, 2.0])
        .unwrap();
    for _ in 0..2000 {
        let x = [-1.0 + 2.0 * rng.next(), -1.0 + 3.0 * rng.next()];
        assert!(e.contains(model.integrand(&x).unwrap()));
    }
    // Errors, not panics.
    assert!(model.integrand_enclosure(&[0.0], &[1.0]).is_err());
    assert!(model.integrand_enclosure(&[1.0, 0.0], &[0.0, 1.0]).is_err());
    assert!(model
        .integrand_enclosure(&[f64::NAN, 0.0], &[0.0, 1.0])
        .is_err());
    assert!(p.pdf_enclosure(&[f64::NAN, 0.0], &[0.0, 1.0]).is_err());
    assert!(Finn::<f64, 2, 4, 2>::unloaded()
        .integrand_enclosure(&[0.0, 0.0], &[1.0, 1.0])
        .is_err());
}

/// Where the magnitude bounds of `bounds_over` (largest |weight| per input, sums of |weights|)
/// stay far above the true maximum even over a tiny box, the enclosure closes in on f.
#[test]
fn enclosures_are_local_where_magnitude_bounds_are_not() {
    let params: Vec<f64> = (0..parameter_count(2, &[5, 4]))
        .map(|i| 1.5 * (i as f64 * 1.3).sin())
        .collect();
    let net = Network::<f64, 2, 6, 3>::positive(&[5, 4], &params).unwrap();
    let x = [0.3, -0.2];
    let f = net.integrand(&x).unwrap();
    let h = 1e-6;
    let lo = [x[0] - h, x[1] - h];
    let hi = [x[0] + h, x[1] + h];
    let (_, magnitude) = net.bounds_over(&lo, &hi).unwrap();
    let e = net.integrand_enclosure(&lo, &hi).unwrap();
    assert!(e.contains(f));
    assert!(e.width() < 1e-4 * f, "{e:?} around {f}");
    assert!(magnitude > 2.0 * f, "{magnitude} against {f}");
}

/// Near a maximum of f the centred form's overestimate (hi - max f) shrinks quadratically
/// with the box, the natural form's linearly.
#[test]
fn the_centred_form_closes_in_quadratically_at_a_maximum() {
    // Three sigma_2 units: f = sum_j a_j w_j1 w_j2 exp(-z_j^2)/sqrt(pi), each largest on its
    // line z_j = 0; the lines do not meet in one point, so no unit peaks at the maximum of f
    // and the natural form overestimates it in proportion to the box.
    let params = [0.8, 0.6, 1.1, 0.3, 0.5, 1.2, 0.1, -0.4, 0.7, 1.0, 0.5, 0.8];
    let net = Network::<f64, 2, 4, 1>::positive(&[3], &params).unwrap();
    // Locate the maximum by a fine local search.
    let (mut x, mut best) = ([0.0, 0.0], f64::NEG_INFINITY);
    let mut step = 0.5;
    while step > 1e-9 {
        let mut moved = false;
        for d in [[step, 0.0], [-step, 0.0], [0.0, step], [0.0, -step]] {
            let y = [x[0] + d[0], x[1] + d[1]];
            let v = net.integrand(&y).unwrap();
            if v > best {
                (x, best, moved) = (y, v, true);
            }
        }
        if !moved {
            step *= 0.5;
        }
    }
    let over = |h: f64, centred: bool| {
        let (lo, hi) = ([x[0] - h, x[1] - h], [x[0] + h, x[1] + h]);
        let e = if centred {
            net.integrand_enclosure_centred(&lo, &hi).unwrap()
        } else {
            net.integrand_enclosure(&lo, &hi).unwrap()
        };
        assert!(e.hi >= best);
        e.hi - best
    };
    let (n1, n2) = (over(1e-2, false), over(1e-3, false));
    let (c1, c2) = (over(1e-2, true), over(1e-3, true));
    assert!(n2 > 0.05 * n1, "natural: {n1:e} -> {n2:e}");
    assert!(c2 < 0.03 * c1, "centred: {c1:e} -> {c2:e}");
    assert!(c2 < 0.1 * n2, "centred {c2:e} against natural {n2:e}");
}
