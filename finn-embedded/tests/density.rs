//! The density player on the host: it evaluates exactly what finn-core's `Density` computes in
//! f32, refuses every blob that is not an intact density blob with a typed error, and never
//! panics.

mod common;
use common::{fix_crc, mutate};
use finn_core::format::{decode_density, Field, FormatError, Payload};
use finn_core::{Density, Error};
use finn_embedded::density::halton_uniforms;
use finn_embedded::{DensityPlayer, FitPlayer, LoadError};
use proptest::prelude::*;

/// `tests/data/density.postcard`: n = 2, one hidden layer of 4, on [-1, 1] x [0, 2], f32
/// (finn-lab's `doc_density_blob`, checked there).
const BLOB: &[u8] = include_bytes!("data/density.postcard");

type Player = DensityPlayer<2, 8, 2>;

fn core_density() -> Density<f32, 2, 8, 2> {
    decode_density(BLOB).unwrap().to_density().unwrap()
}

/// The player computes what finn-core's density computes in f32, bit for bit, and the
/// probabilities are consistent: the support has probability 1, box additivity holds.
#[test]
fn the_player_is_finn_cores_density_in_f32() {
    let p = Player::load(BLOB).unwrap();
    let d = core_density();
    let bits = |r: Result<f32, Error>| r.map(f32::to_bits);
    for k in 0..200 {
        let x = p.halton_point(k);
        assert_eq!(bits(p.pdf(&x)), bits(d.pdf(&x)));
        assert_eq!(bits(p.log_pdf(&x)), bits(d.log_pdf(&x)));
        assert_eq!(bits(p.cdf(&x)), bits(d.cdf(&x)));
        let u = halton_uniforms::<2>(k);
        let (a, b) = (p.sample(&u).unwrap(), d.sample(&u).unwrap());
        assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
        let (lo, hi) = p.support();
        assert!((0..2).all(|i| a[i] >= lo[i] && a[i] <= hi[i]), "{a:?}");
        // The first coordinate inverts the first marginal CDF (within f32's rounding).
        let c = p.cdf(&[a[0], hi[1]]).unwrap();
        assert!((c - u[0]).abs() < 2e-3, "u = {u:?}, C(x_0) = {c}");
    }
    let (lo, hi) = p.support();
    let (lo, hi) = (*lo, *hi);
    assert!((p.box_probability(&lo, &hi).unwrap() - 1.0).abs() < 1e-5);
    let mid = [0.1, 0.7];
    let parts = [
        p.box_probability(&lo, &mid).unwrap(),
        p.box_probability(&[mid[0], lo[1]], &[hi[0], mid[1]])
            .unwrap(),
        p.box_probability(&[lo[0], mid[1]], &[mid[0], hi[1]])
            .unwrap(),
        p.box_probability(&mid, &hi).unwrap(),
    ];
    assert!((parts.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{parts:?}");
    assert_eq!(p.cdf(&mid).unwrap(), parts[0]);
    // Outside the support.
    assert_eq!(p.pdf(&[-1.5, 1.0]).unwrap(), 0.0);
    assert_eq!(p.log_pdf(&[0.0, 2.5]).unwrap(), f32::NEG_INFINITY);
    assert_eq!(p.box_probability(&[2.0, 0.0], &[3.0, 1.0]).unwrap(), 0.0);
    assert_eq!(
        p.cdf(&[f32::INFINITY; 2]).unwrap(),
        p.box_probability(&lo, &hi).unwrap()
    );
    // Bad inputs are typed errors.
    assert_eq!(p.pdf(&[f32::NAN, 0.0]).unwrap_err(), Error::NonFiniteInput);
    assert_eq!(p.cdf(&[0.0, f32::NAN]).unwrap_err(), Error::NonFiniteInput);
    assert_eq!(
        p.sample(&[f32::INFINITY, 0.5]).unwrap_err(),
        Error::NonFiniteInput
    );
    // Uniforms outside [0, 1] are clamped to the ends of the axis.
    assert_eq!(
        p.sample(&[-1.0, 2.0]).unwrap(),
        p.sample(&[0.0, 1.0]).unwrap()
    );
}

/// Only an intact density blob loads: other payloads, a density blob whose model is not a
/// density, a player too small, and every corruption are typed errors, and a failed reload
/// leaves the player unloaded.
#[test]
fn only_density_blobs_load() {
    // A model blob (payload 0) is not a density blob, though its model is one; a trajectory
    // blob neither. The fit player reads the density blob (a density is a model).
    let fit = include_bytes!("data/fit.postcard");
    assert_eq!(
        Player::from_bytes(fit).unwrap_err(),
        LoadError::Invalid(FormatError::WrongPayload {
            expected: Payload::Density,
            found: Payload::Model
        })
    );
    assert_eq!(
        Player::from_bytes(include_bytes!("data/doc.postcard")).unwrap_err(),
        LoadError::Invalid(FormatError::WrongPayload {
            expected: Payload::Density,
            found: Payload::Trajectory
        })
    );
    let as_fit = FitPlayer::<2, 8, 2>::from_bytes(BLOB).unwrap();
    assert!((as_fit.integral().unwrap() - 1.0).abs() < 1e-5);
    // The body: payload 6, kind 7, activation 8, n 9, widths 10..12, lower 12..29, upper
    // 29..46, constraint tag 46, bound 47, method 48, eps 49..57.
    let edited = |at: usize, bytes: &[u8]| {
        let mut b = BLOB.to_vec();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        fix_crc(&mut b);
        b
    };
    assert_eq!(BLOB[6], 2, "payload 2");
    assert_eq!(&BLOB[49..57], &1.0f64.to_le_bytes(), "eps = 1");
    for (what, bad) in [
        ("eps 2", edited(49, &2.0f64.to_le_bytes())),
        ("AtLeast", edited(47, &[2])),
        ("Shift", edited(48, &[1])),
        ("signed", edited(7, &[1])),
        ("no constraint", {
            // Drop the constraint: tag 0 and no bound, method, eps.
            let mut b = BLOB.to_vec();
            b.splice(46..57, [0u8]);
            fix_crc(&mut b);
            b
        }),
    ] {
        assert_eq!(
            Player::from_bytes(&bad).unwrap_err(),
            LoadError::Invalid(FormatError::Core(Error::NotADensity)),
            "{what}"
        );
    }
    assert_eq!(
        DensityPlayer::<2, 3, 1>::from_bytes(BLOB).unwrap_err(),
        LoadError::Capacity(FormatError::CapacityMismatch {
            field: Field::Width,
            capacity: 3,
            found: 4
        })
    );
    assert!(matches!(
        DensityPlayer::<3, 8, 2>::from_bytes(BLOB).unwrap_err(),
        LoadError::Capacity(FormatError::CapacityMismatch {
            field: Field::Dimension,
            ..
        })
    ));
    let mut player = Player::unloaded();
    player.reload(BLOB).unwrap();
    assert!(player.pdf(&[0.0, 1.0]).is_ok());
    let mut cut = BLOB.to_vec();
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
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// What loads, works: any mutation of the blob is refused with a typed error or loads into
    /// a density that evaluates, integrates and samples without error over its support.
    #[test]
    fn mutated_blobs_are_refused_or_work(
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..4), 1..4),
        fix in any::<bool>(),
    ) {
        let mut bytes = BLOB.to_vec();
        mutate(&mut bytes, &edits);
        if fix {
            fix_crc(&mut bytes);
        }
        if let Ok(p) = Player::from_bytes(&bytes) {
            let (lo, hi) = p.support();
            let (lo, hi) = (*lo, *hi);
            for k in 0..16 {
                let x = p.halton_point(k);
                let f = p.pdf(&x).unwrap();
                prop_assert!(f >= 0.0 && f.is_finite());
                prop_assert!(!p.log_pdf(&x).unwrap().is_nan());
                let c = p.cdf(&x).unwrap();
                prop_assert!((0.0..=1.0).contains(&c));
                let s = p.sample(&halton_uniforms::<2>(k)).unwrap();
                prop_assert!((0..2).all(|i| s[i] >= lo[i] && s[i] <= hi[i]));
            }
            prop_assert!(p.box_probability(&lo, &hi).unwrap().is_finite());
        }
    }
}
