//! The Markdown report of a `deviation` run (`<stem>-report.md`) and its plot
//! (`<stem>.png`, one input: data, base, learned function and the deviation region).

use super::{DeviationConfig, DeviationModel, DeviationOutcome, Errors, Prepared};
use crate::config::{with_suffix, Job};
use crate::plot::{has_font, FONT};
use crate::TrainError;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// `| method | selected | train | validation | test |` rows of mean squared errors.
pub(crate) fn error_rows(rows: &[&Errors]) -> String {
    let mut s = String::from(
        "| method | selected | train MSE | validation MSE | test MSE |\n\
         | --- | --- | --- | --- | --- |\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {:.4e} | {:.4e} | {} |",
            r.method,
            r.detail,
            r.train,
            r.validation,
            r.test.map_or("-".into(), |t| format!("{t:.4e}"))
        );
    }
    s
}

/// Writes the report and, for one input, the plot; returns the files.
pub(super) fn write(
    job: &Job,
    c: &DeviationConfig,
    stem: &Path,
    data: &Prepared,
    o: &DeviationOutcome,
) -> Result<Vec<PathBuf>, TrainError> {
    let mut files = Vec::new();
    let name = stem
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut s = format!("# Bounded deviation `{name}`\n\n");
    let _ = writeln!(s, "Command: `{}`\n", job.command());
    let m = &o.model;
    let _ = writeln!(
        s,
        "phi(x) = psi(x) + s f(x) d(x) on the domain {:?} to {:?}: psi a degree-{} polynomial \
         ({}), f a positive FINN (widths {:?}), d = nu / sqrt(|nu|^2 + {}^2) from {} tanh \
         network(s) (widths {:?}). Points: {} train / {} validation / {} test (seed {}).\n",
        m.lower,
        m.upper,
        m.base.degree,
        if c.base.coefficients.is_some() {
            "given"
        } else {
            "least squares on the training points"
        },
        m.magnitude.widths,
        m.softness,
        m.outputs(),
        m.direction.widths,
        o.sizes.0,
        o.sizes.1,
        o.sizes.2,
        c.seed
    );
    s.push_str("## Total deviation\n\n");
    let _ = writeln!(
        s,
        "| quantity | value |\n| --- | --- |\n| eps (the budget) | {} |\n| integral of s f over the domain (double-double corner sum; J <= this by construction) | {:.12e} |\n| J(psi, phi) by quadrature (16 panels x 20 nodes per axis) | {} |\n| scale s | {:.6} ({}) |\n| J of the unconstrained model, same size | {} |\n",
        m.eps,
        o.deviation_bound,
        o.total_deviation.map_or("- (n > 2)".into(), |j| format!("{j:.6e}")),
        m.scale,
        if m.scale < 1.0 { "the budget binds" } else { "the budget does not bind" },
        o.unconstrained_deviation.map_or("-".into(), |j| format!("{j:.6e}"))
    );
    if let Some(k) = &o.ceiling {
        s.push_str("## Pointwise ceiling\n\n");
        let _ = writeln!(
            s,
            "|phi - psi| <= f <= delta = {} everywhere in the domain: **{}** by branch and bound \
             on rigorous enclosures of f (`finn_train::supremum`): proven bound {:.6e}, largest \
             value found {:.6e} at {:?}, {} boxes, {:.2} s. {}\n",
            k.delta,
            if k.proven { "proven" } else { "NOT proven" },
            k.upper,
            k.found.0,
            k.found.1,
            k.boxes,
            k.seconds,
            match k.rescaled_from {
                Some(before) => format!(
                    "The trained magnitude's supremum was at most {:.6e} > delta, so its scale \
                     was lowered from {before:.6e} to {:.6e} (the integral shrinks with it).",
                    k.trained_upper, m.scale
                ),
                None => format!(
                    "The trained magnitude already stayed below (supremum at most {:.6e}).",
                    k.trained_upper
                ),
            }
        );
    }
    s.push_str("## Errors (mean squared error summed over outputs, same split)\n\n");
    let mut rows = vec![&o.base, &o.phi];
    rows.extend(o.unconstrained.iter());
    rows.extend(o.ablation.iter());
    rows.extend(o.tuned.iter());
    s.push_str(&error_rows(&rows));
    let _ = writeln!(s, "\nTraining stopped: {}.\n", o.training.stopped);
    if m.inputs() == 1 {
        let png = with_suffix(stem, ".png");
        let title = format!("{name}: J <= {:.4} <= eps = {}", o.deviation_bound, m.eps);
        plot_1d(&png, &title, m, &[&data.train, &data.test], None)?;
        let _ = writeln!(
            s,
            "![data, base and learned function]({})\n",
            png.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        files.push(png);
    }
    s.push_str("## Config\n\n```toml\n");
    s.push_str(&job.text);
    s.push_str("\n```\n");
    let path = with_suffix(stem, "-report.md");
    std::fs::write(&path, s)?;
    files.push(path);
    Ok(files)
}

/// Data (first output), psi, phi, optionally the truth, and the region between them (whose area is J) over the
/// domain of a one-input model.
pub fn plot_1d(
    path: &Path,
    title: &str,
    m: &DeviationModel,
    parts: &[&(ndarray::Array2<f64>, ndarray::Array2<f64>)],
    truth: Option<&dyn Fn(f64) -> f64>,
) -> Result<(), TrainError> {
    let text = has_font();
    let (a, b) = (m.lower[0], m.upper[0]);
    let steps = 600;
    let mut curve = Vec::with_capacity(steps + 1);
    for i in 0..=steps {
        let x = a + (b - a) * i as f64 / steps as f64;
        curve.push((x, m.base.value(&[x])[0], m.value(&[x])?[0]));
    }
    let points: Vec<(f64, f64)> = parts
        .iter()
        .flat_map(|p| {
            p.0.column(0)
                .iter()
                .copied()
                .zip(p.1.column(0).iter().copied())
                .collect::<Vec<_>>()
        })
        .collect();
    let ys = curve
        .iter()
        .flat_map(|(_, p, q)| [*p, *q])
        .chain(points.iter().map(|(_, y)| *y));
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    let pad = 0.08 * (hi - lo).max(1e-9);
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
        root.fill(&WHITE)?;
        let mut builder = ChartBuilder::on(&root);
        builder.margin(20);
        if text {
            builder
                .caption(title, (FONT, 22))
                .x_label_area_size(40)
                .y_label_area_size(60);
        }
        let mut chart = builder.build_cartesian_2d(a..b, (lo - pad)..(hi + pad))?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc("x").y_desc("y").label_style((FONT, 15));
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw()?;
        // The deviation region: thin vertical bands between psi and phi.
        let band = RGBColor(255, 140, 0).mix(0.35);
        chart.draw_series(curve.windows(2).map(|w| {
            let (x0, p0, q0) = w[0];
            let (x1, p1, q1) = w[1];
            Polygon::new(vec![(x0, p0), (x0, q0), (x1, q1), (x1, p1)], band.filled())
        }))?;
        let base = chart.draw_series(LineSeries::new(
            curve.iter().map(|(x, p, _)| (*x, *p)),
            BLUE.stroke_width(2),
        ))?;
        if text {
            base.label("base psi")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLUE));
        }
        let phi = chart.draw_series(LineSeries::new(
            curve.iter().map(|(x, _, q)| (*x, *q)),
            RED.stroke_width(2),
        ))?;
        if text {
            phi.label("learned phi")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], RED));
        }
        if let Some(t) = truth {
            let grey = RGBColor(120, 120, 120);
            let line = chart.draw_series(LineSeries::new(
                curve.iter().map(|(x, _, _)| (*x, t(*x))),
                grey.stroke_width(1),
            ))?;
            if text {
                line.label("truth")
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], grey));
            }
        }
        chart.draw_series(
            points
                .iter()
                .map(|(x, y)| Circle::new((*x, *y), 3, BLACK.mix(0.6).filled())),
        )?;
        if text {
            chart
                .configure_series_labels()
                .label_font((FONT, 15))
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()?;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| TrainError::Plot(format!("drawing {}: {e}", path.display())))
}
