//! The soft-Q payload (5): round trips in f64 (bit for bit) and f32, every typed refusal of a
//! corrupt or inconsistent blob, capacity errors that leave the target unloaded, and the other
//! payloads' readers refusing it.

use finn_core::format::{
    crc32, decode, decode_any, decode_density_mixture, decode_softq, encode_softq,
    softq_encoded_len, validate_softq, Blob, Field, FormatError, Payload, Scalar, SoftQHeader,
};
use finn_core::softq::{SoftQ, SoftQProblem};
use finn_core::{Domain, Error};

type Q = SoftQ<f64, 3, 8, 16, 1, 4, 1>;
type Qf = SoftQ<f32, 3, 8, 16, 1, 4, 1>;

const STATE: [usize; 2] = [8, 6];
const ACTION: [usize; 1] = [4];

fn header() -> SoftQHeader<'static> {
    SoftQHeader {
        state_features: 3,
        state_widths: &STATE,
        action_widths: &ACTION,
        action_lower: &[-2.0],
        action_upper: &[2.0],
        beta: 3.0,
        log_scale: 5.0,
    }
}

fn params() -> Vec<f64> {
    let n = Q::parameter_count(3, &STATE, &ACTION);
    (0..n).map(|i| (i as f64 * 0.731).sin() * 0.8).collect()
}

fn blob(scalar: Scalar) -> Vec<u8> {
    let h = header();
    let mut out = vec![0u8; softq_encoded_len(&h, scalar).unwrap()];
    let len = encode_softq(&h, &params(), scalar, &mut out).unwrap();
    assert_eq!(len, out.len());
    out
}

const STATES: [[f64; 3]; 4] = [
    [1.0, 0.0, 0.0],
    [-1.0, 0.0, 0.5],
    [0.6, -0.8, -1.0],
    [0.0, 1.0, 0.25],
];

#[test]
fn f64_round_trip_is_bit_exact() {
    let direct = Q::new(
        &STATE,
        &ACTION,
        Domain::new([-2.0], [2.0]).unwrap(),
        3.0,
        5.0,
        &params(),
    )
    .unwrap();
    let bytes = blob(Scalar::F64);
    let view = decode_softq(&bytes).unwrap();
    assert_eq!(view.state_features(), 3);
    assert_eq!(view.state_widths(), &STATE);
    assert_eq!(view.action_widths(), &ACTION);
    assert_eq!(view.actions(), (&[-2.0][..], &[2.0][..]));
    assert_eq!((view.beta(), view.log_scale()), (3.0, 5.0));
    let loaded: Q = view.to_softq().unwrap();
    for s in STATES {
        assert_eq!(
            loaded.v(&s).unwrap().to_bits(),
            direct.v(&s).unwrap().to_bits()
        );
        for a in [-2.0, -0.3, 1.7] {
            assert_eq!(
                loaded.q(&s, &[a]).unwrap().to_bits(),
                direct.q(&s, &[a]).unwrap().to_bits()
            );
        }
        for u in [0.0, 0.31, 0.999] {
            assert_eq!(
                loaded.sample_action(&s, &[u]).unwrap()[0].to_bits(),
                direct.sample_action(&s, &[u]).unwrap()[0].to_bits()
            );
        }
    }
    assert!(matches!(decode_any(&bytes), Ok(Blob::SoftQ(_))));
}

#[test]
fn f32_blob_plays_in_f32_close_to_f64() {
    let exact: Q = decode_softq(&blob(Scalar::F64))
        .unwrap()
        .to_softq()
        .unwrap();
    let bytes = blob(Scalar::F32);
    assert!(bytes.len() < blob(Scalar::F64).len());
    let q: Qf = decode_softq(&bytes).unwrap().to_softq().unwrap();
    for s in STATES {
        let sf = s.map(|x| x as f32);
        let (v, v64) = (q.v(&sf).unwrap(), exact.v(&s).unwrap());
        assert!(
            (f64::from(v) - v64).abs() < 1e-4 * (1.0 + v64.abs()),
            "{v} {v64}"
        );
        let a = q.sample_action(&sf, &[0.4]).unwrap()[0];
        let a64 = exact.sample_action(&s, &[0.4]).unwrap()[0];
        assert!((f64::from(a) - a64).abs() < 1e-3, "{a} {a64}");
    }
}

/// Overwrites `bytes[at..]` with `patch` and fixes the CRC.
fn patched(mut bytes: Vec<u8>, at: usize, patch: &[u8]) -> Vec<u8> {
    bytes[at..at + patch.len()].copy_from_slice(patch);
    let end = bytes.len() - 4;
    let crc = crc32(&bytes[..end]);
    bytes[end..].copy_from_slice(&crc.to_le_bytes());
    bytes
}

// Body offsets for `header()`: tag 6, S 7, state widths 8..=10, M 11, action widths 12..=13,
// lower 14 (length) and 15.., upper 23 and 24.., beta 32, log-scale 40, scalar 48.
const S_AT: usize = 7;
const M_AT: usize = 11;
const LOWER_AT: usize = 15;
const UPPER_AT: usize = 24;
const BETA_AT: usize = 32;
const LOG_SCALE_AT: usize = 40;

#[test]
fn offsets_match_the_layout() {
    let b = blob(Scalar::F64);
    assert_eq!(
        (b[6], b[S_AT], b[8], b[9], b[10], b[M_AT]),
        (5, 3, 2, 8, 6, 1)
    );
    assert_eq!(&b[LOWER_AT..LOWER_AT + 8], &(-2.0f64).to_le_bytes());
    assert_eq!(&b[UPPER_AT..UPPER_AT + 8], &2.0f64.to_le_bytes());
    assert_eq!(&b[BETA_AT..BETA_AT + 8], &3.0f64.to_le_bytes());
    assert_eq!(&b[LOG_SCALE_AT..LOG_SCALE_AT + 8], &5.0f64.to_le_bytes());
}

#[test]
fn corrupt_blobs_are_typed_errors() {
    let b = blob(Scalar::F64);
    let core = |p| FormatError::Core(Error::NotASoftQ(p));
    let cases: [(usize, Vec<u8>, FormatError); 9] = [
        (S_AT, vec![0], core(SoftQProblem::StateFeatures)),
        (9, vec![0], core(SoftQProblem::StateWidths)),
        (M_AT, vec![0], FormatError::BadDimension { n: 0 }),
        (13, vec![0], FormatError::BadWidth { layer: 0, width: 0 }),
        (
            LOWER_AT,
            f64::NAN.to_le_bytes().to_vec(),
            FormatError::NonFinite {
                field: Field::DomainLower,
            },
        ),
        (
            LOWER_AT,
            3.0f64.to_le_bytes().to_vec(),
            FormatError::Core(Error::EmptyInterval { axis: 0 }),
        ),
        (
            BETA_AT,
            (-1.0f64).to_le_bytes().to_vec(),
            core(SoftQProblem::Beta),
        ),
        (
            LOG_SCALE_AT,
            f64::INFINITY.to_le_bytes().to_vec(),
            core(SoftQProblem::LogScale),
        ),
        (
            b.len() - 12,
            f64::NAN.to_le_bytes().to_vec(),
            FormatError::NonFinite {
                field: Field::Parameters,
            },
        ),
    ];
    for (at, patch, expected) in cases {
        assert_eq!(
            decode_softq(&patched(b.clone(), at, &patch)).unwrap_err(),
            expected,
            "patch at {at}"
        );
    }
    // A flipped byte without fixing the CRC, and a cut blob.
    let mut flipped = b.clone();
    flipped[BETA_AT] ^= 1;
    assert!(matches!(
        decode_softq(&flipped),
        Err(FormatError::CrcMismatch { .. })
    ));
    assert!(decode_softq(&b[..b.len() - 1]).is_err());
    // M = 2 with one-value corners: the corners no longer fit.
    assert_eq!(
        decode_softq(&patched(b.clone(), M_AT, &[2])).unwrap_err(),
        FormatError::ShapeMismatch {
            field: Field::DomainLower,
            expected: 2,
            found: 1
        }
    );
}

#[test]
fn other_readers_refuse_it_and_it_refuses_them() {
    let b = blob(Scalar::F32);
    let wrong = |expected| FormatError::WrongPayload {
        expected,
        found: Payload::SoftQ,
    };
    assert_eq!(decode(&b).unwrap_err(), wrong(Payload::Model));
    assert_eq!(
        decode_density_mixture(&b).unwrap_err(),
        wrong(Payload::DensityMixture)
    );
    // A shipped blob of the previous payload still reads, and is not a soft-Q blob.
    let old = include_bytes!("../../firmware/blobs/density-mixture.postcard");
    assert!(matches!(decode_any(old), Ok(Blob::DensityMixture(_))));
    assert!(matches!(
        decode_softq(old),
        Err(FormatError::WrongPayload {
            expected: Payload::SoftQ,
            ..
        })
    ));
}

#[test]
fn capacity_errors_leave_the_target_unloaded() {
    let view_bytes = blob(Scalar::F64);
    let view = decode_softq(&view_bytes).unwrap();
    let mut narrow = SoftQ::<f64, 3, 4, 16, 1, 4, 1>::unloaded();
    assert_eq!(
        view.load_softq_into(&mut narrow).unwrap_err(),
        FormatError::CapacityMismatch {
            field: Field::StateWidths,
            capacity: 4,
            found: 8
        }
    );
    let mut small_head = SoftQ::<f64, 3, 8, 8, 1, 4, 1>::unloaded();
    assert_eq!(
        view.load_softq_into(&mut small_head).unwrap_err(),
        FormatError::CapacityMismatch {
            field: Field::HeadOutputs,
            capacity: 8,
            found: 13
        }
    );
    let mut q = Q::unloaded();
    view.load_softq_into(&mut q).unwrap();
    assert!(q.v(&STATES[0]).is_ok());
    let mut two_actions = SoftQ::<f64, 3, 8, 16, 2, 4, 1>::unloaded();
    assert!(matches!(
        view.load_softq_into(&mut two_actions),
        Err(FormatError::CapacityMismatch {
            field: Field::Dimension,
            ..
        })
    ));
    assert!(two_actions.v(&STATES[0]).is_err());
}

#[test]
fn the_writer_checks_the_header() {
    let p = params();
    let mut h = header();
    h.beta = 0.0;
    assert_eq!(
        validate_softq(&h, &p).unwrap_err(),
        FormatError::Core(Error::NotASoftQ(SoftQProblem::Beta))
    );
    let mut out = [0u8; 8];
    assert!(matches!(
        encode_softq(&header(), &p, Scalar::F64, &mut out),
        Err(FormatError::BufferTooSmall { .. })
    ));
    let mut big = p.clone();
    big[0] = 1e300;
    let mut buf = vec![0u8; 4096];
    assert_eq!(
        encode_softq(&header(), &big, Scalar::F32, &mut buf).unwrap_err(),
        FormatError::NonFinite {
            field: Field::Parameters
        }
    );
}
