//! The certified pointwise bound (issue 11, item 2) under attack: for random positive and
//! signed networks (n = 1..3, depth 1..2) over random boxes, a proven `sup f <= delta` is
//! attacked by dense grid sampling plus coordinate ascent from the best samples, and nothing
//! exceeds delta (nor the certified supremum's upper bound); a violated one reports a point
//! whose f exceeds delta; a density's certified supremum is >= its pdf everywhere sampled;
//! and a bound the magnitude jets (`bounds_over`) cannot prove, the certificate proves.

use finn_core::jet::{Dim, JetDim};
use finn_core::{
    parameter_count, Activation, Antiderivative, Bound, Constraint, Density, Domain, Finn, Kind,
    Method, Network,
};
use finn_train::density::composite::DensityModel;
use finn_train::supremum::{
    load_blob, prove_at_most, supremum, Enclose, Magnitude, Mixture, Settings, Status,
};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Case {
    positive: bool,
    widths: Vec<usize>,
    params: Vec<f64>,
    lower: Vec<f64>,
    side: Vec<f64>,
}

fn case(n: usize) -> impl Strategy<Value = Case> {
    (any::<bool>(), prop::collection::vec(1usize..=4, 1..=2)).prop_flat_map(
        move |(positive, widths)| {
            let count = parameter_count(n, &widths);
            (
                prop::collection::vec(-2.0..2.0f64, count),
                prop::collection::vec(-2.0..1.0f64, n),
                prop::collection::vec(0.2..2.5f64, n),
            )
                .prop_map(move |(params, lower, side)| Case {
                    positive,
                    widths: widths.clone(),
                    params,
                    lower,
                    side,
                })
        },
    )
}

fn model<const N: usize>(c: &Case) -> Finn<f64, N, 4, 2>
where
    Dim<N>: JetDim,
{
    let (kind, act) = if c.positive {
        (Kind::Positive, Activation::Sigma)
    } else {
        (Kind::Signed, Activation::Tanh)
    };
    let net = Network::new(kind, act, &c.widths, &c.params).unwrap();
    let lo: [f64; N] = core::array::from_fn(|i| c.lower[i]);
    let hi: [f64; N] = core::array::from_fn(|i| c.lower[i] + c.side[i]);
    Finn::new(net, Domain::new(lo, hi).unwrap(), None).unwrap()
}

/// The largest value of f that an attacker finds: a dense grid over the box (about 20,000
/// points), then coordinate ascent (step halving down to 1e-9 of the box) from the 8 best
/// grid points, clamped to the box. Returns (value, where).
fn attack<M: Enclose + ?Sized>(f: &M, lo: &[f64], hi: &[f64]) -> (f64, Vec<f64>) {
    attack_with(|x| f.value(x).unwrap(), lo, hi)
}

/// [`attack`] on any function.
fn attack_with(f: impl Fn(&[f64]) -> f64, lo: &[f64], hi: &[f64]) -> (f64, Vec<f64>) {
    let n = lo.len();
    let per_axis: usize = match n {
        1 => 20_000,
        2 => 141,
        _ => 27,
    };
    let mut samples: Vec<(f64, Vec<f64>)> = Vec::new();
    let total = per_axis.pow(n as u32);
    for k in 0..total {
        let mut idx = k;
        let x: Vec<f64> = (0..n)
            .map(|i| {
                let j = idx % per_axis;
                idx /= per_axis;
                (lo[i] + (hi[i] - lo[i]) * j as f64 / (per_axis - 1) as f64).min(hi[i])
            })
            .collect();
        let v = f(&x);
        samples.push((v, x));
    }
    samples.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut best = samples[0].clone();
    for (v0, x0) in samples.iter().take(8) {
        let (mut v, mut x) = (*v0, x0.clone());
        let mut step: Vec<f64> = (0..n).map(|i| (hi[i] - lo[i]) / per_axis as f64).collect();
        while step
            .iter()
            .zip(lo.iter().zip(hi))
            .any(|(s, (a, b))| *s > 1e-9 * (b - a))
        {
            let mut moved = false;
            for i in 0..n {
                for sign in [1.0, -1.0] {
                    let mut y = x.clone();
                    y[i] = (y[i] + sign * step[i]).clamp(lo[i], hi[i]);
                    let w = f(&y);
                    if w > v {
                        (v, x, moved) = (w, y, true);
                    }
                }
            }
            if !moved {
                step.iter_mut().for_each(|s| *s *= 0.5);
            }
        }
        if v > best.0 {
            best = (v, x);
        }
    }
    best
}

fn settings() -> Settings {
    Settings {
        tolerance: 1e-6,
        max_boxes: 200_000,
        centred: true,
    }
}

fn check<const N: usize>(c: &Case) -> Result<(), TestCaseError>
where
    Dim<N>: JetDim,
{
    let m = model::<N>(c);
    let (lo, hi) = Enclose::domain(&m);
    let s = supremum(&m, &lo, &hi, &settings()).unwrap();
    prop_assert!(s.lower <= s.upper, "{s:?}");
    prop_assert!((m.integrand(&s.at).unwrap() - s.lower).abs() <= 1e-12 * s.lower.abs());
    let (found, at) = attack(&m, &lo, &hi);
    prop_assert!(
        found <= s.upper,
        "attack: f({at:?}) = {found:e} above the certified {:e}",
        s.upper
    );
    if !s.converged {
        return Ok(()); // both bounds hold; nothing to prove against
    }
    // Proven just above the supremum; the attack stays below.
    let delta = s.upper + 1e-4 * s.upper.abs().max(1e-12);
    let proof = prove_at_most(&m, &lo, &hi, delta, &settings()).unwrap();
    prop_assert_eq!(&proof.status, &Status::Proven, "{:?}", proof);
    prop_assert!(proof.upper <= delta && found <= delta);
    // Refuted just below a value f takes: the witness exceeds delta.
    let below = s.lower - 1e-3 * s.lower.abs().max(1e-12);
    let refute = prove_at_most(&m, &lo, &hi, below, &settings()).unwrap();
    match &refute.status {
        Status::Violated { at, value } => {
            prop_assert!(*value > below);
            prop_assert!(m.integrand(at).unwrap() > below);
            prop_assert!(at
                .iter()
                .zip(lo.iter().zip(&hi))
                .all(|(x, (a, b))| a <= x && x <= b));
        }
        other => prop_assert!(false, "expected a violation of {below:e}, got {other:?}"),
    }
    // |f| too (a bounded deviation): its supremum bounds |f| wherever attacked.
    let magnitude = Magnitude(&m);
    let sm = supremum(&magnitude, &lo, &hi, &settings()).unwrap();
    let (found, at) = attack(&magnitude, &lo, &hi);
    prop_assert!(
        found <= sm.upper,
        "|f({at:?})| = {found:e} above {:e}",
        sm.upper
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn proven_bounds_survive_attack_n1(c in case(1)) {
        check::<1>(&c)?;
    }
    #[test]
    fn proven_bounds_survive_attack_n2(c in case(2)) {
        check::<2>(&c)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]
    #[test]
    fn proven_bounds_survive_attack_n3(c in case(3)) {
        check::<3>(&c)?;
    }
}

fn density<const N: usize>(c: &Case) -> Density<f64, N, 4, 2>
where
    Dim<N>: JetDim,
{
    let net = Network::positive(&c.widths, &c.params).unwrap();
    let lo: [f64; N] = core::array::from_fn(|i| c.lower[i]);
    let hi: [f64; N] = core::array::from_fn(|i| c.lower[i] + c.side[i]);
    let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    Density::new(Finn::new(net, Domain::new(lo, hi).unwrap(), Some(one)).unwrap()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn a_density_never_exceeds_its_certified_supremum(c in case(2)) {
        let p = density::<2>(&c);
        let (lo, hi) = p.domain();
        let s = supremum(&p, &lo, &hi, &settings()).unwrap();
        // Attack over a box larger than the support: outside it the pdf is 0.
        let wide_lo: Vec<f64> = lo.iter().zip(&hi).map(|(a, b)| a - 0.1 * (b - a)).collect();
        let wide_hi: Vec<f64> = lo.iter().zip(&hi).map(|(a, b)| b + 0.1 * (b - a)).collect();
        let (found, at) = attack(&p, &wide_lo, &wide_hi);
        prop_assert!(found <= s.upper, "pdf({at:?}) = {found:e} above {:e}", s.upper);
        // The search over the wider box finds the same supremum.
        let t = supremum(&p, &wide_lo, &wide_hi, &settings()).unwrap();
        prop_assert!(t.upper >= found && t.lower <= s.upper && s.lower <= t.upper);
    }
}

/// A bound 10 % above the supremum of a two-layer density: the magnitude bound of
/// `bounds_over` over the support (what loading proves) is far above it, so it cannot prove
/// the bound; the certificate does.
#[test]
fn proves_what_the_magnitude_bound_cannot() {
    let widths = [6, 5];
    let params: Vec<f64> = (0..parameter_count(2, &widths))
        .map(|i| 1.4 * (i as f64 * 0.91).sin())
        .collect();
    let net = Network::<f64, 2, 6, 2>::positive(&widths, &params).unwrap();
    let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    let support = Domain::new([-2.0, -1.5], [2.0, 2.5]).unwrap();
    let p = Density::new(Finn::new(net.clone(), support, Some(one)).unwrap()).unwrap();
    let (lo, hi) = p.domain();
    let s = supremum(&p, &lo, &hi, &settings()).unwrap();
    assert!(s.converged);
    let delta = 1.1 * s.upper;
    let (_, magnitude) = net.bounds_over(&lo, &hi).unwrap();
    let old = p.finn().constants().scale * magnitude;
    assert!(
        old > 2.0 * delta,
        "magnitude bound {old} against delta {delta}"
    );
    let c = prove_at_most(&p, &lo, &hi, delta, &settings()).unwrap();
    assert_eq!(c.status, Status::Proven);
    assert!(c.upper <= delta && c.boxes > 1);
    let (found, _) = attack(&p, &lo, &hi);
    assert!(found <= s.upper && found >= s.lower - 1e-9 * s.lower);
}

#[test]
fn a_tiny_budget_is_undecided_and_bad_boxes_are_errors() {
    let c = Case {
        positive: true,
        widths: vec![3, 2],
        params: (0..parameter_count(2, &[3, 2]))
            .map(|i| (i as f64 * 0.7).cos())
            .collect(),
        lower: vec![-1.0, -1.0],
        side: vec![2.0, 2.0],
    };
    let m = model::<2>(&c);
    let (lo, hi) = Enclose::domain(&m);
    let s = supremum(&m, &lo, &hi, &settings()).unwrap();
    let tight = Settings {
        tolerance: 1e-12,
        max_boxes: 3,
        centred: true,
    };
    let u = prove_at_most(&m, &lo, &hi, s.lower * (1.0 + 1e-9), &tight).unwrap();
    assert_eq!(u.status, Status::Undecided);
    assert!(u.boxes <= 3 && u.upper >= u.lower);
    let t = supremum(&m, &lo, &hi, &tight).unwrap();
    assert!(!t.converged && t.upper >= s.lower);
    assert!(prove_at_most(&m, &[0.0], &[1.0], 1.0, &tight).is_err());
    assert!(prove_at_most(&m, &[1.0, 0.0], &[0.0, 1.0], 1.0, &tight).is_err());
    assert!(prove_at_most(&m, &lo, &hi, f64::NAN, &tight).is_err());
    // Without centred forms the same supremum, with many more boxes.
    let natural = Settings {
        centred: false,
        tolerance: 1e-4,
        ..settings()
    };
    let centred = Settings {
        tolerance: 1e-4,
        ..settings()
    };
    let a = supremum(&m, &lo, &hi, &natural).unwrap();
    let b = supremum(&m, &lo, &hi, &centred).unwrap();
    assert!(a.converged && b.converged);
    assert!(a.lower <= b.upper && b.lower <= a.upper);
    assert!(
        b.boxes <= a.boxes,
        "{} centred against {} natural",
        b.boxes,
        a.boxes
    );
}

#[test]
fn shipped_density_blobs_load_and_are_bounded() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bytes = std::fs::read(root.join("results/densities/moons-c0.postcard")).unwrap();
    let blob = load_blob(&bytes).unwrap();
    let f = &blob.function;
    let (lo, hi) = f.domain();
    let s = supremum(f, &lo, &hi, &settings()).unwrap();
    assert!(s.converged && s.upper < blob.magnitude_bound);
    // Just above the certified supremum is proven; just below what was found is refuted.
    let c = prove_at_most(f, &lo, &hi, s.upper * 1.01, &settings()).unwrap();
    assert!(c.proven());
    let below = prove_at_most(f, &lo, &hi, s.lower * 0.99, &settings()).unwrap();
    assert!(matches!(below.status, Status::Violated { .. }));
    // A trajectory blob is not a model.
    let trajectory = std::fs::read(root.join("results/demo/trajectory.postcard")).unwrap();
    assert!(load_blob(&trajectory).is_err());
    assert!(load_blob(b"not a blob").is_err());
}

/// The shipped two-moons density is a mixture of reflected networks on all of R^2,
/// certified in the u-box of its map: its certified supremum holds against the mixture's own
/// pdf (`DensityModel::pdf`, an independent evaluation through log-space and the host
/// evaluators, at the x of each u) under attack.
#[test]
fn a_shipped_mixture_never_exceeds_its_certified_supremum() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let d = DensityModel::load_json(&root.join("results/densities/moons.density.json")).unwrap();
    let p = Mixture::new(&d).unwrap();
    let (lo, hi) = p.domain();
    let s = supremum(&p, &lo, &hi, &settings()).unwrap();
    assert!(s.converged, "{s:?}");
    let pdf = |u: &[f64]| d.pdf(&p.to_data(u)).unwrap();
    let (found, at) = attack_with(pdf, &lo, &hi);
    assert!(
        found <= s.upper,
        "pdf({at:?}) = {found:e} above {:e}",
        s.upper
    );
    assert!(
        found >= s.lower * (1.0 - 1e-6),
        "{found:e} against {:e}",
        s.lower
    );
    assert!((pdf(&s.at) - s.lower).abs() <= 1e-12 * s.lower);
    let c = prove_at_most(&p, &lo, &hi, 1.2, &settings()).unwrap();
    assert!(c.proven(), "{c:?}");
}

/// A density mixture's blob (payload 4, what the device flashes) is certified as the same
/// model as its JSON; it used to be refused as "a trajectory blob".
#[test]
fn a_mixture_blob_is_certified_like_its_json() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let blob =
        load_blob(&std::fs::read(root.join("results/densities/moons.postcard")).unwrap()).unwrap();
    let json = finn_train::supremum::load_file(&root.join("results/densities/moons.density.json"))
        .unwrap();
    assert_eq!(blob.description, json.description);
    assert_eq!(blob.magnitude_bound, json.magnitude_bound);
    let x = [0.3, 0.2];
    assert_eq!(
        blob.function.value(&x).unwrap(),
        json.function.value(&x).unwrap()
    );
    let trajectory = std::fs::read(root.join("results/demo/trajectory.postcard")).unwrap();
    let e = load_blob(&trajectory).err().unwrap().to_string();
    assert!(e.contains("a trajectory blob"), "{e}");
}
