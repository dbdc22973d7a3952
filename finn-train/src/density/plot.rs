//! Plots of a trained density: the density (1-D: curve over the data's histogram; n >= 2: a
//! heatmap of the first two coordinates with the training points) and the 1-D marginals
//! (histograms of the data against the model's bin probabilities, exact vertex sums of F).

use super::data::Split;
use crate::config::with_suffix;
use crate::eval::Evaluator;

/// What the plots need of a density: its dimension, the range to draw, pdf values and exact
/// box probabilities.
pub(crate) trait View {
    fn dim(&self) -> usize;
    fn lower(&self) -> Vec<f64>;
    fn upper(&self) -> Vec<f64>;
    fn pdf(&self, x: &[f64]) -> Result<f64, TrainError>;
    fn probability(&self, a: &[f64], b: &[f64]) -> Result<f64, TrainError>;
}

impl View for Evaluator<'_> {
    fn dim(&self) -> usize {
        Evaluator::dim(self)
    }
    fn lower(&self) -> Vec<f64> {
        self.domain_lower().to_vec()
    }
    fn upper(&self) -> Vec<f64> {
        self.domain_upper().to_vec()
    }
    fn pdf(&self, x: &[f64]) -> Result<f64, TrainError> {
        Ok(self.integrand(x)?)
    }
    fn probability(&self, a: &[f64], b: &[f64]) -> Result<f64, TrainError> {
        Ok(self.integral_over(a, b)?)
    }
}
use crate::plot::{has_font, FONT};
use crate::TrainError;
use ndarray::Array2;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Bins of the histograms.
pub(crate) const BINS: usize = 40;
/// Cells per axis of the heatmap.
const CELLS: usize = 150;

/// A colour from dark blue (0) through teal and green to yellow (1).
pub(crate) fn colour(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let stops = [
        (0.0, (255.0, 255.0, 255.0)),
        (0.15, (200.0, 220.0, 240.0)),
        (0.4, (33.0, 120.0, 180.0)),
        (0.7, (40.0, 170.0, 110.0)),
        (1.0, (250.0, 230.0, 40.0)),
    ];
    let mut c = stops[0].1;
    for w in stops.windows(2) {
        let ((t0, a), (t1, b)) = (w[0], w[1]);
        if t >= t0 && t <= t1 {
            let u = (t - t0) / (t1 - t0);
            c = (
                a.0 + u * (b.0 - a.0),
                a.1 + u * (b.1 - a.1),
                a.2 + u * (b.2 - a.2),
            );
        }
    }
    RGBColor(c.0 as u8, c.1 as u8, c.2 as u8)
}

type Failure<'a> = Box<dyn std::error::Error + 'a>;

fn plot_error(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Plot(format!("drawing {}: {e}", path.display()))
}

/// Fractions of `values` in `bins` equal bins of [lo, hi] divided by the bin width (a
/// histogram normalised as a density).
pub(crate) fn histogram(
    values: impl Iterator<Item = f64>,
    lo: f64,
    hi: f64,
    bins: usize,
) -> Vec<f64> {
    let mut counts = vec![0.0; bins];
    let mut total = 0.0;
    let width = (hi - lo) / bins as f64;
    for v in values {
        let b = (((v - lo) / width) as usize).min(bins - 1);
        counts[b] += 1.0;
        total += 1.0;
    }
    counts
        .iter()
        .map(|c| c / (total * width).max(f64::MIN_POSITIVE))
        .collect()
}

/// The model's probability of each of `bins` equal slabs of axis `axis` (the whole support on
/// the other axes), divided by the slab width: the exact marginal density averaged over bins.
pub(crate) fn marginal_bins(
    eval: &dyn View,
    axis: usize,
    bins: usize,
) -> Result<Vec<f64>, TrainError> {
    let (lo, hi) = (eval.lower(), eval.upper());
    let width = (hi[axis] - lo[axis]) / bins as f64;
    (0..bins)
        .map(|b| {
            let mut a = lo.clone();
            let mut c = hi.clone();
            a[axis] = lo[axis] + b as f64 * width;
            c[axis] = if b + 1 == bins {
                hi[axis]
            } else {
                lo[axis] + (b + 1) as f64 * width
            };
            Ok(eval.probability(&a, &c)? / (c[axis] - a[axis]))
        })
        .collect()
}

/// A curve: its points, colour and legend.
pub(crate) type Curve = (Vec<(f64, f64)>, RGBColor, String);

/// One histogram panel: data bars against model values (bars of the same bins, or a curve).
pub(crate) struct Panel<'a> {
    pub title: String,
    pub lo: f64,
    pub hi: f64,
    /// Filled bars.
    pub bars: &'a [f64],
    /// Outlined bars on the same bins (model bin probabilities), or none.
    pub outline: Option<&'a [f64]>,
    /// Curves (x, y) with their colour and legend.
    pub curves: Vec<Curve>,
    pub bar_label: String,
    pub outline_label: String,
}

pub(crate) fn draw_panel(
    area: &DrawingArea<BitMapBackend, Shift>,
    p: &Panel,
) -> Result<(), Failure<'static>> {
    let text = has_font();
    let top = p
        .bars
        .iter()
        .chain(p.outline.unwrap_or(&[]))
        .copied()
        .chain(p.curves.iter().flat_map(|c| c.0.iter().map(|v| v.1)))
        .fold(0.0f64, f64::max)
        * 1.1;
    let mut b = ChartBuilder::on(area);
    b.margin(12);
    if text {
        b.caption(&p.title, (FONT, 20))
            .x_label_area_size(35)
            .y_label_area_size(55);
    }
    let mut chart = b
        .build_cartesian_2d(p.lo..p.hi, 0.0..top.max(1e-12))
        .map_err(|e| e.to_string())?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.label_style((FONT, 14))
            .y_label_formatter(&|v| format!("{v:.2}"));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| e.to_string())?;
    let bins = p.bars.len();
    let w = (p.hi - p.lo) / bins as f64;
    let fill = RGBColor(150, 180, 220);
    let series = chart
        .draw_series(p.bars.iter().enumerate().map(|(k, h)| {
            let x0 = p.lo + k as f64 * w;
            Rectangle::new([(x0, 0.0), (x0 + w, *h)], fill.filled())
        }))
        .map_err(|e| e.to_string())?;
    if text {
        series
            .label(p.bar_label.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], fill.filled()));
    }
    if let Some(outline) = p.outline {
        let red = RGBColor(200, 40, 40);
        let steps: Vec<(f64, f64)> = outline
            .iter()
            .enumerate()
            .flat_map(|(k, h)| {
                let x0 = p.lo + k as f64 * w;
                [(x0, *h), (x0 + w, *h)]
            })
            .collect();
        let s = chart
            .draw_series(LineSeries::new(steps, red.stroke_width(2)))
            .map_err(|e| e.to_string())?;
        if text {
            s.label(p.outline_label.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], red.stroke_width(2)));
        }
    }
    for (points, c, label) in &p.curves {
        let c = *c;
        let s = chart
            .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))
            .map_err(|e| e.to_string())?;
        if text {
            s.label(label.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], c.stroke_width(2)));
        }
    }
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT, 14))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// pdf on a grid of x values over the support of a 1-D model.
pub(crate) fn curve(eval: &dyn View, points: usize) -> Result<Vec<(f64, f64)>, TrainError> {
    let (lo, hi) = (eval.lower()[0], eval.upper()[0]);
    (0..points)
        .map(|k| {
            let x = lo + (hi - lo) * k as f64 / (points - 1) as f64;
            Ok((x, eval.pdf(&[x])?))
        })
        .collect()
}

fn heatmap(path: &Path, eval: &dyn View, points: &Array2<f64>) -> Result<(), TrainError> {
    let n = eval.dim();
    let (lo, hi) = (eval.lower(), eval.upper());
    let (wx, wy) = (
        (hi[0] - lo[0]) / CELLS as f64,
        (hi[1] - lo[1]) / CELLS as f64,
    );
    // n = 2: the pdf at cell centres; n > 2: the exact marginal of (x1, x2) averaged over cells.
    let mut values = vec![0.0; CELLS * CELLS];
    for i in 0..CELLS {
        for j in 0..CELLS {
            let (x0, y0) = (lo[0] + i as f64 * wx, lo[1] + j as f64 * wy);
            values[i * CELLS + j] = if n == 2 {
                eval.pdf(&[x0 + 0.5 * wx, y0 + 0.5 * wy])?
            } else {
                let mut a = lo.clone();
                let mut b = hi.clone();
                a[0] = x0;
                a[1] = y0;
                b[0] = x0 + wx;
                b[1] = y0 + wy;
                eval.probability(&a, &b)? / (wx * wy)
            };
        }
    }
    let top = values
        .iter()
        .copied()
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let text = has_font();
    let root = BitMapBackend::new(path, (820, 760)).into_drawing_area();
    let draw = || -> Result<(), Failure<'_>> {
        root.fill(&WHITE)?;
        let mut b = ChartBuilder::on(&root);
        b.margin(15);
        if text {
            let what = if n == 2 {
                "pdf"
            } else {
                "exact marginal density of (x1, x2)"
            };
            b.caption(format!("{what} and training points"), (FONT, 22))
                .x_label_area_size(40)
                .y_label_area_size(50);
        }
        let mut chart = b.build_cartesian_2d(lo[0]..hi[0], lo[1]..hi[1])?;
        chart.draw_series((0..CELLS * CELLS).map(|k| {
            let (i, j) = (k / CELLS, k % CELLS);
            let (x0, y0) = (lo[0] + i as f64 * wx, lo[1] + j as f64 * wy);
            Rectangle::new(
                [(x0, y0), (x0 + wx, y0 + wy)],
                colour(values[k] / top).filled(),
            )
        }))?;
        let mut mesh = chart.configure_mesh();
        mesh.disable_mesh();
        if text {
            mesh.x_desc("x1").y_desc("x2").label_style((FONT, 14));
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw()?;
        let step = (points.nrows() / 1500).max(1);
        chart.draw_series(
            points
                .rows()
                .into_iter()
                .step_by(step)
                .map(|r| Circle::new((r[0], r[1]), 1, BLACK.mix(0.6).filled())),
        )?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| plot_error(path, e))
}

fn marginals(path: &Path, eval: &dyn View, points: &Array2<f64>) -> Result<(), TrainError> {
    let n = eval.dim();
    let cols = n.min(3);
    let rows = n.div_ceil(cols);
    let root = BitMapBackend::new(path, (420 * cols as u32, 340 * rows as u32)).into_drawing_area();
    let areas = root.split_evenly((rows, cols));
    let mut panels = Vec::with_capacity(n);
    for axis in 0..n {
        let (lo, hi) = (eval.lower()[axis], eval.upper()[axis]);
        let data = histogram(points.column(axis).iter().copied(), lo, hi, BINS);
        let model = marginal_bins(eval, axis, BINS)?;
        panels.push((axis, lo, hi, data, model));
    }
    let draw = || -> Result<(), Failure<'_>> {
        root.fill(&WHITE)?;
        for ((axis, lo, hi, data, model), area) in panels.iter().zip(&areas) {
            draw_panel(
                area,
                &Panel {
                    title: format!("marginal of x{}", axis + 1),
                    lo: *lo,
                    hi: *hi,
                    bars: data,
                    outline: Some(model),
                    curves: Vec::new(),
                    bar_label: "data".into(),
                    outline_label: "model (exact bin probabilities)".into(),
                },
            )?;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| plot_error(path, e))
}

fn density_1d(path: &Path, eval: &dyn View, points: &Array2<f64>) -> Result<(), TrainError> {
    let (lo, hi) = (eval.lower()[0], eval.upper()[0]);
    let data = histogram(points.column(0).iter().copied(), lo, hi, BINS);
    let pdf = curve(eval, 400)?;
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    let draw = || -> Result<(), Failure<'_>> {
        root.fill(&WHITE)?;
        draw_panel(
            &root,
            &Panel {
                title: "learned pdf and the training data".into(),
                lo,
                hi,
                bars: &data,
                outline: None,
                curves: vec![(pdf.clone(), RGBColor(200, 40, 40), "model pdf".into())],
                bar_label: "training data".into(),
                outline_label: String::new(),
            },
        )?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| plot_error(path, e))
}

/// Writes `<stem>-density.png` and, for n >= 2, `<stem>-marginals.png`; returns their paths.
///
/// Without exact x-box probabilities (`exact_boxes = false`: a polar, ball or simplex
/// domain) only what needs the pdf alone is drawn: the 1-D curve, or the 2-D heatmap; the
/// marginals and the heatmap of n > 2 (both x-box probabilities) are skipped.
pub(super) fn draw(
    stem: &Path,
    eval: &dyn View,
    split: &Split,
    exact_boxes: bool,
) -> Result<Vec<PathBuf>, TrainError> {
    let density = with_suffix(stem, "-density.png");
    if eval.dim() == 1 {
        density_1d(&density, eval, &split.train)?;
        return Ok(vec![density]);
    }
    if !exact_boxes {
        if eval.dim() == 2 {
            heatmap(&density, eval, &split.train)?;
            return Ok(vec![density]);
        }
        return Ok(Vec::new());
    }
    heatmap(&density, eval, &split.train)?;
    let marg = with_suffix(stem, "-marginals.png");
    marginals(&marg, eval, &split.train)?;
    Ok(vec![density, marg])
}

/// A [`super::composite::DensityModel`] drawn over `lower..upper` (the support for a box,
/// the data's range for all of R^n).
pub(crate) struct CompositeView<'a> {
    pub model: &'a super::composite::DensityModel,
    pub evals: Vec<Evaluator<'a>>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
}

impl View for CompositeView<'_> {
    fn dim(&self) -> usize {
        self.model.dim()
    }
    fn lower(&self) -> Vec<f64> {
        self.lower.clone()
    }
    fn upper(&self) -> Vec<f64> {
        self.upper.clone()
    }
    fn pdf(&self, x: &[f64]) -> Result<f64, TrainError> {
        self.model.pdf(x)
    }
    fn probability(&self, a: &[f64], b: &[f64]) -> Result<f64, TrainError> {
        self.model.box_probability_with(&self.evals, a, b)
    }
}

/// A scatter panel: title, points, colour.
type Scatter<'a> = (&'a str, Vec<(f64, f64)>, RGBColor);

/// Samples drawn from the model beside the training points (first two coordinates).
pub(crate) fn samples_over_data(
    path: &Path,
    data: &Array2<f64>,
    samples: &[Vec<f64>],
    lo: &[f64],
    hi: &[f64],
) -> Result<(), TrainError> {
    let text = has_font();
    let root = BitMapBackend::new(path, (1300, 640)).into_drawing_area();
    let draw = || -> Result<(), Failure<'_>> {
        root.fill(&WHITE)?;
        let halves = root.split_evenly((1, 2));
        let sets: [Scatter; 2] = [
            (
                "training points",
                data.rows().into_iter().map(|r| (r[0], r[1])).collect(),
                RGBColor(33, 120, 180),
            ),
            (
                "samples from the model (finn-core's sampler)",
                samples.iter().map(|s| (s[0], s[1])).collect(),
                RGBColor(200, 60, 40),
            ),
        ];
        for (area, (title, pts, c)) in halves.iter().zip(sets) {
            let mut b = ChartBuilder::on(area);
            b.margin(15);
            if text {
                b.caption(title, (FONT, 20))
                    .x_label_area_size(35)
                    .y_label_area_size(45);
            }
            let mut chart = b.build_cartesian_2d(lo[0]..hi[0], lo[1]..hi[1])?;
            if text {
                chart.configure_mesh().label_style((FONT, 13)).draw()?;
            }
            chart.draw_series(
                pts.into_iter()
                    .filter(|(x, y)| *x >= lo[0] && *x <= hi[0] && *y >= lo[1] && *y <= hi[1])
                    .map(|p| Circle::new(p, 1, c.mix(0.6).filled())),
            )?;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| plot_error(path, e))
}
