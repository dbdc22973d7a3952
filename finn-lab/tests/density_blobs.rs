//! The shipped density blobs are what their generators write (`firmware/blobs/README.md`):
//! `firmware/blobs/density.postcard` is `reference_density_blob()` and
//! `finn-embedded/tests/data/density.postcard` is `doc_density_blob()`. `FINN_BLESS=1` rewrites
//! them.

use finn_lab::device::{density_blob_path, doc_density_blob, reference_density_blob};
use std::path::Path;

fn check(path: &Path, fresh: Vec<u8>) {
    if std::env::var_os("FINN_BLESS").is_some() {
        std::fs::write(path, &fresh).unwrap();
    }
    let stored = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        stored == fresh,
        "{} is not its generator's output: rerun with FINN_BLESS=1 to rewrite it",
        path.display()
    );
}

#[test]
fn firmware_density_blob_is_the_reference_density_blob() {
    check(&density_blob_path(), reference_density_blob().unwrap());
}

#[test]
fn example_density_blob_is_the_doc_density_blob() {
    let path = finn_lab::workspace_root().join("finn-embedded/tests/data/density.postcard");
    check(&path, doc_density_blob().unwrap());
}
