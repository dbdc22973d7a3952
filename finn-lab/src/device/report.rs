//! The `cargo xtask device` report (`results/device.md`): builds the firmware and its baseline
//! without the player, runs it twice, checks that both runs cost the same and that the device
//! meets the trajectory's end states exactly, and sets the figures against the goals.

use super::elf::{section_sizes, text_by_crate, text_by_source_crate, SectionSizes};
use super::firmware::{build_firmware, build_firmware_with, FirmwareOptions};
use super::run::{qemu_command_line, run, Cost, DeviceSample, Run};
use super::{default_blob_path, DEFAULT_TIMEOUT, DEVICE_TARGET, INSTRUCTIONS_PER_TICK, QEMU};
use crate::{setup, workspace_root};
use anyhow::{ensure, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// The report, relative to the workspace root.
pub const REPORT: &str = "results/device.md";

/// What the device run showed about the embedded trajectory.
struct Playback {
    /// D, the widths, the activation, the via-point count and the stored scalar.
    description: String,
    /// The blob's length in bytes.
    blob_bytes: usize,
    /// Whether the first and last samples equal x0 and xT in f32, bit for bit.
    ends_exact: bool,
    /// Samples the device printed.
    samples: usize,
    /// Whether the blob is `finn_train::trajectory::blob::reference_blob()`.
    is_reference: bool,
}

/// Checks the default run's samples against the blob's end states.
fn playback(run: &Run, blob: &[u8]) -> Result<Playback> {
    let view = finn_core::format::decode_trajectory(blob)
        .map_err(|e| anyhow::anyhow!("the default blob does not decode: {e}"))?;
    let d = view.coordinates();
    let samples = run.samples(d)?;
    let bits = |x: &[f64]| x.iter().map(|&v| (v as f32).to_bits()).collect::<Vec<_>>();
    let position = |s: Option<&DeviceSample>| -> Option<Vec<u32>> {
        s.and_then(|s| s.outcome.as_ref().ok())
            .map(|b| b.position.clone())
    };
    let ends_exact = position(samples.first()) == Some(bits(view.start()))
        && position(samples.last()) == Some(bits(view.end()));
    let reference = finn_train::trajectory::blob::reference_blob()
        .map_err(|e| anyhow::anyhow!("building the reference blob: {e}"))?;
    Ok(Playback {
        description: format!(
            "D = {d} coordinates, hidden widths {:?}, {:?}, {} via-point(s), parameters stored as {:?}",
            view.widths(),
            view.activation(),
            view.via_times().len(),
            view.scalar()
        ),
        blob_bytes: blob.len(),
        ends_exact,
        samples: samples.len(),
        is_reference: reference == blob,
    })
}

/// Installs what is missing ([`setup::ensure_all`]), builds the firmware (and its baseline
/// without the player), runs it twice, checks that both runs cost the same and that the device
/// meets the end states exactly, and returns the Markdown report (for [`REPORT`]). Progress
/// goes to standard error.
pub fn measure() -> Result<String> {
    setup::ensure_all()?;
    eprintln!("xtask: building the firmware (release, {DEVICE_TARGET})");
    let elf = build_firmware()?;
    eprintln!("xtask: building the baseline firmware (no player)");
    let baseline = build_firmware_with(
        &FirmwareOptions {
            baseline: true,
            ..FirmwareOptions::default()
        },
        "baseline",
    )?;
    let sizes = section_sizes(&elf)?;
    let baseline_sizes = section_sizes(&baseline)?;
    let by_crate = text_by_crate(&elf)?;
    let by_source = text_by_source_crate(&elf)?;
    let mut costs = Vec::new();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let run = run(&elf, DEFAULT_TIMEOUT)?;
        run.check_success()?;
        costs.push(run.cost()?);
        runs.push(run);
    }
    ensure!(
        costs[0] == costs[1],
        "two runs of the same firmware reported different costs: {:?} and {:?}",
        costs[0],
        costs[1]
    );
    let blob = std::fs::read(default_blob_path())?;
    let playback = playback(&runs[0], &blob)?;
    ensure!(
        playback.ends_exact,
        "the device's first and last samples are not x0 and xT bit for bit"
    );
    device_report(
        &elf,
        &sizes,
        &baseline_sizes,
        &by_crate,
        by_source.as_ref(),
        &costs[0],
        &playback,
    )
}

/// Instructions per sample: at most this is the goal ...
const GOAL_INSTRUCTIONS: f64 = 20_000.0;
/// ... and this the stretch goal.
const STRETCH_INSTRUCTIONS: f64 = 10_000.0;
/// `.text` of finn-core + finn-embedded, bytes.
const GOAL_TEXT: u64 = 16 * 1024;
/// Stack high-water mark, bytes.
const GOAL_STACK: u64 = 4 * 1024;

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}

/// The Markdown report of `cargo xtask device`.
fn device_report(
    elf: &Path,
    sizes: &SectionSizes,
    baseline: &SectionSizes,
    by_crate: &BTreeMap<String, u64>,
    by_source: Option<&BTreeMap<String, u64>>,
    cost: &Cost,
    playback: &Playback,
) -> Result<String> {
    let root = workspace_root();
    let shown_elf = elf.strip_prefix(&root).unwrap_or(elf);
    let finn = |table: &BTreeMap<String, u64>| {
        ["finn_core", "finn_embedded"]
            .iter()
            .map(|c| table.get(*c).copied().unwrap_or(0))
            .sum::<u64>()
    };
    let (finn_text, finn_how) = match by_source {
        Some(table) => (finn(table), "source lines"),
        None => (finn(by_crate), "symbols; understated, see below"),
    };
    let per_sample = cost.instructions_per_call();
    let text_delta = sizes.get(".text").saturating_sub(baseline.get(".text"));
    let mut md = String::new();
    writeln!(md, "# Device measurements\n")?;
    writeln!(
        md,
        "Produced by `cargo xtask device`, which builds `firmware/` in release for \
         `{DEVICE_TARGET}` (and once more with `--features baseline`, the same firmware \
         without the player), and runs it twice (both runs reported the same figures):\n"
    )?;
    writeln!(md, "```sh\n{}\n```\n", qemu_command_line(shown_elf))?;
    writeln!(md, "Emulator: {}.\n", qemu_version())?;
    writeln!(
        md,
        "Under `-icount shift=0` every guest instruction is 1 ns and SysTick ticks on the 25 MHz \
         core clock, so a tick is {INSTRUCTIONS_PER_TICK} instructions and the counts are \
         deterministic.\n"
    )?;
    writeln!(md, "## Workload: trajectory playback\n")?;
    writeln!(
        md,
        "The firmware embeds `firmware/blobs/default.postcard` ({} bytes{}): {}. \
         `finn_embedded::TrajectoryPlayer` checks it and converts it to `f32` once, then \
         evaluates position, velocity and acceleration (`kinematics`) at {} times evenly spaced over \
         [t0, T]. The device's first and last samples {} x0 and xT bit for bit (endpoint \
         error {}).\n",
        playback.blob_bytes,
        if playback.is_reference {
            ", `finn_train::trajectory::blob::reference_blob()`"
        } else {
            ""
        },
        playback.description,
        playback.samples,
        if playback.ends_exact {
            "equal"
        } else {
            "do **not** equal"
        },
        if playback.ends_exact { "0" } else { "non-zero" },
    )?;
    writeln!(md, "| figure | value | goal |\n| --- | --- | --- |")?;
    writeln!(
        md,
        "| instructions per sample | {per_sample:.0} | <= {GOAL_INSTRUCTIONS:.0} ({}), stretch <= {STRETCH_INSTRUCTIONS:.0} ({}) |",
        verdict(per_sample <= GOAL_INSTRUCTIONS),
        verdict(per_sample <= STRETCH_INSTRUCTIONS)
    )?;
    writeln!(
        md,
        "| `.text` of finn-core + finn-embedded ({finn_how}) | {finn_text} bytes ({:.1} KiB) | <= 16 KiB ({}) |",
        finn_text as f64 / 1024.0,
        verdict(finn_text <= GOAL_TEXT)
    )?;
    writeln!(
        md,
        "| stack high-water mark, playback | {} bytes | <= 4 KiB ({}) |",
        cost.stack_bytes,
        verdict(cost.stack_bytes <= GOAL_STACK)
    )?;
    writeln!(
        md,
        "| stack high-water mark, reset through loading | {} bytes | <= 4 KiB ({}) |",
        cost.stack_load_bytes,
        verdict(cost.stack_load_bytes <= GOAL_STACK)
    )?;
    writeln!(
        md,
        "| `.text` the player adds (normal build - baseline build) | {text_delta} bytes ({:.1} KiB) | |",
        text_delta as f64 / 1024.0
    )?;
    writeln!(md, "| total `.text` | {} bytes | |", sizes.get(".text"))?;
    writeln!(
        md,
        "| static RAM (`.data` + `.bss` + `.uninit`) | {} bytes | |",
        sizes.static_ram()
    )?;
    writeln!(
        md,
        "| loading the blob (check + f32 conversion + via-point solve) | {} instructions | |",
        cost.load_ticks * INSTRUCTIONS_PER_TICK
    )?;
    writeln!(
        md,
        "| samples measured | {} ({} runs of {}), {} ticks, {} instructions | |\n",
        cost.calls(),
        cost.runs,
        cost.calls_per_run,
        cost.ticks,
        cost.instructions
    )?;
    writeln!(
        md,
        "The playback stack is measured after painting the stack again below `main`'s frame \
         once the player is loaded; it is counted from the top of the stack. The player loads \
         in place into a const-initialised static (`TrajectoryPlayer::unloaded` + `reload`); \
         the deepest point of loading is in decoding the blob's body: a hardware watchpoint \
         on the deepest stack word (QEMU gdbstub) stops in postcard/serde's visitor chain \
         moving the body's fixed-size `f64` arrays (`Seq<f64, N>`) through `Result`s. \
         Decoding the body into borrowed slices, without serde's by-value arrays, is the fix.\n"
    )?;
    writeln!(md, "## `.text` by crate\n")?;
    writeln!(
        md,
        "Two attributions of the same `.text`. *Source*: each instruction counts for the crate \
         of its innermost inlined source frame outside `core` (DWARF line tables, through \
         `llvm-objdump` and `llvm-addr2line`), so finn-core code that LTO inlined into a \
         firmware function still counts for finn-core, and `core`'s generic helpers count for \
         the crate that used them. *Symbols*: each function counts for the first crate its \
         mangled name mentions, wherever its body came from; with LTO the firmware's \
         `Workload::load` and `main` hold most of the inlined loader and sampler. `libm`, \
         `postcard`, `serde` and `crc` are finn-core's own dependencies; `compiler_builtins` \
         holds the soft-float `f64` helpers the blob checks use.\n"
    )?;
    let mut names: Vec<&String> = by_crate
        .keys()
        .chain(by_source.into_iter().flat_map(|t| t.keys()))
        .collect();
    names.sort();
    names.dedup();
    let source_of = |name: &String| by_source.and_then(|t| t.get(name)).copied().unwrap_or(0);
    names.sort_by_key(|name| {
        std::cmp::Reverse((source_of(name), by_crate.get(*name).copied().unwrap_or(0)))
    });
    writeln!(
        md,
        "| crate | bytes (source) | bytes (symbols) |\n| --- | --- | --- |"
    )?;
    for name in names {
        let source = match by_source {
            Some(t) => t.get(name).copied().unwrap_or(0).to_string(),
            None => "(llvm tools not found)".into(),
        };
        writeln!(
            md,
            "| `{name}` | {source} | {} |",
            by_crate.get(name).copied().unwrap_or(0)
        )?;
    }
    writeln!(md)?;
    writeln!(md, "## Firmware image\n")?;
    writeln!(
        md,
        "| section | bytes | baseline (no player) |\n| --- | --- | --- |"
    )?;
    for name in [
        ".vector_table",
        ".text",
        ".rodata",
        ".data",
        ".bss",
        ".uninit",
    ] {
        writeln!(
            md,
            "| `{name}` | {} | {} |",
            sizes.get(name),
            baseline.get(name)
        )?;
    }
    writeln!(
        md,
        "| code memory (vector table + text + rodata + data) | {} | {} |",
        sizes.flash(),
        baseline.flash()
    )?;
    writeln!(
        md,
        "| static RAM (data + bss + uninit) | {} | {} |",
        sizes.static_ram(),
        baseline.static_ram()
    )?;
    Ok(md)
}

/// The first line of `qemu-system-arm --version`.
fn qemu_version() -> String {
    Command::new(QEMU)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| format!("{QEMU} (version unknown)"))
}
