//! Box integrals with error bounds (issue 8, items 7 and 10): the bound covers the actual
//! error against a far more precise evaluation, small and ill-conditioned boxes included, and
//! a positive model's integral is never negative where the bound covers 0.

use finn_core::{parameter_count, Activation, Antiderivative, Domain, Finn, Kind, Network, Real};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Case {
    positive: bool,
    widths: Vec<usize>,
    params: Vec<f64>,
    lower: Vec<f64>,
    side: Vec<f64>,
    small: bool,
}

fn case(n: usize) -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        prop::collection::vec(1usize..=4, 1..=2),
        any::<bool>(),
    )
        .prop_flat_map(move |(positive, widths, small)| {
            let count = parameter_count(n, &widths);
            (
                prop::collection::vec(-2.0..2.0f64, count),
                prop::collection::vec(-2.0..1.5f64, n),
                prop::collection::vec(0.0..1.0f64, n),
            )
                .prop_map(move |(params, lower, side)| Case {
                    positive,
                    widths: widths.clone(),
                    params,
                    lower,
                    // Small boxes: sides down to 1e-4 of the domain's.
                    side: side
                        .iter()
                        .map(|s| if small { 1e-4 + 1e-3 * s } else { 0.05 + s })
                        .collect(),
                    small,
                })
        })
}

/// (f32 value, f32 error bound, f64 value, f64 error bound) of the same model (parameters
/// rounded to f32 first, so only the arithmetic differs) over the same box.
fn integrals<const N: usize>(c: &Case) -> (f64, f64, f64, f64)
where
    finn_core::jet::Dim<N>: finn_core::jet::JetDim,
{
    fn build<T: Real, const N: usize>(c: &Case) -> Finn<T, N, 4, 2>
    where
        finn_core::jet::Dim<N>: finn_core::jet::JetDim,
    {
        let p: Vec<T> = c
            .params
            .iter()
            .map(|&v| T::from_f64(v as f32 as f64))
            .collect();
        let (kind, act) = if c.positive {
            (Kind::Positive, Activation::Sigma)
        } else {
            (Kind::Signed, Activation::Tanh)
        };
        let net = Network::<T, N, 4, 2>::new(kind, act, &c.widths, &p).unwrap();
        let domain = Domain::<T, N>::new([T::from_f64(-3.0); N], [T::from_f64(3.0); N]).unwrap();
        Finn::new(net, domain, None).unwrap()
    }
    let lo: Vec<f64> = c.lower.iter().map(|&v| v as f32 as f64).collect();
    let hi: Vec<f64> = lo
        .iter()
        .zip(&c.side)
        .map(|(a, s)| (a + s) as f32 as f64)
        .collect();
    let (lo32, hi32): (Vec<f32>, Vec<f32>) = (
        lo.iter().map(|&v| v as f32).collect(),
        hi.iter().map(|&v| v as f32).collect(),
    );
    let b32 = build::<f32, N>(c)
        .integral_over_with_bound(&lo32, &hi32)
        .unwrap();
    let b64 = build::<f64, N>(c)
        .integral_over_with_bound(&lo, &hi)
        .unwrap();
    (b32.value as f64, b32.error as f64, b64.value, b64.error)
}

fn covered(c: &Case, r: (f64, f64, f64, f64)) -> Result<(), TestCaseError> {
    let (v32, e32, v64, e64) = r;
    prop_assert!(
        (v32 - v64).abs() <= e32 + e64,
        "f32 {v32:e} +- {e32:e} misses f64 {v64:e} +- {e64:e} ({c:?})"
    );
    if c.positive {
        prop_assert!(
            v32 >= 0.0 && v64 >= 0.0,
            "negative integral of a positive model"
        );
    }
    Ok(())
}

macro_rules! bound_tests {
    ($name:ident, $n:literal) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]
            #[test]
            fn $name(c in case($n)) {
                covered(&c, integrals::<$n>(&c))?;
            }
        }
    };
}
bound_tests!(f32_bound_covers_the_error_n1, 1);
bound_tests!(f32_bound_covers_the_error_n2, 2);
bound_tests!(f32_bound_covers_the_error_n3, 3);
bound_tests!(f32_bound_covers_the_error_n4, 4);

/// A positive sigma model's integral over boxes far in its tail, where f is ~1e-50 and the
/// corner sum cancels to rounding noise: the plain network's vertex sum comes out negative on
/// some of them, the model's integral never does.
#[test]
fn positive_integrals_are_never_negative() {
    let params: Vec<f64> = (0..parameter_count(2, &[3]))
        .map(|i| ((i * 7) % 5) as f64 * 0.4 + 0.3)
        .collect();
    let net = Network::<f64, 2, 4, 2>::positive(&[3], &params).unwrap();
    let model = Finn::new(
        net.clone(),
        Domain::new([-9.0, -9.0], [9.0, 9.0]).unwrap(),
        None,
    )
    .unwrap();
    let mut negative = 0;
    for k in 0..400 {
        let a = 4.0 + 0.01 * k as f64;
        let (lo, hi) = ([a, a], [a + 0.37, a + 0.29]);
        if net.integral_over(&lo, &hi).unwrap() < 0.0 {
            negative += 1;
        }
        let i = model.integral_over(&lo, &hi).unwrap();
        let b = model.integral_over_with_bound(&lo, &hi).unwrap();
        assert!(i >= 0.0 && b.value >= 0.0, "box at {a}: {i:e}");
        assert!(b.error > 0.0);
    }
    assert!(
        negative > 0,
        "no box cancelled below 0: the test no longer exercises the clamp"
    );
}

/// How tight the bound is: its ratio to the actual f32 error, over a deterministic sample
/// (printed with `--nocapture`; results/precision.md quotes it).
#[test]
fn bound_tightness() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    for small in [false, true] {
        let mut ratios = Vec::new();
        let mut rel = Vec::new();
        let strategy = case(2);
        while ratios.len() < 400 {
            let c = strategy.new_tree(&mut runner).unwrap().current();
            if c.small != small {
                continue;
            }
            let (v32, e32, v64, _) = integrals::<2>(&c);
            let actual = (v32 - v64).abs();
            if actual > 0.0 {
                ratios.push(e32 / actual);
                rel.push(e32 / v64.abs().max(f64::MIN_POSITIVE));
            }
        }
        ratios.sort_by(f64::total_cmp);
        rel.sort_by(f64::total_cmp);
        assert!(ratios[0] >= 1.0);
        eprintln!(
            "n = 2, {} boxes: bound / actual f32 error: median {:.1}, 90th percentile {:.1}; bound / |integral|: median {:.1e}",
            if small { "small (side <= 1.1e-3)" } else { "large" },
            ratios[ratios.len() / 2],
            ratios[ratios.len() * 9 / 10],
            rel[rel.len() / 2]
        );
    }
}

/// 6-point Gauss-Legendre quadrature of the model's f over a box in f64: a reference for
/// small boxes, independent of the 3-point rule the library uses.
fn reference<const N: usize>(model: &Finn<f64, N, 4, 2>, lo: &[f64; N], hi: &[f64; N]) -> f64
where
    finn_core::jet::Dim<N>: finn_core::jet::JetDim,
{
    const X: [f64; 6] = [
        -0.932_469_514_203_152,
        -0.661_209_386_466_264_5,
        -0.238_619_186_083_196_9,
        0.238_619_186_083_196_9,
        0.661_209_386_466_264_5,
        0.932_469_514_203_152,
    ];
    const WT: [f64; 6] = [
        0.171_324_492_379_170_3,
        0.360_761_573_048_138_6,
        0.467_913_934_572_691,
        0.467_913_934_572_691,
        0.360_761_573_048_138_6,
        0.171_324_492_379_170_3,
    ];
    let mut sum = 0.0;
    for k in 0..6usize.pow(N as u32) {
        let (mut x, mut w, mut index) = ([0.0; N], 1.0, k);
        for i in 0..N {
            let half = 0.5 * (hi[i] - lo[i]);
            x[i] = lo[i] + half + X[index % 6] * half;
            w *= WT[index % 6] * half;
            index /= 6;
        }
        sum += w * model.integrand(&x).unwrap();
    }
    sum
}

/// Small boxes (side <= 1e-3 of the domain's) are accurate to 1e-10 relative in f64 for
/// n <= 6, where the corner sum alone loses up to all of its digits: the integral switches
/// to quadrature of the exact f, and its bound says so.
fn small_boxes<const N: usize>()
where
    finn_core::jet::Dim<N>: finn_core::jet::JetDim,
{
    let mut seed = 7u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let (mut worst, mut bound, mut quadrature): (f64, f64, usize) = (0.0, 0.0, 0);
    // The 6-point reference costs 6^n evaluations of f: fewer boxes at n = 6.
    let boxes = if N >= 6 { 5 } else { 20 };
    for _ in 0..boxes {
        let widths = [4, 3];
        let params: Vec<f64> = (0..parameter_count(N, &widths))
            .map(|_| next() - 0.5)
            .collect();
        let net = Network::<f64, N, 4, 2>::positive(&widths, &params).unwrap();
        let model = Finn::new(net, Domain::new([-3.0; N], [3.0; N]).unwrap(), None).unwrap();
        let lo: [f64; N] = core::array::from_fn(|_| 2.0 * next() - 1.0);
        let hi: [f64; N] = core::array::from_fn(|i| lo[i] + 6e-3 * (0.1 + 0.9 * next()));
        let want = reference(&model, &lo, &hi);
        let got = model.integral_over(&lo, &hi).unwrap();
        let bounded = model.integral_over_with_bound(&lo, &hi).unwrap();
        let rel = (got - want).abs() / want.abs();
        worst = worst.max(rel);
        assert!(rel <= 1e-10, "n = {N}: {got:e} vs {want:e} ({rel:e})");
        assert!((bounded.value - want).abs() <= bounded.error + 1e-14 * want.abs());
        bound = bound.max(bounded.error / want.abs());
        quadrature += usize::from(bounded.by_quadrature);
    }
    eprintln!(
        "n = {N}: {boxes} small boxes, worst relative error {worst:.1e}, worst relative bound \
         {bound:.1e}, {quadrature} by quadrature"
    );
}

#[test]
fn small_boxes_are_accurate_in_f64() {
    small_boxes::<1>();
    small_boxes::<2>();
    small_boxes::<3>();
    small_boxes::<4>();
    small_boxes::<6>();
}

/// The new entry points refuse bad input with typed errors, never a panic or NaN.
#[test]
fn bad_input_is_typed() {
    use finn_core::Error;
    let net = Network::<f64, 2, 4, 2>::positive(&[3], &[0.5; 13][..12]).unwrap();
    let model = Finn::new(net.clone(), Domain::new([0.0; 2], [1.0; 2]).unwrap(), None).unwrap();
    assert!(matches!(
        model.integral_over_with_bound(&[0.0], &[1.0, 1.0]),
        Err(Error::DimensionMismatch { .. })
    ));
    assert_eq!(
        model.integral_over_with_bound(&[0.0, f64::NAN], &[1.0, 1.0]),
        Err(Error::NonFiniteInput)
    );
    assert_eq!(
        model.integral_over_with_bound(&[0.0, 1.0], &[1.0, 0.5]),
        Err(Error::EmptyInterval { axis: 1 })
    );
    assert_eq!(
        net.bounds_over(&[0.0, f64::INFINITY], &[1.0, 1.0]),
        Err(Error::NonFiniteInput)
    );
    assert!(matches!(
        net.bounds_over(&[0.0], &[1.0]),
        Err(Error::DimensionMismatch { .. })
    ));
    // A box so far out that the bounds overflow: a typed error, not an infinite bound.
    let net32 = Network::<f32, 2, 4, 2>::positive(&[3], &[0.5; 12]).unwrap();
    assert_eq!(
        net32.bounds_over(&[0.0, 0.0], &[3e38, 3e38]),
        Err(Error::Overflow)
    );
}
