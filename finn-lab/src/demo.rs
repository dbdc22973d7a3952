//! The product's main job end to end (`cargo xtask demo`): trains the 2-D obstacle trajectory
//! of `configs/demo-trajectory.toml` with exact endpoints (its blob is f32), builds the
//! Cortex-M4 firmware around the blob, plays it back under QEMU, checks every device sample
//! against the host's `f32` player bit for bit, and writes results/demo.png and results/demo.md.

use crate::device::{self, FirmwareOptions};
use crate::{setup, workspace_root, write_result};
use anyhow::{bail, Context, Result};
use finn_embedded::TrajectoryPlayer;
use finn_train::config::{Job, Outcome, Spec};
use finn_train::observer::Observer;
use finn_train::trajectory::certify::Status;
use finn_train::trajectory::path::NetworkPath;
use finn_train::trajectory::{plot_trajectory, Endpoints, Enforcement};
use std::fmt::Write as _;
use std::time::Instant;

/// Samples the firmware plays.
const SAMPLES: usize = 64;

/// Steps the demo announces through its `step` callback.
pub const STEPS: usize = 6;

/// What the demo measured.
#[derive(Clone, Debug)]
pub struct Demo {
    /// `results/demo.md`, as written.
    pub markdown: String,
    /// Device samples that differ from the host's in any bit (0 when the demo passes).
    pub mismatches: usize,
}

/// Runs the main job: trains `configs/demo-trajectory.toml` (progress to `observer`), builds
/// the firmware around its blob, plays it under QEMU, compares every device sample with the
/// host's f32 player bit for bit, and writes `results/demo.png` and `results/demo.md`.
/// `step(k, what)` announces step k of [`STEPS`].
///
/// Errors: a missing tool that cannot be installed, a config or training error, a firmware
/// build or QEMU failure, an unexpected device output.
pub fn run(observer: &mut dyn Observer, step: &mut dyn FnMut(usize, &str)) -> Result<Demo> {
    let start = Instant::now();
    let root = workspace_root();
    step(1, "checking the device toolchain (thumbv7em target, QEMU)");
    setup::ensure_all()?;

    step(
        2,
        "training configs/demo-trajectory.toml (exact endpoints, BFGS)",
    );
    let job = Job::from_toml_file(root.join("configs/demo-trajectory.toml"))?;
    let Spec::Trajectory(config) = &job.spec else {
        bail!("configs/demo-trajectory.toml is not a trajectory config");
    };
    let artefacts = job.run(observer)?;
    let Outcome::Trajectory(trained) = &artefacts.outcome else {
        bail!("the demo's run did not produce a trajectory");
    };
    let problem = config.problem(Endpoints::Exact, Enforcement::Penalty { weight: 0.0 });
    let blob = &trained.blob;
    let blob_path = finn_train::config::with_suffix(&artefacts.stem, ".postcard");

    step(
        3,
        "building the firmware around the blob (release, thumbv7em-none-eabihf)",
    );
    let options = FirmwareOptions {
        blob: Some(blob_path.clone()),
        samples: Some(SAMPLES),
        ..FirmwareOptions::default()
    };
    let elf = device::build_firmware_with(&options, "demo")?;

    step(
        4,
        "playing it back on the emulated Cortex-M4 (QEMU mps2-an386)",
    );
    let run = device::run(&elf, device::DEFAULT_TIMEOUT)?;
    run.check_success()
        .context("the firmware did not finish successfully")?;
    let cost = run.cost()?;
    let device = run.samples(2)?;
    if device.len() != SAMPLES {
        bail!(
            "expected {SAMPLES} samples from the device, got {}",
            device.len()
        );
    }

    step(5, "comparing device and host");
    let player = TrajectoryPlayer::<2, 16, 2, 1>::from_bytes(blob)
        .map_err(|e| anyhow::anyhow!("host player: {e}"))?;
    let mut positions = Vec::with_capacity(device.len());
    // Each constraint's smallest slack over the device samples (position, velocity and
    // acceleration are played; a jerk limit is not checked here).
    let mut device_slack = vec![f64::INFINITY; problem.constraints.len()];
    let mut mismatches = 0;
    for (k, d) in device.iter().enumerate() {
        let t = player.grid_time(k, device.len());
        let host = player
            .sample(t)
            .map_err(|e| anyhow::anyhow!("host sample {k}: {e}"))?;
        let bits = d
            .outcome
            .as_ref()
            .map_err(|e| anyhow::anyhow!("device sample {k}: {e}"))?;
        let words = |v: &[f32; 2]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        if d.time != t.to_bits()
            || bits.position != words(&host.position)
            || bits.velocity != words(&host.velocity)
            || bits.acceleration != words(&host.acceleration)
        {
            mismatches += 1;
        }
        let state = [&bits.position, &bits.velocity, &bits.acceleration].map(|w| {
            w.iter()
                .map(|b| f32::from_bits(*b) as f64)
                .collect::<Vec<f64>>()
        });
        for (c, slack) in problem.constraints.iter().zip(&mut device_slack) {
            if let Some(q) = state.get(c.order()) {
                *slack = slack.min(c.slack(q));
            }
        }
        positions.push(
            bits.position
                .iter()
                .map(|b| f32::from_bits(*b))
                .collect::<Vec<_>>(),
        );
    }
    let (x0, x1) = (&problem.start, &problem.end);
    let (first, last) = (&positions[0], &positions[positions.len() - 1]);
    let endpoint_error = (0..2)
        .map(|i| ((first[i] - x0[i] as f32).abs()).max((last[i] - x1[i] as f32).abs()) as f64)
        .fold(0.0, f64::max);
    step(6, "plotting and writing results/demo.md");
    let dots: Vec<[f32; 2]> = positions.iter().map(|p| [p[0], p[1]]).collect();
    let host_path = NetworkPath::from_blob(blob)?;
    plot_trajectory(
        &root.join("results/demo.png"),
        &host_path,
        &problem,
        None,
        Some(&dots),
    )?;
    let seconds = start.elapsed().as_secs_f64();
    let terms = &trained.exact.terms;
    let rows = [
        (
            "device samples equal to the host's f32 player, bit for bit".to_string(),
            format!("{} of {}", device.len() - mismatches, device.len()),
        ),
        (
            "endpoint error on the device (first and last sample against x0, xT)".into(),
            format!("{endpoint_error:e}"),
        ),
        (
            "constraints proven over the whole interval (certificate of the blob)".into(),
            format!(
                "{} of {}",
                trained
                    .certificate
                    .verdicts
                    .iter()
                    .filter(|v| v.status == Status::Proven)
                    .count(),
                trained.certificate.verdicts.len()
            ),
        ),
        (
            "energy, integral of abs(xdot)^2".into(),
            format!("{:.4}", terms.energy),
        ),
        (
            "instructions per sample on the device (-icount shift=0)".into(),
            format!("{:.0}", cost.instructions_per_call()),
        ),
        (
            "training: rounds / iterations / wall time (solves and certificates)".into(),
            format!(
                "{} / {} / {:.1} s",
                trained.rounds.len(),
                trained.rounds.iter().map(|r| r.iterations).sum::<u64>(),
                trained.seconds
            ),
        ),
        (
            "whole demo wall time (tools already installed and built)".into(),
            format!("{seconds:.0} s"),
        ),
    ];
    let mut rows = rows.to_vec();
    for ((c, v), slack) in problem
        .constraints
        .iter()
        .zip(&trained.certificate.verdicts)
        .zip(&device_slack)
    {
        rows.push((
            format!(
                "{}: proved min slack (f64 model) / min slack over the device samples (f32)",
                c.describe()
            ),
            format!("{:.4} / {slack:.4}", v.lower),
        ));
    }
    let mut out = String::from("# cargo xtask demo\n\n");
    writeln!(out, "Trained `configs/demo-trajectory.toml`: a 2-D trajectory with {} constraints (clearances from circular obstacles and a speed limit; two hidden layers of 16 tanh units per coordinate, exact endpoints), enforced by the augmented Lagrangian until the certificate proves them over the whole interval; wrote `results/demo/trajectory.postcard` ({} bytes, f32), built the firmware around it and played {SAMPLES} samples on QEMU mps2-an386 (Cortex-M4). A slack is distance minus clearance, or limit minus speed: >= 0 means met.\n", problem.constraints.len(), blob.len())?;
    writeln!(out, "| figure | value |\n|---|---|")?;
    for (k, v) in rows {
        writeln!(out, "| {k} | {v} |")?;
    }
    writeln!(out, "\nPlot: results/demo.png (path, obstacles with their clearance margins, device samples as dots, speed profile). Training report: results/demo/trajectory-report.md.")?;
    write_result("results/demo.md", &out)?;
    if !artefacts.unproven.is_empty() {
        bail!(
            "the demo's constraints are not proven: {}",
            artefacts.unproven.join("; ")
        );
    }
    if let Some(k) = device_slack.iter().position(|s| *s < 0.0) {
        bail!(
            "the device samples violate {} (slack {:.4})",
            problem.constraints[k].describe(),
            device_slack[k]
        );
    }
    Ok(Demo {
        markdown: out,
        mismatches,
    })
}
