//! Links with cortex-m-rt's `link.x` (and `memory.x`), embeds the blob, and selects the
//! workload that plays it.
//!
//! The blob comes from the file named by the environment variable `FINN_BLOB` (a path relative
//! to this directory, or absolute), by default `blobs/default.postcard`. It is copied to
//! `$OUT_DIR/blob.postcard`, which the workload embeds with `include_bytes!`.
//!
//! The blob's payload selects the workload, as the cfg `finn_workload`:
//!
//! - a trajectory blob (payload 1): `finn_workload = "trajectory"`, `src/trajectory.rs`;
//! - a model blob (payload 0, the fit application): `finn_workload = "fit"`, `src/fit.rs`.
//!
//! The player's compile-time capacity is taken from the blob itself, so any valid blob fits
//! exactly, and written to `$OUT_DIR/capacity.rs`: for a trajectory D, the widest layer, the
//! depth and the via-point count; for a model N (inputs), the widest layer and the depth.
//!
//! A blob that does not decode here (a deliberately corrupt one, for the error path) gets the
//! trajectory workload with the default capacity of the default blob, and the firmware reports
//! the typed load error at run time; except when it still opens like a model blob (the magic
//! and a payload byte 0 intact, say a flipped bit further on), which gets the fit workload
//! with [`DEFAULT_FIT_CAPACITY`], so that the fit player reports the error.
//!
//! `FINN_CAPACITY=D,W,L,V` overrides a trajectory player's capacity, `FINN_FIT_CAPACITY=N,W,L`
//! a fit player's (to exercise a capacity mismatch); each is refused for a blob of the other
//! workload. `FINN_SAMPLES` sets the number of samples played (default 64).

use finn_core::format::{decode_any, Blob, MAGIC, MIN_LEN, PREFIX_LEN};
use std::{env, fs, path::PathBuf};

/// The capacity of the default blob: 3 coordinates, 2 hidden layers of 16, 1 via-point.
const DEFAULT_CAPACITY: [usize; 4] = [3, 16, 2, 1];
/// The fit player's capacity for a model blob that does not decode: 2 inputs, 2 hidden
/// layers of 16 (the shape of `results/figure1/eps2.postcard`).
const DEFAULT_FIT_CAPACITY: [usize; 3] = [2, 16, 2];
/// Samples played when `FINN_SAMPLES` is not set.
const DEFAULT_SAMPLES: usize = 64;
/// The byte that opens the body of a model blob: the payload field, postcard's varint of
/// enum index 0 (`Model`; see `docs/model-format.md`).
const MODEL_PAYLOAD_BYTE: u8 = 0;

/// The workload the blob selects, and its player's capacity.
enum Workload {
    /// `[D, W, L, V]`.
    Trajectory([usize; 4]),
    /// `[N, W, L]`.
    Fit([usize; 3]),
}

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("memory.x", out.join("memory.x")).expect("copying memory.x to OUT_DIR");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(finn_workload, values(\"trajectory\", \"fit\"))");
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
    let blob = fs::read(&blob_path)
        .unwrap_or_else(|e| panic!("reading the blob {}: {e}", blob_path.display()));
    fs::write(out.join("blob.postcard"), &blob).expect("writing the blob to OUT_DIR");

    let workload = match decode_any(&blob) {
        Ok(Blob::Trajectory(view)) => Workload::Trajectory([
            view.coordinates(),
            view.widths().iter().copied().max().unwrap_or(1),
            view.widths().len(),
            view.via_times().len(),
        ]),
        Ok(Blob::Model(view)) => Workload::Fit([
            view.n(),
            view.widths().iter().copied().max().unwrap_or(1),
            view.widths().len(),
        ]),
        // A payload this firmware has no workload for: the trajectory player refuses it.
        Ok(_) => Workload::Trajectory(DEFAULT_CAPACITY),
        Err(e) => {
            println!(
                "cargo:warning=the blob {} does not decode ({e}); the firmware will report it \
                 at run time",
                blob_path.display()
            );
            if names_model_payload(&blob) {
                Workload::Fit(DEFAULT_FIT_CAPACITY)
            } else {
                Workload::Trajectory(DEFAULT_CAPACITY)
            }
        }
    };
    let trajectory_capacity = env::var("FINN_CAPACITY").ok();
    let fit_capacity = env::var("FINN_FIT_CAPACITY").ok();
    let workload = match workload {
        Workload::Trajectory(capacity) => {
            if let Some(text) = fit_capacity {
                panic!(
                    "FINN_FIT_CAPACITY={text:?} sizes a fit player, but {} is played by the \
                     trajectory workload (use FINN_CAPACITY=D,W,L,V)",
                    blob_path.display()
                );
            }
            Workload::Trajectory(match trajectory_capacity {
                Some(text) => parse_counts(&text, "FINN_CAPACITY", "D,W,L,V"),
                None => capacity,
            })
        }
        Workload::Fit(capacity) => {
            if let Some(text) = trajectory_capacity {
                panic!(
                    "FINN_CAPACITY={text:?} sizes a trajectory player, but {} is a model blob, \
                     played by the fit workload (use FINN_FIT_CAPACITY=N,W,L)",
                    blob_path.display()
                );
            }
            Workload::Fit(match fit_capacity {
                Some(text) => parse_counts(&text, "FINN_FIT_CAPACITY", "N,W,L"),
                None => capacity,
            })
        }
    };
    let samples = match env::var("FINN_SAMPLES") {
        Ok(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n >= 1)
            .unwrap_or_else(|| panic!("FINN_SAMPLES={text:?} is not a count >= 1")),
        Err(_) => DEFAULT_SAMPLES,
    };
    let capacity = match workload {
        Workload::Trajectory([d, w, l, v]) => {
            println!("cargo:rustc-cfg=finn_workload=\"trajectory\"");
            format!(
                "/// Coordinates D.\npub const D: usize = {d};\n\
                 /// Widest hidden layer W.\npub const W: usize = {w};\n\
                 /// Most hidden layers L.\npub const L: usize = {l};\n\
                 /// Most via-points V.\npub const V: usize = {v};\n\
                 /// Samples played, N.\npub const SAMPLES: usize = {samples};\n"
            )
        }
        Workload::Fit([n, w, l]) => {
            println!("cargo:rustc-cfg=finn_workload=\"fit\"");
            format!(
                "/// Inputs N.\npub const N: usize = {n};\n\
                 /// Widest hidden layer W.\npub const W: usize = {w};\n\
                 /// Most hidden layers L.\npub const L: usize = {l};\n\
                 /// Points evaluated.\npub const SAMPLES: usize = {samples};\n"
            )
        }
    };
    fs::write(out.join("capacity.rs"), capacity).expect("writing capacity.rs");
}

/// Whether a blob that does not decode still opens like a model blob: the magic, the length of
/// a framed blob, and the model payload byte right after the prefix. (The version is left to
/// the player to refuse.)
fn names_model_payload(blob: &[u8]) -> bool {
    blob.len() >= MIN_LEN && blob.starts_with(&MAGIC) && blob[PREFIX_LEN] == MODEL_PAYLOAD_BYTE
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
