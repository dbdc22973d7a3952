//! `cargo xtask inspect`: the fields it prints for the shipped blobs, and a clear error with a
//! non-zero exit for a corrupt one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn inspect(file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("inspect")
        .arg(file)
        .output()
        .unwrap()
}

/// The value printed after `key:` (the first such line).
fn field<'a>(stdout: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}:");
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no `{key}:` line in\n{stdout}"))
        .trim()
}

#[test]
fn inspects_the_default_trajectory_blob() {
    let path = root().join("firmware/blobs/default.postcard");
    let out = inspect(&path);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    // The blob of firmware/blobs/README.md.
    assert_eq!(field(&text, "kind"), "trajectory (payload 1)");
    assert_eq!(field(&text, "scalar"), "f32");
    assert!(field(&text, "networks").starts_with("signed, tanh, hidden widths [16, 16] (depth 2)"));
    assert_eq!(field(&text, "interval"), "[0, 2]");
    assert_eq!(field(&text, "start x0"), "[0, 0.5, -1]");
    assert_eq!(field(&text, "end xT"), "[1, -0.25, 2]");
    assert_eq!(field(&text, "via-points"), "1");
    assert_eq!(field(&text, "  via 0"), "t = 0.7, x = [0.8, 0.1, 0]");
    assert_eq!(field(&text, "outside"), "hold");
    let bytes = std::fs::read(&path).unwrap();
    let trailer = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap());
    assert_eq!(
        field(&text, "size"),
        format!("{} bytes, CRC-32 {trailer:#010x} (checked)", bytes.len())
    );
    assert_eq!(field(&text, "capacity"), "D = 3, W = 16, L = 2, V = 1");
    assert_eq!(
        field(&text, "player RAM"),
        "3964 bytes on a 32-bit target (size_of the player)"
    );
    assert_eq!(
        field(&text, "type line"),
        "pub type Player = finn_embedded::TrajectoryPlayer<3, 16, 2, 1>;"
    );
}

#[test]
fn inspects_the_figure1_model_blob() {
    let out = inspect(&root().join("results/figure1/eps2.postcard"));
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        field(&text, "kind"),
        "model (payload 0), played by the fit application"
    );
    assert_eq!(field(&text, "scalar"), "f64");
    assert!(
        field(&text, "network").starts_with("positive, sigma, 2 inputs, hidden widths [16, 16]")
    );
    assert_eq!(field(&text, "domain"), "[-3, -3] to [3, 3]");
    assert!(field(&text, "constraint").starts_with("integral over the domain = 2, by scale"));
    assert_eq!(field(&text, "player"), "finn_embedded::FitPlayer<2, 16, 2>");
    // results/device.md measured this player on the device: 1404 bytes.
    assert_eq!(
        field(&text, "player RAM"),
        "1404 bytes on a 32-bit target (size_of the player)"
    );
}

#[test]
fn a_corrupt_blob_is_a_clear_error() {
    let mut bytes = std::fs::read(root().join("firmware/blobs/default.postcard")).unwrap();
    bytes[100] ^= 0x01;
    let dir = std::env::temp_dir().join(format!("xtask-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("flipped.postcard");
    std::fs::write(&path, &bytes).unwrap();
    let out = inspect(&path);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!(
            "the blob {} is not a valid finn blob",
            path.display()
        )),
        "{err}"
    );
    assert!(err.contains("CRC mismatch"), "{err}");
}

/// The example firmware ships a copy of the firmware's default blob (its README says so).
#[test]
fn the_examples_blob_is_the_default_blob() {
    let example =
        std::fs::read(root().join("examples/cortex-m4f-player/blobs/trajectory.postcard"));
    let default = std::fs::read(root().join("firmware/blobs/default.postcard")).unwrap();
    assert_eq!(example.unwrap(), default);
}
