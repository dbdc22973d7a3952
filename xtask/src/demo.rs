//! `cargo xtask demo`: the product's main job end to end. Trains the 2-D obstacle trajectory
//! with exact endpoints, writes its weights blob, builds the Cortex-M4 firmware around the
//! blob, plays it back under QEMU, checks every device sample against the host's `f32` player
//! bit for bit, and writes results/demo.png and results/demo.md.

use crate::trajectories::{self, plot_path};
use anyhow::{bail, Context, Result};
use finn_core::format::Scalar;
use finn_core::trajectory::OutsidePolicy;
use finn_embedded::TrajectoryPlayer;
use finn_lab::device::{self as qemu, FirmwareOptions};
use finn_lab::setup;
use finn_train::trajectory::Endpoints;
use finn_train::trajectory_file::problem_blob;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

/// Samples the firmware plays.
const SAMPLES: usize = 64;

fn step(n: usize, what: &str) {
    eprintln!("[{n}/6] {what}");
}

/// Runs the demo.
pub fn run() -> Result<()> {
    let start = Instant::now();
    step(1, "checking the device toolchain (thumbv7em target, QEMU)");
    setup::ensure_all()?;

    step(
        2,
        "training the 2-D obstacle trajectory (exact endpoints, L-BFGS)",
    );
    let solved = trajectories::solve(
        trajectories::point_mass(Endpoints::Exact),
        "  L-BFGS",
        300,
        11,
    )?;
    let problem = trajectories::point_mass(Endpoints::Exact);
    let terms = problem.terms(&solved.params)?;

    step(3, "writing the weights blob (f32)");
    let blob = problem_blob(&problem, &solved.params, OutsidePolicy::Hold, Scalar::F32)?;
    std::fs::create_dir_all("results/demo")?;
    let blob_path = Path::new("results/demo/trajectory.postcard");
    std::fs::write(blob_path, &blob)?;

    step(
        4,
        "building the firmware around the blob (release, thumbv7em-none-eabihf)",
    );
    let options = FirmwareOptions {
        blob: Some(std::fs::canonicalize(blob_path)?),
        samples: Some(SAMPLES),
        ..FirmwareOptions::default()
    };
    let elf = qemu::build_firmware_with(&options, "demo")?;

    step(
        5,
        "playing it back on the emulated Cortex-M4 (QEMU mps2-an386)",
    );
    let run = qemu::run(&elf, qemu::DEFAULT_TIMEOUT)?;
    run.check_success()
        .context("the firmware did not finish successfully")?;
    let cost = run.cost()?;
    let device = run.samples(2)?;

    step(6, "comparing device and host, plotting");
    let player = TrajectoryPlayer::<2, 16, 2, 1>::from_bytes(&blob)
        .map_err(|e| anyhow::anyhow!("host player: {e}"))?;
    let mut positions = Vec::with_capacity(device.len());
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
        positions.push([
            f32::from_bits(bits.position[0]),
            f32::from_bits(bits.position[1]),
        ]);
    }
    if device.len() != SAMPLES {
        bail!(
            "expected {SAMPLES} samples from the device, got {}",
            device.len()
        );
    }
    let (x0, x1) = (&problem.start, &problem.end);
    let first = positions[0];
    let last = positions[positions.len() - 1];
    let endpoint_error = (0..2)
        .map(|i| ((first[i] - x0[i] as f32).abs()).max((last[i] - x1[i] as f32).abs()) as f64)
        .fold(0.0, f64::max);
    let device_clearance = positions
        .iter()
        .flat_map(|p| {
            problem.obstacles.iter().map(move |o| {
                let dx = p[0] as f64 - o.center[0];
                let dy = p[1] as f64 - o.center[1];
                (dx * dx + dy * dy).sqrt() - o.radius
            })
        })
        .fold(f64::INFINITY, f64::min);
    plot_path(
        Path::new("results/demo.png"),
        &problem,
        &solved.params,
        Some(&positions),
    )?;
    let seconds = start.elapsed().as_secs_f64();

    let mut out = String::new();
    writeln!(out, "# cargo xtask demo\n").ok();
    writeln!(out, "Trained a 2-D trajectory around {} circular obstacles (two hidden layers of 16 tanh units per coordinate, exact endpoints), wrote `results/demo/trajectory.postcard` ({} bytes, f32), built the firmware around it and played {SAMPLES} samples on QEMU mps2-an386 (Cortex-M4).\n", problem.obstacles.len(), blob.len()).ok();
    writeln!(out, "| figure | value |\n|---|---|").ok();
    writeln!(
        out,
        "| device samples equal to the host's f32 player, bit for bit | {} of {} |",
        device.len() - mismatches,
        device.len()
    )
    .ok();
    writeln!(out, "| endpoint error on the device (first and last sample against x0, xT) | {endpoint_error:e} |").ok();
    writeln!(out, "| minimum clearance to an obstacle surface, device samples (required {}) | {device_clearance:.4} |", problem.clearance).ok();
    writeln!(
        out,
        "| minimum clearance over the training nodes, f64 | {:.4} |",
        terms.min_clearance
    )
    .ok();
    writeln!(
        out,
        "| energy, integral of abs(xdot)^2 | {:.4} |",
        terms.energy
    )
    .ok();
    writeln!(
        out,
        "| instructions per sample on the device (-icount shift=0) | {:.0} |",
        cost.instructions_per_call()
    )
    .ok();
    writeln!(
        out,
        "| training: iterations / wall time | {} / {:.1} s |",
        solved.iterations, solved.seconds
    )
    .ok();
    writeln!(
        out,
        "| whole demo wall time (tools already installed and built) | {seconds:.0} s |"
    )
    .ok();
    writeln!(out, "\nPlot: results/demo.png (path, obstacles with their clearance margins, device samples as dots, speed profile).").ok();
    std::fs::write("results/demo.md", &out)?;
    println!("{out}");
    if mismatches > 0 {
        bail!("{mismatches} device samples differ from the host's");
    }
    Ok(())
}
