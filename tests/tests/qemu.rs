//! The firmware on the emulated device (QEMU `mps2-an386`, Cortex-M4F): trajectory playback, the
//! fit workload (f, F and exact integrals of a model blob), the density workload (pdf,
//! log-pdf, CDF, box probabilities and samples of a density blob) and the deviation workload
//! (phi and the magnitude of a bounded-deviation blob).
//!
//! Each test builds the firmware with a blob, runs it under QEMU and compares what the device
//! printed with `finn-embedded`'s player on the host, bit for bit: the same blob, the same
//! `f32` code, the same `libm`, IEEE single precision on both sides.
//!
//! These tests need the `thumbv7em-none-eabihf` target and `qemu-system-arm`; `cargo xtask test`
//! installs both first, and without them the tests fail with a message naming
//! `cargo xtask setup`.

use finn_core::format::{decode, decode_trajectory, Field, FormatError, Scalar};
use finn_core::jet::{Dim, JetDim};
use finn_core::trajectory::OutsidePolicy;
use finn_core::{Activation, Bound, Constraint, Domain, Finn, Kind, Method, Network, Resolved};
use finn_embedded::{DensityPlayer, FitPlayer, LoadError, TrajectoryPlayer};
use finn_lab::device::{self as qemu, FirmwareOptions, Run};
use finn_train::model::{Architecture, TrainedModel};
use finn_train::trajectory::blob::{fixed_parameters, reference_blob, trajectory_blob};
use std::path::{Path, PathBuf};

/// Builds the firmware with `blob` (written to a file of its own) under `label`.
fn firmware_with_blob(label: &str, blob: &[u8]) -> PathBuf {
    firmware_with_options(label, blob, FirmwareOptions::default())
}

/// As [`firmware_with_blob`], with other options (their `blob` is replaced).
fn firmware_with_options(label: &str, blob: &[u8], options: FirmwareOptions) -> PathBuf {
    let dir = qemu::firmware_target_dir().join("test-blobs");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{label}.postcard"));
    std::fs::write(&path, blob).unwrap();
    let options = FirmwareOptions {
        blob: Some(path),
        ..options
    };
    qemu::build_firmware_with(&options, label).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Runs the firmware to completion (a non-zero exit is not a failure here).
fn run(elf: &Path) -> Run {
    qemu::run(elf, qemu::DEFAULT_TIMEOUT).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The version of `libm` that a `Cargo.lock` file pins.
fn locked_libm_version(lock_file: &Path) -> String {
    let text = std::fs::read_to_string(lock_file)
        .unwrap_or_else(|e| panic!("reading {}: {e}", lock_file.display()));
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"libm\"" {
            let version = lines.next().expect("a version line follows the name");
            return version
                .trim_start_matches("version = ")
                .trim_matches('"')
                .to_string();
        }
    }
    panic!("{} pins no libm", lock_file.display());
}

/// The bit-for-bit comparisons below are only meaningful when both sides run the same `libm`.
#[test]
fn firmware_and_host_lock_the_same_libm() {
    let host = locked_libm_version(&finn_lab::workspace_root().join("Cargo.lock"));
    let device = locked_libm_version(&qemu::firmware_dir().join("Cargo.lock"));
    assert_eq!(
        host, device,
        "Cargo.lock and firmware/Cargo.lock pin different libm versions"
    );
}

/// `firmware/blobs/default.postcard` is `reference_blob()` (fixed parameters; see
/// `firmware/blobs/README.md`). `FINN_BLESS=1` rewrites it.
#[test]
fn default_blob_is_the_reference_blob() {
    let path = qemu::default_blob_path();
    let fresh = reference_blob().unwrap();
    if std::env::var_os("FINN_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let stored = std::fs::read(&path).unwrap();
    assert!(
        stored == fresh,
        "{} is not reference_blob(): rerun with FINN_BLESS=1 to rewrite it",
        path.display()
    );
}

/// What the device printed, against the host's player on the same blob: the same load error,
/// or the same times and the same samples (or sampling errors), bit for bit.
fn assert_device_matches_host(run: &Run, blob: &[u8]) {
    fn with_d<const D: usize>(run: &Run, blob: &[u8]) {
        // Capacity does not change the arithmetic (loops run over the actual widths), so a
        // roomy host player computes exactly what the exactly-sized device player does.
        match TrajectoryPlayer::<D, HOST_W, HOST_L, HOST_V>::from_bytes(blob) {
            Err(e) => {
                let message = run.check_load_error().unwrap_or_else(|e| panic!("{e:#}"));
                assert_eq!(message, e.to_string());
            }
            Ok(player) => {
                run.check_success().unwrap_or_else(|e| panic!("{e:#}"));
                let (t0, t1) = player.interval();
                assert_eq!(run.interval().unwrap(), (t0.to_bits(), t1.to_bits()));
                let n = run.cost().unwrap().calls_per_run as usize;
                let samples = run.samples(D).unwrap();
                assert_eq!(samples.len(), n, "one line per sample");
                let words = |v: &[f32; D]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                for (k, device) in samples.iter().enumerate() {
                    assert_eq!(device.index, k);
                    let t = player.grid_time(k, n);
                    assert_eq!(device.time, t.to_bits(), "t_{k}");
                    match (&device.outcome, player.kinematics(t)) {
                        (Ok(bits), Ok(host)) => {
                            let what = format!("sample {k} at t = {t}");
                            assert_eq!(bits.position, words(&host.position), "{what}: position");
                            assert_eq!(bits.velocity, words(&host.velocity), "{what}: velocity");
                            assert_eq!(
                                bits.acceleration,
                                words(&host.acceleration),
                                "{what}: acceleration"
                            );
                        }
                        (Err(text), Err(e)) => assert_eq!(text, &e.to_string()),
                        (device, host) => {
                            panic!("sample {k}: device {device:?}, host {host:?}")
                        }
                    }
                }
            }
        }
    }
    // The players hold their weights by value, and an unoptimised test build copies them
    // around: compare on a thread with a roomy stack.
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn_scoped(scope, || {
                match decode_trajectory(blob).map(|v| v.coordinates()) {
                    Ok(1) => with_d::<1>(run, blob),
                    Ok(2) => with_d::<2>(run, blob),
                    Ok(3) => with_d::<3>(run, blob),
                    Ok(4) => with_d::<4>(run, blob),
                    Ok(5) => with_d::<5>(run, blob),
                    Ok(6) => with_d::<6>(run, blob),
                    // Not a trajectory at all: the device says what the host loader says.
                    _ => with_d::<3>(run, blob),
                }
            })
            .expect("spawning the comparison thread")
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
    });
}

/// The host player's capacity: every depth and via-point count a blob may have, widths up to
/// 64 (the device player is sized from the blob, so only the host needs a bound).
const HOST_W: usize = 64;
const HOST_L: usize = finn_core::format::MAX_LAYERS;
const HOST_V: usize = finn_core::format::MAX_VIA;

/// The default blob (3-D, 2 x 16 tanh, f32): device == host bit for bit, the ends exact, and
/// the cost the same in two runs.
#[test]
fn device_plays_the_default_blob_bit_for_bit() {
    let elf = qemu::build_firmware().unwrap_or_else(|e| panic!("{e:#}"));
    let blob = std::fs::read(qemu::default_blob_path()).unwrap();
    let first = run(&elf);
    assert_device_matches_host(&first, &blob);

    // The ends: exactly the blob's x0 and xT, rounded to f32.
    let view = decode_trajectory(&blob).unwrap();
    let samples = first.samples(3).unwrap();
    let f32_bits = |x: &[f64]| x.iter().map(|&v| (v as f32).to_bits()).collect::<Vec<_>>();
    let ends = |i: usize| samples[i].outcome.as_ref().unwrap().position.clone();
    assert_eq!(ends(0), f32_bits(view.start()));
    assert_eq!(ends(samples.len() - 1), f32_bits(view.end()));

    let cost = first.cost().unwrap();
    assert!(cost.ticks > 0, "no ticks measured: {cost:?}");
    assert_eq!(first.capacity().unwrap(), [3, 16, 2, 1]);
    assert_eq!(
        run(&elf).cost().unwrap(),
        cost,
        "two runs of the same firmware cost differently"
    );
    eprintln!(
        "device: {:.0} instructions per sample, playback stack {} bytes, load stack {} bytes",
        cost.instructions_per_call(),
        cost.stack_bytes,
        cost.stack_load_bytes
    );
}

/// A corrupt blob (one flipped bit) makes the firmware print the typed error and exit with a
/// failure status through semihosting: no panic, no fault.
#[test]
fn corrupt_blob_reports_the_typed_error() {
    let mut blob = std::fs::read(qemu::default_blob_path()).unwrap();
    let at = blob.len() / 2;
    blob[at] ^= 0x04;
    let run = run(&firmware_with_blob("corrupt", &blob));
    let message = run.check_load_error().unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        message.starts_with("corrupt blob: CRC mismatch"),
        "{message}"
    );
    let host = TrajectoryPlayer::<3, 16, 2, 1>::from_bytes(&blob).unwrap_err();
    assert!(matches!(host, LoadError::Corrupt(_)));
    assert_eq!(message, host.to_string());
    assert!(run.samples(3).unwrap().is_empty());
    assert!(!run.status.success());
}

/// A small xorshift generator for the unseen configuration.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// A random trajectory unlike the default one: D in {1, 2, 4, 5, 6}, one to three hidden
/// layers of 2..=24 units, either activation, 0..=4 via-points, either scalar and policy.
fn unseen_blob(seed: u64) -> (Vec<u8>, String) {
    trajectory_case(seed, None)
}

/// As [`unseen_blob`], with the hidden widths and activation given and the scalar f32 when
/// `shape` is given (the rest still drawn from the seed).
fn trajectory_case(seed: u64, shape: Option<(&[usize], Activation)>) -> (Vec<u8>, String) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let d = [1, 2, 4, 5, 6][rng.below(5) as usize];
    let widths: Vec<usize> = (0..1 + rng.below(3))
        .map(|_| 2 + rng.below(23) as usize)
        .collect();
    let activation = if rng.below(2) == 0 {
        Activation::Tanh
    } else {
        Activation::Sigma
    };
    let (widths, activation) = match shape {
        Some((w, a)) => (w.to_vec(), a),
        None => (widths, activation),
    };
    let arch = Architecture {
        n: 1,
        kind: Kind::Signed,
        activation,
        widths,
    };
    let t0 = rng.uniform(-3.0, 3.0);
    let t1 = t0 + rng.uniform(0.5, 5.0);
    let state = |rng: &mut Rng| (0..d).map(|_| rng.uniform(-5.0, 5.0)).collect::<Vec<_>>();
    let x0 = state(&mut rng);
    let x1 = state(&mut rng);
    let nvia = rng.below(5) as usize;
    let via: Vec<(f64, Vec<f64>)> = (0..nvia)
        .map(|k| {
            let frac = (k as f64 + rng.uniform(0.3, 0.7)) / nvia as f64;
            (t0 + (t1 - t0) * frac, state(&mut rng))
        })
        .collect();
    let scalar = if rng.below(2) == 0 || shape.is_some() {
        Scalar::F32
    } else {
        Scalar::F64
    };
    let policy = if rng.below(2) == 0 {
        OutsidePolicy::Hold
    } else {
        OutsidePolicy::Reject
    };
    let params = fixed_parameters(&arch, d, rng.next());
    let blob = trajectory_blob(&arch, &params, (t0, t1), &x0, &x1, &via, policy, scalar)
        .expect("a valid random trajectory");
    let description = format!(
        "seed {seed}: D = {d}, widths {:?}, {activation:?}, {nvia} via-points, {scalar:?}, \
         {policy:?}, [{t0:.3}, {t1:.3}]",
        arch.widths
    );
    (blob, description)
}

/// A trajectory configuration the firmware was not written for, chosen at random on every run
/// (`FINN_DEVICE_SEED` fixes the seed), or the blob file named by `FINN_DEVICE_BLOB`: device ==
/// host bit for bit.
#[test]
fn unseen_configuration_matches_host_bit_for_bit() {
    if let Some(path) = std::env::var_os("FINN_DEVICE_BLOB") {
        let blob = std::fs::read(&path).unwrap();
        eprintln!("unseen configuration from {}", Path::new(&path).display());
        let run = run(&firmware_with_blob("given", &blob));
        assert_device_matches_host(&run, &blob);
        return;
    }
    let seed = std::env::var("FINN_DEVICE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let (blob, description) = unseen_blob(seed);
    eprintln!("unseen configuration, {description} (FINN_DEVICE_SEED={seed} repeats it)");
    let run = run(&firmware_with_blob("unseen", &blob));
    assert_device_matches_host(&run, &blob);
    assert!(
        run.load_error().is_none(),
        "{description}: {:?}",
        run.load_error()
    );
}

/// On the device a hidden layer's sums run in assembly (`finn_core::multiply_add`) in groups
/// of four inputs, the last inputs one at a time, for blocks of four units, the last units in
/// Rust: fan-ins 5, 6, 7, 11, 8 and 9 leave every remainder of inputs, and the widths every
/// remainder of units, in f32 with both activations. Device == host bit for bit.
#[test]
fn hidden_sums_match_host_for_every_remainder_of_four() {
    let cases: [(u64, &[usize], Activation); 2] = [
        (11, &[5, 6, 7, 12], Activation::Tanh),
        (12, &[11, 8, 9, 4], Activation::Sigma),
    ];
    for (seed, widths, activation) in cases {
        let (blob, description) = trajectory_case(seed, Some((widths, activation)));
        eprintln!("{description}");
        let run = run(&firmware_with_blob(&format!("remainders-{seed}"), &blob));
        assert!(
            run.load_error().is_none(),
            "{description}: {:?}",
            run.load_error()
        );
        assert_device_matches_host(&run, &blob);
    }
}

/// The fit player's capacity on the host: every input count and depth a blob may have, widths up
/// to 64 (the device player is sized from the blob).
const FIT_HOST_W: usize = 64;
const FIT_HOST_L: usize = finn_core::format::MAX_LAYERS;

/// Sub-box j of the domain [lower, upper], as `firmware/src/fit.rs` documents and computes it
/// in `f32`: j < n the lower half along axis j, j = n the centre box.
fn fit_sub_box<const N: usize>(
    lower: &[f32; N],
    upper: &[f32; N],
    j: usize,
) -> ([f32; N], [f32; N]) {
    let (mut lo, mut hi) = (*lower, *upper);
    for i in 0..N {
        let width = upper[i] - lower[i];
        if j == N {
            lo[i] = lower[i] + width * 0.25;
            hi[i] = lower[i] + width * 0.75;
        } else if i == j {
            hi[i] = lower[i] + width * 0.5;
        }
    }
    (lo, hi)
}

/// What the device printed for a model blob, against the host's fit player on the same blob:
/// the same load error, or the same domain, points, F and f at every point, integral over the
/// domain and over every sub-box (or the same errors), bit for bit.
fn assert_fit_device_matches_host(run: &Run, blob: &[u8]) {
    fn with_n<const N: usize>(run: &Run, blob: &[u8])
    where
        Dim<N>: JetDim,
    {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        // Capacity does not change the arithmetic (loops run over the actual widths), so a
        // roomy host player computes exactly what the exactly-sized device player does.
        let player = match FitPlayer::<N, FIT_HOST_W, FIT_HOST_L>::from_bytes(blob) {
            Ok(player) => player,
            Err(e) => {
                let message = run.check_load_error().unwrap_or_else(|e| panic!("{e:#}"));
                assert_eq!(message, e.to_string());
                return;
            }
        };
        run.check_success().unwrap_or_else(|e| panic!("{e:#}"));
        let cost = run.cost().unwrap();
        assert_eq!(cost.workload, "fit");
        let view = decode(blob).unwrap();
        let widest = view.widths().iter().copied().max().unwrap();
        assert_eq!(
            run.fit_capacity().unwrap(),
            [N, widest, view.widths().len()],
            "the device player is sized from the blob"
        );
        let (lower, upper) = player.domain();
        assert_eq!(run.domain(N).unwrap(), (bits(lower), bits(upper)));

        let samples = run.fit_samples(N).unwrap();
        assert_eq!(
            samples.len() as u64,
            cost.calls_per_run,
            "one line per point"
        );
        for (k, device) in samples.iter().enumerate() {
            assert_eq!(device.index, k);
            let x = player.halton_point(k as u32);
            assert_eq!(device.point, bits(&x), "point {k}");
            let host = player
                .antiderivative(&x)
                .and_then(|big_f| Ok((big_f, player.integrand(&x)?)));
            match (&device.outcome, host) {
                (Ok(values), Ok((big_f, f))) => {
                    assert_eq!(
                        values.antiderivative,
                        big_f.to_bits(),
                        "F at point {k} {x:?}"
                    );
                    assert_eq!(values.integrand, f.to_bits(), "f at point {k} {x:?}");
                }
                (Err(text), Err(e)) => assert_eq!(text, &e.to_string(), "point {k}"),
                (device, host) => panic!("point {k}: device {device:?}, host {host:?}"),
            }
        }

        match (run.fit_integral().unwrap(), player.integral()) {
            (Ok(device), Ok(host)) => assert_eq!(device, host.to_bits(), "integral"),
            (Err(text), Err(e)) => assert_eq!(text, e.to_string()),
            (device, host) => panic!("integral: device {device:?}, host {host:?}"),
        }

        let boxes = run.fit_boxes(N).unwrap();
        assert_eq!(boxes.len(), N + 1, "n halves and the centre box");
        for (j, device) in boxes.iter().enumerate() {
            assert_eq!(device.index, j);
            let (lo, hi) = fit_sub_box(lower, upper, j);
            assert_eq!(
                (&device.lower, &device.upper),
                (&bits(&lo), &bits(&hi)),
                "box {j}"
            );
            match (&device.outcome, player.integral_over(&lo, &hi)) {
                (Ok(device), Ok(host)) => assert_eq!(*device, host.to_bits(), "box {j}"),
                (Err(text), Err(e)) => assert_eq!(text, &e.to_string(), "box {j}"),
                (device, host) => panic!("box {j}: device {device:?}, host {host:?}"),
            }
        }
    }
    // The host player holds its weights by value, and an unoptimised test build copies them
    // around: compare on a thread with a roomy stack.
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn_scoped(scope, || match decode(blob).map(|v| v.n()) {
                Ok(1) => with_n::<1>(run, blob),
                Ok(2) => with_n::<2>(run, blob),
                Ok(3) => with_n::<3>(run, blob),
                Ok(4) => with_n::<4>(run, blob),
                Ok(5) => with_n::<5>(run, blob),
                Ok(6) => with_n::<6>(run, blob),
                Ok(7) => with_n::<7>(run, blob),
                Ok(8) => with_n::<8>(run, blob),
                // Not a model blob that decodes: the device says what the host loader says.
                _ => with_n::<2>(run, blob),
            })
            .expect("spawning the comparison thread")
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
    });
}

/// The paper's Figure 1 model for eps = 2 (`results/figure1/eps2.postcard`, written by
/// `cargo xtask figure1`: a positive 2 x 16 sigma_2 network on [-3, 3]^2 whose integral is
/// fixed to 2, parameters stored as `f64`, converted to `f32` on load).
fn figure1_eps2_blob() -> Vec<u8> {
    let path = finn_lab::workspace_root().join("results/figure1/eps2.postcard");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "reading {} ({e}); `cargo xtask figure1` writes it",
            path.display()
        )
    })
}

/// The Figure 1 model on the device: f, F and every integral equal to the host's bit for bit,
/// the integral over the domain 2 up to the rounding of `f32`, and the cost the same in two
/// runs.
#[test]
fn device_evaluates_the_figure1_fit_bit_for_bit() {
    let blob = figure1_eps2_blob();
    let elf = firmware_with_blob("fit-eps2", &blob);
    let first = run(&elf);
    assert_fit_device_matches_host(&first, &blob);
    assert_eq!(first.fit_capacity().unwrap(), [2, 16, 2]);
    let total = f32::from_bits(first.fit_integral().unwrap().unwrap());
    assert!(
        (total - 2.0).abs() < 1e-3,
        "integral over the domain {total}"
    );
    // A positive network: f >= 0 at every point.
    for sample in first.fit_samples(2).unwrap() {
        let f = f32::from_bits(sample.outcome.unwrap().integrand);
        assert!(f >= 0.0, "f = {f} at point {}", sample.index);
    }

    let cost = first.cost().unwrap();
    assert!(cost.ticks > 0, "no ticks measured: {cost:?}");
    assert_eq!(
        run(&elf).cost().unwrap(),
        cost,
        "two runs of the same firmware cost differently"
    );
    eprintln!(
        "device: {:.0} instructions per evaluation of f, playback stack {} bytes, load stack {} \
         bytes, player {} bytes",
        cost.instructions_per_call(),
        cost.stack_bytes,
        cost.stack_load_bytes,
        first.number("player_bytes").unwrap()
    );
}

/// A corrupt fit blob (one flipped bit) makes the firmware print the fit player's typed error
/// and exit with a failure status through semihosting: no panic, no fault. So does a fit
/// player too narrow for the blob (`FINN_FIT_CAPACITY`), an error only the fit player gives.
#[test]
fn corrupt_fit_blob_reports_the_typed_error() {
    let mut blob = figure1_eps2_blob();
    let at = blob.len() / 2;
    blob[at] ^= 0x04;
    let run_corrupt = run(&firmware_with_blob("fit-corrupt", &blob));
    let message = run_corrupt
        .check_load_error()
        .unwrap_or_else(|e| panic!("{e:#}"));
    let host = FitPlayer::<2, 16, 2>::from_bytes(&blob).unwrap_err();
    assert!(matches!(
        host,
        LoadError::Corrupt(FormatError::CrcMismatch { .. })
    ));
    assert_eq!(message, host.to_string());
    assert!(run_corrupt.fit_samples(2).unwrap().is_empty());
    assert_fit_device_matches_host(&run_corrupt, &blob);

    let intact = figure1_eps2_blob();
    let narrow = FirmwareOptions {
        fit_capacity: Some([2, 8, 2]),
        ..FirmwareOptions::default()
    };
    let run_narrow = run(&firmware_with_options("fit-narrow", &intact, narrow));
    let message = run_narrow
        .check_load_error()
        .unwrap_or_else(|e| panic!("{e:#}"));
    let host = FitPlayer::<2, 8, 2>::from_bytes(&intact).unwrap_err();
    assert_eq!(
        host,
        LoadError::Capacity(FormatError::CapacityMismatch {
            field: Field::Width,
            capacity: 8,
            found: 16
        })
    );
    assert_eq!(message, host.to_string());
}

/// The constants that impose `constraint` on this network over [lower, upper], resolved in
/// `f64` by finn-core, as training leaves them.
fn resolve<const N: usize>(model: &TrainedModel) -> Result<Resolved<f64>, finn_core::Error>
where
    Dim<N>: JetDim,
{
    let a = &model.architecture;
    let net = Network::<f64, N, 32, 3>::new(a.kind, a.activation, &a.widths, &model.params)?;
    let domain = Domain::from_slices(&model.domain_lower, &model.domain_upper)?;
    Ok(Finn::new(net, domain, model.constraint)?.constants())
}

/// A random fit model unlike the Figure 1 one: n in 1..=4 inputs, one or two hidden layers of
/// 2..=12 units, positive (sigma_n) or signed (tanh or sigma_n), no constraint or any bound by
/// scale (positive only) or shift, a random box, either scalar.
fn unseen_fit_blob(seed: u64) -> (Vec<u8>, String) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let n = 1 + rng.below(4) as usize;
    let widths: Vec<usize> = (0..1 + rng.below(2))
        .map(|_| 2 + rng.below(11) as usize)
        .collect();
    let (kind, activation) = match rng.below(3) {
        0 => (Kind::Positive, Activation::Sigma),
        1 => (Kind::Signed, Activation::Tanh),
        _ => (Kind::Signed, Activation::Sigma),
    };
    let architecture = Architecture {
        n,
        kind,
        activation,
        widths,
    };
    let mut bound = [Bound::Equal, Bound::AtMost, Bound::AtLeast][rng.below(3) as usize];
    let method = if kind == Kind::Positive && rng.below(2) == 0 {
        Method::Scale
    } else {
        Method::Shift
    };
    // A positive network takes a shift only with AtLeast (any other shift could make f < 0).
    if kind == Kind::Positive && method == Method::Shift {
        bound = Bound::AtLeast;
    }
    let constraint = match rng.below(4) {
        0 => None,
        _ => Some(Constraint::new(bound, method, rng.uniform(0.5, 3.0))),
    };
    let domain_lower: Vec<f64> = (0..n).map(|_| rng.uniform(-2.0, 1.0)).collect();
    let domain_upper: Vec<f64> = domain_lower
        .iter()
        .map(|lo| lo + rng.uniform(0.5, 2.5))
        .collect();
    let params = fixed_parameters(&architecture, 1, rng.next()).remove(0);
    let scalar = if rng.below(2) == 0 {
        Scalar::F32
    } else {
        Scalar::F64
    };
    let mut model = TrainedModel {
        architecture,
        domain_lower,
        domain_upper,
        constraint,
        constants: Resolved::scaled(1.0),
        params,
    };
    model.constants = match n {
        1 => resolve::<1>(&model),
        2 => resolve::<2>(&model),
        3 => resolve::<3>(&model),
        _ => resolve::<4>(&model),
    }
    .expect("a valid random fit model");
    let blob = model.to_blob(scalar).expect("a valid random fit model");
    let description = format!(
        "seed {seed}: n = {n}, widths {:?}, {kind:?} {activation:?}, constraint {constraint:?}, \
         {scalar:?}, box {:.3?} .. {:.3?}",
        model.architecture.widths, model.domain_lower, model.domain_upper
    );
    (blob, description)
}

/// A fit configuration the firmware was not written for, chosen at random on every run
/// (`FINN_DEVICE_SEED` fixes the seed), or the model blob file named by
/// `FINN_DEVICE_FIT_BLOB`: device == host bit for bit.
#[test]
fn unseen_fit_configuration_matches_host_bit_for_bit() {
    if let Some(path) = std::env::var_os("FINN_DEVICE_FIT_BLOB") {
        let blob = std::fs::read(&path).unwrap();
        eprintln!(
            "unseen fit configuration from {}",
            Path::new(&path).display()
        );
        let run = run(&firmware_with_blob("fit-given", &blob));
        assert_fit_device_matches_host(&run, &blob);
        return;
    }
    let seed = std::env::var("FINN_DEVICE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let (blob, description) = unseen_fit_blob(seed);
    eprintln!("unseen fit configuration, {description} (FINN_DEVICE_SEED={seed} repeats it)");
    let run = run(&firmware_with_blob("fit-unseen", &blob));
    assert_fit_device_matches_host(&run, &blob);
    assert!(
        run.load_error().is_none(),
        "{description}: {:?}",
        run.load_error()
    );
}

/// The density workload (`firmware/src/density.rs`) on `firmware/blobs/density.postcard`
/// (`finn_lab::device::reference_density_blob`, checked in finn-lab's tests): pdf, log-pdf,
/// CDF, box probabilities and samples equal the host's `DensityPlayer` bit for bit, the
/// samples lie in the support, and two runs cost the same.
#[test]
fn device_evaluates_the_density_bit_for_bit() {
    let blob = std::fs::read(qemu::density_blob_path()).unwrap();
    let elf = firmware_with_blob("density", &blob);
    let first = run(&elf);
    let check = qemu::check_density_run(&first, &blob).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(
        check,
        qemu::DensityCheck::Evaluated {
            capacity: [2, 16, 2],
            points: 64,
            boxes: 16,
            draws: 64
        }
    );
    // Samples inside the support [-3, 3]^2; probabilities in [0, 1]; the support's CDF 1.
    for draw in first.density_draws(2).unwrap() {
        for w in draw.outcome.unwrap() {
            let x = f32::from_bits(w);
            assert!((-3.0..=3.0).contains(&x), "sample {}: {x}", draw.index);
        }
    }
    for b in first.density_boxes(2).unwrap() {
        let p = f32::from_bits(b.outcome.unwrap());
        assert!((0.0..=1.0).contains(&p), "box {}: {p}", b.index);
    }
    let phases = first.phases().unwrap();
    assert_eq!(
        phases.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["pdf", "log_pdf", "cdf", "box", "sample"]
    );
    assert!(phases.iter().all(|p| p.ticks > 0), "{phases:?}");
    assert_eq!(
        run(&elf).phases().unwrap(),
        phases,
        "two runs of the same firmware cost differently"
    );
    for p in &phases {
        eprintln!(
            "device: {:.0} instructions per {}",
            p.instructions_per_call(),
            p.name
        );
    }
}

/// The density mixture workload (`firmware/src/density_mixture.rs`) on finn-embedded's two
/// example mixture blobs (a box support and all of R^2; `finn_lab::device::doc_density_mixture_blob`
/// and `doc_density_mixture_real_blob`, checked in finn-lab's tests) and on the trained moons
/// mixture that `cargo xtask device` measures (`firmware/blobs/density-mixture.postcard`, 40
/// components of widths [4, 2] on all of R^2): pdf, log-pdf, CDF, box probabilities and samples equal the
/// host's `DensityMixturePlayer` bit for bit, and two runs cost the same.
#[test]
fn device_evaluates_the_density_mixture_bit_for_bit() {
    for (label, blob, real_space, capacity) in [
        (
            "mixture-box",
            qemu::doc_density_mixture_blob().unwrap(),
            false,
            [2, 4, 1, 2],
        ),
        (
            "mixture-real",
            qemu::doc_density_mixture_real_blob().unwrap(),
            true,
            [2, 4, 1, 2],
        ),
        (
            "mixture-moons",
            std::fs::read(qemu::density_mixture_blob_path()).unwrap(),
            true,
            [2, 4, 2, 40],
        ),
    ] {
        let elf = firmware_with_blob(label, &blob);
        let first = run(&elf);
        let check =
            qemu::check_density_mixture_run(&first, &blob).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(
            check,
            qemu::MixtureCheck::Evaluated {
                capacity,
                real_space,
                points: 64,
                boxes: 16,
                draws: 64
            }
        );
        let phases = first.phases().unwrap();
        assert!(phases.iter().all(|p| p.ticks > 0), "{phases:?}");
        assert_eq!(
            run(&elf).phases().unwrap(),
            phases,
            "two runs cost differently"
        );
        for p in &phases {
            eprintln!(
                "device ({label}): {:.0} instructions per {}",
                p.instructions_per_call(),
                p.name
            );
        }
    }
    // A flipped bit: the mixture workload prints the typed error and fails, as the host does.
    let mut blob = qemu::doc_density_mixture_blob().unwrap();
    let at = blob.len() / 2;
    blob[at] ^= 0x04;
    let corrupt = run(&firmware_with_blob("mixture-corrupt", &blob));
    assert!(matches!(
        qemu::check_density_mixture_run(&corrupt, &blob),
        Ok(qemu::MixtureCheck::LoadError(_))
    ));
}

/// A corrupt density blob (one flipped bit) makes the density workload print the density
/// player's typed error and exit with a failure status: no panic, no fault. So does an intact
/// density blob in a player too narrow for it, and a density blob whose model is not a
/// density (eps = 2, the CRC fixed).
#[test]
fn corrupt_density_blob_reports_the_typed_error() {
    let intact = std::fs::read(qemu::density_blob_path()).unwrap();
    let mut blob = intact.clone();
    let at = blob.len() / 2;
    blob[at] ^= 0x04;
    let run_corrupt = run(&firmware_with_blob("density-corrupt", &blob));
    let message = run_corrupt
        .check_load_error()
        .unwrap_or_else(|e| panic!("{e:#}"));
    let host = DensityPlayer::<2, 16, 2>::from_bytes(&blob).unwrap_err();
    assert!(matches!(
        host,
        LoadError::Corrupt(FormatError::CrcMismatch { .. })
    ));
    assert_eq!(message, host.to_string());
    assert!(run_corrupt.density_points(2).unwrap().is_empty());
    assert_eq!(
        qemu::check_density_run(&run_corrupt, &blob).unwrap(),
        qemu::DensityCheck::LoadError(message.to_string())
    );

    // eps = 2 under the density tag: the body's eps follows payload, kind, activation, n, the
    // widths (1 + 2 bytes), both 2-D corners (1 + 16 bytes each), the option, bound, method.
    let mut two = intact.clone();
    let eps_at = 6 + 4 + 3 + 17 + 17 + 3;
    assert_eq!(&two[eps_at..eps_at + 8], &1.0f64.to_le_bytes());
    two[eps_at..eps_at + 8].copy_from_slice(&2.0f64.to_le_bytes());
    let n = two.len() - 4;
    let crc = finn_core::format::crc32(&two[..n]);
    two[n..].copy_from_slice(&crc.to_le_bytes());
    let run_two = run(&firmware_with_blob("density-eps2", &two));
    let message = run_two
        .check_load_error()
        .unwrap_or_else(|e| panic!("{e:#}"));
    let host = DensityPlayer::<2, 16, 2>::from_bytes(&two).unwrap_err();
    assert_eq!(
        host,
        LoadError::Invalid(FormatError::Core(finn_core::Error::NotADensity))
    );
    assert_eq!(message, host.to_string());

    let narrow = FirmwareOptions {
        fit_capacity: Some([2, 8, 2]),
        ..FirmwareOptions::default()
    };
    let run_narrow = run(&firmware_with_options("density-narrow", &intact, narrow));
    let message = run_narrow
        .check_load_error()
        .unwrap_or_else(|e| panic!("{e:#}"));
    let host = DensityPlayer::<2, 8, 2>::from_bytes(&intact).unwrap_err();
    assert_eq!(
        host,
        LoadError::Capacity(FormatError::CapacityMismatch {
            field: Field::Width,
            capacity: 8,
            found: 16
        })
    );
    assert_eq!(message, host.to_string());
}

/// A density the firmware was not written for, chosen at random on every run
/// (`FINN_DEVICE_SEED` fixes the seed): n in 1..=3, one or two hidden layers of 2..=10 units,
/// a random support, either scalar. Device == host bit for bit.
#[test]
fn unseen_density_matches_host_bit_for_bit() {
    let seed = std::env::var("FINN_DEVICE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let n = 1 + rng.below(3) as usize;
    let widths: Vec<usize> = (0..1 + rng.below(2))
        .map(|_| 2 + rng.below(9) as usize)
        .collect();
    let lower: Vec<f64> = (0..n).map(|_| rng.uniform(-2.0, 1.0)).collect();
    let upper: Vec<f64> = lower.iter().map(|lo| lo + rng.uniform(0.5, 3.0)).collect();
    let scalar = if rng.below(2) == 0 {
        Scalar::F32
    } else {
        Scalar::F64
    };
    let blob = qemu::density_blob(&widths, &lower, &upper, rng.next(), scalar)
        .expect("a valid random density");
    eprintln!(
        "unseen density, seed {seed}: n = {n}, widths {widths:?}, {scalar:?}, support \
         {lower:.3?} .. {upper:.3?} (FINN_DEVICE_SEED={seed} repeats it)"
    );
    let run = run(&firmware_with_options(
        "density-unseen",
        &blob,
        FirmwareOptions {
            samples: Some(16),
            ..FirmwareOptions::default()
        },
    ));
    let check = qemu::check_density_run(&run, &blob).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        matches!(check, qemu::DensityCheck::Evaluated { .. }),
        "{check:?}"
    );
}

/// The deviation workload (`firmware/src/deviation.rs`) on `firmware/blobs/deviation.postcard`
/// (the paper's Figure 2 model, `cargo xtask train configs/figure2.toml` with
/// `blob_scalar = "f32"`): phi and the magnitude at every point equal the host's
/// `DeviationPlayer` bit for bit, phi stays within the magnitude of the base, and two runs
/// cost the same.
#[test]
fn device_evaluates_the_deviation_bit_for_bit() {
    let blob = std::fs::read(qemu::deviation_blob_path()).unwrap();
    let elf = firmware_with_blob("deviation", &blob);
    let first = run(&elf);
    let check = qemu::check_deviation_run(&first, &blob).unwrap_or_else(|e| panic!("{e:#}"));
    let qemu::DeviationCheck::Evaluated {
        capacity,
        points,
        inside,
    } = check
    else {
        panic!("the deviation blob did not load: {check:?}");
    };
    let view = finn_core::format::decode_deviation(&blob).unwrap();
    assert_eq!(capacity[..2], [view.n(), view.outputs()]);
    assert_eq!(points, 64);
    assert!(inside > points / 2 && inside < points, "{inside} inside");
    // phi - psi is within f of the base, and equal to it outside the domain.
    let host = finn_embedded::DeviationPlayer::<1, 1, 64, 8, 8>::from_bytes(&blob).unwrap();
    for p in first.deviation_points(1, 1).unwrap() {
        let w = p.outcome.unwrap();
        let x = [f32::from_bits(p.point[0])];
        let (phi, f) = (f32::from_bits(w[0]), f32::from_bits(w[1]));
        let c = host.correction(&x).unwrap()[0];
        assert!(c.abs() <= f, "point {}: {c} {f}", p.index);
        if !(0.0..=1.0).contains(&x[0]) {
            assert_eq!((c, f), (0.0, 0.0), "outside the domain at {x:?}");
        }
        assert!(phi.is_finite());
    }
    let phases = first.phases().unwrap();
    assert_eq!(
        phases.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["value", "magnitude"]
    );
    assert!(phases.iter().all(|p| p.ticks > 0), "{phases:?}");
    assert_eq!(
        run(&elf).phases().unwrap(),
        phases,
        "two runs of the same firmware cost differently"
    );
    for p in &phases {
        eprintln!(
            "device: {:.0} instructions per {}",
            p.instructions_per_call(),
            p.name
        );
    }
}

/// A corrupt deviation blob (one flipped bit) makes the deviation workload print the
/// deviation player's typed error and exit with a failure status: no panic, no fault.
#[test]
fn corrupt_deviation_blob_reports_the_typed_error() {
    let mut blob = std::fs::read(qemu::deviation_blob_path()).unwrap();
    blob[40] ^= 0x10;
    let corrupt = run(&firmware_with_blob("deviation-corrupt", &blob));
    let message = corrupt
        .check_load_error()
        .unwrap_or_else(|e| panic!("{e:#}"));
    let host = finn_embedded::DeviationPlayer::<1, 1, 8, 1, 2>::from_bytes(&blob).unwrap_err();
    assert!(matches!(
        host,
        LoadError::Corrupt(FormatError::CrcMismatch { .. })
    ));
    assert_eq!(message, host.to_string());
    assert_eq!(
        qemu::check_deviation_run(&corrupt, &blob).unwrap(),
        qemu::DeviationCheck::LoadError(message.to_string())
    );
}

/// The soft-Q workload (`firmware/src/softq.rs`) on the shipped pendulum policy
/// (`firmware/blobs/softq-pendulum.postcard`): one closed-loop episode of 200 steps from the
/// fixed start, every uniform, action and state equal to the host's episode bit for bit
/// (`finn_lab::device::check_softq_run`); and a flipped bit is the host's typed load error.
#[test]
fn device_runs_the_softq_pendulum_bit_for_bit() {
    let blob = std::fs::read(qemu::softq_blob_path()).unwrap();
    let elf = firmware_with_blob("softq", &blob);
    let first = run(&elf);
    let check = qemu::check_softq_run(&first, &blob).unwrap_or_else(|e| panic!("{e:#}"));
    let qemu::SoftQCheck::Episode { capacity, steps } = check else {
        panic!("the device did not load the soft-Q blob: {check:?}")
    };
    assert_eq!(capacity, [3, 64, 25, 1, 8, 1]);
    assert_eq!(steps.len(), 200);
    let phases = first.phases().unwrap();
    assert!(phases.iter().all(|p| p.ticks > 0), "{phases:?}");
    for p in &phases {
        eprintln!(
            "device (soft-Q pendulum): {:.0} instructions per action ({} actions)",
            p.instructions_per_call(),
            p.calls
        );
    }
    let mut corrupt = blob.clone();
    let at = corrupt.len() / 2;
    corrupt[at] ^= 0x04;
    let bad = run(&firmware_with_blob("softq-corrupt", &corrupt));
    assert!(matches!(
        qemu::check_softq_run(&bad, &corrupt).unwrap_or_else(|e| panic!("{e:#}")),
        qemu::SoftQCheck::LoadError(_)
    ));
}

/// A depth capacity no blob can have (L outside 1..=8) is refused by the firmware's build
/// script with a message naming the variable and the range, not with a trait error from the
/// generated player type.
#[test]
fn firmware_build_refuses_a_depth_outside_the_format() {
    for (label, options) in [
        (
            "fit-depth-9",
            FirmwareOptions {
                fit_capacity: Some([2, 16, 9]),
                blob: Some(finn_lab::workspace_root().join("results/figure1/eps2.postcard")),
                ..FirmwareOptions::default()
            },
        ),
        (
            "trajectory-depth-0",
            FirmwareOptions {
                capacity: Some([3, 16, 0, 8]),
                ..FirmwareOptions::default()
            },
        ),
    ] {
        let err = qemu::build_firmware_with(&options, label)
            .expect_err("the build must fail")
            .to_string();
        assert!(err.contains("is outside 1..=8"), "{label}: {err}");
    }
}
