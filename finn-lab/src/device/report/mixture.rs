//! The report's density mixture section: the firmware built around
//! `firmware/blobs/density-mixture.postcard` (the trained moons mixture), its cost per pdf,
//! log-pdf, CDF, box probability and sample, and every value checked against the host's
//! `DensityMixturePlayer` bit for bit. It lives apart from the single-network density section
//! because the mixture's blob, player and check are its own.

use super::{player_static, short_path, verdict, GOAL_STACK};
use crate::device::density::Phase;
use crate::device::density_mixture::{check_density_mixture_run, MixtureCheck};
use crate::device::elf::{section_sizes, StaticObject};
use crate::device::firmware::{build_firmware_with, FirmwareOptions};
use crate::device::run::run;
use crate::device::{density_mixture_blob_path, DEFAULT_TIMEOUT, INSTRUCTIONS_PER_TICK};
use anyhow::{anyhow, bail, ensure, Context, Result};
use finn_core::format::{decode_density_mixture, DensityMixtureView};
use std::fmt::Write as _;

/// What the device run of the density mixture workload showed.
pub(super) struct MixtureEvaluation {
    /// n, the components, their widths and weights, the support and the stored scalar.
    description: String,
    /// The blob's length in bytes.
    blob_bytes: usize,
    /// The player's type and size on the device, and its static.
    player: String,
    player_bytes: u64,
    player_static: StaticObject,
    /// What was compared with the host.
    check: MixtureCheck,
    /// The number of components, K.
    components: usize,
    /// The phases' costs.
    phases: Vec<Phase>,
    /// Stack high-water marks: the deepest phase of the measured run, and reset through
    /// loading.
    stack_bytes: u64,
    stack_load_bytes: u64,
    /// Instructions to check and load the blob (and compute the inputs).
    load_instructions: u64,
    /// `.text` of the mixture firmware, and of its baseline (same firmware, no player).
    text: u64,
    baseline_text: u64,
}

/// The blob in words: n, the components (their widths, activation and weights), the support
/// and the stored scalar.
fn describe(view: &DensityMixtureView<'_>) -> Result<String> {
    let (_, _, first) = view
        .component(0)
        .context("a checked mixture has a component")?;
    let mut weights = Vec::new();
    let mut widths = Vec::new();
    for c in 0..view.len() {
        let (weight, _, m) = view.component(c).context("a component of a checked blob")?;
        weights.push(weight);
        if !widths.contains(&m.widths().to_vec()) {
            widths.push(m.widths().to_vec());
        }
    }
    let widths = match widths.as_slice() {
        [one] => format!("hidden widths {one:?}"),
        many => format!("hidden widths among {many:?}"),
    };
    let (lightest, heaviest) = weights
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &w| {
            (lo.min(w), hi.max(w))
        });
    let support = if view.is_real_space() {
        format!(
            "all of R^{} (centre {}, scale {})",
            view.n(),
            rounded(&view.centre().collect::<Vec<_>>()),
            rounded(&view.scale().collect::<Vec<_>>())
        )
    } else {
        format!(
            "the box {} to {}",
            rounded(first.domain_lower()),
            rounded(first.domain_upper())
        )
    };
    Ok(format!(
        "n = {} inputs, {} components (each a positive sigma_n network of {widths}) with \
         weights from {lightest:.4} to {heaviest:.4}, support {support}, parameters stored as \
         {:?}",
        view.n(),
        view.len(),
        first.scalar()
    ))
}

/// Coordinates to 4 decimals, `[a, b]`: the trained support's corners are not round numbers,
/// and their full `f64` digits would only clutter the report.
fn rounded(values: &[f64]) -> String {
    let parts: Vec<String> = values.iter().map(|v| format!("{v:.4}")).collect();
    format!("[{}]", parts.join(", "))
}

/// Builds the firmware around `firmware/blobs/density-mixture.postcard` (the trained moons
/// mixture), runs it twice (both runs must cost the same), and checks every value the device
/// printed against the host's `DensityMixturePlayer` bit for bit. `baseline_text` is the
/// `.text` of the firmware without a player.
pub(super) fn measure_mixture(baseline_text: u64) -> Result<MixtureEvaluation> {
    let path = density_mixture_blob_path();
    let blob = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let view = decode_density_mixture(&blob)
        .map_err(|e| anyhow!("{} is not a density mixture blob: {e}", path.display()))?;
    eprintln!(
        "xtask: building the firmware around firmware/blobs/density-mixture.postcard \
         (density mixture workload)"
    );
    let elf = build_firmware_with(
        &FirmwareOptions {
            blob: Some(path.clone()),
            ..FirmwareOptions::default()
        },
        "density-mixture",
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
        "two runs of the density mixture firmware reported different costs: {cost:?} and \
         {again:?}"
    );
    let run = &runs[0];
    let check = check_density_mixture_run(run, &blob)?;
    let MixtureCheck::Evaluated {
        capacity: [n, w, l, k],
        ..
    } = check
    else {
        bail!("the density mixture firmware did not load its blob: {check:?}");
    };
    let phases = run.phases()?;
    Ok(MixtureEvaluation {
        description: describe(&view)?,
        blob_bytes: blob.len(),
        player: format!("DensityMixturePlayer<{n}, {w}, {l}, {k}>"),
        player_bytes: run.number("player_bytes")?,
        player_static: player_static(&elf)?,
        check,
        components: k,
        stack_bytes: phases.iter().map(|p| p.stack_bytes).max().unwrap_or(0),
        phases,
        stack_load_bytes: cost.stack_load_bytes,
        load_instructions: cost.load_ticks * INSTRUCTIONS_PER_TICK,
        text: section_sizes(&elf)?.get(".text"),
        baseline_text,
    })
}

/// The report's density mixture section.
pub(super) fn mixture_report(md: &mut String, d: &MixtureEvaluation) -> Result<()> {
    writeln!(md, "\n## Workload: density mixture\n")?;
    let MixtureCheck::Evaluated {
        real_space,
        points,
        boxes,
        draws,
        ..
    } = d.check
    else {
        bail!("no density mixture evaluation to report");
    };
    let region = if real_space {
        "the box centre -/+ 4 scale of the real-space map"
    } else {
        "the support"
    };
    writeln!(
        md,
        "The same firmware built around `firmware/blobs/density-mixture.postcard` ({} bytes, \
         the moons mixture trained by `cargo xtask densities` from \
         `configs/density-moons.toml`, copied from `results/densities/moons.postcard`): {}. \
         Its payload (4, a density mixture) selects the density mixture workload \
         (`firmware/src/density_mixture.rs`): `finn_embedded::{}` ({} bytes, in a static in \
         `{}`) checks the blob and converts it to `f32` once, in place, then evaluates pdf, \
         log-pdf and CDF at {points} Halton points of {region}, the probability of {boxes} \
         boxes (half of them open to minus infinity on axis 0, clipped to the support) and \
         {draws} samples from Halton uniforms, each phase timed on its own. Two runs reported \
         the same figures, and every value the device printed equals the host's \
         `DensityMixturePlayer` bit for bit.\n",
        d.blob_bytes, d.description, d.player, d.player_bytes, d.player_static.section,
    )?;
    writeln!(md, "| figure | value |\n| --- | --- |")?;
    for phase in &d.phases {
        let what = match phase.name.as_str() {
            "pdf" => "instructions per pdf",
            "log_pdf" => "instructions per log-pdf",
            "cdf" => "instructions per CDF (a box probability from the support's lower corner)",
            "box" => "instructions per box probability",
            "sample" => {
                "instructions per sample (a component picked, then its sequential inversion)"
            }
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
        "| `.text` of the density mixture workload's firmware | {} bytes |",
        d.text
    )?;
    writeln!(
        md,
        "| `.text` the mixture player adds (mixture build - baseline build) | {} bytes ({:.1} KiB) |\n",
        d.text.saturating_sub(d.baseline_text),
        d.text.saturating_sub(d.baseline_text) as f64 / 1024.0
    )?;
    writeln!(
        md,
        "A pdf, log-pdf, CDF or box probability costs about K = {k} times one component's \
         (the component's widths, not the density section's, set that): a pdf is one jet pass of each component's network at the point reflected \
         on the component's axes, a log-pdf the same with a log-sum-exp over the components, \
         and a CDF or box probability the weighted sum of each component's exact box \
         probability over the reflected box, each with the rigorous bound of \
         `Finn::integral_over_with_bound` and, where that bound exceeds 64 ulps in `f32`, the \
         3-point Gauss-Legendre quadrature with its remainder bound, which dominates the cost. \
         A sample picks one component from the first uniform (rescaled within the component's \
         weight) and runs that component's bracketed Newton inversion, so it costs about one \
         component's sample, not K. As in the density section, the CDF and box probabilities \
         go deepest on the stack, through the quadrature's magnitude jets.",
        k = d.components
    )?;
    Ok(())
}
