//! The trajectory player on the host: it plays exactly what finn-core computes in f32, meets
//! the ends bit for bit, refuses every bad blob with a typed error, and never panics.

mod common;
use common::{fix_crc, mutate};
use finn_core::format::{
    encode, encode_trajectory, trajectory_encoded_len, FormatError, ModelHeader, Payload, Scalar,
    TrajectoryHeader,
};
use finn_core::trajectory::{OutsidePolicy, Trajectory, Via};
use finn_core::{parameter_count, Activation, Error, Kind, Network, Resolved};
use finn_embedded::{LoadError, TrajectoryPlayer};
use proptest::prelude::*;

/// Deterministic parameters of moderate size, scaled by fan-in like an initialiser would.
fn params(widths: &[usize], coords: usize, seed: u64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let mut out = Vec::new();
    for _ in 0..coords {
        let mut fan_in = 1usize;
        for &w in widths {
            let scale = 2.0 / (fan_in as f64).sqrt();
            out.extend((0..w * fan_in).map(|_| next() * scale));
            out.extend((0..w).map(|_| next()));
            fan_in = w;
        }
        let scale = 1.0 / (fan_in as f64).sqrt();
        out.extend((0..fan_in).map(|_| next() * scale));
    }
    assert_eq!(out.len(), coords * parameter_count(1, widths));
    out
}

fn encode_blob(header: &TrajectoryHeader<'_>, params: &[f64], scalar: Scalar) -> Vec<u8> {
    let mut out = vec![0u8; trajectory_encoded_len(header, scalar).unwrap()];
    encode_trajectory(header, params, scalar, &mut out).unwrap();
    out
}

const DOC_PARAMS: [f64; 12] = [
    0.9, -1.2, 0.1, 0.3, 1.5, 0.4, 0.2, 0.8, -0.5, 0.0, -0.7, 1.1,
];

/// The blob of the documentation's examples.
fn doc_blob() -> Vec<u8> {
    let header = TrajectoryHeader {
        activation: Activation::Tanh,
        widths: &[2],
        t0: 0.0,
        t1: 2.0,
        x0: &[0.0, 1.0],
        x1: &[1.0, -1.0],
        via_times: &[1.0],
        via_positions: &[0.7, 0.2],
        policy: OutsidePolicy::Hold,
    };
    encode_blob(&header, &DOC_PARAMS, Scalar::F64)
}

#[test]
fn doc_blob_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/doc.postcard");
    let fresh = doc_blob();
    if std::env::var_os("FINN_BLESS").is_some() {
        std::fs::write(path, &fresh).unwrap();
    }
    let stored = std::fs::read(path).unwrap();
    assert_eq!(
        stored, fresh,
        "{path} is stale: rerun with FINN_BLESS=1 to rewrite it"
    );
}

const X0: [f64; 3] = [0.0, 0.5, -1.0];
const X1: [f64; 3] = [1.0, -0.25, 2.0];
const VIA_T: [f64; 2] = [0.7, 1.4];
const VIA_X: [f64; 6] = [0.8, 0.1, 0.0, 0.2, 1.0, 1.5];

/// The 3-D, 2 x 16 tanh configuration of the device goals, with two via-points.
fn goal_header(policy: OutsidePolicy) -> TrajectoryHeader<'static> {
    TrajectoryHeader {
        activation: Activation::Tanh,
        widths: &[16, 16],
        t0: 0.0,
        t1: 2.0,
        x0: &X0,
        x1: &X1,
        via_times: &VIA_T,
        via_positions: &VIA_X,
        policy,
    }
}

type Player = TrajectoryPlayer<3, 16, 2, 2>;

#[test]
fn player_plays_what_finn_core_computes_in_f32() {
    let header = goal_header(OutsidePolicy::Reject);
    let p = params(header.widths, 3, 7);
    for scalar in [Scalar::F32, Scalar::F64] {
        let blob = encode_blob(&header, &p, scalar);
        let player = Player::from_bytes(&blob).unwrap();
        let reference = finn_core::format::decode_trajectory(&blob)
            .unwrap()
            .to_trajectory::<f32, 3, 16, 2, 2>()
            .unwrap();
        for k in 0..=100 {
            let t = player.grid_time(k, 101);
            assert_eq!(player.sample(t), reference.sample(t));
        }
        assert_eq!(player.sample(-0.1), Err(Error::OutsideInterval));
        assert_eq!(player.sample(2.1), Err(Error::OutsideInterval));
        assert_eq!(player.sample(f32::INFINITY), Err(Error::NonFiniteInput));
    }
}

/// The f32 trajectory of an f64-trained blob, against the same trajectory in f64.
#[test]
fn f64_blob_in_f32_exact_ends_and_via_error() {
    let header = goal_header(OutsidePolicy::Hold);
    let p = params(header.widths, 3, 11);
    let blob = encode_blob(&header, &p, Scalar::F64);
    let player = Player::load(Box::leak(blob.clone().into_boxed_slice())).unwrap();
    let exact = finn_core::format::decode_trajectory(&blob)
        .unwrap()
        .to_trajectory::<f64, 3, 16, 2, 2>()
        .unwrap();

    // Ends: bit for bit the f32 end states (the only error is rounding x0, xT to f32).
    let (t0, t1) = player.interval();
    let start = player.sample(t0).unwrap();
    let end = player.sample(t1).unwrap();
    for i in 0..3 {
        assert_eq!(start.position[i].to_bits(), (X0[i] as f32).to_bits());
        assert_eq!(end.position[i].to_bits(), (X1[i] as f32).to_bits());
    }
    assert_eq!(player.grid_time(49, 50), t1);

    // Via-points: met up to the rounding of the f32 solve.
    let mut via_err: f64 = 0.0;
    for (k, &t) in VIA_T.iter().enumerate() {
        let s = player.sample(t as f32).unwrap();
        for i in 0..3 {
            via_err = via_err.max((s.position[i] as f64 - VIA_X[3 * k + i]).abs());
        }
    }
    // Over the whole interval: the f32 player against the f64 trajectory.
    let (mut pos_err, mut vel_err, mut scale): (f64, f64, f64) = (0.0, 0.0, 0.0);
    for k in 0..=200 {
        let t = player.grid_time(k, 201);
        let s = player.sample(t).unwrap();
        let r = exact.sample(t as f64).unwrap();
        for i in 0..3 {
            pos_err = pos_err.max((s.position[i] as f64 - r.position[i]).abs());
            vel_err = vel_err.max((s.velocity[i] as f64 - r.velocity[i]).abs());
            scale = scale.max(r.position[i].abs());
        }
    }
    println!(
        "f32 player, 3-D 2x16 tanh, f64 blob: endpoint error 0 (bit-exact), \
         via-point error {via_err:.3e}, max |x_f32 - x_f64| {pos_err:.3e} (|x| <= {scale:.2}), \
         max |v_f32 - v_f64| {vel_err:.3e}"
    );
    assert!(via_err < 1e-5, "via-point error {via_err:e}");
    assert!(pos_err < 1e-5 * (1.0 + scale), "position error {pos_err:e}");
}

#[test]
fn corrupt_blobs_are_typed() {
    let header = goal_header(OutsidePolicy::Hold);
    let blob = encode_blob(&header, &params(header.widths, 3, 3), Scalar::F32);
    assert!(Player::from_bytes(&blob).is_ok());
    assert_eq!(
        Player::from_bytes(&blob[..6]).unwrap_err(),
        LoadError::Corrupt(FormatError::Truncated { len: 6 })
    );
    let mut bad = blob.clone();
    bad[0] = b'G';
    assert_eq!(
        Player::from_bytes(&bad).unwrap_err(),
        LoadError::Corrupt(FormatError::BadMagic)
    );
    let mut bad = blob.clone();
    bad[4] = 9;
    assert_eq!(
        Player::from_bytes(&bad).unwrap_err(),
        LoadError::Corrupt(FormatError::UnsupportedVersion { found: 9 })
    );
    for at in [6, blob.len() / 2, blob.len() - 5, blob.len() - 1] {
        let mut bad = blob.clone();
        bad[at] ^= 0x80;
        let err = Player::from_bytes(&bad).unwrap_err();
        assert!(
            matches!(err, LoadError::Corrupt(FormatError::CrcMismatch { .. })),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("corrupt blob: CRC mismatch"));
    }
    assert!(matches!(
        Player::from_bytes(&blob[..blob.len() - 1]).unwrap_err(),
        LoadError::Corrupt(FormatError::CrcMismatch { .. })
    ));
}

#[test]
fn invalid_blobs_are_typed() {
    // A single model, not a trajectory.
    let model = ModelHeader {
        payload: Payload::Model,
        kind: Kind::Signed,
        activation: Activation::Tanh,
        n: 1,
        widths: &[1],
        domain_lower: &[0.0],
        domain_upper: &[1.0],
        constraint: None,
        constants: Resolved::scaled(1.0),
    };
    let mut buf = [0u8; 128];
    let len = encode(&model, &[1.0, 0.0, 1.0], Scalar::F32, &mut buf).unwrap();
    let err = Player::from_bytes(&buf[..len]).unwrap_err();
    assert_eq!(
        err,
        LoadError::Invalid(FormatError::WrongPayload {
            expected: Payload::Trajectory,
            found: Payload::Model
        })
    );
    assert_eq!(
        err.to_string(),
        "invalid blob: the blob holds a model, not a trajectory"
    );
    // An intact frame around a body that is not a trajectory.
    let mut framed = b"FINN\x01\x00\x01\x05".to_vec();
    let crc = finn_core::format::crc32(&framed);
    framed.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(
        Player::from_bytes(&framed).unwrap_err(),
        LoadError::Invalid(FormatError::Malformed)
    );
}

#[test]
fn capacity_and_f32_errors_are_typed() {
    let header = goal_header(OutsidePolicy::Hold);
    let p = params(header.widths, 3, 5);
    let blob = encode_blob(&header, &p, Scalar::F64);
    let capacity = |r: Result<(), LoadError>| matches!(r, Err(LoadError::Capacity(_)));
    assert!(capacity(
        TrajectoryPlayer::<2, 16, 2, 2>::from_bytes(&blob).map(|_| ())
    ));
    assert!(capacity(
        TrajectoryPlayer::<3, 8, 2, 2>::from_bytes(&blob).map(|_| ())
    ));
    assert!(capacity(
        TrajectoryPlayer::<3, 16, 1, 2>::from_bytes(&blob).map(|_| ())
    ));
    assert!(capacity(
        TrajectoryPlayer::<3, 16, 2, 1>::from_bytes(&blob).map(|_| ())
    ));
    // Larger capacities load the same trajectory.
    let big = TrajectoryPlayer::<3, 32, 3, 8>::from_bytes(&blob).unwrap();
    let exact = Player::from_bytes(&blob).unwrap();
    assert_eq!(big.sample(0.9), exact.sample(0.9));
    // A parameter beyond f32.
    let mut huge = p.clone();
    huge[5] = 1e300;
    let blob = encode_blob(&header, &huge, Scalar::F64);
    let err = Player::from_bytes(&blob).unwrap_err();
    assert_eq!(err, LoadError::Core(Error::NonFiniteParameter));
    assert!(err
        .to_string()
        .starts_with("the blob does not build in f32"));
    // An interval that collapses in f32.
    let collapsed = TrajectoryHeader {
        t0: 3.0,
        t1: 3.0 + 1e-9,
        via_times: &[],
        via_positions: &[],
        ..header
    };
    let blob = encode_blob(&collapsed, &p, Scalar::F64);
    assert_eq!(
        Player::from_bytes(&blob).unwrap_err(),
        LoadError::Core(Error::EmptyInterval { axis: 0 })
    );
    use std::error::Error as _;
    assert!(err.source().is_some());
}

#[test]
fn grid_times_are_increasing_with_exact_ends() {
    let header = TrajectoryHeader {
        t0: -3.0,
        t1: 0.1,
        via_times: &[-2.0, -1.0],
        ..goal_header(OutsidePolicy::Reject)
    };
    let blob = encode_blob(&header, &params(header.widths, 3, 1), Scalar::F32);
    let player = Player::from_bytes(&blob).unwrap();
    let (t0, t1) = player.interval();
    // t0 + (T - t0) is not T in f32 here, which is why the last time is T itself.
    assert_ne!(t0 + (t1 - t0) * 1.0, t1);
    for n in [0, 1, 2, 3, 64, 1000] {
        let times: Vec<f32> = (0..n).map(|k| player.grid_time(k, n)).collect();
        if n >= 1 {
            assert_eq!(times[0], t0);
        }
        if n >= 2 {
            assert_eq!(times[n - 1], t1);
        }
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
        for &t in &times {
            assert!(player.sample(t).is_ok());
        }
    }
    assert_eq!(player.grid_time(7, 0), t0);
    assert_eq!(player.grid_time(usize::MAX, 10), t1);
}

/// An f64 trajectory built by hand: the player's f32 ends agree with it to f32 rounding.
#[test]
fn player_agrees_with_a_hand_built_trajectory() {
    let widths = [4];
    let p = params(&widths, 2, 9);
    let count = parameter_count(1, &widths);
    let nets: [Network<f64, 1, 4, 1>; 2] = core::array::from_fn(|i| {
        Network::signed(Activation::Sigma, &widths, &p[i * count..(i + 1) * count]).unwrap()
    });
    let via = [Via {
        time: 0.25,
        position: [0.3, 0.3],
    }];
    let f64_traj: Trajectory<f64, 2, 4, 1, 1> = Trajectory::new(
        nets,
        -1.0,
        1.0,
        [1.0, 2.0],
        [3.0, -4.0],
        &via,
        OutsidePolicy::Hold,
    )
    .unwrap();
    let header = TrajectoryHeader {
        activation: Activation::Sigma,
        widths: &widths,
        t0: -1.0,
        t1: 1.0,
        x0: &[1.0, 2.0],
        x1: &[3.0, -4.0],
        via_times: &[0.25],
        via_positions: &[0.3, 0.3],
        policy: OutsidePolicy::Hold,
    };
    let blob = encode_blob(&header, &p, Scalar::F64);
    let player = TrajectoryPlayer::<2, 4, 1, 1>::from_bytes(&blob).unwrap();
    for k in 0..=20 {
        let t = player.grid_time(k, 21);
        let a = player.sample(t).unwrap();
        let b = f64_traj.sample(t as f64).unwrap();
        for i in 0..2 {
            assert!((a.position[i] as f64 - b.position[i]).abs() < 1e-5);
            assert!((a.velocity[i] as f64 - b.velocity[i]).abs() < 1e-4);
        }
    }
}

fn load_any(bytes: &[u8]) {
    fn run<const D: usize>(bytes: &[u8]) {
        if let Ok(player) = TrajectoryPlayer::<D, 16, 3, 4>::from_bytes(bytes) {
            let (t0, t1) = player.interval();
            let (x0, x1) = player.endpoints();
            if let Ok(s) = player.sample(t0) {
                assert_eq!(&s.position, x0);
            }
            if let Ok(s) = player.sample(t1) {
                assert_eq!(&s.position, x1);
            }
            for k in 0..5 {
                let _ = player.sample(player.grid_time(k, 5));
            }
            let _ = player.sample(t1 + 1.0);
            let _ = player.sample(f32::NAN);
        }
    }
    run::<1>(bytes);
    run::<2>(bytes);
    run::<3>(bytes);
    run::<6>(bytes);
}

fn valid_blobs() -> Vec<Vec<u8>> {
    let header = goal_header(OutsidePolicy::Hold);
    let small = TrajectoryHeader {
        widths: &[3, 2],
        ..header
    };
    vec![
        encode_blob(&small, &params(small.widths, 3, 2), Scalar::F32),
        encode_blob(&small, &params(small.widths, 3, 2), Scalar::F64),
        doc_blob(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic_the_loader(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        load_any(&bytes);
        let mut framed = b"FINN\x01\x00\x01".to_vec();
        framed.extend_from_slice(&bytes);
        framed.extend_from_slice(&[0; 4]);
        fix_crc(&mut framed);
        load_any(&framed);
    }

    #[test]
    fn mutated_blobs_never_panic_the_loader(
        which in 0usize..3,
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
    fn sampling_never_panics(t in any::<f32>(), seed in any::<u64>()) {
        let header = goal_header(OutsidePolicy::Reject);
        let blob = encode_blob(&header, &params(header.widths, 3, seed), Scalar::F32);
        let player = Player::from_bytes(&blob).unwrap();
        match player.sample(t) {
            Ok(s) => prop_assert!(s.position.iter().all(|v| v.is_finite())),
            Err(e) => prop_assert!(matches!(e, Error::OutsideInterval | Error::NonFiniteInput | Error::Overflow)),
        }
    }
}
