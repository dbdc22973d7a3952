//! Links with cortex-m-rt's `link.x` (and `memory.x`), and embeds the trajectory blob.
//!
//! The blob comes from the file named by the environment variable `FINN_BLOB` (a path relative
//! to this directory, or absolute), by default `blobs/default.postcard`. It is copied to
//! `$OUT_DIR/blob.postcard`, which `src/trajectory.rs` embeds with `include_bytes!`.
//!
//! The player's compile-time capacity is taken from the blob itself, so any valid trajectory
//! fits exactly: D, the widest layer, the depth and the via-point count, written to
//! `$OUT_DIR/capacity.rs`. A blob that does not decode here (a deliberately corrupt one, for the
//! error path) gets the default capacity of the default blob, and the firmware reports the
//! typed load error at run time. `FINN_CAPACITY=D,W,L,V` overrides the capacity (to exercise a
//! capacity mismatch). `FINN_SAMPLES` sets the number of samples played (default 64).

use std::{env, fs, path::PathBuf};

/// The capacity of the default blob: 3 coordinates, 2 hidden layers of 16, 1 via-point.
const DEFAULT_CAPACITY: [usize; 4] = [3, 16, 2, 1];
/// Samples played when `FINN_SAMPLES` is not set.
const DEFAULT_SAMPLES: usize = 64;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("memory.x", out.join("memory.x")).expect("copying memory.x to OUT_DIR");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    for var in ["FINN_BLOB", "FINN_CAPACITY", "FINN_SAMPLES"] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let blob_path = env::var_os("FINN_BLOB")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("blobs/default.postcard"));
    println!("cargo:rerun-if-changed={}", blob_path.display());
    let blob = fs::read(&blob_path)
        .unwrap_or_else(|e| panic!("reading the blob {}: {e}", blob_path.display()));
    fs::write(out.join("blob.postcard"), &blob).expect("writing the blob to OUT_DIR");

    let capacity = match env::var("FINN_CAPACITY") {
        Ok(text) => parse_capacity(&text),
        Err(_) => match finn_core::format::decode_trajectory(&blob) {
            Ok(view) => [
                view.coordinates(),
                view.widths().iter().copied().max().unwrap_or(1),
                view.widths().len(),
                view.via_times().len(),
            ],
            Err(e) => {
                println!(
                    "cargo:warning=the blob {} does not decode ({e}); the firmware will report \
                     it at run time",
                    blob_path.display()
                );
                DEFAULT_CAPACITY
            }
        },
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
    let [d, w, l, v] = capacity;
    fs::write(
        out.join("capacity.rs"),
        format!(
            "/// Coordinates D.\npub const D: usize = {d};\n\
             /// Widest hidden layer W.\npub const W: usize = {w};\n\
             /// Most hidden layers L.\npub const L: usize = {l};\n\
             /// Most via-points V.\npub const V: usize = {v};\n\
             /// Samples played, N.\npub const SAMPLES: usize = {samples};\n"
        ),
    )
    .expect("writing capacity.rs");
}

/// `D,W,L,V`, four counts.
fn parse_capacity(text: &str) -> [usize; 4] {
    let numbers: Vec<usize> = text
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("FINN_CAPACITY={text:?} is not D,W,L,V"))
        })
        .collect();
    match numbers[..] {
        [d, w, l, v] => [d, w, l, v],
        _ => panic!("FINN_CAPACITY={text:?} is not D,W,L,V"),
    }
}
