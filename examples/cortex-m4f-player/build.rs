//! Links with cortex-m-rt's `link.x` (which includes `memory.x`) and embeds the trajectory blob
//! with the player sized exactly for it.
//!
//! `finn_embedded::build::embed` reads the blob, checks it completely (a corrupt or truncated
//! blob fails this build, naming the file and the problem) and writes
//! `$OUT_DIR/finn_player.rs`: the blob as `BLOB`, the `Player` type of exactly its capacity,
//! and `PLAYER_BYTES`, the RAM the player takes. `src/main.rs` includes it.
//!
//! The blob is `blobs/trajectory.postcard` unless the environment variable `FINN_BLOB` names
//! another file (relative to this directory, or absolute).

use std::{env, fs, path::PathBuf};

/// The blob played when `FINN_BLOB` is not set.
const DEFAULT_BLOB: &str = "blobs/trajectory.postcard";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // The linker finds memory.x in OUT_DIR, so a change to it relinks.
    fs::copy("memory.x", out.join("memory.x")).expect("copying memory.x to OUT_DIR");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=FINN_BLOB");

    let blob = env::var_os("FINN_BLOB")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BLOB));
    let embedded = finn_embedded::build::embed(&blob).unwrap_or_else(|e| panic!("{e}"));
    // The firmware plays trajectories; a model blob (the fit application) needs a FitPlayer.
    assert_eq!(
        embedded.capacity().kind(),
        "trajectory",
        "{} is not a trajectory blob",
        blob.display()
    );
}
