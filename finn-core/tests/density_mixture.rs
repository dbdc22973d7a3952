//! Density mixtures: total probability 1 on a box and on R^2, additivity over split boxes,
//! 0 outside a box support, box probabilities against quadrature of the pdf (the reflections
//! and the map), samples inside the support and distributed by the model's own box
//! probabilities, construction errors; and the mixture blob (payload 4): round trip in f64
//! and f32, typed errors for corrupt and wrong blobs, capacity errors, old payloads unchanged.
#![allow(clippy::needless_range_loop)]

use finn_core::density_mixture::{
    DensityMixture, MixtureComponent, MixtureMap, MixtureProblem, MixtureSupport,
};
use finn_core::format::{
    decode, decode_any, decode_density, decode_density_mixture, encode_density_mixture, Blob,
    DensityMixtureHeader, Field, FormatError, MixtureComponentHeader, MixtureMapHeader,
    ModelHeader, Payload, Scalar,
};
use finn_core::{
    parameter_count, Activation, Bound, Constraint, Density, Domain, Error, Finn, Kind, Method,
    Network, Real, RealSpace,
};
use proptest::prelude::*;

const WIDTHS: [&[usize]; 2] = [&[3], &[3, 2]];

/// Deterministic parameters of component `k` (magnitudes 0.3..1.3, mixed signs).
fn params(k: usize) -> Vec<f64> {
    let widths = WIDTHS[k % 2];
    (0..parameter_count(2, widths))
        .map(|i| {
            let v = ((i * 7 + k * 13) as f64 * 0.61).sin();
            v.signum() * (0.3 + v.abs())
        })
        .collect()
}

fn one<T: Real>() -> Constraint<T> {
    Constraint::new(Bound::Equal, Method::Scale, T::ONE)
}

fn component<T: Real>(
    k: usize,
    lo: [f64; 2],
    hi: [f64; 2],
    weight: f64,
    reflect: [bool; 2],
) -> MixtureComponent<T, 2, 4, 2> {
    let p: Vec<T> = params(k).iter().map(|v| T::from_f64(*v)).collect();
    let net = Network::<T, 2, 4, 2>::positive(WIDTHS[k % 2], &p).unwrap();
    let d = Domain::new(lo.map(T::from_f64), hi.map(T::from_f64)).unwrap();
    let density = Density::new(Finn::new(net, d, Some(one())).unwrap()).unwrap();
    MixtureComponent::new(T::from_f64(weight), reflect, density)
}

const REFLECT: [[bool; 2]; 3] = [[false, false], [true, false], [true, true]];
const WEIGHTS: [f64; 3] = [0.2, 0.5, 0.3];

fn mixture<T: finn_core::MapReal>(
    lo: [f64; 2],
    hi: [f64; 2],
    map: MixtureMap<T, 2>,
) -> DensityMixture<T, 2, 4, 2, 4> {
    let parts = (0..3).map(|k| component::<T>(k, lo, hi, WEIGHTS[k], REFLECT[k]));
    DensityMixture::new(map, parts).unwrap()
}

fn boxed() -> DensityMixture<f64, 2, 4, 2, 4> {
    mixture([-1.0, 0.5], [2.0, 2.0], MixtureMap::Box)
}

fn real_space() -> DensityMixture<f64, 2, 4, 2, 4> {
    let map = MixtureMap::RealSpace(RealSpace::new([0.5, -1.0], [0.8, 1.5]).unwrap());
    mixture([0.0, 0.0], [1.0, 1.0], map)
}

#[test]
fn total_probability_is_one_on_a_box_and_on_the_plane() {
    let inf = f64::INFINITY;
    for m in [boxed(), real_space()] {
        let all = m.box_probability(&[-inf; 2], &[inf; 2]).unwrap();
        assert!((all - 1.0).abs() < 1e-13, "{all}");
        assert!((m.cdf(&[inf; 2]).unwrap() - 1.0).abs() < 1e-13);
        assert_eq!(m.cdf(&[-inf, 0.0]).unwrap(), 0.0);
    }
    let m = boxed();
    assert_eq!(m.pdf(&[2.5, 1.0]).unwrap(), 0.0);
    assert_eq!(m.pdf(&[0.0, 0.4]).unwrap(), 0.0);
    assert_eq!(m.log_pdf(&[0.0, 0.4]).unwrap(), f64::NEG_INFINITY);
    assert!(m.pdf(&[0.0, 1.0]).unwrap() > 0.0);
    assert!(matches!(m.support().unwrap(), MixtureSupport::Box(d) if d.lower() == &[-1.0, 0.5]));
    assert!(matches!(
        real_space().support().unwrap(),
        MixtureSupport::RealSpace(_)
    ));
}

/// Midpoint quadrature of the pdf against the exact box probability: checks the
/// reflections (a reflected component's box must be reflected too) and the map's Jacobian.
#[test]
fn box_probabilities_match_quadrature_of_the_pdf() {
    let cells = 240;
    for (m, lo, hi) in [
        (boxed(), [-0.7, 0.6], [1.3, 1.7]),
        (real_space(), [-1.0, -3.0], [2.0, 0.5]),
    ] {
        let (wx, wy) = (
            (hi[0] - lo[0]) / cells as f64,
            (hi[1] - lo[1]) / cells as f64,
        );
        let mut q = 0.0;
        for i in 0..cells {
            for j in 0..cells {
                let x = [lo[0] + (i as f64 + 0.5) * wx, lo[1] + (j as f64 + 0.5) * wy];
                q += m.pdf(&x).unwrap() * wx * wy;
            }
        }
        let p = m.box_probability(&lo, &hi).unwrap();
        assert!((p - q).abs() < 2e-5, "{p} vs {q}");
        assert!(p > 0.05 && p < 0.99);
    }
}

#[test]
fn log_pdf_is_the_log_of_pdf_and_finite_in_the_tails() {
    for m in [boxed(), real_space()] {
        for x in [[0.1, 0.9], [1.5, 1.9], [-0.9, 0.6]] {
            let (p, l) = (m.pdf(&x).unwrap(), m.log_pdf(&x).unwrap());
            assert!(
                (l - p.ln()).abs() < 1e-12 * p.ln().abs().max(1.0),
                "{l} {p}"
            );
        }
    }
    let m = real_space();
    let far = m.log_pdf(&[-900.0, 3.0]).unwrap();
    assert!(far.is_finite() && far < -500.0, "{far}");
    assert_eq!(m.pdf(&[-900.0, 3.0]).unwrap(), 0.0);
}

#[test]
fn samples_follow_the_model() {
    let m = boxed();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut unit = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let count = 6000;
    let (lo, hi) = ([-1.0, 0.5], [0.5, 1.25]);
    let mut inside = 0;
    for _ in 0..count {
        let x = m.sample(&[unit(), unit()]).unwrap();
        assert!((-1.0..=2.0).contains(&x[0]) && (0.5..=2.0).contains(&x[1]));
        if x[0] >= lo[0] && x[0] < hi[0] && x[1] >= lo[1] && x[1] < hi[1] {
            inside += 1;
        }
    }
    let p = m.box_probability(&lo, &hi).unwrap();
    let sd = (p * (1.0 - p) * count as f64).sqrt();
    let z = (inside as f64 - p * count as f64) / sd;
    assert!(z.abs() < 4.0, "{inside} of {count} against p = {p}");
}

#[test]
fn construction_errors_are_typed() {
    let (lo, hi) = ([0.0, 0.0], [1.0, 1.0]);
    let c = |k, w| component::<f64>(k, lo, hi, w, [false, true]);
    type M = DensityMixture<f64, 2, 4, 2, 2>;
    let e = |r: Result<M, Error>| r.unwrap_err();
    assert_eq!(
        e(M::new(MixtureMap::Box, [])),
        Error::NotAMixture(MixtureProblem::ComponentCount)
    );
    assert_eq!(
        e(M::new(MixtureMap::Box, [c(0, 0.3), c(1, 0.3), c(0, 0.4)])),
        Error::NotAMixture(MixtureProblem::ComponentCount)
    );
    assert_eq!(
        e(M::new(MixtureMap::Box, [c(0, 0.5), c(1, 0.6)])),
        Error::NotAMixture(MixtureProblem::WeightSum)
    );
    assert_eq!(
        e(M::new(MixtureMap::Box, [c(0, -0.5), c(1, 1.5)])),
        Error::NotAMixture(MixtureProblem::BadWeight)
    );
    assert_eq!(
        e(M::new(MixtureMap::Box, [c(0, f64::NAN), c(1, 1.0)])),
        Error::NotAMixture(MixtureProblem::BadWeight)
    );
    let other = component::<f64>(1, lo, [1.0, 2.0], 0.5, [false; 2]);
    assert_eq!(
        e(M::new(MixtureMap::Box, [c(0, 0.5), other.clone()])),
        Error::NotAMixture(MixtureProblem::DifferentBoxes)
    );
    let wide = component::<f64>(1, lo, [1.0, 2.0], 1.0, [false; 2]);
    let map = MixtureMap::RealSpace(RealSpace::new([0.0; 2], [1.0; 2]).unwrap());
    assert_eq!(e(M::new(map, [wide])), Error::NotADensity);
    // A weight of 0 is allowed and never sampled.
    let m = M::new(MixtureMap::Box, [c(0, 0.0), c(1, 1.0)]).unwrap();
    for u in [0.0, 0.5, 1.0] {
        let x = m.sample(&[u, 0.5]).unwrap();
        let y = m.components()[1].density().sample(&[u, 0.5]).unwrap();
        assert_eq!(x, [y[0], 1.0 - y[1]]);
    }
    assert_eq!(m.pdf(&[f64::NAN, 0.0]).unwrap_err(), Error::NonFiniteInput);
    assert_eq!(
        m.sample(&[f64::NAN, 0.0]).unwrap_err(),
        Error::NonFiniteInput
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn box_probabilities_are_additive(
        a in prop::array::uniform2(-3.0..3.0f64),
        w in prop::array::uniform2(0.01..4.0f64),
        cut in 0.0..1.0f64,
        axis in 0usize..2,
        real in any::<bool>(),
    ) {
        let m = if real { real_space() } else { boxed() };
        let b = [a[0] + w[0], a[1] + w[1]];
        let mut mid = b;
        mid[axis] = a[axis] + cut * w[axis];
        let mut start = a;
        start[axis] = mid[axis];
        let whole = m.box_probability_with_bound(&a, &b).unwrap();
        let (left, right) = (
            m.box_probability_with_bound(&a, &mid).unwrap(),
            m.box_probability_with_bound(&start, &b).unwrap(),
        );
        let parts = left.value + right.value;
        let error = whole.error + left.error + right.error;
        prop_assert!(error < 1e-9, "{error}");
        prop_assert!((whole.value - parts).abs() <= error + 1e-15, "{whole:?} vs {parts}");
    }

    #[test]
    fn samples_stay_in_the_support_and_are_never_nan(
        u in prop::array::uniform2(prop_oneof![Just(0.0), Just(1.0), 0.0..=1.0f64]),
        real in any::<bool>(),
    ) {
        if real {
            let x = real_space().sample(&u).unwrap();
            prop_assert!(x.iter().all(|v| v.is_finite()));
            let x32 = mixture::<f32>([0.0; 2], [1.0; 2], MixtureMap::RealSpace(
                RealSpace::new([0.5, -1.0], [0.8, 1.5]).unwrap())).sample(&u.map(|v| v as f32)).unwrap();
            prop_assert!(x32.iter().all(|v| v.is_finite()));
        } else {
            let x = boxed().sample(&u).unwrap();
            prop_assert!((-1.0..=2.0).contains(&x[0]) && (0.5..=2.0).contains(&x[1]), "{x:?}");
            let x32 = mixture::<f32>([-1.0, 0.5], [2.0, 2.0], MixtureMap::Box)
                .sample(&u.map(|v| v as f32))
                .unwrap();
            prop_assert!((-1.0..=2.0).contains(&x32[0]) && (0.5..=2.0).contains(&x32[1]));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The blob.

struct Parts {
    params: Vec<Vec<f64>>,
    scales: Vec<f64>,
}

fn parts(lo: [f64; 2], hi: [f64; 2]) -> Parts {
    let scales = (0..3)
        .map(|k| {
            let c = component::<f64>(k, lo, hi, 1.0, [false; 2]);
            c.density().finn().constants().scale
        })
        .collect();
    Parts {
        params: (0..3).map(params).collect(),
        scales,
    }
}

fn encode_with(
    p: &Parts,
    lo: &[f64],
    hi: &[f64],
    map: MixtureMapHeader<'_>,
    edit: impl Fn(&mut Vec<MixtureComponentHeader<'_>>),
    scalar: Scalar,
) -> Result<Vec<u8>, FormatError> {
    let one = Constraint::new(Bound::Equal, Method::Scale, 1.0);
    let mut comps: Vec<MixtureComponentHeader<'_>> = (0..3)
        .map(|k| MixtureComponentHeader {
            weight: WEIGHTS[k],
            reflect: REFLECT[k][0] as u8 | (REFLECT[k][1] as u8) << 1,
            model: ModelHeader {
                payload: Payload::Density,
                kind: Kind::Positive,
                activation: Activation::Sigma,
                n: 2,
                widths: WIDTHS[k % 2],
                domain_lower: lo,
                domain_upper: hi,
                constraint: Some(one),
                constants: finn_core::Resolved::scaled(p.scales[k]),
            },
            params: &p.params[k],
        })
        .collect();
    edit(&mut comps);
    let header = DensityMixtureHeader {
        map,
        components: &comps,
    };
    let mut buf = vec![0u8; 4096];
    let len = encode_density_mixture(&header, scalar, &mut buf)?;
    buf.truncate(len);
    Ok(buf)
}

fn box_blob(scalar: Scalar) -> Vec<u8> {
    let p = parts([-1.0, 0.5], [2.0, 2.0]);
    encode_with(
        &p,
        &[-1.0, 0.5],
        &[2.0, 2.0],
        MixtureMapHeader::Box,
        |_| (),
        scalar,
    )
    .unwrap()
}

fn real_blob(scalar: Scalar) -> Vec<u8> {
    let p = parts([0.0; 2], [1.0; 2]);
    let map = MixtureMapHeader::RealSpace {
        centre: &[0.5, -1.0],
        scale: &[0.8, 1.5],
    };
    encode_with(&p, &[0.0; 2], &[1.0; 2], map, |_| (), scalar).unwrap()
}

const POINTS: [[f64; 2]; 4] = [[0.1, 0.9], [1.5, 1.9], [-0.9, 0.6], [0.4, -1.2]];
const BOXES: [([f64; 2], [f64; 2]); 3] = [
    ([-0.7, 0.6], [1.3, 1.7]),
    ([-1.0, -3.0], [2.0, 0.5]),
    ([f64::NEG_INFINITY, 1.0], [0.5, f64::INFINITY]),
];

#[test]
fn blobs_load_to_the_mixture_built_directly() {
    for (blob, direct) in [
        (box_blob(Scalar::F64), boxed()),
        (real_blob(Scalar::F64), real_space()),
    ] {
        let view = decode_density_mixture(&blob).unwrap();
        assert_eq!((view.n(), view.len()), (2, 3));
        let m = view.to_density_mixture::<f64, 2, 4, 2, 4>().unwrap();
        for x in POINTS {
            assert_eq!(m.pdf(&x).unwrap(), direct.pdf(&x).unwrap());
            assert_eq!(m.log_pdf(&x).unwrap(), direct.log_pdf(&x).unwrap());
        }
        for (a, b) in BOXES {
            assert_eq!(
                m.box_probability(&a, &b).unwrap(),
                direct.box_probability(&a, &b).unwrap()
            );
        }
        assert_eq!(
            m.sample(&[0.3, 0.7]).unwrap(),
            direct.sample(&[0.3, 0.7]).unwrap()
        );
        assert!(matches!(decode_any(&blob), Ok(Blob::DensityMixture(_))));
    }
    // f32 parameters: the f32 mixture against the f64 one.
    for (blob, direct) in [
        (box_blob(Scalar::F32), boxed()),
        (real_blob(Scalar::F32), real_space()),
    ] {
        let m = decode_density_mixture(&blob)
            .unwrap()
            .to_density_mixture::<f32, 2, 4, 2, 4>()
            .unwrap();
        for x in POINTS {
            let (p, q) = (
                m.pdf(&x.map(|v| v as f32)).unwrap() as f64,
                direct.pdf(&x).unwrap(),
            );
            assert!((p - q).abs() <= 1e-4 * q.max(1e-3), "{p} vs {q}");
        }
        let (a, b) = BOXES[0];
        let p = m
            .box_probability(&a.map(|v| v as f32), &b.map(|v| v as f32))
            .unwrap() as f64;
        assert!((p - direct.box_probability(&a, &b).unwrap()).abs() < 1e-4);
    }
}

#[test]
fn wrong_payloads_and_corruption_are_typed_errors() {
    let blob = box_blob(Scalar::F32);
    assert_eq!(
        decode(&blob).unwrap_err(),
        FormatError::WrongPayload {
            expected: Payload::Model,
            found: Payload::DensityMixture
        }
    );
    assert_eq!(
        decode_density(&blob).unwrap_err(),
        FormatError::WrongPayload {
            expected: Payload::Density,
            found: Payload::DensityMixture
        }
    );
    // A density blob is not a mixture blob.
    let density_blob = include_bytes!("../../finn-embedded/tests/data/density.postcard");
    assert_eq!(
        decode_density_mixture(density_blob).unwrap_err(),
        FormatError::WrongPayload {
            expected: Payload::DensityMixture,
            found: Payload::Density
        }
    );
    assert!(decode_density(density_blob).is_ok());
    // Every truncation and every single flipped bit is an error, never a panic.
    for cut in 0..blob.len() {
        assert!(decode_density_mixture(&blob[..cut]).is_err());
    }
    for i in 0..blob.len() {
        for bit in 0..8 {
            let mut bad = blob.clone();
            bad[i] ^= 1 << bit;
            assert!(decode_density_mixture(&bad).is_err(), "byte {i} bit {bit}");
        }
    }
}

#[test]
fn content_errors_are_typed() {
    let (lo, hi) = ([-1.0, 0.5], [2.0, 2.0]);
    let p = parts(lo, hi);
    let enc = |edit: &dyn Fn(&mut Vec<MixtureComponentHeader<'_>>)| {
        encode_with(&p, &lo, &hi, MixtureMapHeader::Box, edit, Scalar::F64).unwrap_err()
    };
    assert_eq!(
        enc(&|c| c[0].weight = 0.3),
        FormatError::Core(Error::NotAMixture(MixtureProblem::WeightSum))
    );
    assert_eq!(
        enc(&|c| c[0].weight = f64::INFINITY),
        FormatError::NonFinite {
            field: Field::Weights
        }
    );
    assert_eq!(
        enc(&|c| c[1].reflect = 4),
        FormatError::ShapeMismatch {
            field: Field::Reflection,
            expected: 2,
            found: 3
        }
    );
    assert_eq!(
        enc(&|c| c[2].model.payload = Payload::Model),
        FormatError::WrongPayload {
            expected: Payload::Density,
            found: Payload::Model
        }
    );
    assert_eq!(
        enc(&|c| c[1].model.domain_upper = &[2.0, 3.0]),
        FormatError::Core(Error::NotAMixture(MixtureProblem::DifferentBoxes))
    );
    assert_eq!(
        enc(&|c| c.clear()),
        FormatError::Core(Error::NotAMixture(MixtureProblem::ComponentCount))
    );
    // A real-space map needs n centres and scales > 0, and components inside [0, 1]^n.
    let map = MixtureMapHeader::RealSpace {
        centre: &[0.0],
        scale: &[1.0, 1.0],
    };
    assert_eq!(
        encode_with(&p, &lo, &hi, map, |_| (), Scalar::F64).unwrap_err(),
        FormatError::ShapeMismatch {
            field: Field::MapCentre,
            expected: 2,
            found: 1
        }
    );
    let map = MixtureMapHeader::RealSpace {
        centre: &[0.0; 2],
        scale: &[1.0, 0.0],
    };
    assert_eq!(
        encode_with(&p, &lo, &hi, map, |_| (), Scalar::F64).unwrap_err(),
        FormatError::Core(Error::EmptyInterval { axis: 1 })
    );
    let map = MixtureMapHeader::RealSpace {
        centre: &[0.0; 2],
        scale: &[1.0; 2],
    };
    assert_eq!(
        encode_with(&p, &lo, &hi, map, |_| (), Scalar::F64).unwrap_err(),
        FormatError::Core(Error::NotADensity)
    );
}

#[test]
fn capacity_errors_leave_the_target_unloaded() {
    let blob = real_blob(Scalar::F32);
    let view = decode_density_mixture(&blob).unwrap();
    let mut two = DensityMixture::<f32, 2, 4, 2, 2>::unloaded();
    assert_eq!(
        view.load_density_mixture_into(&mut two).unwrap_err(),
        FormatError::CapacityMismatch {
            field: Field::Components,
            capacity: 2,
            found: 3
        }
    );
    assert_eq!(two.pdf(&[0.0, 0.0]).unwrap_err(), Error::InvalidShape);
    let mut narrow = DensityMixture::<f32, 2, 2, 2, 4>::unloaded();
    assert_eq!(
        view.load_density_mixture_into(&mut narrow).unwrap_err(),
        FormatError::CapacityMismatch {
            field: Field::Width,
            capacity: 2,
            found: 3
        }
    );
    assert!(narrow.is_empty());
    let mut shallow = DensityMixture::<f32, 2, 4, 1, 4>::unloaded();
    assert_eq!(
        view.load_density_mixture_into(&mut shallow).unwrap_err(),
        FormatError::CapacityMismatch {
            field: Field::Layers,
            capacity: 1,
            found: 2
        }
    );
    let mut flat = DensityMixture::<f32, 3, 4, 2, 4>::unloaded();
    assert_eq!(
        view.load_density_mixture_into(&mut flat).unwrap_err(),
        FormatError::CapacityMismatch {
            field: Field::Dimension,
            capacity: 3,
            found: 2
        }
    );
    // A good load after a failed one.
    let mut m = DensityMixture::<f32, 2, 4, 2, 4>::unloaded();
    view.load_density_mixture_into(&mut m).unwrap();
    assert!(m.pdf(&[0.0, 0.0]).unwrap() > 0.0);
}
