//! The Markdown report of a `density` run (`<stem>-report.md`).

use super::sampling::INVERSION_TOLERANCE;
use super::{DensityConfig, DensityOutcome, Scores};
use crate::config::Job;
use std::fmt::Write as _;

/// `| method | detail | train | validation | test | test - first's | seconds |` rows; the
/// difference to the first row (the FINN) is paired over the same test points, with its
/// standard error.
pub(crate) fn score_rows(rows: &[&Scores]) -> String {
    let mut s = String::from(
        "| method | selected | train NLL | validation NLL | test NLL | test NLL - FINN's (s.e.) | seconds |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for r in rows {
        let paired = match rows.first() {
            Some(first) if !std::ptr::eq(*first, *r) => r
                .paired_difference(first)
                .map_or("-".into(), |(d, se)| format!("{d:+.4} ({se:.4})")),
            _ => "-".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {:.4} | {:.4} | {} | {paired} | {:.2} |",
            r.method,
            r.detail,
            r.train,
            r.validation,
            r.test.map_or("-".into(), |t| format!("{t:.4}")),
            r.seconds
        );
    }
    s
}

/// The report: what was trained, the NLL table, normalisation, then the config as written.
pub(super) fn markdown(job: &Job, c: &DensityConfig, o: &DensityOutcome) -> String {
    let name = o
        .stem
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let a = &o.model.architecture;
    let mut s = format!("# Density `{name}`\n\n");
    let _ = writeln!(s, "Command: `{}`\n", job.command());
    let support = if !o.density.map.exact_boxes() {
        format!(
            "{} (support.map = \"{}\"): the components live on the unit u-box, x = r(u) by \
             finn-core's area-preserving map, constant abs det dr/du, so the NLL includes the \
             constant ln abs det; exact: the integral over the domain and the probability of \
             the image of every u-box (not of axis-aligned x-boxes)",
            o.density.map.describe(),
            c.support.map.name()
        )
    } else if let super::composite::SupportMap::RealSpace { centre, scale } = &o.density.map {
        format!(
            "all of R^n: x = centre + scale ln(u / (1 - u)) per axis (finn-core's RealSpace), \
             centre {centre:.4?}, scale {scale:.4?} (the training points' means and standard \
             deviations); every x-box is the image of a u-box, so box probabilities stay exact"
        )
    } else if c.support.auto {
        format!(
            "{:?} to {:?} (the data's bounding box enlarged by {} of each side at both ends)",
            o.model.domain_lower, o.model.domain_upper, c.support.margin
        )
    } else {
        format!("{:?} to {:?}", o.model.domain_lower, o.model.domain_upper)
    };
    let rows = [
        (
            "network",
            format!(
                "positive, sigma_{}, n = {}, widths {:?} ({} parameters)",
                a.n,
                a.n,
                a.widths,
                a.parameter_count()
            ),
        ),
        ("support", support),
        (
            "points (train / validation / test)",
            format!(
                "{} / {} / {} (split by seed {}){}",
                o.split.train.nrows(),
                o.split.validation.nrows(),
                o.split.test.nrows(),
                c.seed,
                if o.clipped > 0 {
                    format!(", {} clipped onto the support", o.clipped)
                } else {
                    String::new()
                }
            ),
        ),
        (
            "mixture",
            o.density
                .components
                .iter()
                .map(|k| {
                    let axes: Vec<String> = k
                        .reflect
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| **r)
                        .map(|(i, _)| format!("x{}", i + 1))
                        .collect();
                    format!(
                        "{:.4} reflected on {}",
                        k.weight,
                        if axes.is_empty() {
                            "no axis".to_string()
                        } else {
                            axes.join(", ")
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        (
            "test points outside the support",
            format!(
                "{} (density 0; each counts as -ln 1e-300 = 690.8 nats in the FINN's test NLL)",
                o.test_outside
            ),
        ),
        (
            "solver",
            format!(
                "{}, validation checked every {} iterations, patience {}, weight decay {}",
                c.solver.describe(),
                c.early_stopping.every,
                c.early_stopping.patience,
                c.loss.weight_decay
            ),
        ),
        (
            "iterations",
            format!(
                "{} ({}); best validation NLL at iteration {}{}",
                o.training.report.iterations,
                o.training.stopped,
                o.training.best_iteration,
                o.other_starts
                    .iter()
                    .enumerate()
                    .map(|(s, t)| format!(
                        "; start {}: {} ({}), best at {}",
                        s + 2,
                        t.report.iterations,
                        t.stopped,
                        t.best_iteration
                    ))
                    .collect::<String>()
            ),
        ),
        (
            "exact integral of the pdf over the support - 1",
            format!(
                "{:.3e} (the blob as written, read back, vertex sum in f64)",
                o.normalisation_error
            ),
        ),
        ("wall time", format!("{:.2} s", o.seconds)),
    ];
    let mut rows = rows.to_vec();
    if let Some(j) = &o.seam {
        rows.push((
            "largest jump of the x-density across the seam",
            format!(
                "{:.4e} absolute, {:.2} % of the larger side (at u = {:.4?}; {} seam points; \
                 loss.seam = {})",
                j.absolute,
                100.0 * j.relative,
                j.at,
                j.points,
                c.loss.seam
            ),
        ));
    }
    if let Some(note) = &o.blob_note {
        rows.push(("device blob", note.clone()));
    }
    s.push_str("| | |\n| --- | --- |\n");
    for (k, v) in rows {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    s.push_str(
        "\n## Negative log-likelihood (nats per sample, data coordinates)\n\n\
         Same split for every method. The FINN is normalised over the support, the baselines \
         over all of R^n.\n\n",
    );
    let mut table: Vec<&Scores> = vec![&o.finn];
    table.extend(o.gmm.iter());
    table.extend(o.kde.iter());
    s.push_str(&score_rows(&table));
    if !o.gmm_tried.is_empty() {
        s.push_str("\nGaussian mixture, validation NLL by number of components: ");
        let tried: Vec<String> = o
            .gmm_tried
            .iter()
            .map(|(k, v)| format!("{k}: {v:.4}"))
            .collect();
        s.push_str(&tried.join(", "));
        s.push('\n');
    }
    if let Some(sc) = &o.sampling {
        let _ = write!(
            s,
            "\n## Samples (finn-core's sampler)\n\n{} samples drawn and checked in {:.2} s: the first uniform \
             picks the component, the others go to `Density::sample` (sequential inversion of \
             the conditional CDFs). Chi-square of their counts on a grid over the plotted range \
             (plus one cell for the rest of the space) against the model's exact box \
             probabilities{}: {:.1} at {} degrees of freedom (Wilson-Hilferty z = {:.2}; above \
             1.645 rejects at 5 %). Every sample is the exact sequential inverse of uniforms \
             within {:.2e} of its own (a bound on |C_k(sample) - u_k| for the exact model, \
             recomputed in double-double where f64's rounding bound exceeds {:.0e}, on {} \
             samples; `density::sampling`); samples beyond {:.0e}: {}. Largest \
             |C_k(sample) - u_k| as computed in f64: {:.2e}. Plot: `{name}-samples.png`.\n",
            sc.samples.len(),
            sc.seconds,
            if o.density.map.exact_boxes() {
                ""
            } else {
                " (on a mapped domain: the cells are the images of a grid of u-cells in \
                 (u_1, u_2), each sample counted in the cell of its u)"
            },
            sc.chi_square,
            sc.dof,
            sc.z,
            sc.max_error,
            INVERSION_TOLERANCE,
            sc.widened,
            INVERSION_TOLERANCE,
            sc.uncertified,
            sc.max_residual,
        );
    }
    s.push_str("\n## Validation checks\n\n| iteration | training loss | validation NLL (learning coordinates) |\n| --- | --- | --- |\n");
    for ch in &o.training.checks {
        let _ = writeln!(
            s,
            "| {} | {:.5} | {:.5} |",
            ch.iteration, ch.train_loss, ch.validation
        );
    }
    if o.density.map.exact_boxes() {
        let _ = write!(
            s,
            "\n## Plots\n\n`{name}-density.png`, `{name}-marginals.png` (n >= 2: model marginals \
             by exact differences of F), `{name}-loss.png`.\n"
        );
    } else {
        let _ = write!(
            s,
            "\n## Plots\n\n{}`{name}-loss.png`. The 1-D marginal plots are skipped on a mapped \
             domain: the marginal of an x-axis needs x-box probabilities, which are not exact \
             there (only images of u-boxes are).\n",
            if o.model.architecture.n <= 2 {
                format!("`{name}-density.png` (the pdf), ")
            } else {
                String::new()
            }
        );
    }
    let _ = write!(s, "\n## Config\n\n```toml\n{}\n```\n", job.text.trim_end());
    s
}
