//! The firmware on the emulated device (QEMU `mps2-an386`, Cortex-M4F): trajectory playback.
//!
//! Each test builds the firmware with a blob, runs it under QEMU and compares what the device
//! printed with `finn-embedded`'s player on the host, bit for bit: the same blob, the same
//! `f32` code, the same `libm`, IEEE single precision on both sides.
//!
//! These tests need the `thumbv7em-none-eabihf` target and `qemu-system-arm`; `cargo xtask test`
//! installs both first, and without them the tests fail with a message naming
//! `cargo xtask setup`.

use finn_core::format::{decode_trajectory, Scalar};
use finn_core::trajectory::OutsidePolicy;
use finn_core::{Activation, Kind};
use finn_embedded::{LoadError, TrajectoryPlayer};
use finn_lab::device::{self as qemu, FirmwareOptions, Run};
use finn_train::model::Architecture;
use finn_train::trajectory::blob::{fixed_parameters, reference_blob, trajectory_blob};
use std::path::{Path, PathBuf};

/// Builds the firmware with `blob` (written to a file of its own) under `label`.
fn firmware_with_blob(label: &str, blob: &[u8]) -> PathBuf {
    let dir = qemu::firmware_target_dir().join("test-blobs");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{label}.postcard"));
    std::fs::write(&path, blob).unwrap();
    let options = FirmwareOptions {
        blob: Some(path),
        ..FirmwareOptions::default()
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
    let scalar = if rng.below(2) == 0 {
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
