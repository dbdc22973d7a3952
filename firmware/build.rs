//! Links with cortex-m-rt's `link.x` (and `memory.x`), embeds the blob, and selects the
//! workload that plays it.
//!
//! The blob comes from the file named by the environment variable `FINN_BLOB` (a path relative
//! to this directory, or absolute), by default `blobs/default.postcard`. `finn_embedded::build`
//! checks it and writes `$OUT_DIR/finn_player.rs`: the embedded `BLOB` and the `Player` type
//! sized exactly for it (a firmware of your own does the same with `finn_embedded::build::embed`;
//! see `examples/cortex-m4f-player`).
//!
//! The blob's payload selects the workload, as the cfg `finn_workload`:
//!
//! - a trajectory blob (payload 1): `finn_workload = "trajectory"`, `src/trajectory.rs`;
//! - a model blob (payload 0, the fit application): `finn_workload = "fit"`, `src/fit.rs`;
//! - a density blob (payload 2): `finn_workload = "density"`, `src/density.rs`;
//! - a deviation blob (payload 3): `finn_workload = "deviation"`, `src/deviation.rs`;
//! - a density mixture blob (payload 4): `finn_workload = "density_mixture"`,
//!   `src/density_mixture.rs`;
//! - a soft-Q blob (payload 5): `finn_workload = "softq"`, `src/softq.rs` (the pendulum
//!   closed loop).
//!
//! The player's compile-time capacity is taken from the blob itself, so any valid blob fits
//! exactly: for a trajectory D, the widest layer, the depth and the via-point count; for a
//! model or a density N (inputs), the widest layer and the depth. `$OUT_DIR/samples.rs` holds the sample
//! count.
//!
//! A blob that does not decode here (a deliberately corrupt one, for the error path) gets the
//! trajectory workload with the default capacity of the default blob, and the firmware reports
//! the typed load error at run time; except when it still opens like a model blob (the magic
//! and a payload byte 0 intact, say a flipped bit further on), which gets the fit workload
//! with [`DEFAULT_FIT_CAPACITY`], so that the fit player reports the error, or like a density
//! blob (payload byte 2), which gets the density workload with [`DEFAULT_DENSITY_CAPACITY`].
//!
//! `FINN_CAPACITY=D,W,L,V` overrides a trajectory player's capacity, `FINN_FIT_CAPACITY=N,W,L`
//! a fit or density player's (to exercise a capacity mismatch); each is refused for a blob of
//! the other kind. `FINN_SAMPLES` sets the number of samples played (default 64).

use finn_embedded::build::{BuildError, Capacity, Embedded};
use finn_embedded::finn_core::format::{MAGIC, MAX_LAYERS, MIN_LEN, PREFIX_LEN};
use std::{env, fs, path::PathBuf};

/// The capacity of the default blob: 3 coordinates, 2 hidden layers of 16, 1 via-point.
const DEFAULT_CAPACITY: Capacity = Capacity::Trajectory {
    d: 3,
    w: 16,
    l: 2,
    v: 1,
};
/// The fit player's capacity for a model blob that does not decode: 2 inputs, 2 hidden
/// layers of 16 (the shape of `results/figure1/eps2.postcard`).
const DEFAULT_FIT_CAPACITY: Capacity = Capacity::Fit { n: 2, w: 16, l: 2 };
/// The density player's capacity for a density blob that does not decode: 2 inputs, 2 hidden
/// layers of 16 (the shape of `blobs/density.postcard`).
const DEFAULT_DENSITY_CAPACITY: Capacity = Capacity::Density { n: 2, w: 16, l: 2 };
/// Samples played when `FINN_SAMPLES` is not set.
const DEFAULT_SAMPLES: usize = 64;
/// The byte that opens the body of a model blob: the payload field, postcard's varint of
/// enum index 0 (`Model`; see `docs/model-format.md`).
const MODEL_PAYLOAD_BYTE: u8 = 0;
/// The same for a density blob: enum index 2 (`Density`).
const DENSITY_PAYLOAD_BYTE: u8 = 2;
/// The same for a deviation blob: enum index 3 (`Deviation`).
const DEVIATION_PAYLOAD_BYTE: u8 = 3;
/// The same for a density mixture blob: enum index 4 (`DensityMixture`).
const MIXTURE_PAYLOAD_BYTE: u8 = 4;
/// The density mixture player's capacity for a mixture blob that does not decode: 2 inputs,
/// 1 hidden layer of 4, 2 components (the shape of finn-embedded's example mixture blobs).
const DEFAULT_MIXTURE_CAPACITY: Capacity = Capacity::DensityMixture {
    n: 2,
    w: 4,
    l: 1,
    k: 2,
};
/// The deviation player's capacity for a deviation blob that does not decode: 1 input, 1
/// output, 1 hidden layer of 8, an affine base (the shape of `blobs/deviation.postcard`).
const DEFAULT_DEVIATION_CAPACITY: Capacity = Capacity::Deviation {
    n: 1,
    m: 1,
    w: 8,
    l: 1,
    k: 2,
};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("memory.x", out.join("memory.x")).expect("copying memory.x to OUT_DIR");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    println!(
        "cargo::rustc-check-cfg=cfg(finn_workload, values(\"trajectory\", \"fit\", \"density\", \"deviation\", \"density_mixture\", \"softq\"))"
    );
    for var in [
        "FINN_BLOB",
        "FINN_CAPACITY",
        "FINN_FIT_CAPACITY",
        "FINN_SAMPLES",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let blob_path = env::var_os("FINN_BLOB")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("blobs/default.postcard"));
    println!("cargo:rerun-if-changed={}", blob_path.display());
    let embedded = match Embedded::read(&blob_path) {
        Ok(embedded) => embedded,
        Err(BuildError::Invalid { error, .. }) => {
            println!(
                "cargo:warning=the blob {} does not decode ({error}); the firmware will report \
                 it at run time",
                blob_path.display()
            );
            let blob = fs::read(&blob_path).expect("the blob was read once already");
            let capacity = match opening_payload_byte(&blob) {
                Some(MODEL_PAYLOAD_BYTE) => DEFAULT_FIT_CAPACITY,
                Some(DENSITY_PAYLOAD_BYTE) => DEFAULT_DENSITY_CAPACITY,
                Some(DEVIATION_PAYLOAD_BYTE) => DEFAULT_DEVIATION_CAPACITY,
                Some(MIXTURE_PAYLOAD_BYTE) => DEFAULT_MIXTURE_CAPACITY,
                _ => DEFAULT_CAPACITY,
            };
            Embedded::unchecked(&blob_path, blob, capacity)
        }
        Err(e) => panic!("{e}"),
    };
    let trajectory_capacity = env::var("FINN_CAPACITY").ok();
    let fit_capacity = env::var("FINN_FIT_CAPACITY").ok();
    let capacity = match embedded.capacity() {
        // A deviation or density mixture blob is played with its own capacity (no override).
        own @ (Capacity::Deviation { .. }
        | Capacity::DensityMixture { .. }
        | Capacity::SoftQ { .. }) => {
            if trajectory_capacity.is_some() || fit_capacity.is_some() {
                panic!(
                    "FINN_CAPACITY and FINN_FIT_CAPACITY do not apply to the {} blob {}",
                    own.kind(),
                    blob_path.display()
                );
            }
            own
        }
        own @ (Capacity::Fit { .. } | Capacity::Density { .. }) => {
            if let Some(text) = trajectory_capacity {
                panic!(
                    "FINN_CAPACITY={text:?} sizes a trajectory player, but {} is a {} blob \
                     (use FINN_FIT_CAPACITY=N,W,L)",
                    blob_path.display(),
                    own.kind()
                );
            }
            match fit_capacity {
                Some(text) => {
                    let [n, w, l] = parse_counts(&text, "FINN_FIT_CAPACITY", "N,W,L");
                    check_depth(l, "FINN_FIT_CAPACITY", &text);
                    match own {
                        Capacity::Density { .. } => Capacity::Density { n, w, l },
                        _ => Capacity::Fit { n, w, l },
                    }
                }
                None => own,
            }
        }
        // A trajectory blob, or a payload this firmware has no workload for (which cannot
        // decode here, so it is played, and refused, by the trajectory player).
        capacity => {
            if let Some(text) = fit_capacity {
                panic!(
                    "FINN_FIT_CAPACITY={text:?} sizes a fit player, but {} is played by the \
                     trajectory workload (use FINN_CAPACITY=D,W,L,V)",
                    blob_path.display()
                );
            }
            match trajectory_capacity {
                Some(text) => {
                    let [d, w, l, v] = parse_counts(&text, "FINN_CAPACITY", "D,W,L,V");
                    check_depth(l, "FINN_CAPACITY", &text);
                    Capacity::Trajectory { d, w, l, v }
                }
                None => capacity,
            }
        }
    };
    embedded
        .with_capacity(capacity)
        .write(&out)
        .unwrap_or_else(|e| panic!("{e}"));
    let samples = match env::var("FINN_SAMPLES") {
        Ok(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n >= 1)
            .unwrap_or_else(|| panic!("FINN_SAMPLES={text:?} is not a count >= 1")),
        Err(_) => DEFAULT_SAMPLES,
    };
    println!("cargo:rustc-cfg=finn_workload=\"{}\"", capacity.kind());
    fs::write(
        out.join("samples.rs"),
        format!(
            "/// Samples played, or points evaluated, N.\npub const SAMPLES: usize = {samples};\n"
        ),
    )
    .expect("writing samples.rs");
}
/// The payload byte right after the prefix of a blob that does not decode but still opens like
/// a blob: the magic and the length of a framed blob. (The version is left to the player to
/// refuse.)
fn opening_payload_byte(blob: &[u8]) -> Option<u8> {
    if blob.len() >= MIN_LEN && blob.starts_with(&MAGIC) {
        blob.get(PREFIX_LEN).copied()
    } else {
        None
    }
}

/// A depth capacity L that the players are built for (1 to `MAX_LAYERS`, the depths a blob
/// can have): any other would fail later as a trait error in the generated code.
fn check_depth(l: usize, var: &str, text: &str) {
    if !(1..=MAX_LAYERS).contains(&l) {
        panic!("{var}={text:?}: L = {l} is outside 1..={MAX_LAYERS}, the depths a blob can have");
    }
}

/// `text` as comma-separated counts in the form `form` (as many as it has letters), read from
/// the variable `var`.
fn parse_counts<const K: usize>(text: &str, var: &str, form: &str) -> [usize; K] {
    let numbers: Vec<usize> = text
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{var}={text:?} is not {form}"))
        })
        .collect();
    numbers
        .try_into()
        .unwrap_or_else(|_| panic!("{var}={text:?} is not {form}"))
}
