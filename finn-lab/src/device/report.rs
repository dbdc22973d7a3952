//! The `cargo xtask device` report (`results/device.md`): builds the firmware and its baseline
//! without the player, runs it twice, checks that both runs cost the same and that the device
//! meets the trajectory's end states exactly, and sets the figures against the goals; then the
//! fit workload on the Figure 1 model ([`FIT_BLOB`]): its cost per evaluation of f, with every
//! value the device printed checked against the host's player bit for bit; and the density
//! workload on `firmware/blobs/density.postcard`: its cost per pdf, CDF, box probability and
//! sample, every value checked against the host's `DensityPlayer` bit for bit; and the
//! deviation workload on `firmware/blobs/deviation.postcard` (the Figure 2 model): its cost
//! per phi evaluation, every value checked against the host's `DeviationPlayer` bit for bit
//! (`report/deviation.rs`); and the density mixture workload on
//! `firmware/blobs/density-mixture.postcard` (the trained moons mixture): its cost per pdf,
//! CDF, box probability and sample, every value checked against the host's
//! `DensityMixturePlayer` bit for bit (`report/mixture.rs`); and the soft-Q workload on
//! `firmware/blobs/softq-pendulum.postcard`: one pendulum closed-loop episode, its cost per
//! action, checked against the host's episode bit for bit (`report/softq.rs`).

mod deviation;
mod mixture;
mod softq;

use super::density::{check_density_run, DensityCheck, Phase};
use super::elf::{
    section_sizes, statics_named, text_by_crate, text_by_source_crate, SectionSizes, StaticObject,
};
use super::firmware::{build_firmware, build_firmware_with, FirmwareOptions};
use super::run::{qemu_command_line, run, Cost, DeviceSample, Run};
use super::{
    default_blob_path, density_blob_path, DEFAULT_TIMEOUT, DEVICE_TARGET, INSTRUCTIONS_PER_TICK,
    QEMU,
};
use crate::{setup, workspace_root};
use anyhow::{bail, ensure, Context, Result};
use finn_embedded::FitPlayer;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// The report, relative to the workspace root.
pub const REPORT: &str = "results/device.md";

/// The model blob of the report's fit section, relative to the workspace root: the paper's
/// Figure 1 model for eps = 2 (`cargo xtask figure1`).
pub const FIT_BLOB: &str = "results/figure1/eps2.postcard";

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
    let player = player_static(&elf)?;
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
    let fit = measure_fit()?;
    let density = measure_density(baseline_sizes.get(".text"))?;
    let deviation = deviation::measure_deviation(baseline_sizes.get(".text"))?;
    let mixture = mixture::measure_mixture(baseline_sizes.get(".text"))?;
    let softq = softq::measure_softq(baseline_sizes.get(".text"))?;
    let mut md = device_report(
        &elf,
        &sizes,
        &baseline_sizes,
        &by_crate,
        by_source.as_ref(),
        &costs[0],
        &playback,
        &player,
    )?;
    fit_report(&mut md, &fit)?;
    density_report(&mut md, &density)?;
    deviation::deviation_report(&mut md, &deviation)?;
    mixture::mixture_report(&mut md, &mixture)?;
    softq::softq_report(&mut md, &softq)?;
    Ok(md)
}

/// What the device run of the density workload showed.
struct DensityEvaluation {
    /// n, the widths, the support and the stored scalar.
    description: String,
    /// The blob's length in bytes.
    blob_bytes: usize,
    /// The player's type and size on the device.
    player: String,
    player_bytes: u64,
    player_static: StaticObject,
    /// What was compared with the host.
    check: DensityCheck,
    /// The phases' costs.
    phases: Vec<Phase>,
    /// Stack high-water marks: the deepest phase of the measured run, and reset through
    /// loading.
    stack_bytes: u64,
    stack_load_bytes: u64,
    /// Instructions to check and load the blob (and compute the inputs).
    load_instructions: u64,
    /// `.text` of the density firmware, and of its baseline (same firmware, no player).
    text: u64,
    baseline_text: u64,
}

/// Builds the firmware around `firmware/blobs/density.postcard`, runs it twice (both runs must
/// cost the same), and checks every value the device printed against the host's
/// `DensityPlayer` bit for bit. `baseline_text` is the `.text` of the firmware without a
/// player.
fn measure_density(baseline_text: u64) -> Result<DensityEvaluation> {
    let path = density_blob_path();
    let blob = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let view = finn_core::format::decode_density(&blob)
        .map_err(|e| anyhow::anyhow!("{} is not a density blob: {e}", path.display()))?;
    eprintln!(
        "xtask: building the firmware around firmware/blobs/density.postcard (density workload)"
    );
    let elf = build_firmware_with(
        &FirmwareOptions {
            blob: Some(path.clone()),
            ..FirmwareOptions::default()
        },
        "density",
    )?;
    let mut runs = Vec::new();
    for _ in 0..2 {
        let run = run(&elf, DEFAULT_TIMEOUT)?;
        run.check_success()?;
        runs.push(run);
    }
    let (cost, again) = (runs[0].cost()?, runs[1].cost()?);
    ensure!(
        cost == again && runs[0].phases()? == runs[1].phases()?,
        "two runs of the density firmware reported different costs: {cost:?} and {again:?}"
    );
    let run = &runs[0];
    let check = check_density_run(run, &blob)?;
    ensure!(
        matches!(check, DensityCheck::Evaluated { .. }),
        "the density firmware did not load its blob: {check:?}"
    );
    let [n, w, l] = run.density_capacity()?;
    Ok(DensityEvaluation {
        description: format!(
            "n = {} inputs, hidden widths {:?}, positive sigma_n, support {:?} to {:?}, \
             parameters stored as {:?}",
            view.n(),
            view.widths(),
            view.domain_lower(),
            view.domain_upper(),
            view.scalar()
        ),
        blob_bytes: blob.len(),
        player: format!("DensityPlayer<{n}, {w}, {l}>"),
        player_bytes: run.number("player_bytes")?,
        player_static: player_static(&elf)?,
        check,
        stack_bytes: run
            .phases()?
            .iter()
            .map(|p| p.stack_bytes)
            .max()
            .unwrap_or(0),
        phases: run.phases()?,
        stack_load_bytes: cost.stack_load_bytes,
        load_instructions: cost.load_ticks * INSTRUCTIONS_PER_TICK,
        text: section_sizes(&elf)?.get(".text"),
        baseline_text,
    })
}

/// The report's density section.
fn density_report(md: &mut String, d: &DensityEvaluation) -> Result<()> {
    writeln!(md, "\n## Workload: density evaluation\n")?;
    let DensityCheck::Evaluated {
        points,
        boxes,
        draws,
        ..
    } = d.check
    else {
        bail!("no density evaluation to report");
    };
    writeln!(
        md,
        "The same firmware built around `firmware/blobs/density.postcard` ({} bytes, \
         `finn_lab::device::reference_density_blob()`: fixed, untrained parameters; the cost \
         does not depend on their values): {}. Its payload (2, a density) selects the density \
         workload (`firmware/src/density.rs`): `finn_embedded::{}` ({} bytes, in a static in \
         `{}`) checks the blob and converts it to `f32` once, in place, then evaluates pdf, \
         log-pdf and CDF at {points} Halton points of the support, the probability of {boxes} \
         boxes (half of them open to minus infinity on axis 0, clipped to the support) and \
         {draws} samples from Halton uniforms, each phase timed on its own. Two runs reported \
         the same figures, and every value the device printed equals the host's \
         `DensityPlayer` bit for bit.\n",
        d.blob_bytes, d.description, d.player, d.player_bytes, d.player_static.section,
    )?;
    writeln!(md, "| figure | value |\n| --- | --- |")?;
    for phase in &d.phases {
        let what = match phase.name.as_str() {
            "pdf" => "instructions per pdf",
            "log_pdf" => "instructions per log-pdf",
            "cdf" => "instructions per CDF (a box probability from the support's lower corner)",
            "box" => "instructions per box probability",
            "sample" => "instructions per sample (2-D, sequential inversion)",
            other => other,
        };
        writeln!(
            md,
            "| {what} | {:.0} ({} calls, {} ticks; stack {} bytes) |",
            phase.instructions_per_call(),
            phase.calls,
            phase.ticks,
            phase.stack_bytes
        )?;
    }
    writeln!(
        md,
        "| stack high-water mark, evaluation (the deepest phase) | {} bytes (goal <= 4 KiB: {}) |",
        d.stack_bytes,
        verdict(d.stack_bytes <= GOAL_STACK)
    )?;
    writeln!(
        md,
        "| stack high-water mark, reset through loading | {} bytes (goal <= 4 KiB: {}) |",
        d.stack_load_bytes,
        verdict(d.stack_load_bytes <= GOAL_STACK)
    )?;
    writeln!(
        md,
        "| the player, `{}` | {} bytes, static `{}` in `{}` |",
        d.player,
        d.player_bytes,
        short_path(&d.player_static.path),
        d.player_static.section
    )?;
    writeln!(
        md,
        "| loading the blob (check + f32 conversion + inputs) | {} instructions |",
        d.load_instructions
    )?;
    writeln!(
        md,
        "| `.text` of the density workload's firmware | {} bytes |",
        d.text
    )?;
    writeln!(
        md,
        "| `.text` the density player adds (density build - baseline build) | {} bytes ({:.1} KiB) |\n",
        d.text.saturating_sub(d.baseline_text),
        d.text.saturating_sub(d.baseline_text) as f64 / 1024.0
    )?;
    writeln!(
        md,
        "A pdf is one jet pass of the network (f at one point). A CDF or box probability is F \
         at the 2^n corners of the clipped box with the rigorous error bound of \
         `Finn::integral_over_with_bound`; in `f32` that bound exceeds 64 ulps of the value \
         for almost every box, so the 3-point Gauss-Legendre quadrature with its remainder \
         bound (3^n evaluations of f and the magnitude jets of the sixth derivatives) runs \
         too, and dominates the cost. A sample runs the bracketed Newton inversion of \
         `Density::sample` on each axis: corner sums of the subset partials (2^(n-k) jets per \
         evaluation on axis k), without that bound. Each phase's stack is in its row (the \
         stack painted again before it, counted from the top of the stack); the CDF and box \
         probabilities go deepest, through the quadrature's magnitude jets."
    )?;
    Ok(())
}

/// The firmware's player static (the workload's `PLAYER`), which must be in `.bss`: an
/// unloaded player is all zero bytes, so its static takes no flash and is not copied at
/// start-up. Fails when it is anywhere else (say `.data`, after a field's unloaded value
/// stopped being zero).
fn player_static(elf: &Path) -> Result<StaticObject> {
    let found = statics_named(elf, "PLAYER")?;
    let [player] = found.as_slice() else {
        bail!(
            "expected one static named PLAYER in {}, found {found:?}",
            elf.display()
        );
    };
    ensure!(
        player.section == ".bss",
        "the player's static {} ({} bytes) is in {}, not .bss: its unloaded value is no longer \
         all zero bytes, so its initial image is kept in flash and copied at start-up",
        player.path,
        player.size,
        player.section
    );
    Ok(player.clone())
}

/// What the device run of the fit workload showed.
struct FitEvaluation {
    /// n, the widths, the kind, the activation, the constraint and the stored scalar.
    description: String,
    /// The blob's length in bytes.
    blob_bytes: usize,
    /// The player's type, as the firmware sized it.
    player: String,
    /// `size_of` the player on the device.
    player_bytes: u64,
    /// The player's static in the firmware image.
    player_static: StaticObject,
    /// The constraint's target, if the model has one.
    eps: Option<f64>,
    /// The exact integral over the domain, as the device computed it.
    integral: f32,
    /// Points evaluated and sub-boxes integrated.
    points: usize,
    boxes: usize,
    /// What the evaluations cost.
    cost: Cost,
    /// The firmware's total `.text`.
    text: u64,
}

/// Builds the firmware around [`FIT_BLOB`], runs it twice (both runs must cost the same), and
/// checks every point, F, f and integral the device printed against the host's `FitPlayer`
/// bit for bit.
fn measure_fit() -> Result<FitEvaluation> {
    let path = workspace_root().join(FIT_BLOB);
    let blob = std::fs::read(&path).with_context(|| {
        format!(
            "reading {} (`cargo xtask figure1` writes it)",
            path.display()
        )
    })?;
    let view = finn_core::format::decode(&blob)
        .map_err(|e| anyhow::anyhow!("{FIT_BLOB} is not a model blob: {e}"))?;
    ensure!(view.n() == 2, "{FIT_BLOB} has {} inputs, not 2", view.n());
    eprintln!("xtask: building the firmware around {FIT_BLOB} (fit workload)");
    let elf = build_firmware_with(
        &FirmwareOptions {
            blob: Some(path),
            ..FirmwareOptions::default()
        },
        "fit-eps2",
    )?;
    let mut runs = Vec::new();
    for _ in 0..2 {
        let run = run(&elf, DEFAULT_TIMEOUT)?;
        run.check_success()?;
        runs.push(run);
    }
    let (cost, again) = (runs[0].cost()?, runs[1].cost()?);
    ensure!(
        cost == again,
        "two runs of the fit firmware reported different costs: {cost:?} and {again:?}"
    );
    ensure!(
        cost.workload == "fit",
        "the firmware ran the {} workload",
        cost.workload
    );
    let run = &runs[0];
    let host = FitPlayer::<2, 32, 4>::from_bytes(&blob)
        .map_err(|e| anyhow::anyhow!("the host player refuses {FIT_BLOB}: {e}"))?;
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let (lower, upper) = host.domain();
    ensure!(
        run.domain(2)? == (bits(lower), bits(upper)),
        "the device's domain differs from the host's"
    );
    let samples = run.fit_samples(2)?;
    ensure!(
        samples.len() as u64 == cost.calls_per_run,
        "{} points printed, {} evaluated",
        samples.len(),
        cost.calls_per_run
    );
    for (k, device) in samples.iter().enumerate() {
        let x = host.halton_point(u32::try_from(k)?);
        let f = host
            .integrand(&x)
            .map_err(|e| anyhow::anyhow!("host f at {x:?}: {e}"))?;
        let big_f = host
            .antiderivative(&x)
            .map_err(|e| anyhow::anyhow!("host F at {x:?}: {e}"))?;
        let same = device.index == k
            && device.point == bits(&x)
            && device
                .outcome
                .as_ref()
                .is_ok_and(|v| v.integrand == f.to_bits() && v.antiderivative == big_f.to_bits());
        ensure!(
            same,
            "point {k}: the device printed {device:?}, the host computes x = {x:?}, \
             F = {big_f}, f = {f}"
        );
    }
    let integral = host
        .integral()
        .map_err(|e| anyhow::anyhow!("host integral: {e}"))?;
    ensure!(
        run.fit_integral()? == Ok(integral.to_bits()),
        "the device's integral over the domain differs from the host's {integral}"
    );
    // The sub-boxes' corners are checked against their definition by the device tests
    // (`tests/tests/qemu.rs`); here their integrals are checked against the host's.
    let boxes = run.fit_boxes(2)?;
    ensure!(boxes.len() == 3, "{} sub-boxes printed, not 3", boxes.len());
    let corner = |words: &[u32]| -> Result<[f32; 2]> {
        match words {
            [a, b] => Ok([f32::from_bits(*a), f32::from_bits(*b)]),
            _ => anyhow::bail!("a corner of {} words", words.len()),
        }
    };
    for device in &boxes {
        let (lo, hi) = (corner(&device.lower)?, corner(&device.upper)?);
        let host_value = host.integral_over(&lo, &hi).map(f32::to_bits);
        ensure!(
            device.outcome.as_ref().ok() == host_value.as_ref().ok(),
            "box {}: the device printed {:?}, the host computes {host_value:?}",
            device.index,
            device.outcome
        );
    }
    let [n, w, l] = run.fit_capacity()?;
    Ok(FitEvaluation {
        description: format!(
            "n = {} inputs, hidden widths {:?}, {:?} {:?}, constraint {}, parameters stored as {:?}",
            view.n(),
            view.widths(),
            view.kind(),
            view.activation(),
            match view.constraint() {
                Some(c) => format!("{:?} by {:?} to eps = {}", c.bound, c.method, c.eps),
                None => "none".into(),
            },
            view.scalar()
        ),
        blob_bytes: blob.len(),
        player: format!("FitPlayer<{n}, {w}, {l}>"),
        player_bytes: run.number("player_bytes")?,
        player_static: player_static(&elf)?,
        eps: view.constraint().map(|c| c.eps),
        integral,
        points: samples.len(),
        boxes: boxes.len(),
        cost,
        text: section_sizes(&elf)?.get(".text"),
    })
}

/// The report's fit section.
fn fit_report(md: &mut String, fit: &FitEvaluation) -> Result<()> {
    writeln!(
        md,
        "## Workload: fit evaluation
"
    )?;
    writeln!(
        md,
        "The same firmware built around `{FIT_BLOB}` ({} bytes; the paper's Figure 1 model for \
         eps = 2): {}. The blob's payload selects the fit workload: `finn_embedded::{}` \
         ({} bytes, in a static in `{}`) checks it and converts it to `f32` once, in place, \
         then evaluates f at \
         {} Halton points of the domain (`FitPlayer::halton_point`, computed before the measured \
         region). Two runs reported the same figures. Every point, F, f and exact integral \
         the device printed (over the domain and over {} sub-boxes) equals the host's \
         `FitPlayer` bit for bit; the integral over the domain is {} on the device{}.\n",
        fit.blob_bytes,
        fit.description,
        fit.player,
        fit.player_bytes,
        fit.player_static.section,
        fit.points,
        fit.boxes,
        fit.integral,
        match fit.eps {
            Some(eps) => format!(" (eps = {eps}, up to the rounding of F's vertex sum in `f32`)"),
            None => String::new(),
        }
    )?;
    let cost = &fit.cost;
    writeln!(md, "| figure | value |\n| --- | --- |")?;
    writeln!(
        md,
        "| instructions per evaluation of f | {:.0} |",
        cost.instructions_per_call()
    )?;
    writeln!(
        md,
        "| stack high-water mark, evaluation | {} bytes |",
        cost.stack_bytes
    )?;
    writeln!(
        md,
        "| stack high-water mark, reset through loading | {} bytes (goal <= 4 KiB: {}) |",
        cost.stack_load_bytes,
        verdict(cost.stack_load_bytes <= GOAL_STACK)
    )?;
    writeln!(
        md,
        "| the player, `{}` | {} bytes, static `{}` in `{}` |",
        fit.player,
        fit.player_bytes,
        short_path(&fit.player_static.path),
        fit.player_static.section
    )?;
    writeln!(
        md,
        "| loading the blob (check + f32 conversion + points) | {} instructions |",
        cost.load_ticks * INSTRUCTIONS_PER_TICK
    )?;
    writeln!(md, "| total `.text` | {} bytes |", fit.text)?;
    writeln!(
        md,
        "| evaluations measured | {} ({} runs of {}), {} ticks, {} instructions |\n",
        cost.calls(),
        cost.runs,
        cost.calls_per_run,
        cost.ticks,
        cost.instructions
    )?;
    writeln!(
        md,
        "The player is a const-initialised static (`FitPlayer::unloaded`, every byte zero, so \
         the linker puts it in `.bss`: no initial image in flash, nothing built on the stack) \
         that `FitPlayer::reload` loads in place; the loading figure includes no copy of it. \
         When this text was written, a write watchpoint on the deepest stack word of \
         loading (QEMU's gdbstub, after the paint) stopped in `libm`'s `expf` under sigma_n's \
         `erfc` in `Network::antiderivative`: F at the domain's corners, recomputing the \
         constrained integral in `Finn::reload`, which is inlined into \
         `ModelView::load_finn_into`, the largest frame on the path (about 2 KB, mostly the \
         magnitude jets of the load-time finiteness proof, `Network::bounds_over`)."
    )?;
    Ok(())
}

/// `a::b::Workload::load::PLAYER` as `Workload::load::PLAYER`: the last three segments.
fn short_path(path: &str) -> String {
    let parts: Vec<&str> = path.split("::").collect();
    parts[parts.len().saturating_sub(3)..].join("::")
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
#[allow(clippy::too_many_arguments)]
fn device_report(
    elf: &Path,
    sizes: &SectionSizes,
    baseline: &SectionSizes,
    by_crate: &BTreeMap<String, u64>,
    by_source: Option<&BTreeMap<String, u64>>,
    cost: &Cost,
    playback: &Playback,
    player: &StaticObject,
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
        "| the player, static `{}` | {} bytes in `{}` | in `.bss` (met) |",
        short_path(&player.path),
        player.size,
        player.section
    )?;
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
         in place into a const-initialised static (`TrajectoryPlayer::unloaded` + `reload`). \
         Every byte of an unloaded player is zero, so the linker puts that static in `.bss` \
         (zeroed at start-up: no initial image in flash, no copy at start-up; checked here \
         from the ELF symbol table), where a `cortex_m::singleton!` of a loaded player would \
         build it in `main`'s frame first. The blob's body is decoded by finn-core's own \
         parser over the borrowed bytes (no serde or postcard in the image): it keeps slices \
         of the blob, not by-value arrays, which took the load stack from 7564 bytes (serde's \
         visitor chain moving `Seq<f64, N>` arrays through `Result`s) to the figure above. \
         The deepest loading, well inside the goal, is where `TrajectoryPlayer::reload` \
         holds the decoded `TrajectoryView` (about 640 bytes, most of it the capacity of its \
         via-point vectors, `heapless::Vec`s of `MAX_VIA` times and `MAX_VIA * MAX_COORDS` \
         coordinates): when this text was written, the functions' frames (from their \
         prologues) put two paths within a few bytes of each other, `decode_trajectory` \
         (about 870 bytes: it builds the view before returning it) checking that every \
         parameter is finite (`TrajectoryHeader::check_values`), and `load_trajectory_into` \
         running the load-time bounds (`Trajectory::check_bounded`, about 660 bytes, most of \
         it the two layers of magnitude jets of `Network::time_derivative_bounds`).\n"
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
         `Workload::load` and `main` hold most of the inlined loader and sampler. `libm` and \
         `crc` are finn-core's own dependencies (it reads and writes the blob body itself, \
         without serde or postcard); `compiler_builtins` holds the soft-float `f64` helpers \
         the blob checks use.\n"
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
