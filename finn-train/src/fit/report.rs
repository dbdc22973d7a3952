//! The Markdown report of a `fit` run (`<stem>-report.md`).

use super::loss::Fit;
use super::{FitConfig, FitOutcome};
use crate::config::Job;
use finn_core::dd::DoubleDouble;
use finn_core::{Bound, Constraint, Real};
use std::fmt::Write as _;

/// How the integral relates to the constraint, as a table cell: the difference for `Equal`,
/// and "holds" or "VIOLATED" for `AtMost` and `AtLeast`. The integral may be an f64 or a
/// [`DoubleDouble`] (the stored model's integral to about 32 digits, whose difference from eps
/// is below f64's spacing at eps).
///
/// ```
/// use finn_core::{Bound, Constraint, Method};
/// use finn_train::fit::constraint_check;
/// let c = Constraint::new(Bound::AtMost, Method::Shift, 1.0);
/// assert!(constraint_check(Some(c), 0.5).ends_with("holds"));
/// assert!(constraint_check(Some(c), 1.5).ends_with("VIOLATED"));
/// ```
pub fn constraint_check(
    constraint: Option<Constraint<f64>>,
    integral: impl Into<DoubleDouble>,
) -> String {
    let Some(c) = constraint else {
        return "no constraint".into();
    };
    let integral: DoubleDouble = integral.into();
    let diff = (integral - DoubleDouble::from(c.eps)).to_f64();
    let (integral, eps) = (integral, DoubleDouble::from(c.eps));
    let rel = diff.abs() / c.eps.abs().max(f64::MIN_POSITIVE);
    let verdict = |ok: bool| if ok { "holds" } else { "VIOLATED" };
    match c.bound {
        Bound::Equal => format!("integral - eps = {diff:.3e} (relative {rel:.3e})"),
        Bound::AtMost => format!("integral - eps = {diff:.3e}: {}", verdict(integral <= eps)),
        Bound::AtLeast => format!("integral - eps = {diff:.3e}: {}", verdict(integral >= eps)),
    }
}

/// The report: a table of what was trained and measured, then the config as written.
pub(super) fn markdown(job: &Job, c: &FitConfig, o: &FitOutcome) -> String {
    let name = o
        .stem
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let constraint = match o.model.constraint {
        None => "none".to_string(),
        Some(k) => format!("{:?} by {:?}, eps = {}", k.bound, k.method, k.eps),
    };
    let fitted = match c.fit() {
        Fit::Integrand => "f",
        Fit::Antiderivative => "F",
    };
    let a = &o.model.architecture;
    let k = &o.model.constants;
    let rows: Vec<(String, String)> = vec![
        (
            "network".into(),
            format!(
                "{:?}, {:?}, n = {}, widths {:?} ({} parameters)",
                a.kind,
                a.activation,
                a.n,
                a.widths,
                a.parameter_count()
            ),
        ),
        (
            "domain".into(),
            format!("{:?} to {:?}", c.domain.lower, c.domain.upper),
        ),
        ("constraint".into(), constraint),
        ("training samples".into(), o.data.targets.len().to_string()),
        ("final loss".into(), format!("{:.6e}", o.report.loss)),
        (
            format!("MSE of {fitted} on the training data"),
            format!("{:.6e}", o.mse),
        ),
        (
            "integral of f over the domain (the stored model's, double-double)".into(),
            format!("{:.17e}", o.integral),
        ),
        (
            "the target's exact integral over the domain".into(),
            o.target_integral
                .map_or("(data from a file)".into(), |v| format!("{v:.17e}")),
        ),
        (
            "integral vs eps".into(),
            constraint_check(o.model.constraint, o.exact_integral),
        ),
        (
            "constants (scale, gap, gap_low)".into(),
            format!("{:e}, {:e}, {:e}", k.scale, k.gap, k.gap_low),
        ),
        ("solver".into(), c.solver.describe()),
        ("iterations".into(), o.report.iterations.to_string()),
        ("termination".into(), o.report.termination.clone()),
        (
            "solver wall time".into(),
            format!("{:.2} s", o.report.seconds),
        ),
        ("total wall time".into(), format!("{:.2} s", o.seconds)),
    ];
    let mut s = String::new();
    let _ = writeln!(s, "# Training report: {name}\n");
    let _ = writeln!(s, "Command: `{}`\n", job.command());
    let _ = writeln!(s, "| quantity | value |\n| --- | --- |");
    for (k, v) in rows {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    let _ = writeln!(
        s,
        "\nFiles: `{name}.postcard` ({:?} weights blob), `{name}.json`, `{name}-loss.png`.\n",
        c.blob_scalar
    );
    let _ = writeln!(
        s,
        "## Config (`{}`)\n\n```toml\n{}\n```",
        job.shown_path().display(),
        job.text.trim_end()
    );
    s
}
