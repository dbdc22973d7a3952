//! `cargo xtask eval`: evaluate a trained model file at points and over boxes.
//!
//! ```text
//! cargo xtask eval --model results/run.json --points points.csv
//! cargo xtask eval --model results/run.postcard --box -1,-1:1,1 --box 0,0:3,3
//! ```
//!
//! * `--model`: a `.json` model, or a postcard blob (any other extension).
//! * `--points`: a CSV file with one point per line, columns x_1..x_n. A header line (first
//!   field not a number), blank lines and `#` comments are skipped; an (n+1)-th column (a
//!   training target, as in the `data.csv` files of `cargo xtask train`) is ignored.
//! * `--box LO:HI` (repeatable): the box's lower corner and upper corner, each as n
//!   comma-separated numbers, e.g. `--box -3,-3:3,3`.
//!
//! Output on stdout: the CSV header `x_1,..,x_n,F,f` and one row per point (every number in
//! Rust's shortest round-trip form, `{:e}`, so it reads back to the same f64); then, per box,
//! a comment line `# integral over LO:HI = I` with the exact integral of f over the box.

use anyhow::{bail, ensure, Context, Result};
use finn_train::eval::Evaluator;
use finn_train::model::TrainedModel;
use std::fmt::Write as _;
use std::path::Path;

/// Reads the points of a CSV file (n or n + 1 columns; the extra one is ignored).
pub fn read_points(path: &Path, n: usize) -> Result<Vec<Vec<f64>>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read points file {}", path.display()))?;
    let mut points = Vec::new();
    let mut first = true;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if first && fields[0].parse::<f64>().is_err() {
            first = false;
            continue;
        }
        first = false;
        ensure!(
            fields.len() == n || fields.len() == n + 1,
            "{} line {}: {} columns, the model needs x_1..x_{n} ({n} columns, or {} with a \
             target)",
            path.display(),
            i + 1,
            fields.len(),
            n + 1
        );
        let x = fields[..n]
            .iter()
            .map(|f| {
                f.parse::<f64>().map_err(|_| {
                    anyhow::anyhow!("{} line {}: '{f}' is not a number", path.display(), i + 1)
                })
            })
            .collect::<Result<Vec<f64>>>()?;
        points.push(x);
    }
    Ok(points)
}

/// Parses `LO1,..,LOn:HI1,..,HIn`.
pub fn parse_box(spec: &str, n: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let Some((lo, hi)) = spec.split_once(':') else {
        bail!("--box {spec}: expected LO1,..,LOn:HI1,..,HIn (corners separated by ':')");
    };
    let corner = |s: &str, which: &str| -> Result<Vec<f64>> {
        let v = s
            .split(',')
            .map(|f| {
                f.trim()
                    .parse::<f64>()
                    .map_err(|_| anyhow::anyhow!("--box {spec}: '{f}' is not a number"))
            })
            .collect::<Result<Vec<f64>>>()?;
        ensure!(
            v.len() == n,
            "--box {spec}: the {which} corner has {} numbers, the model has n = {n}",
            v.len()
        );
        Ok(v)
    };
    Ok((corner(lo, "lower")?, corner(hi, "upper")?))
}

/// The CSV and box lines for a model.
pub fn render(
    model: &TrainedModel,
    points: &[Vec<f64>],
    boxes: &[(Vec<f64>, Vec<f64>)],
) -> Result<String> {
    let eval = Evaluator::new(model).context("the model cannot be evaluated")?;
    let n = eval.dim();
    let mut out = String::new();
    if !points.is_empty() {
        let header: Vec<String> = (1..=n).map(|i| format!("x_{i}")).collect();
        let _ = writeln!(out, "{},F,f", header.join(","));
        for (row, x) in points.iter().enumerate() {
            let big_f = eval
                .antiderivative(x)
                .with_context(|| format!("point {} ({x:?})", row + 1))?;
            let f = eval
                .integrand(x)
                .with_context(|| format!("point {} ({x:?})", row + 1))?;
            for v in x {
                let _ = write!(out, "{v:e},");
            }
            let _ = writeln!(out, "{big_f:e},{f:e}");
        }
    }
    for (lo, hi) in boxes {
        let i = eval
            .integral_over(lo, hi)
            .with_context(|| format!("box {lo:?}:{hi:?}"))?;
        let join = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:e}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let _ = writeln!(out, "# integral over {}:{} = {i:e}", join(lo), join(hi));
    }
    Ok(out)
}

/// `cargo xtask eval`.
pub fn command(model: &Path, points: Option<&Path>, boxes: &[String]) -> Result<()> {
    ensure!(
        points.is_some() || !boxes.is_empty(),
        "nothing to evaluate: give --points FILE.csv and/or --box LO:HI"
    );
    let m = TrainedModel::load(model)
        .with_context(|| format!("cannot load model {}", model.display()))?;
    let n = m.architecture.n;
    let pts = match points {
        Some(p) => read_points(p, n)?,
        None => Vec::new(),
    };
    let bx = boxes
        .iter()
        .map(|b| parse_box(b, n))
        .collect::<Result<Vec<_>>>()?;
    print!("{}", render(&m, &pts, &bx)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use finn_core::{Activation, Kind, Resolved};
    use finn_train::model::Architecture;

    #[test]
    fn boxes_and_points() {
        assert_eq!(
            parse_box("-1, -2:3,4e0", 2).unwrap(),
            (vec![-1.0, -2.0], vec![3.0, 4.0])
        );
        assert!(parse_box("-1,-2;3,4", 2).is_err());
        assert!(parse_box("-1:3,4", 2).is_err());
        assert!(parse_box("a,1:3,4", 2).is_err());

        let dir = std::env::temp_dir().join(format!("finn-eval-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("p.csv");
        std::fs::write(&p, "x,y\n# c\n0.5,1\n\n2,3,9\n").unwrap();
        assert_eq!(
            read_points(&p, 2).unwrap(),
            vec![vec![0.5, 1.0], vec![2.0, 3.0]]
        );
        std::fs::write(&p, "1,2,3,4\n").unwrap();
        assert!(read_points(&p, 2).is_err());
        std::fs::remove_dir_all(&dir).ok();

        // F(x) = tanh(x) on [0, 1]: f = sech^2, integral over [0, 1] = tanh(1).
        let model = TrainedModel {
            architecture: Architecture {
                n: 1,
                kind: Kind::Signed,
                activation: Activation::Tanh,
                widths: vec![1],
            },
            domain_lower: vec![0.0],
            domain_upper: vec![1.0],
            constraint: None,
            constants: Resolved::scaled(1.0),
            params: vec![1.0, 0.0, 1.0],
        };
        let out = render(&model, &[vec![0.0]], &[(vec![0.0], vec![1.0])]).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "x_1,F,f");
        assert_eq!(lines[1], "0e0,0e0,1e0");
        let i: f64 = lines[2].rsplit("= ").next().unwrap().parse().unwrap();
        assert_eq!(i, 1.0f64.tanh());
    }
}
