//! The Markdown report of a `trajectory` run (`<stem>-report.md`): the certificate of every
//! constraint, the result beside its baselines, and the rounds of the enforcement loop.

use super::certify::{Status, Verdict};
use super::{TrajectoryConfig, TrajectoryOutcome};
use crate::config::Job;
use std::fmt::Write as _;

/// One line for a constraint that is not proven: what, how bad, where.
pub(super) fn failure(v: &Verdict) -> String {
    match v.status {
        Status::Violated => format!(
            "{} violated: slack {:.4e} at t = {:.6}",
            v.constraint, v.worst, v.at
        ),
        _ => format!(
            "{} not proven: slack >= {:.4e} proved, {:.4e} at t = {:.6} ({} sub-intervals)",
            v.constraint, v.lower, v.worst, v.at, v.intervals
        ),
    }
}

/// A verdict in a table cell.
fn cell(v: &Verdict) -> String {
    match v.status {
        Status::Proven => format!("proven, min slack in [{:.4}, {:.4}]", v.lower, v.worst),
        Status::Violated => format!("**violated**: {:.4} at t = {:.4}", v.worst, v.at),
        Status::Undecided => format!(
            "**not proven**: >= {:.4}, {:.4} at t = {:.4}",
            v.lower, v.worst, v.at
        ),
    }
}

/// The tables, headed by the config's output name.
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
         ({:?}); {} obstacle(s), {} via-point(s), {} constraint(s); {} per round with exact \
         gradients. Every constraint below is proven or refuted over the whole interval by \
         branch and bound on Taylor enclosures of the written blob's model (`certify`), not \
         sampled at nodes.\n",
        p.start.len(),
        p.interval[0],
        p.interval[1],
        c.network.widths,
        c.network.activation,
        p.obstacles.len(),
        p.via.len(),
        o.certificate.verdicts.len(),
        c.solver.describe(),
    );
    let unproven: Vec<String> = o.certificate.failures().map(failure).collect();
    if unproven.is_empty() {
        let _ = writeln!(
            out,
            "**Every constraint is proven** over [{}, {}] ({:.2} s of certificate).\n",
            p.interval[0], p.interval[1], o.certificate.seconds
        );
    } else {
        let _ = writeln!(out, "**NOT MET** (the command exits non-zero):\n");
        for u in &unproven {
            let _ = writeln!(out, "- {u}");
        }
        let _ = writeln!(out);
    }
    // The comparison: one column per candidate.
    let _ = write!(out, "| |");
    for cand in &o.comparison {
        let _ = write!(out, " {} |", cand.name);
    }
    let _ = write!(out, "\n|---|");
    for _ in &o.comparison {
        let _ = write!(out, "---|");
    }
    let _ = writeln!(out);
    let mut row = |label: &str, f: &dyn Fn(&super::compare::Candidate) -> String| {
        let _ = write!(out, "| {label} |");
        for cand in &o.comparison {
            let _ = write!(out, " {} |", f(cand));
        }
        let _ = writeln!(out);
    };
    row("cost (energy and effort terms)", &|x| {
        format!("{:.5}", x.cost)
    });
    row("energy, integral of abs(xdot)^2", &|x| {
        format!("{:.4}", x.energy)
    });
    if p.dynamics.is_some() {
        row("control effort, integral of abs(u)^2", &|x| {
            format!("{:.4}", x.effort)
        });
    }
    row("end-state error (f64)", &|x| {
        format!("{:.1e}", x.endpoint_error)
    });
    if !p.via.is_empty() {
        row("via-point error (f64)", &|x| format!("{:.1e}", x.via_error));
    }
    for (k, v) in o.certificate.verdicts.iter().enumerate() {
        row(&v.constraint, &|x| {
            x.certificate.verdicts.get(k).map_or_else(String::new, cell)
        });
    }
    row("iterations / wall time", &|x| match x.training {
        Some((i, s)) => format!("{i} / {s:.1} s"),
        None => "closed form".into(),
    });
    let _ = writeln!(
        out,
        "\nSlack is distance minus clearance, or limit minus the quantity, in the constraint's \
         units; \"min slack in [a, b]\": a is proved, b is attained. The end-state error of the \
         blob played back by finn-core is {:.1e} in f64 and {:.1e} in f32 (the device's \
         precision).",
        o.endpoint_errors.f64, o.endpoint_errors.f32
    );
    if !o.rounds.is_empty() {
        let _ = writeln!(
            out,
            "\nEnforcement (`trajectory.enforce`: margin {}, {} initial times):\n\n\
             | round | rho | times | iterations | cost | worst residual - margin | certificate |\n\
             |---|---|---|---|---|---|---|",
            p.enforce.margin, p.enforce.points
        );
        for (k, r) in o.rounds.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | {:.0e} | {} | {} | {:.5} | {:.2e} | {} |",
                k + 1,
                r.rho,
                r.times,
                r.iterations,
                r.cost,
                r.worst_residual,
                match r.proven {
                    None => "not run",
                    Some(true) => "all proven",
                    Some(false) => "not all proven",
                }
            );
        }
    }
    let _ = writeln!(
        out,
        "\nBlob: `{name}.postcard` ({} bytes, {:?} parameters). Plot: `{name}.png`.",
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
