//! The fit player on the host: it evaluates exactly what finn-core computes in f32, agrees with
//! finn-core's f64 model within the rounding of f32, refuses every bad blob with a typed error,
//! and never panics.

mod common;
use common::{fix_crc, mutate};
use finn_core::format::{
    decode, encode, encode_trajectory, encoded_len, trajectory_encoded_len, Field, FormatError,
    ModelHeader, Payload, Scalar, TrajectoryHeader,
};
use finn_core::jet::{Dim, JetDim};
use finn_core::trajectory::OutsidePolicy;
use finn_core::{
    parameter_count, Activation, Antiderivative, Bound, Constraint, Depth, Domain, Error, Finn,
    HiddenBlocks, Kind, Method, Network, Resolved,
};
use finn_embedded::{FitPlayer, LoadError, TrajectoryPlayer};
use proptest::prelude::*;

/// A model to encode: the header's fields with owned storage, and its parameters.
#[derive(Clone, Debug)]
struct Model {
    kind: Kind,
    activation: Activation,
    widths: Vec<usize>,
    lower: Vec<f64>,
    upper: Vec<f64>,
    constraint: Option<Constraint<f64>>,
    params: Vec<f64>,
}

impl Model {
    /// The header, with the constants resolved in f64 by finn-core (as the host does).
    fn header(&self, constants: Resolved<f64>) -> ModelHeader<'_> {
        ModelHeader {
            payload: Payload::Model,
            kind: self.kind,
            activation: self.activation,
            n: self.lower.len(),
            widths: &self.widths,
            domain_lower: &self.lower,
            domain_upper: &self.upper,
            constraint: self.constraint,
            constants,
        }
    }

    /// The f64 model built directly from the parameters, as training would leave it.
    fn finn<const N: usize>(&self) -> Result<Finn<f64, N, 8, 3>, Error>
    where
        Dim<N>: JetDim,
    {
        let net = Network::new(self.kind, self.activation, &self.widths, &self.params)?;
        Finn::new(
            net,
            Domain::from_slices(&self.lower, &self.upper)?,
            self.constraint,
        )
    }

    /// The blob of this model, with the constants of [`Model::finn`].
    fn blob<const N: usize>(&self, scalar: Scalar) -> Result<Vec<u8>, Error>
    where
        Dim<N>: JetDim,
    {
        let header = self.header(self.finn::<N>()?.constants());
        let mut out = vec![0u8; encoded_len(&header, scalar).unwrap()];
        encode(&header, &self.params, scalar, &mut out).unwrap();
        Ok(out)
    }
}

/// The model of the documentation's examples: a positive network of 2 inputs and 4 hidden
/// units on [0, 1] x [0, 2], constrained by scale to integrate to 1 (a density).
fn doc_model() -> Model {
    Model {
        kind: Kind::Positive,
        activation: Activation::Sigma,
        widths: vec![4],
        lower: vec![0.0, 0.0],
        upper: vec![1.0, 2.0],
        constraint: Some(Constraint::new(Bound::Equal, Method::Scale, 1.0)),
        params: vec![
            0.9, -0.4, 0.3, 1.1, -0.7, 0.5, 1.2, 0.2, // first-layer weights, [unit][input]
            0.1, -0.3, 0.4, 0.0, // biases
            0.8, 0.5, -0.6, 1.0, // output weights
        ],
    }
}

fn doc_blob() -> Vec<u8> {
    doc_model().blob::<2>(Scalar::F64).unwrap()
}

fn data(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn fit_doc_blob_is_current() {
    let path = data("fit.postcard");
    let fresh = doc_blob();
    if std::env::var_os("FINN_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let stored = std::fs::read(&path).unwrap();
    assert_eq!(
        stored, fresh,
        "{path} is stale: rerun with FINN_BLESS=1 to rewrite it"
    );
}

type Doc = FitPlayer<2, 8, 2>;

#[test]
fn doc_blob_plays_the_f64_model_in_f32() {
    let model = doc_model();
    let exact = model.finn::<2>().unwrap();
    let player = Doc::from_bytes(&doc_blob()).unwrap();
    assert_eq!(player.domain(), (&[0.0, 0.0], &[1.0, 2.0]));
    assert_eq!(player.model().network().widths(), &[4]);
    // The constraint: = 1 in f64 to the last bits, in f32 to its rounding.
    assert!((exact.integral().unwrap() - 1.0).abs() < 1e-14);
    assert!((player.integral().unwrap() - 1.0).abs() < 4.0 * f32::EPSILON);
    for (i, j) in (0..=4).flat_map(|i| (0..=4).map(move |j| (i, j))) {
        let x = [0.25 * i as f32, 0.5 * j as f32];
        let x64 = [f64::from(x[0]), f64::from(x[1])];
        let f = player.integrand(&x).unwrap();
        let f64_ = exact.integrand(&x64).unwrap();
        assert!(f >= 0.0);
        assert!(
            (f64::from(f) - f64_).abs() < 1e-5 * (1.0 + f64_.abs()),
            "f at {x:?}"
        );
        let big_f = player.antiderivative(&x).unwrap();
        let big_f64 = exact.antiderivative(&x64).unwrap();
        assert!((f64::from(big_f) - big_f64).abs() < 1e-5 * (1.0 + big_f64.abs()));
    }
}

/// Player and finn-core's own f32 model from the same blob: the same results, bit for bit,
/// errors included.
fn assert_same_as_finn_core<const N: usize, const W: usize, const L: usize>(
    player: &FitPlayer<N, W, L>,
    reference: &Finn<f32, N, W, L>,
    points: &[[f32; N]],
) where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<f32, W>,
{
    for x in points {
        assert_eq!(player.integrand(x), reference.integrand(x));
        assert_eq!(player.antiderivative(x), reference.antiderivative(x));
    }
    for pair in points.windows(2) {
        assert_eq!(
            player.integral_over(&pair[0], &pair[1]),
            reference.integral_over(&pair[0], &pair[1])
        );
    }
    assert_eq!(player.integral(), reference.integral());
}

/// Every evaluation of an unloaded player is `InvalidShape` (its accessors keep what it held).
fn assert_unloaded(player: &Doc) {
    let x = [0.5, 1.0];
    assert_eq!(player.integrand(&x), Err(Error::InvalidShape));
    assert_eq!(player.antiderivative(&x), Err(Error::InvalidShape));
    assert_eq!(player.integral(), Err(Error::InvalidShape));
    assert_eq!(
        player.integral_over(&[0.0, 0.0], &x),
        Err(Error::InvalidShape)
    );
    assert_eq!(player.model().shift(), 0.0);
}

/// The in-place load (issue 8, item 9): an unloaded player refuses to evaluate, `reload`
/// gives exactly what `load` gives, and a failed reload leaves the player unloaded whatever
/// it held before.
#[test]
fn reload_loads_in_place_and_a_failed_reload_unloads() {
    let blob = doc_blob();
    let loaded = Doc::from_bytes(&blob).unwrap();
    let reference = decode(&blob).unwrap().to_finn::<f32, 2, 8, 2>().unwrap();
    let points: Vec<[f32; 2]> = (0..12).map(|k| loaded.halton_point(k)).collect();
    let mut player = Doc::unloaded();
    assert_unloaded(&player);
    assert_eq!(player.model().constraint(), None);
    player.reload(&blob).unwrap();
    assert_same_as_finn_core(&player, &reference, &points);
    assert_eq!(player.domain(), loaded.domain());
    let trajectory = std::fs::read(data("doc.postcard")).unwrap();
    let mut corrupt = blob.clone();
    corrupt[20] ^= 1;
    let failures = [
        (
            trajectory.as_slice(),
            LoadError::Invalid(FormatError::WrongPayload {
                expected: Payload::Model,
                found: Payload::Trajectory,
            }),
        ),
        (
            &blob[..blob.len() - 1],
            Doc::from_bytes(&blob[..blob.len() - 1]).unwrap_err(),
        ),
        (&corrupt, Doc::from_bytes(&corrupt).unwrap_err()),
    ];
    for (bad, want) in failures {
        player.reload(&blob).unwrap();
        assert_eq!(player.reload(bad), Err(want));
        assert_unloaded(&player);
    }
    // A capacity error unloads too: one layer of 4 units does not fit a width of 2.
    let mut narrow = FitPlayer::<2, 2, 2>::unloaded();
    assert!(matches!(narrow.reload(&blob), Err(LoadError::Capacity(_))));
    assert_eq!(narrow.integral(), Err(Error::InvalidShape));
    // And loading again after a failure is a full load.
    player.reload(&blob).unwrap();
    assert_same_as_finn_core(&player, &reference, &points);
}

#[test]
fn trajectory_blob_is_refused_by_the_fit_player() {
    let trajectory = std::fs::read(data("doc.postcard")).unwrap();
    let err = Doc::from_bytes(&trajectory).unwrap_err();
    assert_eq!(
        err,
        LoadError::Invalid(FormatError::WrongPayload {
            expected: Payload::Model,
            found: Payload::Trajectory
        })
    );
    assert_eq!(
        err.to_string(),
        "invalid blob: the blob holds a trajectory, not a model"
    );
}

#[test]
fn model_blob_is_refused_by_the_trajectory_player() {
    let err = TrajectoryPlayer::<2, 8, 2, 1>::from_bytes(&doc_blob()).unwrap_err();
    assert_eq!(
        err,
        LoadError::Invalid(FormatError::WrongPayload {
            expected: Payload::Trajectory,
            found: Payload::Model
        })
    );
}

#[test]
fn capacity_errors_are_typed() {
    let blob = doc_blob();
    let mismatch = |field, capacity, found| {
        LoadError::Capacity(FormatError::CapacityMismatch {
            field,
            capacity,
            found,
        })
    };
    assert_eq!(
        FitPlayer::<2, 3, 2>::from_bytes(&blob).unwrap_err(),
        mismatch(Field::Width, 3, 4)
    );
    assert_eq!(
        FitPlayer::<3, 8, 2>::from_bytes(&blob).unwrap_err(),
        mismatch(Field::Dimension, 3, 2)
    );
    assert_eq!(
        FitPlayer::<1, 8, 2>::from_bytes(&blob).unwrap_err(),
        mismatch(Field::Dimension, 1, 2)
    );
    // Two hidden layers into a player of one.
    let deep = Model {
        widths: vec![3, 2],
        params: (0..parameter_count(2, &[3, 2]))
            .map(|i| (i as f64 * 0.7).sin())
            .collect(),
        ..doc_model()
    };
    let blob = deep.blob::<2>(Scalar::F32).unwrap();
    assert_eq!(
        FitPlayer::<2, 8, 1>::from_bytes(&blob).unwrap_err(),
        mismatch(Field::Layers, 1, 2)
    );
    let err = FitPlayer::<2, 2, 2>::from_bytes(&blob).unwrap_err();
    assert_eq!(err, mismatch(Field::Width, 2, 3));
    assert!(err
        .to_string()
        .starts_with("the blob does not fit this player: hidden width"));
    // The exact capacity and larger ones load the same model.
    let exact = FitPlayer::<2, 3, 2>::from_bytes(&blob).unwrap();
    let big = FitPlayer::<2, 16, 4>::from_bytes(&blob).unwrap();
    assert_eq!(exact.integral(), big.integral());
    assert_eq!(exact.integrand(&[0.3, 0.4]), big.integrand(&[0.3, 0.4]));
}

/// The Halton points: the lower corner first, inside the domain, distinct, evenly spread (every
/// quarter of the domain gets its share of a prefix), the radical inverse of every base.
#[test]
fn halton_points_spread_over_the_domain() {
    let player = Doc::from_bytes(&doc_blob()).unwrap();
    let (lower, upper) = (*player.domain().0, *player.domain().1);
    assert_eq!(player.halton_point(0), lower);
    let points: Vec<[f32; 2]> = (0..256).map(|k| player.halton_point(k)).collect();
    for (k, x) in points.iter().enumerate() {
        for i in 0..2 {
            assert!(lower[i] <= x[i] && x[i] < upper[i], "point {k}: {x:?}");
        }
    }
    let mut bits: Vec<_> = points
        .iter()
        .map(|x| (x[0].to_bits(), x[1].to_bits()))
        .collect();
    bits.sort_unstable();
    bits.dedup();
    assert_eq!(bits.len(), points.len(), "distinct points");
    // 256 points, 64 per quarter of the domain up to the sequence's small discrepancy.
    let mut quarters = [0usize; 4];
    for x in &points {
        quarters[usize::from(x[0] >= 0.5) + 2 * usize::from(x[1] >= 1.0)] += 1;
    }
    assert!(
        quarters.iter().all(|&q| (60..=68).contains(&q)),
        "{quarters:?}"
    );
    // The last index: 32 binary digits, exact in u64, and (2^32 - 1) / 2^32 rounds to 1 in f32,
    // so the first coordinate reaches the upper corner, by rounding only.
    let last = player.halton_point(u32::MAX);
    assert!(last[0] <= upper[0] && last[1] < upper[1], "{last:?}");

    // All eight bases, on the unit box of an 8-input model: point 1 is 1/p on axis p.
    let wide = Model {
        widths: vec![2],
        lower: vec![0.0; 8],
        upper: vec![1.0; 8],
        params: (0..parameter_count(8, &[2]))
            .map(|i| 0.1 * i as f64)
            .collect(),
        ..doc_model()
    };
    let player = FitPlayer::<8, 2, 1>::from_bytes(&wide.blob::<8>(Scalar::F32).unwrap()).unwrap();
    let expected = [2.0f32, 3.0, 5.0, 7.0, 11.0, 13.0, 17.0, 19.0].map(|p| 1.0 / p);
    assert_eq!(player.halton_point(1), expected);
    // 2 * 19 + 3 = 41 in base 19 is "23": 3/19 + 2/361 = 59/361.
    assert_eq!(player.halton_point(41)[7], 59.0 / 361.0);
}

#[test]
fn values_beyond_f32_are_core_errors() {
    // A parameter beyond f32::MAX in an f64 blob (unconstrained: its f64 integral would be
    // infinite too).
    let mut huge = Model {
        kind: Kind::Signed,
        activation: Activation::Tanh,
        constraint: None,
        ..doc_model()
    };
    huge.params[3] = 1e300;
    let err = Doc::from_bytes(&huge.blob::<2>(Scalar::F64).unwrap()).unwrap_err();
    assert_eq!(err, LoadError::Core(Error::NonFiniteParameter));
    assert!(err
        .to_string()
        .starts_with("the blob does not build in f32"));
    use std::error::Error as _;
    assert!(err.source().is_some());
    // A domain that collapses when rounded to f32.
    let thin = Model {
        lower: vec![0.0, 3.0],
        upper: vec![1.0, 3.0 + 1e-9],
        ..doc_model()
    };
    assert_eq!(
        Doc::from_bytes(&thin.blob::<2>(Scalar::F64).unwrap()).unwrap_err(),
        LoadError::Core(Error::EmptyInterval { axis: 1 })
    );
}

#[test]
fn corrupt_blobs_are_typed() {
    let blob = doc_blob();
    assert_eq!(
        Doc::from_bytes(&blob[..9]).unwrap_err(),
        LoadError::Corrupt(FormatError::Truncated { len: 9 })
    );
    assert!(matches!(
        Doc::from_bytes(&blob[..blob.len() - 1]).unwrap_err(),
        LoadError::Corrupt(FormatError::CrcMismatch { .. })
    ));
    // Every byte, changed without fixing the CRC: the framing or the CRC refuses it.
    for at in 0..blob.len() {
        let mut bad = blob.clone();
        bad[at] ^= 0x10;
        let err = Doc::from_bytes(&bad).unwrap_err();
        match at {
            0..=3 => assert_eq!(err, LoadError::Corrupt(FormatError::BadMagic)),
            4..=5 => assert!(matches!(
                err,
                LoadError::Corrupt(FormatError::UnsupportedVersion { .. })
            )),
            _ => assert!(
                matches!(err, LoadError::Corrupt(FormatError::CrcMismatch { .. })),
                "byte {at}: {err:?}"
            ),
        }
    }
}

#[test]
fn corrupt_blobs_with_a_fixed_crc_are_invalid() {
    let blob = doc_blob();
    // The body: payload 6, kind 7, activation 8, n 9, widths (count 10, width 11), domain
    // lower (count 12, 2 f64), domain upper (count 29, 2 f64), constraint 46, ...
    let invalid = |at: usize, value: u8| {
        let mut bad = blob.clone();
        bad[at] = value;
        fix_crc(&mut bad);
        match Doc::from_bytes(&bad) {
            Err(LoadError::Invalid(e)) => e,
            other => panic!("byte {at} = {value}: {other:?}"),
        }
    };
    assert_eq!(invalid(6, 3), FormatError::Malformed); // no payload 3
                                                       // Payload 2 is a density: this model meets the density rule (positive, its integral fixed
                                                       // to 1 by scale), so under that tag it is a density blob, which the fit player reads too
                                                       // (a density is a model) and the density player reads only under that tag.
    let mut density = blob.clone();
    density[6] = 2;
    fix_crc(&mut density);
    assert!(Doc::from_bytes(&density).is_ok());
    assert!(finn_embedded::DensityPlayer::<2, 8, 2>::from_bytes(&density).is_ok());
    assert!(finn_embedded::DensityPlayer::<2, 8, 2>::from_bytes(&blob).is_err());
    assert_eq!(invalid(8, 7), FormatError::Malformed); // no activation 7
    assert_eq!(invalid(9, 0), FormatError::BadDimension { n: 0 });
    assert_eq!(
        invalid(9, 3),
        FormatError::ShapeMismatch {
            field: Field::DomainLower,
            expected: 3,
            found: 2
        }
    );
    assert!(matches!(
        invalid(11, 5),
        FormatError::ShapeMismatch {
            field: Field::ParameterBytes,
            ..
        }
    ));
    // A signed network cannot carry the scale constraint.
    assert_eq!(
        invalid(7, 1),
        FormatError::Core(Error::ScaleNeedsPositiveNetwork)
    );
    // The last parameter made NaN (the top bytes of its f64, before the CRC).
    let mut bad = blob.clone();
    let end = bad.len() - 4;
    bad[end - 2..end].copy_from_slice(&[0xF8, 0x7F]);
    fix_crc(&mut bad);
    assert_eq!(
        Doc::from_bytes(&bad).unwrap_err(),
        LoadError::Invalid(FormatError::NonFinite {
            field: Field::Parameters
        })
    );
    // A trailing byte inside the frame.
    let mut long = blob[..blob.len() - 4].to_vec();
    long.extend_from_slice(&[0, 0, 0, 0, 0]);
    fix_crc(&mut long);
    assert_eq!(
        Doc::from_bytes(&long).unwrap_err(),
        LoadError::Invalid(FormatError::TrailingBytes { count: 1 })
    );
}

/// A random small model of `n` inputs: positive (sigma_n) or signed (tanh or sigma_n), with a
/// scale constraint (positive only), a shift constraint or none.
fn model(n: usize) -> impl Strategy<Value = Model> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(1usize..=6, 1..=3),
        0u8..3,
        prop_oneof![
            Just(Bound::Equal),
            Just(Bound::AtMost),
            Just(Bound::AtLeast)
        ],
        -3.0..3.0f64,
    )
        .prop_flat_map(move |(positive, tanh, widths, method, bound, eps)| {
            let (kind, activation) = match (positive, tanh) {
                (true, _) => (Kind::Positive, Activation::Sigma),
                (false, true) => (Kind::Signed, Activation::Tanh),
                (false, false) => (Kind::Signed, Activation::Sigma),
            };
            let constraint = match method {
                0 if positive => Some(Constraint::new(bound, Method::Scale, eps.abs().max(0.1))),
                0 => None,
                1 => Some(Constraint::new(bound, Method::Shift, eps)),
                _ => None,
            };
            let count = parameter_count(n, &widths);
            (
                prop::collection::vec(-1.5..1.5f64, count),
                prop::collection::vec(-2.0..1.0f64, n),
                prop::collection::vec(0.25..2.0f64, n),
            )
                .prop_map(move |(params, lower, size)| Model {
                    kind,
                    activation,
                    widths: widths.clone(),
                    upper: lower.iter().zip(&size).map(|(a, s)| a + s).collect(),
                    lower,
                    constraint,
                    params,
                })
        })
}

/// Tolerance of the f32 player against finn-core's f64 model of the same blob, relative to
/// the size of the values: the error of f is at most `REL` * (1 + the largest |f| among the
/// points), the error of F at most `REL` * (1 + the largest |F|, the domain's corners
/// included), and the error of an integral (a signed sum of F at 2^n corners, whose terms
/// cancel) at most 2^n times F's bound. The rounding of the parameters, points, domain and
/// constants to f32 (2^-24 relative) and the f32 evaluation stay well inside: 3000 cases per
/// dimension pass with 2e-5, and the errors seen are about 1e-6.
const REL: f64 = 1e-4;

/// Loads `model`'s blob into an `N`-input player and checks it against finn-core: bit for bit
/// against finn-core's own f32 model, within [`REL`] against its f64 model.
fn round_trip<const N: usize>(
    model: &Model,
    scalar: Scalar,
    unit: &[Vec<f64>],
) -> Result<(), TestCaseError>
where
    Dim<N>: JetDim,
{
    // Constraints that do not resolve in f64 (a scale of a vanishing integral) are refused by
    // finn-core before any blob exists; that is not the player's business.
    let Ok(blob) = model.blob::<N>(scalar) else {
        return Ok(());
    };
    let view = decode(&blob).unwrap();
    let exact = view.to_finn::<f64, N, 8, 3>().unwrap();
    let reference = view.to_finn::<f32, N, 8, 3>();
    let player = FitPlayer::<N, 8, 3>::from_bytes(&blob);
    let (player, reference) = match (player, reference) {
        (Ok(p), Ok(r)) => (p, r),
        (Err(LoadError::Core(e)), Err(FormatError::Core(r))) => {
            prop_assert_eq!(e, r);
            return Ok(());
        }
        (p, r) => {
            return Err(TestCaseError::fail(format!(
                "player {p:?}, finn-core {r:?}"
            )))
        }
    };

    // Points: the domain's corners and `unit` mapped into the domain (so boxes between
    // consecutive points are non-empty only sometimes: both outcomes are compared).
    let (lower, upper) = player.domain();
    let mut points: Vec<[f32; N]> = Vec::new();
    for mask in 0..1usize << N {
        points.push(core::array::from_fn(|i| {
            if mask >> i & 1 == 1 {
                upper[i]
            } else {
                lower[i]
            }
        }));
    }
    for u in unit {
        points.push(core::array::from_fn(|i| {
            let (a, b) = (f64::from(lower[i]), f64::from(upper[i]));
            (a + u[i] * (b - a)) as f32
        }));
    }
    assert_same_as_finn_core(&player, &reference, &points);

    let widen = |x: &[f32; N]| -> [f64; N] { core::array::from_fn(|i| f64::from(x[i])) };
    let mut max_f = 0.0f64;
    let mut max_big_f = 0.0f64;
    for x in &points {
        max_f = max_f.max(exact.integrand(&widen(x)).unwrap().abs());
        max_big_f = max_big_f.max(exact.antiderivative(&widen(x)).unwrap().abs());
    }
    let tol_f = REL * (1.0 + max_f);
    let tol_big_f = REL * (1.0 + max_big_f);
    for x in &points {
        let f = f64::from(player.integrand(x).unwrap());
        let f_exact = exact.integrand(&widen(x)).unwrap();
        prop_assert!(
            (f - f_exact).abs() <= tol_f,
            "f at {x:?}: {f} vs {f_exact} (tol {tol_f:e})"
        );
        let big_f = f64::from(player.antiderivative(x).unwrap());
        let big_f_exact = exact.antiderivative(&widen(x)).unwrap();
        prop_assert!(
            (big_f - big_f_exact).abs() <= tol_big_f,
            "F at {x:?}: {big_f} vs {big_f_exact} (tol {tol_big_f:e})"
        );
    }
    // Boxes: from the lower corner to each point inside the domain.
    let (a, a64) = (*lower, widen(lower));
    for b in points.iter().filter(|b| (0..N).all(|i| b[i] > a[i])) {
        let i = f64::from(player.integral_over(&a, b).unwrap());
        let i_exact = exact.integral_over(&a64, &widen(b)).unwrap();
        prop_assert!(
            (i - i_exact).abs() <= (1 << N) as f64 * tol_big_f,
            "integral to {b:?}: {i} vs {i_exact}"
        );
    }
    // The whole domain, and the constraint.
    let total = f64::from(player.integral().unwrap());
    let total_exact = exact.integral().unwrap();
    let tol_total = (1 << N) as f64 * tol_big_f;
    prop_assert!(
        (total - total_exact).abs() <= tol_total,
        "{total} vs {total_exact}"
    );
    if let Some(c) = model.constraint {
        match c.bound {
            Bound::Equal => prop_assert!((total - c.eps).abs() <= tol_total + 1e-9 * c.eps.abs()),
            Bound::AtMost => prop_assert!(total <= c.eps + tol_total),
            Bound::AtLeast => prop_assert!(total >= c.eps - tol_total),
        }
    }
    Ok(())
}

fn units(n: usize) -> impl Strategy<Value = Vec<Vec<f64>>> {
    prop::collection::vec(prop::collection::vec(0.0..=1.0f64, n), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_1d(m in model(1), f32_blob in any::<bool>(), u in units(1)) {
        let scalar = if f32_blob { Scalar::F32 } else { Scalar::F64 };
        round_trip::<1>(&m, scalar, &u)?;
    }

    #[test]
    fn round_trip_2d(m in model(2), f32_blob in any::<bool>(), u in units(2)) {
        let scalar = if f32_blob { Scalar::F32 } else { Scalar::F64 };
        round_trip::<2>(&m, scalar, &u)?;
    }

    #[test]
    fn round_trip_3d(m in model(3), f32_blob in any::<bool>(), u in units(3)) {
        let scalar = if f32_blob { Scalar::F32 } else { Scalar::F64 };
        round_trip::<3>(&m, scalar, &u)?;
    }
}

/// Loads `bytes` into fit players of several dimensions and trajectory players, evaluating
/// whatever loads: nothing may panic.
fn load_any(bytes: &[u8]) {
    fn run<const N: usize>(bytes: &[u8])
    where
        Dim<N>: JetDim,
    {
        if let Ok(player) = FitPlayer::<N, 8, 3>::from_bytes(bytes) {
            let (lower, upper) = player.domain();
            let _ = player.integrand(lower);
            let _ = player.antiderivative(upper);
            let _ = player.integral_over(lower, upper);
            let _ = player.integral_over(upper, lower);
            let _ = player.integral();
            let _ = player.integrand(&[f32::NAN; N]);
        }
    }
    run::<1>(bytes);
    run::<2>(bytes);
    run::<3>(bytes);
    let _ = TrajectoryPlayer::<2, 8, 2, 1>::from_bytes(bytes);
}

fn trajectory_blob() -> Vec<u8> {
    let header = TrajectoryHeader {
        activation: Activation::Tanh,
        widths: &[2],
        t0: 0.0,
        t1: 1.0,
        x0: &[0.0, 1.0],
        x1: &[1.0, 0.0],
        via_times: &[],
        via_positions: &[],
        policy: OutsidePolicy::Hold,
    };
    let params = [
        0.5, -1.0, 0.2, 0.1, 1.0, 0.3, 0.7, 0.4, -0.2, 0.9, 0.6, -0.8,
    ];
    let mut out = vec![0u8; trajectory_encoded_len(&header, Scalar::F32).unwrap()];
    encode_trajectory(&header, &params, Scalar::F32, &mut out).unwrap();
    out
}

fn valid_blobs() -> Vec<Vec<u8>> {
    let signed = Model {
        kind: Kind::Signed,
        activation: Activation::Tanh,
        widths: vec![3, 2],
        params: (0..parameter_count(2, &[3, 2]))
            .map(|i| (i as f64 * 1.3).cos())
            .collect(),
        constraint: Some(Constraint::new(Bound::AtLeast, Method::Shift, 0.5)),
        ..doc_model()
    };
    vec![
        doc_blob(),
        doc_model().blob::<2>(Scalar::F32).unwrap(),
        signed.blob::<2>(Scalar::F64).unwrap(),
        trajectory_blob(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic_the_loader(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        load_any(&bytes);
        let mut framed = b"FINN\x01\x00\x00".to_vec();
        framed.extend_from_slice(&bytes);
        framed.extend_from_slice(&[0; 4]);
        fix_crc(&mut framed);
        load_any(&framed);
    }

    /// One changed byte: without the CRC fixed, always `Corrupt`; with it, never `Corrupt` past
    /// the magic and version, and never a panic.
    #[test]
    fn one_changed_byte_is_corrupt_unless_the_crc_is_fixed(
        which in 0usize..4,
        at in any::<usize>(),
        flip in 1u8..=255,
    ) {
        let mut bytes = valid_blobs().swap_remove(which);
        let at = at % bytes.len();
        bytes[at] ^= flip;
        let err = FitPlayer::<2, 8, 3>::from_bytes(&bytes).unwrap_err();
        prop_assert!(matches!(err, LoadError::Corrupt(_)), "byte {}: {:?}", at, err);
        fix_crc(&mut bytes);
        let fixed = FitPlayer::<2, 8, 3>::from_bytes(&bytes);
        if at >= 6 {
            prop_assert!(!matches!(fixed, Err(LoadError::Corrupt(_))), "byte {}: {:?}", at, fixed);
        }
        load_any(&bytes);
    }

    #[test]
    fn mutated_blobs_never_panic_the_loader(
        which in 0usize..4,
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..4), 1..5),
        recompute_crc in any::<bool>(),
    ) {
        let mut bytes = valid_blobs().swap_remove(which);
        mutate(&mut bytes, &edits);
        if recompute_crc {
            fix_crc(&mut bytes);
        }
        load_any(&bytes);
    }

    #[test]
    fn evaluation_never_panics(x in prop::array::uniform2(any::<f32>()), y in prop::array::uniform2(any::<f32>())) {
        let player = Doc::from_bytes(&doc_blob()).unwrap();
        let ok_or_typed = |r: Result<f32, Error>| match r {
            Ok(v) => v.is_finite(),
            Err(e) => matches!(e, Error::NonFiniteInput | Error::EmptyInterval { .. } | Error::Overflow),
        };
        prop_assert!(ok_or_typed(player.integrand(&x)));
        prop_assert!(ok_or_typed(player.antiderivative(&x)));
        prop_assert!(ok_or_typed(player.integral_over(&x, &y)));
    }
}
