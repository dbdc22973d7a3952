//! The report's soft-Q section: the firmware built around
//! `firmware/blobs/softq-pendulum.postcard` (the shipped pendulum policy), one closed-loop
//! episode of 200 steps, its cost per action, and every uniform, action and state checked
//! against the host's episode bit for bit.

use super::{player_static, short_path, verdict, GOAL_STACK};
use crate::device::elf::{section_sizes, StaticObject};
use crate::device::firmware::{build_firmware_with, FirmwareOptions};
use crate::device::run::run;
use crate::device::softq::{check_softq_run, SoftQCheck, START, STEPS};
use crate::device::{softq_blob_path, DEFAULT_TIMEOUT, INSTRUCTIONS_PER_TICK};
use anyhow::{bail, ensure, Context, Result};
use std::fmt::Write as _;

/// What the device run of the soft-Q workload showed.
pub(super) struct SoftQEvaluation {
    blob_bytes: usize,
    player: String,
    player_bytes: u64,
    player_static: StaticObject,
    instructions_per_action: f64,
    ticks: u64,
    stack_bytes: u64,
    stack_load_bytes: u64,
    load_instructions: u64,
    final_state: (f32, f32),
    text: u64,
    baseline_text: u64,
}

/// Builds the firmware around the pendulum policy, runs it twice (both runs must cost the
/// same), and checks the episode against the host's bit for bit.
pub(super) fn measure_softq(baseline_text: u64) -> Result<SoftQEvaluation> {
    let path = softq_blob_path();
    let blob = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    eprintln!("xtask: building the firmware around firmware/blobs/softq-pendulum.postcard");
    let elf = build_firmware_with(
        &FirmwareOptions {
            blob: Some(path.clone()),
            ..FirmwareOptions::default()
        },
        "softq",
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
        "two runs of the soft-Q firmware reported different costs: {cost:?} and {again:?}"
    );
    let run = &runs[0];
    let SoftQCheck::Episode {
        capacity: [s, h, p, m, w, l],
        steps,
    } = check_softq_run(run, &blob)?
    else {
        bail!("the soft-Q firmware did not load its blob");
    };
    let phase = run.phase("episode")?;
    let last = steps.last().context("an episode has steps")?;
    Ok(SoftQEvaluation {
        blob_bytes: blob.len(),
        player: format!("SoftQPlayer<{s}, {h}, {p}, {m}, {w}, {l}>"),
        player_bytes: run.number("player_bytes")?,
        player_static: player_static(&elf)?,
        instructions_per_action: phase.instructions_per_call(),
        ticks: phase.ticks,
        stack_bytes: phase.stack_bytes,
        stack_load_bytes: cost.stack_load_bytes,
        load_instructions: cost.load_ticks * INSTRUCTIONS_PER_TICK,
        final_state: (last.theta, last.theta_dot),
        text: section_sizes(&elf)?.get(".text"),
        baseline_text,
    })
}

/// The report's soft-Q section.
pub(super) fn softq_report(md: &mut String, d: &SoftQEvaluation) -> Result<()> {
    writeln!(md, "\n## Workload: soft-Q pendulum closed loop\n")?;
    writeln!(
        md,
        "The same firmware built around `firmware/blobs/softq-pendulum.postcard` ({} bytes: \
         the shipped `results/softq/pendulum.json` with f32 parameters, \
         `finn_train::softq::blob::device_blob`). Its payload (5, a soft-Q model) selects the \
         soft-Q workload (`firmware/src/softq.rs`): `finn_embedded::{}` ({} bytes, in a \
         static in `{}`) checks the blob and loads it in place, then runs one Pendulum-v1 \
         episode of {STEPS} steps from theta = {}, theta_dot = {} with finn-core's f32 \
         pendulum, each action sampled exactly from the policy at uniform u_k = \
         `halton_uniforms::<1>(k + 1)`. Two runs reported the same figures, and every uniform, \
         action and state the device printed equals the host's episode bit for bit \
         (`finn_lab::device::check_softq_run`). The episode ends at theta = {:.3}, \
         theta_dot = {:.3} (upright is a multiple of 2 pi).\n",
        d.blob_bytes,
        d.player,
        d.player_bytes,
        d.player_static.section,
        START.0,
        START.1,
        d.final_state.0,
        d.final_state.1,
    )?;
    writeln!(md, "| figure | value |\n| --- | --- |")?;
    writeln!(
        md,
        "| instructions per action (features, policy at the state, exact sample, pendulum step) | {:.0} ({STEPS} actions, {} ticks) |",
        d.instructions_per_action, d.ticks
    )?;
    writeln!(
        md,
        "| stack high-water mark, episode | {} bytes (goal <= 4 KiB: {}) |",
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
        "| loading the blob (check + f32 conversion) | {} instructions |",
        d.load_instructions
    )?;
    writeln!(
        md,
        "| `.text` of the soft-Q workload's firmware | {} bytes |",
        d.text
    )?;
    writeln!(
        md,
        "| `.text` the soft-Q player adds (soft-Q build - baseline build) | {} bytes ({:.1} KiB) |\n",
        d.text.saturating_sub(d.baseline_text),
        d.text.saturating_sub(d.baseline_text) as f64 / 1024.0
    )?;
    writeln!(
        md,
        "An action is one hypernetwork pass (the state's features through the signed MLP to \
         the action network's parameters and the log-scale), the policy at the state \
         (`SoftQ::at`: the corner sum of F~ over the action box, in `f32`, and the load-time \
         proof that f~ and F~ stay finite there, `Network::bounds_over`), the CDF inversion \
         (bracketed Newton, `Density::sample`) and the pendulum step. Until `SoftQ::at` normalised \
         by the corner sum in `T` (2026-12-01), it resolved the constant in double-double: \
         software `f64` on this single-precision FPU, 47,626,415 instructions per action. \
         The episode's 200 records are written in place into a static, so the stack figure \
         is the player's and the firmware's, not a copy of the record."
    )?;
    Ok(())
}
