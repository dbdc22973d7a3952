//! The Markdown report of a `trajectory` run (`<stem>-report.md`): the exact-endpoint
//! solution, and the soft-penalty baseline beside it when the config asks for one.

use super::{TrajectoryConfig, TrajectoryOutcome};
use crate::config::Job;
use std::fmt::Write as _;

/// A clearance for a table: "n/a" without obstacles.
pub(super) fn clearance(c: f64) -> String {
    if c.is_finite() {
        format!("{c:.4}")
    } else {
        "n/a".into()
    }
}

/// The table of measurements, headed by the config's output name.
pub(super) fn section(job: &Job, c: &TrajectoryConfig, o: &TrajectoryOutcome) -> String {
    let p = &c.trajectory;
    let name = o
        .stem
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(out, "## {name} (`{}`)\n", job.shown_path().display());
    let _ = writeln!(
        out,
        "{} coordinates on [{}, {}], each a signed FINN of time with hidden widths {:?} \
         ({:?}); {} obstacle(s), {} via-point(s); {} with exact gradients; costs are \
         Gauss-Legendre quadratures over {} nodes, so the clearance below is measured at those \
         nodes only, not certified between them.\n",
        p.start.len(),
        p.interval[0],
        p.interval[1],
        c.network.widths,
        c.network.activation,
        p.obstacles.len(),
        p.via.len(),
        c.solver.describe(),
        p.nodes
    );
    let e = &o.exact;
    let rows: Vec<(String, String, String)> = {
        let b = o.baseline.as_ref();
        let na = || "n/a".to_string();
        vec![
            (
                "end-state error, f64".into(),
                format!("{:.1e}", o.endpoint_errors.f64),
                b.map_or_else(na, |b| format!("{:.2e}", b.endpoint_error)),
            ),
            (
                "end-state error, f32 (finn-core `Trajectory<f32>` from the blob)".into(),
                format!("{:.1e}", o.endpoint_errors.f32),
                na(),
            ),
            (
                "final cost (without the penalty term)".into(),
                format!("{:.5}", e.terms.total),
                b.map_or_else(na, |b| {
                    format!(
                        "{:.5}",
                        b.solved.terms.total - b.solved.terms.endpoint_penalty
                    )
                }),
            ),
            (
                format!(
                    "minimum clearance to an obstacle surface at the nodes (required {})",
                    p.clearance
                ),
                clearance(e.terms.min_clearance),
                b.map_or_else(na, |b| clearance(b.solved.terms.min_clearance)),
            ),
            (
                "energy, integral of abs(xdot)^2".into(),
                format!("{:.4}", e.terms.energy),
                b.map_or_else(na, |b| format!("{:.4}", b.solved.terms.energy)),
            ),
            (
                "control effort, integral of abs(u)^2".into(),
                format!("{:.4}", e.terms.effort),
                b.map_or_else(na, |b| format!("{:.4}", b.solved.terms.effort)),
            ),
            (
                "iterations / solver wall time".into(),
                format!("{} / {:.1} s", e.report.iterations, e.report.seconds),
                b.map_or_else(na, |b| {
                    format!(
                        "{} / {:.1} s",
                        b.solved.report.iterations, b.solved.report.seconds
                    )
                }),
            ),
        ]
    };
    // Rows that say nothing for this problem: no obstacles, or no dynamics model.
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|(k, _, _)| {
            !(k.contains("clearance") && p.obstacles.is_empty()
                || k.contains("effort") && p.dynamics.is_none())
        })
        .collect();
    match &o.baseline {
        Some(b) => {
            let _ = writeln!(
                out,
                "| | exact endpoints (FINN shift constraint) | baseline: endpoint penalty, weight {} |\n|---|---|---|",
                b.endpoint_penalty
            );
            for (k, v, w) in rows {
                let _ = writeln!(out, "| {k} | {v} | {w} |");
            }
        }
        None => {
            let _ = writeln!(
                out,
                "| | exact endpoints (FINN shift constraint) |\n|---|---|"
            );
            for (k, v, _) in rows {
                let _ = writeln!(out, "| {k} | {v} |");
            }
        }
    }
    let _ = writeln!(
        out,
        "\nBlob: `{name}.postcard` ({} bytes, {:?} parameters).",
        o.blob.len(),
        c.blob_scalar
    );
    out
}

/// The whole report: title, command, the section, the config as written.
pub(super) fn markdown(job: &Job, c: &TrajectoryConfig, o: &TrajectoryOutcome) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Trajectory report\n");
    let _ = writeln!(s, "Command: `{}`\n", job.command());
    s.push_str(&section(job, c, o));
    let _ = writeln!(
        s,
        "\n## Config (`{}`)\n\n```toml\n{}\n```",
        job.shown_path().display(),
        job.text.trim_end()
    );
    s
}
