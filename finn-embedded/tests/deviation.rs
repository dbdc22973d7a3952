//! The deviation player on the host: it evaluates exactly what finn-core's bounded-deviation
//! model computes in f32, refuses every blob that is not an intact deviation blob with a typed
//! error, and never panics.

mod common;
use common::{fix_crc, mutate};
use finn_core::format::{decode_deviation, DeviationModel, Field, FormatError, Payload};
use finn_core::Error;
use finn_embedded::{DeviationPlayer, LoadError};
use proptest::prelude::*;

/// `tests/data/deviation.postcard`: n = 1, m = 1, an affine base 1 + 2x, a magnitude network
/// of one hidden layer of 4 on [0, 1] scaled by 0.005 with eps = 0.1, one tanh direction
/// network of one hidden layer of 4, softness 0.05, f32 parameters (written by hand from the
/// layout of docs/model-format.md, "Deviation blobs").
const BLOB: &[u8] = include_bytes!("data/deviation.postcard");

type Player = DeviationPlayer<1, 1, 8, 2, 2>;

fn core_model() -> DeviationModel<f32, 1, 1, 8, 2, 2> {
    decode_deviation(BLOB).unwrap().to_deviation().unwrap()
}

/// The player computes what finn-core's model computes in f32, bit for bit.
#[test]
fn the_player_is_finn_cores_model_in_f32() {
    let p = Player::load(BLOB).unwrap();
    let d = core_model();
    let bits = |r: Result<[f32; 1], Error>| r.map(|v| v.map(f32::to_bits));
    for k in 0..=400 {
        let x = [-0.5 + 2.0 * k as f32 / 400.0];
        assert_eq!(bits(p.value(&x)), bits(d.value(&x)));
        assert_eq!(bits(p.correction(&x)), bits(d.correction(&x)));
        assert_eq!(
            p.magnitude(&x).map(f32::to_bits),
            d.magnitude(&x).map(f32::to_bits)
        );
        let (phi, c, f) = (
            p.value(&x).unwrap()[0],
            p.correction(&x).unwrap()[0],
            p.magnitude(&x).unwrap(),
        );
        assert!(c.abs() <= f, "{x:?}");
        let psi = 1.0 + 2.0 * x[0];
        assert!((phi - psi).abs() <= f + 1e-6, "{x:?}");
        if !(0.0..=1.0).contains(&x[0]) {
            assert_eq!(phi, psi);
        }
    }
    assert_eq!(p.eps(), 0.1);
    let j = p.deviation_bound().unwrap();
    assert_eq!(j, d.deviation_bound().unwrap());
    assert!(j.value > 0.0 && j.value <= 0.1 + j.error);
    assert_eq!(p.value(&[f32::NAN]).unwrap_err(), Error::NonFiniteInput);
    assert_eq!(
        p.magnitude(&[f32::INFINITY]).unwrap_err(),
        Error::NonFiniteInput
    );
}

/// Only an intact deviation blob that fits loads; a failed reload leaves the player unloaded.
#[test]
fn only_deviation_blobs_load() {
    for (blob, found) in [
        (&include_bytes!("data/fit.postcard")[..], Payload::Model),
        (
            &include_bytes!("data/density.postcard")[..],
            Payload::Density,
        ),
        (
            &include_bytes!("data/doc.postcard")[..],
            Payload::Trajectory,
        ),
    ] {
        assert_eq!(
            Player::from_bytes(blob).unwrap_err(),
            LoadError::Invalid(FormatError::WrongPayload {
                expected: Payload::Deviation,
                found
            })
        );
    }
    let cap = |field, capacity, found| {
        LoadError::Capacity(FormatError::CapacityMismatch {
            field,
            capacity,
            found,
        })
    };
    assert_eq!(
        DeviationPlayer::<1, 2, 8, 2, 2>::from_bytes(BLOB).unwrap_err(),
        cap(Field::Outputs, 2, 1)
    );
    assert_eq!(
        DeviationPlayer::<1, 1, 3, 2, 2>::from_bytes(BLOB).unwrap_err(),
        cap(Field::Width, 3, 4)
    );
    assert_eq!(
        DeviationPlayer::<1, 1, 8, 2, 1>::from_bytes(BLOB).unwrap_err(),
        cap(Field::Monomials, 1, 2)
    );
    // Byte 6 is the payload, 7 the magnitude's kind; the softness is the 8 bytes before the
    // direction's kind, activation, widths (4 bytes) and its parameter strings (2 + 48 bytes).
    let soft = BLOB.len() - 4 - 50 - 4 - 8;
    assert_eq!(&BLOB[soft..soft + 8], &0.05f64.to_le_bytes());
    let edited = |at: usize, bytes: &[u8]| {
        let mut b = BLOB.to_vec();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        fix_crc(&mut b);
        b
    };
    let not = LoadError::Invalid(FormatError::Core(Error::NotADeviation));
    assert_eq!(Player::from_bytes(&edited(7, &[1])).unwrap_err(), not);
    assert_eq!(
        Player::from_bytes(&edited(soft, &(-1.0f64).to_le_bytes())).unwrap_err(),
        not
    );
    assert_eq!(
        Player::from_bytes(&edited(soft, &f64::NAN.to_le_bytes())).unwrap_err(),
        LoadError::Invalid(FormatError::NonFinite {
            field: Field::Softness
        })
    );
    // The payload byte set to the model's: the body is then longer than a model body.
    assert_eq!(
        Player::from_bytes(&edited(6, &[0])).unwrap_err(),
        LoadError::Invalid(FormatError::TrailingBytes { count: 81 })
    );
    let mut player = Player::unloaded();
    player.reload(BLOB).unwrap();
    let mut cut = BLOB.to_vec();
    cut.pop();
    assert!(matches!(
        player.reload(&cut),
        Err(LoadError::Corrupt(FormatError::CrcMismatch { .. }))
    ));
    assert_eq!(player.value(&[0.5]).unwrap_err(), Error::InvalidShape);
}

proptest! {
    /// Any edit of the body (with the CRC fixed, so that it reaches the content checks) is a
    /// typed error or a valid model; never a panic. Whatever loads evaluates without panic.
    #[test]
    fn edited_blobs_never_panic(
        edits in prop::collection::vec((0usize..200, any::<u8>(), 0u8..4), 1..4),
        x in -1.0f32..2.0,
    ) {
        let mut b = BLOB.to_vec();
        mutate(&mut b, &edits);
        fix_crc(&mut b);
        if let Ok(p) = Player::from_bytes(&b) {
            let _ = p.value(&[x]);
            let _ = p.deviation_bound();
        }
        // Cut anywhere: typed.
        if !b.is_empty() {
            let cut = (x.abs() * 100.0) as usize % b.len();
            prop_assert!(Player::from_bytes(&b[..cut]).is_err());
        }
    }
}
