//! The soft-Q player on the host: it evaluates exactly what finn-core's `SoftQ` computes in
//! f32, refuses every blob that is not an intact soft-Q blob with a typed error, and never
//! panics (mutated blobs, hostile inputs).

mod common;
use common::{fix_crc, mutate};
use finn_core::format::{decode_softq, Field, FormatError};
use finn_core::softq::SoftQ;
use finn_core::Error;
use finn_embedded::density::halton_uniforms;
use finn_embedded::{LoadError, SoftQPlayer};
use proptest::prelude::*;

/// `tests/data/softq.postcard`: 3 features, one hypernetwork layer of 4, 2 bumps on [-2, 2],
/// beta 2, log-scale 10, untrained parameters, f32 (finn-train's
/// `finn_embedded_example_blob_is_current` checks it).
const BLOB: &[u8] = include_bytes!("data/softq.postcard");

type Player = SoftQPlayer<3, 4, 8, 1, 2, 1>;

/// A pendulum-like state from Halton uniforms: (cos, sin, speed / 8).
fn state(k: u32) -> [f32; 3] {
    let u = halton_uniforms::<2>(k + 1);
    let th = -3.2 + 6.4 * u[0];
    [th.cos(), th.sin(), -1.0 + 2.0 * u[1]]
}

#[test]
fn the_player_is_finn_cores_softq_in_f32() {
    let p = Player::load(BLOB).unwrap();
    let q: SoftQ<f32, 3, 4, 8, 1, 2, 1> = decode_softq(BLOB).unwrap().to_softq().unwrap();
    let bits = |r: Result<f32, Error>| r.map(f32::to_bits);
    for k in 0..200 {
        let s = state(k);
        assert_eq!(bits(p.v(&s)), bits(q.v(&s)));
        let a = [-2.0 + 4.0 * halton_uniforms::<1>(k + 7)[0]];
        assert_eq!(bits(p.q(&s, &a)), bits(q.q(&s, &a)));
        let u = [halton_uniforms::<1>(k)[0]];
        let (x, y) = (
            p.sample_action(&s, &u).unwrap(),
            q.sample_action(&s, &u).unwrap(),
        );
        assert_eq!(x[0].to_bits(), y[0].to_bits());
        assert!((-2.0..=2.0).contains(&x[0]));
        // V is the soft maximum: Q(s, a) - V(s) = ln pi(a | s) / beta.
        let pi = q.policy_pdf(&s, &a).unwrap();
        let gap = p.q(&s, &a).unwrap() - p.v(&s).unwrap();
        assert!((gap - pi.ln() / 2.0).abs() < 1e-3, "{gap} {pi}");
    }
}

#[test]
fn hostile_inputs_are_errors() {
    let p = Player::load(BLOB).unwrap();
    let s = [1.0, 0.0, 0.0];
    assert!(p.v(&[f32::NAN, 0.0, 0.0]).is_err());
    assert!(p.v(&[1.0, 0.0]).is_err());
    assert!(p.q(&s, &[f32::NAN]).is_err());
    assert!(p.sample_action(&s, &[f32::NAN]).is_err());
    for u in [0.0, 1.0, -0.5, 1.5] {
        // Out-of-range uniforms are clamped or refused, never a panic.
        if let Ok(a) = p.sample_action(&s, &[u]) {
            assert!((-2.0..=2.0).contains(&a[0]));
        }
    }
}

#[test]
fn wrong_capacities_are_typed() {
    assert_eq!(
        SoftQPlayer::<2, 4, 8, 1, 2, 1>::load(BLOB).unwrap_err(),
        LoadError::Capacity(FormatError::CapacityMismatch {
            field: Field::StateFeatures,
            capacity: 2,
            found: 3
        })
    );
    assert_eq!(
        SoftQPlayer::<3, 3, 8, 1, 2, 1>::load(BLOB).unwrap_err(),
        LoadError::Capacity(FormatError::CapacityMismatch {
            field: Field::StateWidths,
            capacity: 3,
            found: 4
        })
    );
    assert_eq!(
        SoftQPlayer::<3, 4, 8, 1, 1, 1>::load(BLOB).unwrap_err(),
        LoadError::Capacity(FormatError::CapacityMismatch {
            field: Field::Width,
            capacity: 1,
            found: 2
        })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    /// What loads, works: any mutation is refused with a typed error or loads into a model
    /// that evaluates and samples without a panic, its actions in the box.
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
        let mut p = Player::unloaded();
        match p.reload(&bytes) {
            Ok(()) => {
                let (lo, hi) = (p.model().actions().lower()[0], p.model().actions().upper()[0]);
                for k in 0..8 {
                    let s = state(k);
                    let _ = p.v(&s);
                    let _ = p.q(&s, &[0.0]);
                    if let Ok(a) = p.sample_action(&s, &[halton_uniforms::<1>(k)[0]]) {
                        prop_assert!(a[0] >= lo && a[0] <= hi, "{a:?}");
                    }
                }
            }
            Err(_) => prop_assert!(p.v(&state(0)).is_err()),
        }
    }
}
