//! The density mixture player on the host: it evaluates exactly what finn-core's
//! `DensityMixture` computes in f32, refuses every blob that is not an intact density mixture
//! blob with a typed error, and never panics.

mod common;
use common::{fix_crc, mutate};
use finn_core::density_mixture::{DensityMixture, MixtureProblem, MixtureSupport};
use finn_core::format::{decode_density_mixture, Field, FormatError, Payload};
use finn_core::Error;
use finn_embedded::density::halton_uniforms;
use finn_embedded::{DensityMixturePlayer, LoadError};
use proptest::prelude::*;

/// `tests/data/density_mixture.postcard`: two components (n = 2, one hidden layer of 4,
/// weights 0.4 and 0.6, the second reflected on axis 0) on the box [-1, 1] x [0, 2], f32
/// (finn-lab's `doc_density_mixture_blob`, checked there).
const BOX: &[u8] = include_bytes!("data/density_mixture.postcard");
/// `tests/data/density_mixture_real.postcard`: the same on R^2, centre (0, 1), scale
/// (0.5, 1) (finn-lab's `doc_density_mixture_real_blob`).
const REAL: &[u8] = include_bytes!("data/density_mixture_real.postcard");

type Player = DensityMixturePlayer<2, 4, 1, 2>;

fn core_mixture(blob: &[u8]) -> DensityMixture<f32, 2, 4, 1, 2> {
    decode_density_mixture(blob)
        .unwrap()
        .to_density_mixture()
        .unwrap()
}

/// A point of the plane from Halton uniforms: over [-1.5, 1.5] x [-0.5, 2.5], so that some
/// points lie outside the box support.
fn point(k: u32) -> [f32; 2] {
    let u = halton_uniforms::<2>(k + 1);
    [-1.5 + 3.0 * u[0], -0.5 + 3.0 * u[1]]
}

/// The player computes what finn-core's mixture computes in f32, bit for bit; the
/// probabilities are consistent (total 1, additive), samples stay in the support.
#[test]
fn the_player_is_finn_cores_mixture_in_f32() {
    let bits = |r: Result<f32, Error>| r.map(f32::to_bits);
    for blob in [BOX, REAL] {
        let p = Player::load(blob).unwrap();
        let d = core_mixture(blob);
        for k in 0..200 {
            let x = point(k);
            assert_eq!(bits(p.pdf(&x)), bits(d.pdf(&x)));
            assert_eq!(bits(p.log_pdf(&x)), bits(d.log_pdf(&x)));
            assert_eq!(bits(p.cdf(&x)), bits(d.cdf(&x)));
            let y = point(k + 500);
            let (lo, hi) = (
                [x[0].min(y[0]), x[1].min(y[1])],
                [x[0].max(y[0]), x[1].max(y[1])],
            );
            assert_eq!(
                bits(p.box_probability(&lo, &hi)),
                bits(d.box_probability(&lo, &hi))
            );
            let u = halton_uniforms::<2>(k);
            let (a, b) = (p.sample(&u).unwrap(), d.sample(&u).unwrap());
            assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
            assert!(a.iter().all(|v| v.is_finite()));
            if let MixtureSupport::Box(s) = p.support().unwrap() {
                assert!(s.contains(&a), "{a:?}");
            }
        }
        let inf = f32::INFINITY;
        assert!((p.box_probability(&[-inf; 2], &[inf; 2]).unwrap() - 1.0).abs() < 1e-5);
        let mid = [0.1, 0.7];
        let parts = [
            p.box_probability(&[-inf; 2], &mid).unwrap(),
            p.box_probability(&[mid[0], -inf], &[inf, mid[1]]).unwrap(),
            p.box_probability(&[-inf, mid[1]], &[mid[0], inf]).unwrap(),
            p.box_probability(&mid, &[inf; 2]).unwrap(),
        ];
        assert!((parts.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{parts:?}");
        assert_eq!(p.cdf(&mid).unwrap(), parts[0]);
        assert_eq!(p.pdf(&[f32::NAN, 0.0]).unwrap_err(), Error::NonFiniteInput);
        assert_eq!(p.cdf(&[0.0, f32::NAN]).unwrap_err(), Error::NonFiniteInput);
        assert_eq!(
            p.sample(&[f32::NAN, 0.5]).unwrap_err(),
            Error::NonFiniteInput
        );
    }
    // Outside the box support; positive everywhere on R^2.
    let p = Player::load(BOX).unwrap();
    assert_eq!(p.pdf(&[-1.5, 1.0]).unwrap(), 0.0);
    assert_eq!(p.log_pdf(&[0.0, 2.5]).unwrap(), f32::NEG_INFINITY);
    assert_eq!(p.box_probability(&[2.0, 0.0], &[3.0, 1.0]).unwrap(), 0.0);
    let r = Player::load(REAL).unwrap();
    assert!(r.pdf(&[-1.5, 1.0]).unwrap() > 0.0);
    assert!(r.box_probability(&[2.0, 0.0], &[3.0, 1.0]).unwrap() > 0.0);
}

/// Only an intact density mixture blob loads: other payloads, content the format refuses, a
/// player too small, and every corruption are typed errors, and a failed reload leaves the
/// player unloaded.
#[test]
fn only_density_mixture_blobs_load() {
    for (blob, found) in [
        (
            &include_bytes!("data/density.postcard")[..],
            Payload::Density,
        ),
        (&include_bytes!("data/fit.postcard")[..], Payload::Model),
        (
            &include_bytes!("data/doc.postcard")[..],
            Payload::Trajectory,
        ),
        (
            &include_bytes!("data/deviation.postcard")[..],
            Payload::Deviation,
        ),
    ] {
        assert_eq!(
            Player::from_bytes(blob).unwrap_err(),
            LoadError::Invalid(FormatError::WrongPayload {
                expected: Payload::DensityMixture,
                found
            })
        );
    }
    // The body of the box blob: payload 6, map 7, centre and scale lengths 8 and 9, the
    // number of components 10, the first weight 11..19, its mask 19, its density tag 20.
    let edited = |at: usize, bytes: &[u8]| {
        let mut b = BOX.to_vec();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        fix_crc(&mut b);
        b
    };
    assert_eq!((BOX[6], BOX[7], BOX[10], BOX[20]), (4, 0, 2, 2));
    assert_eq!(&BOX[11..19], &0.4f64.to_le_bytes());
    for (what, bad, e) in [
        (
            "weights 0.5 + 0.6",
            edited(11, &0.5f64.to_le_bytes()),
            FormatError::Core(Error::NotAMixture(MixtureProblem::WeightSum)),
        ),
        (
            "a NaN weight",
            edited(11, &f64::NAN.to_le_bytes()),
            FormatError::NonFinite {
                field: Field::Weights,
            },
        ),
        (
            "a reflected third axis",
            edited(19, &[4]),
            FormatError::ShapeMismatch {
                field: Field::Reflection,
                expected: 2,
                found: 3,
            },
        ),
        (
            "a component under the model tag",
            edited(20, &[0]),
            FormatError::WrongPayload {
                expected: Payload::Density,
                found: Payload::Model,
            },
        ),
        (
            "a real-space map without centre or scale",
            edited(7, &[1]),
            FormatError::ShapeMismatch {
                field: Field::MapCentre,
                expected: 2,
                found: 0,
            },
        ),
    ] {
        assert_eq!(
            Player::from_bytes(&bad).unwrap_err(),
            LoadError::Invalid(e),
            "{what}"
        );
    }
    for (e, result) in [
        (
            FormatError::CapacityMismatch {
                field: Field::Components,
                capacity: 1,
                found: 2,
            },
            DensityMixturePlayer::<2, 4, 1, 1>::from_bytes(BOX).map(|_| ()),
        ),
        (
            FormatError::CapacityMismatch {
                field: Field::Width,
                capacity: 3,
                found: 4,
            },
            DensityMixturePlayer::<2, 3, 1, 2>::from_bytes(BOX).map(|_| ()),
        ),
        (
            FormatError::CapacityMismatch {
                field: Field::Dimension,
                capacity: 3,
                found: 2,
            },
            DensityMixturePlayer::<3, 4, 1, 2>::from_bytes(BOX).map(|_| ()),
        ),
    ] {
        assert_eq!(result.unwrap_err(), LoadError::Capacity(e));
    }
    let mut player = Player::unloaded();
    player.reload(REAL).unwrap();
    assert!(player.pdf(&[0.0, 1.0]).is_ok());
    let mut cut = REAL.to_vec();
    cut[30] ^= 0x08;
    assert!(matches!(
        player.reload(&cut).unwrap_err(),
        LoadError::Corrupt(FormatError::CrcMismatch { .. })
    ));
    for r in [
        player.pdf(&[0.0, 1.0]),
        player.log_pdf(&[0.0, 1.0]),
        player.cdf(&[0.0, 1.0]),
        player.box_probability(&[0.0, 0.0], &[1.0, 1.0]),
    ] {
        assert_eq!(r.unwrap_err(), Error::InvalidShape);
    }
    assert_eq!(player.sample(&[0.5, 0.5]).unwrap_err(), Error::InvalidShape);
    assert_eq!(player.support().unwrap_err(), Error::InvalidShape);
    // A failed capacity check leaves it unloaded too; a good blob loads again.
    player.reload(BOX).unwrap();
    assert!(DensityMixturePlayer::<2, 4, 1, 1>::unloaded()
        .reload(BOX)
        .is_err());
    assert!(player.pdf(&[0.0, 1.0]).unwrap() > 0.0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    /// What loads, works: any mutation of either blob is refused with a typed error or loads
    /// into a mixture that evaluates and samples without error.
    #[test]
    fn mutated_blobs_are_refused_or_work(
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..4), 1..4),
        fix in any::<bool>(),
        real in any::<bool>(),
    ) {
        let mut bytes = if real { REAL } else { BOX }.to_vec();
        mutate(&mut bytes, &edits);
        if fix {
            fix_crc(&mut bytes);
        }
        if let Ok(p) = Player::from_bytes(&bytes) {
            for k in 0..16 {
                let x = point(k);
                let f = p.pdf(&x).unwrap();
                prop_assert!(f >= 0.0 && f.is_finite());
                prop_assert!(!p.log_pdf(&x).unwrap().is_nan());
                let c = p.cdf(&x).unwrap();
                prop_assert!((0.0..=1.0).contains(&c));
                let s = p.sample(&halton_uniforms::<2>(k)).unwrap();
                prop_assert!(s.iter().all(|v| !v.is_nan()));
                if let MixtureSupport::Box(b) = p.support().unwrap() {
                    prop_assert!(b.contains(&s));
                }
            }
        }
    }
}
