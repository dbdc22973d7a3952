//! The paper's Figure 5 (`cargo xtask figure5`): the learned soft Q-function of the pendulum.
//!
//! Reads the exact learner's model `results/softq/pendulum.json` (written by
//! `cargo xtask train configs/softq-pendulum.toml`; when it is missing or was trained with
//! other settings, the exact learner of that config is trained here first) and writes
//! `results/figure5.png`: (a) Q(s, .) - V(s) over the action box for four states, (b) the exact
//! V(s) over (theta, thetadot), (c) histograms of actions sampled exactly from pi(.|s)
//! against pi; and `results/figure5.md` with the numbers (V at those states, the samples'
//! Kolmogorov-Smirnov distance to the exact CDF).

use super::learn::{core_model, train, Estimator, PendulumSoftQ};
use super::pendulum::Pendulum;
use super::run::{SoftQConfig, SoftQFile, JSON_FORMAT};
use crate::config::{Job, Spec};
use crate::plot::{has_font, FONT};
use crate::TrainError;
use plotters::prelude::*;
use std::f64::consts::PI;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Samples drawn per state for panel (c).
pub const SAMPLES: usize = 5000;

/// The states of panels (a) and (c): (label, theta, thetadot).
pub const STATES: [(&str, f64, f64); 4] = [
    ("hanging, still", PI, 0.0),
    ("upright, still", 0.0, 0.0),
    ("horizontal, rising at 3", PI / 2.0, -3.0),
    ("upright, falling at 4", 0.3, 4.0),
];

/// What [`run`] wrote.
#[derive(Clone, Debug)]
pub struct Figure5 {
    /// `results/figure5.md`.
    pub report: PathBuf,
    /// `results/figure5.png`.
    pub figure: PathBuf,
    /// One line for a terminal.
    pub summary: String,
}

fn plot_error(e: impl std::fmt::Display) -> TrainError {
    TrainError::Plot(e.to_string())
}

/// The model of the shipped config: read from its JSON when it matches the config, else
/// trained (exact learner only).
fn model(root: &Path) -> Result<(PendulumSoftQ, bool), TrainError> {
    let job = Job::from_toml_file(root.join("configs/softq-pendulum.toml"))?;
    let Spec::SoftQ(c) = &job.spec else {
        return Err(TrainError::Config(
            "configs/softq-pendulum.toml is not softq".into(),
        ));
    };
    let c: &SoftQConfig = c;
    let json = crate::config::with_suffix(&job.stem(), ".json");
    if let Ok(text) = std::fs::read_to_string(&json) {
        if let Ok(file) = serde_json::from_str::<SoftQFile>(&text) {
            if file.format == JSON_FORMAT && file.settings == c.training {
                return Ok((core_model(&c.training, &file.params)?, false));
            }
        }
    }
    let trained = train(&c.training, Estimator::Exact, |_, _| {})?;
    Ok((core_model(&c.training, &trained.params)?, true))
}

/// Draws Figure 5 and writes its report under `root/results`.
pub fn run(root: &Path) -> Result<Figure5, TrainError> {
    let (q, trained) = model(root)?;
    let results = root.join("results");
    std::fs::create_dir_all(&results)?;
    let figure = results.join("figure5.png");
    let report = results.join("figure5.md");
    let actions: Vec<f64> = (0..=200).map(|i| -2.0 + 4.0 * i as f64 / 200.0).collect();
    let mut curves = Vec::new();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Figure 5: the learned soft Q-function of Pendulum-v1\n"
    );
    let _ = writeln!(
        md,
        "Produced by `cargo xtask figure5` from the exact learner of \
         `configs/softq-pendulum.toml` ({}). Panels: (a) Q(s, a) - V(s) (= ln pi(a|s) / beta) over \
         the action box for four states; (b) the exact V(s) = (c(s) + ln of the integral of f~ over A) / beta \
         over the state space; (c) {SAMPLES} actions sampled exactly from pi(.|s) (CDF \
         inversion) against pi.\n",
        if trained {
            "trained here: results/softq/pendulum.json was missing or stale"
        } else {
            "read from results/softq/pendulum.json"
        }
    );
    let _ = writeln!(
        md,
        "| state | theta | thetadot | V(s) | argmax Q | KS distance of the samples |"
    );
    let _ = writeln!(md, "| --- | --- | --- | --- | --- | --- |");
    let mut rng = crate::random::SplitMix64::new(5);
    let mut hists = Vec::new();
    for (label, th, thd) in STATES {
        let s = Pendulum {
            theta: th,
            theta_dot: thd,
        }
        .features();
        let at = q.at(&s)?;
        // Q - V = ln pi / beta: Q's shape in a, which differs by hundreds across states.
        let qs: Vec<(f64, f64)> = actions
            .iter()
            .map(|&a| Ok((a, at.q(&[a])? - at.v())))
            .collect::<Result<_, TrainError>>()?;
        let best = qs.iter().cloned().fold(
            (0.0, f64::NEG_INFINITY),
            |b, p| if p.1 > b.1 { p } else { b },
        );
        let mut samples: Vec<f64> = (0..SAMPLES)
            .map(|_| Ok(at.sample(&[rng.unit()])?[0]))
            .collect::<Result<_, TrainError>>()?;
        let ks = crate::density::figure4::ks_statistic(&mut samples, |a| {
            at.density().cdf(&[a]).unwrap_or(f64::NAN)
        });
        let pdf: Vec<(f64, f64)> = actions
            .iter()
            .map(|&a| Ok((a, at.policy_pdf(&[a])?)))
            .collect::<Result<_, TrainError>>()?;
        let _ = writeln!(
            md,
            "| {label} | {th:.3} | {thd:.1} | {:.2} | {:.2} | {ks:.4} |",
            at.v(),
            best.0
        );
        curves.push((format!("{label}, V = {:.1}", at.v()), qs));
        hists.push((label, samples, pdf));
    }
    // V over the state space.
    let (nt, nd) = (90, 60);
    let mut grid = Vec::with_capacity(nt * nd);
    for i in 0..nt {
        for j in 0..nd {
            let th = -PI + 2.0 * PI * (i as f64 + 0.5) / nt as f64;
            let thd = -8.0 + 16.0 * (j as f64 + 0.5) / nd as f64;
            let s = Pendulum {
                theta: th,
                theta_dot: thd,
            }
            .features();
            grid.push((th, thd, q.v(&s)?));
        }
    }
    let (vmin, vmax) = grid
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.2), b.max(p.2))
        });
    let _ = writeln!(
        md,
        "\nV over theta in [-pi, pi], thetadot in [-8, 8] ({nt} x {nd} grid): from {vmin:.1} \
         to {vmax:.1} (dark to bright in panel (b)).\n\n![Figure 5](figure5.png)"
    );
    draw(&figure, &curves, &grid, (vmin, vmax), &hists).map_err(plot_error)?;
    std::fs::write(&report, md)?;
    Ok(Figure5 {
        summary: format!("Figure 5: V from {vmin:.1} to {vmax:.1} over the state space"),
        report,
        figure,
    })
}

type Curves = [(String, Vec<(f64, f64)>)];
type Hists<'a> = [(&'a str, Vec<f64>, Vec<(f64, f64)>)];

const COLOURS: [RGBColor; 4] = [
    RGBColor(200, 40, 40),
    RGBColor(30, 90, 200),
    RGBColor(20, 140, 60),
    RGBColor(150, 60, 170),
];

fn draw(
    path: &Path,
    curves: &Curves,
    grid: &[(f64, f64, f64)],
    (vmin, vmax): (f64, f64),
    hists: &Hists<'_>,
) -> Result<(), Box<dyn std::error::Error>> {
    let text = has_font();
    let root = BitMapBackend::new(path, (1650, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, 3));
    // (a) Q(s, .).
    let (lo, hi) = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| p.1))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let pad = 0.05 * (hi - lo).max(1e-9);
    let mut b = ChartBuilder::on(&panels[0]);
    b.margin(12);
    if text {
        b.caption("(a) Q(s, a) - V(s) for four states", (FONT, 20))
            .x_label_area_size(35)
            .y_label_area_size(55);
    }
    let mut chart = b.build_cartesian_2d(-2.0..2.0, (lo - pad)..(hi + pad))?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("torque a").label_style((FONT, 14));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw()?;
    for ((label, c), colour) in curves.iter().zip(COLOURS) {
        let s = chart.draw_series(LineSeries::new(c.clone(), colour.stroke_width(2)))?;
        if text {
            s.label(label.as_str()).legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 14, y)], colour.stroke_width(2))
            });
        }
    }
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT, 13))
            .position(SeriesLabelPosition::LowerRight)
            .draw()?;
    }
    // (b) V over the state space.
    let mut b = ChartBuilder::on(&panels[1]);
    b.margin(12);
    if text {
        b.caption("(b) exact V(theta, thetadot)", (FONT, 20))
            .x_label_area_size(35)
            .y_label_area_size(45);
    }
    let mut chart = b.build_cartesian_2d(-PI..PI, -8.0..8.0)?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("theta (0 upright)")
            .y_desc("thetadot")
            .label_style((FONT, 14));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.disable_mesh().draw()?;
    let (dt, dd) = (PI / 90.0, 8.0 / 60.0);
    chart.draw_series(grid.iter().map(|&(th, thd, v)| {
        let t = ((v - vmin) / (vmax - vmin).max(1e-12)).clamp(0.0, 1.0);
        let colour = HSLColor(0.7 - 0.55 * t, 0.8, 0.15 + 0.6 * t);
        Rectangle::new([(th - dt, thd - dd), (th + dt, thd + dd)], colour.filled())
    }))?;
    // (c) sampled actions against pi, for the first two states.
    let bins = 40;
    let width = 4.0 / bins as f64;
    let mut top: f64 = 0.0;
    let mut bars = Vec::new();
    for (k, (_, samples, pdf)) in hists.iter().enumerate().take(2) {
        let mut counts = vec![0usize; bins];
        for &a in samples {
            counts[(((a + 2.0) / width) as usize).min(bins - 1)] += 1;
        }
        let heights: Vec<f64> = counts
            .iter()
            .map(|&c| c as f64 / (samples.len() as f64 * width))
            .collect();
        top = top.max(heights.iter().cloned().fold(0.0, f64::max));
        top = top.max(pdf.iter().map(|p| p.1).fold(0.0, f64::max));
        bars.push((k, heights));
    }
    let mut b = ChartBuilder::on(&panels[2]);
    b.margin(12);
    if text {
        b.caption("(c) exact samples of pi(a|s) against pi", (FONT, 20))
            .x_label_area_size(35)
            .y_label_area_size(55);
    }
    let mut chart = b.build_cartesian_2d(-2.0..2.0, 0.0..top * 1.1)?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("torque a").label_style((FONT, 14));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw()?;
    for (k, heights) in &bars {
        let colour = COLOURS[*k];
        chart.draw_series(heights.iter().enumerate().map(|(i, &h)| {
            let x0 = -2.0 + i as f64 * width;
            Rectangle::new([(x0, 0.0), (x0 + width, h)], colour.mix(0.3).filled())
        }))?;
        let (label, _, pdf) = &hists[*k];
        let s = chart.draw_series(LineSeries::new(pdf.clone(), colour.stroke_width(2)))?;
        if text {
            s.label(format!("pi, {label}")).legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 14, y)], colour.stroke_width(2))
            });
        }
    }
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT, 13))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
