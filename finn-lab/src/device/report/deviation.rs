//! The report's deviation section: the firmware built around
//! `firmware/blobs/deviation.postcard` (the Figure 2 model), its cost per phi evaluation, and
//! every value checked against the host's `DeviationPlayer` bit for bit.

use super::{player_static, short_path, verdict, GOAL_STACK};
use crate::device::density::Phase;
use crate::device::deviation::{check_deviation_run, DeviationCheck};
use crate::device::elf::{section_sizes, StaticObject};
use crate::device::firmware::{build_firmware_with, FirmwareOptions};
use crate::device::run::run;
use crate::device::{deviation_blob_path, DEFAULT_TIMEOUT, INSTRUCTIONS_PER_TICK};
use anyhow::{bail, ensure, Context, Result};
use std::fmt::Write as _;

/// What the device run of the deviation workload showed.
pub(super) struct DeviationEvaluation {
    /// n, m, the base, the networks and the stored scalar.
    description: String,
    blob_bytes: usize,
    player: String,
    player_bytes: u64,
    player_static: StaticObject,
    check: DeviationCheck,
    phases: Vec<Phase>,
    stack_bytes: u64,
    stack_load_bytes: u64,
    load_instructions: u64,
    text: u64,
    baseline_text: u64,
}

/// Builds the firmware around `firmware/blobs/deviation.postcard` (the Figure 2 model), runs
/// it twice (both runs must cost the same), and checks every value the device printed against
/// the host's `DeviationPlayer` bit for bit.
pub(super) fn measure_deviation(baseline_text: u64) -> Result<DeviationEvaluation> {
    let path = deviation_blob_path();
    let blob = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let view = finn_core::format::decode_deviation(&blob)
        .map_err(|e| anyhow::anyhow!("{} is not a deviation blob: {e}", path.display()))?;
    eprintln!(
        "xtask: building the firmware around firmware/blobs/deviation.postcard (deviation workload)"
    );
    let elf = build_firmware_with(
        &FirmwareOptions {
            blob: Some(path.clone()),
            ..FirmwareOptions::default()
        },
        "deviation",
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
        "two runs of the deviation firmware reported different costs: {cost:?} and {again:?}"
    );
    let run = &runs[0];
    let check = check_deviation_run(run, &blob)?;
    ensure!(
        matches!(check, DeviationCheck::Evaluated { .. }),
        "the deviation firmware did not load its blob: {check:?}"
    );
    let [n, m, w, l, k] = run.deviation_capacity()?;
    let magnitude = view.magnitude();
    Ok(DeviationEvaluation {
        description: format!(
            "n = {} input(s), m = {} output(s), a degree-{} polynomial base, magnitude widths \
             {:?} (scale {:.6}, eps {}), {} direction network(s) of widths {:?} \
             ({:?}, softness {}), domain {:?} to {:?}, parameters stored as {:?}",
            view.n(),
            view.outputs(),
            view.degree(),
            magnitude.widths(),
            magnitude.constants().scale,
            view.eps(),
            view.outputs(),
            view.direction_widths(),
            view.direction_activation(),
            view.softness(),
            magnitude.domain_lower(),
            magnitude.domain_upper(),
            magnitude.scalar()
        ),
        blob_bytes: blob.len(),
        player: format!("DeviationPlayer<{n}, {m}, {w}, {l}, {k}>"),
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

/// The report's deviation section.
pub(super) fn deviation_report(md: &mut String, d: &DeviationEvaluation) -> Result<()> {
    writeln!(md, "\n## Workload: bounded-deviation evaluation\n")?;
    let DeviationCheck::Evaluated { points, inside, .. } = d.check else {
        bail!("no deviation evaluation to report");
    };
    writeln!(
        md,
        "The same firmware built around `firmware/blobs/deviation.postcard` ({} bytes, the \
         paper's Figure 2 model trained by `cargo xtask train configs/figure2.toml` with \
         `blob_scalar = \"f32\"`): {}. Its payload (3, a bounded-deviation model) selects the \
         deviation workload (`firmware/src/deviation.rs`): `finn_embedded::{}` ({} bytes, in a \
         static in `{}`) checks the blob and converts it to `f32` once, in place, then \
         evaluates phi = psi + f d and the magnitude f at {points} points ({inside} inside the \
         domain, the rest outside, where phi is the base), each phase timed on its own. Two \
         runs reported the same figures, and every value the device printed equals the \
         host's `DeviationPlayer` bit for bit.\n",
        d.blob_bytes, d.description, d.player, d.player_bytes, d.player_static.section,
    )?;
    writeln!(md, "| figure | value |\n| --- | --- |")?;
    for phase in &d.phases {
        let what = match phase.name.as_str() {
            "value" => "instructions per phi evaluation (`DeviationPlayer::value`)",
            "magnitude" => "instructions per magnitude f (`DeviationPlayer::magnitude`)",
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
        "| stack high-water mark, evaluation (the deeper phase) | {} bytes (goal <= 4 KiB: {}) |",
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
        "| loading the blob (check + f32 conversion + points) | {} instructions |",
        d.load_instructions
    )?;
    writeln!(
        md,
        "| `.text` of the deviation workload's firmware | {} bytes |",
        d.text
    )?;
    writeln!(
        md,
        "| `.text` the deviation player adds (deviation build - baseline build) | {} bytes ({:.1} KiB) |\n",
        d.text.saturating_sub(d.baseline_text),
        d.text.saturating_sub(d.baseline_text) as f64 / 1024.0
    )?;
    writeln!(
        md,
        "A phi evaluation inside the domain is one jet pass of the magnitude network (f, the \
         mixed partial), one forward pass of each direction network, the base's monomials and \
         a few divisions and a square root; outside the domain it is the base alone, so the \
         per-call figure is an average over the points above."
    )?;
    Ok(())
}
