//! The firmware on the emulated device (QEMU `mps2-an386`, Cortex-M4F).
//!
//! These tests need the `thumbv7em-none-eabihf` target and `qemu-system-arm`; `cargo xtask test`
//! installs both first, and without them the tests fail with a message naming
//! `cargo xtask setup`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use xtask::qemu::{self, Run};

/// The firmware ELF, built once for all tests in this file.
fn firmware() -> PathBuf {
    static ELF: OnceLock<PathBuf> = OnceLock::new();
    ELF.get_or_init(|| qemu::build_firmware().unwrap_or_else(|e| panic!("{e:#}")))
        .clone()
}

/// Runs the firmware to completion, failing the test unless it exits with success.
fn run_firmware() -> Run {
    let run = qemu::run(&firmware(), qemu::DEFAULT_TIMEOUT).unwrap_or_else(|e| panic!("{e:#}"));
    run.check_success().unwrap_or_else(|e| panic!("{e:#}"));
    run
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

/// The bit-for-bit comparison below is only meaningful when both sides run the same `libm`.
#[test]
fn firmware_and_host_lock_the_same_libm() {
    let host = locked_libm_version(&qemu::workspace_root().join("Cargo.lock"));
    let device = locked_libm_version(&qemu::firmware_dir().join("Cargo.lock"));
    assert_eq!(
        host, device,
        "Cargo.lock and firmware/Cargo.lock pin different libm versions"
    );
}

#[test]
fn device_erff_matches_host_bit_for_bit() {
    let run = run_firmware();
    let mut inputs = Vec::new();
    for record in run.records_with_key("erff") {
        let [input, output] = record.fields[..] else {
            panic!("malformed erff line: {record:?}");
        };
        let input = qemu::parse_hex_u32(input).unwrap();
        let output = qemu::parse_hex_u32(output).unwrap();
        let x = f32::from_bits(input);
        let host = libm::erff(x).to_bits();
        assert_eq!(
            output,
            host,
            "erff({x:e}) [{input:#010x}]: device {output:#010x} ({:e}), host {host:#010x} ({:e})",
            f32::from_bits(output),
            f32::from_bits(host)
        );
        assert!((-4.0..=4.0).contains(&x), "input {x} outside [-4, 4]");
        inputs.push(input);
    }
    assert_eq!(inputs.len(), 64, "expected 64 erff results");
    inputs.sort_unstable();
    inputs.dedup();
    assert_eq!(inputs.len(), 64, "the 64 inputs are not distinct");
}

#[test]
fn device_cost_is_deterministic() {
    let first = run_firmware().cost().unwrap();
    let second = run_firmware().cost().unwrap();
    assert!(first.ticks > 0, "no ticks measured: {first:?}");
    assert_eq!(first.calls(), 64 * first.runs);
    assert_eq!(
        first, second,
        "two runs of the same firmware cost differently"
    );
}
