//! Bounded-deviation models: the total deviation J(psi, phi) measured by high-order quadrature
//! never exceeds eps (f64 and f32, random parameters), |phi - psi| <= f pointwise, the
//! polynomial base's monomials, mapped domains, and the errors.

// Index loops mirror the quadrature (axis by axis).
#![allow(clippy::needless_range_loop)]

mod common;

use common::{gauss_legendre, Lcg};
use finn_core::deviation::{
    monomial_count, Base, BoundedDeviation, Direction, MappedDeviation, NetworkDirection,
    Polynomial,
};
use finn_core::{
    parameter_count, Activation, Bound, Constraint, Domain, Error, Finn, Method, Network, Polar,
    Real,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Case {
    widths: Vec<usize>,
    magnitude: Vec<f64>,
    dir_widths: Vec<usize>,
    direction: Vec<Vec<f64>>,
    base: Vec<f64>,
    degree: usize,
    eps: f64,
    softness: f64,
    lower: Vec<f64>,
    width: Vec<f64>,
}

fn case(n: usize, m: usize) -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(1usize..=4, 1..=2),
        prop::collection::vec(1usize..=4, 1..=2),
        0usize..=2,
    )
        .prop_flat_map(move |(widths, dir_widths, degree)| {
            let count = parameter_count(n, &widths);
            let dir_count = parameter_count(n, &dir_widths);
            (
                prop::collection::vec(
                    (0.2..2.0f64, any::<bool>()).prop_map(|(v, s)| if s { v } else { -v }),
                    count,
                ),
                prop::collection::vec(prop::collection::vec(-3.0..3.0f64, dir_count), m),
                prop::collection::vec(-2.0..2.0f64, m * monomial_count(n, degree)),
                0.01..3.0f64,
                prop::sample::select(vec![1e-3, 0.05, 0.5]),
                prop::collection::vec(-1.5..0.5f64, n),
                prop::collection::vec(0.5..2.0f64, n),
            )
                .prop_map(
                    move |(magnitude, direction, base, eps, softness, lower, width)| Case {
                        widths: widths.clone(),
                        magnitude,
                        dir_widths: dir_widths.clone(),
                        direction,
                        base,
                        degree,
                        eps,
                        softness,
                        lower,
                        width,
                    },
                )
        })
}

type Model<T, const N: usize, const M: usize> =
    BoundedDeviation<T, Polynomial<T, N, M, 10>, NetworkDirection<T, N, M, 4, 2>, N, M, 4, 2>;

fn model<T: Real, const N: usize, const M: usize>(c: &Case) -> Model<T, N, M>
where
    finn_core::jet::Dim<N>: finn_core::jet::JetDim,
{
    let t = |v: &f64| T::from_f64(*v);
    let (mw, dw) = (&c.widths[..], &c.dir_widths[..]);
    let p: Vec<T> = c.magnitude.iter().map(t).collect();
    let net = Network::<T, N, 4, 2>::positive(mw, &p).unwrap();
    let lower: [T; N] = core::array::from_fn(|i| t(&c.lower[i]));
    let upper: [T; N] = core::array::from_fn(|i| T::from_f64(c.lower[i] + c.width[i]));
    let at_most = Constraint::new(Bound::AtMost, Method::Scale, t(&c.eps));
    let magnitude = Finn::new(net, Domain::new(lower, upper).unwrap(), Some(at_most)).unwrap();
    let nets: [Network<T, N, 4, 2>; M] = core::array::from_fn(|k| {
        let q: Vec<T> = c.direction[k].iter().map(t).collect();
        Network::signed(Activation::Tanh, dw, &q).unwrap()
    });
    let direction = NetworkDirection::new(nets, t(&c.softness)).unwrap();
    let coefficients: Vec<T> = c.base.iter().map(t).collect();
    let base = Polynomial::new(c.degree, &coefficients).unwrap();
    BoundedDeviation::new(base, direction, magnitude).unwrap()
}

/// Tensor Gauss-Legendre over the case's box: `panels` panels of `points` nodes per axis.
fn integrate<const N: usize>(
    c: &Case,
    panels: usize,
    points: usize,
    f: impl Fn(&[f64; N]) -> f64,
) -> f64 {
    let gl = gauss_legendre(points);
    let per_axis = panels * points;
    let total = per_axis.pow(N as u32);
    let mut sum = 0.0;
    for idx in 0..total {
        let mut x = [0.0; N];
        let mut w = 1.0;
        let mut rest = idx;
        for i in 0..N {
            let k = rest % per_axis;
            rest /= per_axis;
            let (panel, node) = (k / points, k % points);
            let h = c.width[i] / panels as f64;
            let mid = c.lower[i] + (panel as f64 + 0.5) * h;
            x[i] = mid + 0.5 * h * gl[node].0;
            w *= 0.5 * h * gl[node].1;
        }
        sum += w * f(&x);
    }
    sum
}

/// J(psi, phi) by quadrature, in f64 whatever T.
fn total_deviation<T: Real, const N: usize, const M: usize>(c: &Case, m: &Model<T, N, M>) -> f64
where
    finn_core::jet::Dim<N>: finn_core::jet::JetDim,
{
    let (panels, points) = if N == 1 { (16, 12) } else { (8, 8) };
    integrate::<N>(c, panels, points, |x| {
        let xt = x.map(T::from_f64);
        let phi = m.value(&xt).unwrap();
        let psi = m.base().value(&xt).unwrap();
        phi.iter()
            .zip(&psi)
            .map(|(a, b)| (a.to_f64() - b.to_f64()).powi(2))
            .sum::<f64>()
            .sqrt()
    })
}

fn check<T: Real, const N: usize, const M: usize>(c: &Case, rel: f64) -> Result<(), TestCaseError>
where
    finn_core::jet::Dim<N>: finn_core::jet::JetDim,
{
    let m = model::<T, N, M>(c);
    let b = m.deviation_bound().unwrap();
    let bound = b.value.to_f64() + b.error.to_f64();
    // The recomputed integral is eps (or less) within its own rounding bound.
    prop_assert!(
        b.value.to_f64() - b.error.to_f64() <= c.eps * (1.0 + rel),
        "integral {b:?} > eps {}",
        c.eps
    );
    let j = total_deviation(c, &m);
    prop_assert!(j <= c.eps * (1.0 + rel), "J = {j} > eps = {}", c.eps);
    prop_assert!(
        j <= bound * (1.0 + rel) + 1e-12,
        "J = {j} > bound = {bound}"
    );
    // Pointwise: |phi - psi| <= f, and the base outside the domain.
    let mut rng = Lcg(c.magnitude.len() as u64 ^ (c.eps.to_bits()));
    for _ in 0..50 {
        let x: [T; N] = core::array::from_fn(|i| {
            T::from_f64(rng.uniform(c.lower[i] - 0.5, c.lower[i] + c.width[i] + 0.5))
        });
        let phi = m.value(&x).unwrap();
        let psi = m.base().value(&x).unwrap();
        let f = m.magnitude(&x).unwrap().to_f64();
        let dev: f64 = phi
            .iter()
            .zip(&psi)
            .map(|(a, b)| (a.to_f64() - b.to_f64()).powi(2))
            .sum::<f64>()
            .sqrt();
        // phi rounds once when the correction is added to psi.
        let slack = 4.0 * T::EPSILON.to_f64() * psi.iter().map(|v| v.to_f64().abs()).sum::<f64>();
        prop_assert!(
            dev <= f * (1.0 + rel) + slack,
            "|phi - psi| = {dev} > f = {f}"
        );
        let inside = (0..N).all(|i| {
            let v = x[i].to_f64();
            v >= c.lower[i] && v <= c.lower[i] + c.width[i]
        });
        if !inside {
            prop_assert_eq!(phi, psi);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn deviation_within_budget_1d_f64(c in case(1, 1)) {
        check::<f64, 1, 1>(&c, 1e-9)?;
    }

    #[test]
    fn deviation_within_budget_2d_two_outputs_f64(c in case(2, 2)) {
        check::<f64, 2, 2>(&c, 1e-9)?;
    }

    #[test]
    fn deviation_within_budget_2d_f32(c in case(2, 1)) {
        // f32 loses digits in the corner sum that resolves the scale: 1e-4 relative is the
        // budget's measured f32 slack (the constants are resolved in double-double, then the
        // model evaluates in f32).
        check::<f32, 2, 1>(&c, 1e-4)?;
    }

    #[test]
    fn deviation_within_budget_3_outputs_f32(c in case(1, 3)) {
        check::<f32, 1, 3>(&c, 1e-4)?;
    }
}

/// Every exponent vector of total degree <= d appears exactly once: with x = primes, each
/// monomial's value is a distinct integer (unique factorisation).
#[test]
fn monomials_are_every_exponent_once() {
    fn run<const N: usize, const K: usize>(degree: usize) {
        let primes = [2.0, 3.0, 5.0];
        let x: [f64; N] = core::array::from_fn(|i| primes[i]);
        let p =
            Polynomial::<f64, N, 1, K>::new(degree, &vec![0.0; monomial_count(N, degree)]).unwrap();
        let mut m = [0.0; K];
        let terms = p.monomials(&x, &mut m).unwrap();
        let mut got: Vec<u64> = m[..terms].iter().map(|v| *v as u64).collect();
        got.sort();
        let mut want = Vec::new();
        for e in 0..(degree + 1).pow(N as u32) {
            let exps: Vec<u32> = (0..N)
                .map(|i| ((e / (degree + 1).pow(i as u32)) % (degree + 1)) as u32)
                .collect();
            if exps.iter().sum::<u32>() as usize <= degree {
                want.push(
                    exps.iter()
                        .zip(primes)
                        .map(|(k, p)| (p as u64).pow(*k))
                        .product(),
                );
            }
        }
        want.sort();
        assert_eq!(got, want, "n = {N}, degree {degree}");
        // Graded: degrees never decrease along the list.
        let deg = |v: f64| {
            let mut v = v as u64;
            let mut d = 0;
            for p in [2, 3, 5] {
                while v % p == 0 {
                    v /= p;
                    d += 1;
                }
            }
            d
        };
        assert!(m[..terms].windows(2).all(|w| deg(w[0]) <= deg(w[1])));
    }
    for d in 0..=4 {
        run::<1, 35>(d);
        run::<2, 35>(d);
        run::<3, 35>(d);
    }
}

#[test]
fn affine_base_and_capacity() {
    let p = Polynomial::<f64, 3, 1, 4>::affine(&[[1.0, -2.0, 0.5]], &[3.0]).unwrap();
    assert_eq!(p.value(&[1.0, 1.0, 2.0]).unwrap(), [3.0]);
    assert_eq!(p.coefficients(0), &[3.0, 1.0, -2.0, 0.5]);
    assert_eq!(p.coefficients(1), &[] as &[f64]);
    // Degree 2 in 3 variables needs 10 monomials.
    assert_eq!(
        Polynomial::<f64, 3, 1, 4>::new(2, &[0.0; 10]),
        Err(Error::InvalidShape)
    );
    assert_eq!(
        Polynomial::<f64, 1, 2, 4>::new(1, &[0.0; 3]),
        Err(Error::DimensionMismatch {
            expected: 4,
            found: 3
        })
    );
    assert_eq!(
        Polynomial::<f64, 1, 1, 4>::new(1, &[0.0, f64::NAN]),
        Err(Error::NonFiniteParameter)
    );
    assert_eq!(monomial_count(8, 40), 377_348_994); // C(48, 8)
    assert_eq!(monomial_count(200, 200), usize::MAX);
}

fn unit_magnitude(bound: Bound, eps: f64) -> Result<Finn<f64, 1, 4, 1>, Error> {
    let f = Network::<f64, 1, 4, 1>::positive(&[2], &[3.0, -1.0, 1.0, 0.5, 1.0, 1.0])?;
    Finn::new(
        f,
        Domain::new([0.0], [1.0])?,
        Some(Constraint::new(bound, Method::Scale, eps)),
    )
}

fn direction() -> NetworkDirection<f64, 1, 1, 4, 1> {
    let nu = Network::<f64, 1, 4, 1>::signed(Activation::Tanh, &[1], &[4.0, -2.0, 1.0]).unwrap();
    NetworkDirection::new([nu], 0.05).unwrap()
}

#[test]
fn errors() {
    let base = || Polynomial::<f64, 1, 1, 2>::affine(&[[2.0]], &[1.0]).unwrap();
    // The magnitude must be positive with an "at most" (or "equal") scale constraint.
    let signed = Network::<f64, 1, 4, 1>::signed(Activation::Tanh, &[1], &[1.0, 0.0, 1.0]).unwrap();
    let shifted = Finn::new(
        signed,
        Domain::new([0.0], [1.0]).unwrap(),
        Some(Constraint::new(Bound::AtMost, Method::Shift, 0.1)),
    )
    .unwrap();
    assert_eq!(
        BoundedDeviation::new(base(), direction(), shifted).unwrap_err(),
        Error::NotADeviation
    );
    let at_least = unit_magnitude(Bound::AtLeast, 0.1).unwrap();
    assert_eq!(
        BoundedDeviation::new(base(), direction(), at_least).unwrap_err(),
        Error::NotADeviation
    );
    let free = Finn::new(
        Network::<f64, 1, 4, 1>::positive(&[1], &[1.0, 0.0, 1.0]).unwrap(),
        Domain::new([0.0], [1.0]).unwrap(),
        None,
    )
    .unwrap();
    assert_eq!(
        BoundedDeviation::new(base(), direction(), free).unwrap_err(),
        Error::NotADeviation
    );
    // Softness must be finite and positive.
    let nu = Network::<f64, 1, 4, 1>::signed(Activation::Tanh, &[1], &[1.0, 0.0, 1.0]).unwrap();
    for s in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(
            NetworkDirection::new([nu.clone()], s).unwrap_err(),
            Error::NotADeviation
        );
    }
    // A base that would overflow over the domain is refused at construction.
    let huge = Polynomial::<f64, 1, 1, 2>::affine(&[[f64::MAX]], &[f64::MAX]).unwrap();
    let m = unit_magnitude(Bound::AtMost, 0.1).unwrap();
    assert_eq!(
        BoundedDeviation::new(huge, direction(), m).unwrap_err(),
        Error::Overflow
    );
    // Bad input: an error, never NaN.
    let model = BoundedDeviation::new(
        base(),
        direction(),
        unit_magnitude(Bound::Equal, 0.1).unwrap(),
    )
    .unwrap();
    assert_eq!(model.value(&[f64::NAN]).unwrap_err(), Error::NonFiniteInput);
    assert_eq!(
        model.value(&[f64::INFINITY]).unwrap_err(),
        Error::NonFiniteInput
    );
    assert!((model.deviation_bound().unwrap().value - 0.1).abs() < 1e-16);
}

/// A user direction of any size is rescaled to norm <= 1: the budget still holds.
#[test]
fn user_direction_is_rescaled() {
    struct Wild;
    impl Direction<f64, 1, 2> for Wild {
        fn direction(&self, x: &[f64; 1]) -> Result<[f64; 2], Error> {
            Ok([1e3 * x[0], -7.0])
        }
    }
    let base = Polynomial::<f64, 1, 2, 2>::affine(&[[1.0], [0.0]], &[0.0, 1.0]).unwrap();
    let model =
        BoundedDeviation::new(base, Wild, unit_magnitude(Bound::Equal, 0.3).unwrap()).unwrap();
    let mut j = 0.0;
    let gl = gauss_legendre(20);
    for panel in 0..20 {
        for (t, w) in &gl {
            let x = [(panel as f64 + 0.5 + 0.5 * t) / 20.0];
            let c = model.correction(&x).unwrap();
            let f = model.magnitude(&x).unwrap();
            let norm = (c[0] * c[0] + c[1] * c[1]).sqrt();
            assert!(norm <= f, "{norm} > {f}");
            j += w * 0.5 / 20.0 * norm;
        }
    }
    assert!(j <= 0.3 && j > 0.29, "J = {j}");
}

/// On the disk, f = f_u / (pi R^2) and the integral of f over the disk (polar quadrature)
/// is the magnitude's integral over the unit box.
#[test]
fn mapped_domain_integral() {
    let base = Polynomial::<f64, 2, 1, 1>::new(0, &[1.0]).unwrap();
    let params = [1.0, 1.0, 0.5, 2.0, 0.0, 0.3, 1.0, 1.0];
    let f = Network::<f64, 2, 4, 1>::positive(&[2], &params).unwrap();
    let unit = Domain::new([0.0, 0.0], [1.0, 1.0]).unwrap();
    let m = Finn::new(
        f,
        unit,
        Some(Constraint::new(Bound::Equal, Method::Scale, 0.2)),
    )
    .unwrap();
    let nu =
        Network::<f64, 2, 4, 1>::signed(Activation::Tanh, &[1], &[1.0, -1.0, 0.0, 1.0]).unwrap();
    let model = BoundedDeviation::new(base, NetworkDirection::new([nu], 0.1).unwrap(), m).unwrap();
    let (cx, cy, radius) = (0.5, -1.0, 2.0);
    let disk = MappedDeviation::new(model, Polar::disk([cx, cy], radius).unwrap()).unwrap();
    let gl = gauss_legendre(24);
    let mut total = 0.0;
    // The map's seam is at theta = 0 and f is smooth elsewhere: panels in theta and r.
    for pr in 0..8 {
        for pt in 0..16 {
            for (a, wa) in &gl {
                for (b, wb) in &gl {
                    let r = radius * (pr as f64 + 0.5 + 0.5 * a) / 8.0;
                    let th = std::f64::consts::TAU * (pt as f64 + 0.5 + 0.5 * b) / 16.0;
                    let x = [cx + r * th.cos(), cy + r * th.sin()];
                    let w = wa * wb * 0.25 * (radius / 8.0) * (std::f64::consts::TAU / 16.0);
                    total += w * r * disk.magnitude(&x).unwrap();
                }
            }
        }
    }
    let bound = disk.deviation_bound().unwrap().value;
    assert!((total - bound).abs() < 1e-6 * bound, "{total} vs {bound}");
    assert!((bound - 0.2).abs() < 1e-15);
    let off = Domain::new([0.0, 0.0], [2.0, 1.0]).unwrap();
    let f = Network::<f64, 2, 4, 1>::positive(&[2], &params).unwrap();
    let m = Finn::new(
        f,
        off,
        Some(Constraint::new(Bound::Equal, Method::Scale, 0.2)),
    )
    .unwrap();
    let nu =
        Network::<f64, 2, 4, 1>::signed(Activation::Tanh, &[1], &[1.0, -1.0, 0.0, 1.0]).unwrap();
    let base = Polynomial::<f64, 2, 1, 1>::new(0, &[1.0]).unwrap();
    let model = BoundedDeviation::new(base, NetworkDirection::new([nu], 0.1).unwrap(), m).unwrap();
    assert_eq!(
        MappedDeviation::new(model, Polar::disk([0.0, 0.0], 1.0).unwrap()).unwrap_err(),
        Error::NotADeviation
    );
}
