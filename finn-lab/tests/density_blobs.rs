//! The shipped density blobs are what their generators write (`firmware/blobs/README.md`):
//! `firmware/blobs/density.postcard` is `reference_density_blob()` and
//! `finn-embedded/tests/data/density.postcard` is `doc_density_blob()`;
//! `finn-embedded/tests/data/density_mixture.postcard` and `density_mixture_real.postcard` are
//! `doc_density_mixture_blob()` and `doc_density_mixture_real_blob()`. `FINN_BLESS=1` rewrites
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

#[test]
fn example_density_mixture_blobs_are_their_generators_output() {
    use finn_lab::device::{doc_density_mixture_blob, doc_density_mixture_real_blob};
    let data = finn_lab::workspace_root().join("finn-embedded/tests/data");
    check(
        &data.join("density_mixture.postcard"),
        doc_density_mixture_blob().unwrap(),
    );
    check(
        &data.join("density_mixture_real.postcard"),
        doc_density_mixture_real_blob().unwrap(),
    );
}

/// The hostile-input campaign over the two density blobs alone: every mutant is refused with a
/// typed error or loads and works over its whole support (pdf, log-pdf, CDF, samples), in f64,
/// in f32 and in the fit and density players; some mutants load.
#[test]
fn mutated_density_blobs_are_refused_or_work() {
    use finn_lab::fuzz::{self, Campaign};
    let blobs = vec![
        (density_blob_path(), reference_density_blob().unwrap()),
        (
            "finn-embedded/tests/data/density.postcard".into(),
            doc_density_blob().unwrap(),
        ),
    ];
    let campaign = Campaign {
        seed: 2026,
        cases: 300,
        limit: std::time::Duration::from_secs(600),
        threads: 2,
    };
    let summary = fuzz::run(&campaign, &blobs, &|_| {});
    let report = summary.markdown(&campaign, &blobs);
    assert!(summary.failures.is_empty(), "{report}");
    assert_eq!(summary.cases, 300);
    assert!(summary.accepted > 0, "{report}");
    assert!(
        summary.rejected.keys().any(|k| k == "Core"),
        "some mutants are refused by the content checks: {report}"
    );
}

/// The same campaign over the two density mixture blobs: every mutant is refused with a typed
/// error or loads and works (pdf, log-pdf, CDF, total probability, samples) in f64, in f32 and
/// in the mixture player; no single-network player loads one; some mutants load.
#[test]
fn mutated_density_mixture_blobs_are_refused_or_work() {
    use finn_lab::device::{doc_density_mixture_blob, doc_density_mixture_real_blob};
    use finn_lab::fuzz::{self, Campaign};
    let blobs = vec![
        (
            "finn-embedded/tests/data/density_mixture.postcard".into(),
            doc_density_mixture_blob().unwrap(),
        ),
        (
            "finn-embedded/tests/data/density_mixture_real.postcard".into(),
            doc_density_mixture_real_blob().unwrap(),
        ),
    ];
    let campaign = Campaign {
        seed: 2027,
        cases: 300,
        limit: std::time::Duration::from_secs(600),
        threads: 2,
    };
    let summary = fuzz::run(&campaign, &blobs, &|_| {});
    let report = summary.markdown(&campaign, &blobs);
    assert!(summary.failures.is_empty(), "{report}");
    assert_eq!(summary.cases, 300);
    assert!(summary.accepted > 0, "{report}");
}
