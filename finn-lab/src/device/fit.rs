//! The records of the fit workload (`firmware/src/fit.rs`, built when the embedded blob is a
//! model blob): the player's capacity, the domain, f and F at the Halton points
//! ([`Run::fit_samples`]), and the exact integrals over the domain ([`Run::fit_integral`]) and
//! over its sub-boxes ([`Run::fit_boxes`]), every value as its `f32` bit pattern.
//!
//! The points are `finn_embedded::FitPlayer::halton_point(k)`, k = 0..N; the sub-boxes, with
//! w_i = hi_i - lo_i in `f32`, are the lower half along each axis j (box j, its upper corner on
//! axis j lo_j + w_j * 0.5) and the centre box [lo_i + w_i * 0.25, lo_i + w_i * 0.75] (box n).

use super::run::{parse_hex_u32, Record, Run};
use anyhow::{bail, ensure, Context, Result};

/// f and F at one point, as the device printed them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FitSample {
    /// k, in 0..N.
    pub index: usize,
    /// The bit patterns of the point x_k, n words.
    pub point: Vec<u32>,
    /// F and f at x_k, or the text of the error either returned (F's first).
    pub outcome: std::result::Result<FitBits, String>,
}

/// The `f32` bit patterns of F and f at one point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FitBits {
    /// F(x), the antiderivative.
    pub antiderivative: u32,
    /// f(x), the integrand (the learned function).
    pub integrand: u32,
}

/// The exact integral of f over one sub-box, as the device printed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FitBox {
    /// j, in 0..=n.
    pub index: usize,
    /// The bit patterns of the box's lower corner, n words.
    pub lower: Vec<u32>,
    /// The bit patterns of its upper corner, n words.
    pub upper: Vec<u32>,
    /// The integral's bit pattern, or the text of the error `integral_over` returned.
    pub outcome: std::result::Result<u32, String>,
}

impl Run {
    /// The fit player's capacity `[N, W, L]` from the `fit_capacity` line.
    pub fn fit_capacity(&self) -> Result<[usize; 3]> {
        let record = self.single("fit_capacity")?;
        let numbers = record
            .fields
            .iter()
            .map(|f| f.parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("malformed fit_capacity line: {record:?}"))?;
        match numbers[..] {
            [n, w, l] => Ok([n, w, l]),
            _ => bail!("malformed fit_capacity line: {record:?}"),
        }
    }

    /// The domain's lower and upper corners (`domain` line), n bit patterns each, for a model
    /// of `n` inputs.
    pub fn domain(&self, n: usize) -> Result<(Vec<u32>, Vec<u32>)> {
        let record = self.single("domain")?;
        let words = words(&record.fields, 2 * n, &record)?;
        Ok((words[..n].to_vec(), words[n..].to_vec()))
    }

    /// Every `point` and `point_error` line, in order, for a model of `n` inputs.
    pub fn fit_samples(&self, n: usize) -> Result<Vec<FitSample>> {
        let mut out = Vec::new();
        for record in self.records() {
            let error = match record.key {
                "point" => false,
                "point_error" => true,
                _ => continue,
            };
            let (index, rest) = index_and_rest(&record)?;
            ensure!(
                rest.len() > n,
                "a {} line of a model of {n} inputs has {} words after the index: {record:?}",
                record.key,
                rest.len()
            );
            let (point, rest) = rest.split_at(n);
            let point = words(point, n, &record)?;
            let outcome = if error {
                Err(rest.join(" "))
            } else {
                let values = words(rest, 2, &record)?;
                Ok(FitBits {
                    antiderivative: values[0],
                    integrand: values[1],
                })
            };
            out.push(FitSample {
                index,
                point,
                outcome,
            });
        }
        Ok(out)
    }

    /// The exact integral of f over the domain: the `integral` line's bit pattern, or the text
    /// of the `integral_error` line. Exactly one of the two must be present.
    pub fn fit_integral(&self) -> Result<std::result::Result<u32, String>> {
        let mut found = self
            .records()
            .filter(|r| r.key == "integral" || r.key == "integral_error");
        let record = found
            .next()
            .context("the firmware reported no `integral` or `integral_error` line")?;
        ensure!(
            found.next().is_none(),
            "the firmware reported more than one integral line"
        );
        if record.key == "integral_error" {
            ensure!(!record.fields.is_empty(), "an empty integral_error line");
            return Ok(Err(record.fields.join(" ")));
        }
        Ok(Ok(words(&record.fields, 1, &record)?[0]))
    }

    /// Every `box` and `box_error` line, in order, for a model of `n` inputs.
    pub fn fit_boxes(&self, n: usize) -> Result<Vec<FitBox>> {
        let mut out = Vec::new();
        for record in self.records() {
            let error = match record.key {
                "box" => false,
                "box_error" => true,
                _ => continue,
            };
            let (index, rest) = index_and_rest(&record)?;
            ensure!(
                rest.len() > 2 * n,
                "a {} line of a model of {n} inputs has {} words after the index: {record:?}",
                record.key,
                rest.len()
            );
            let (corners, rest) = rest.split_at(2 * n);
            let corners = words(corners, 2 * n, &record)?;
            let outcome = if error {
                Err(rest.join(" "))
            } else {
                Ok(words(rest, 1, &record)?[0])
            };
            out.push(FitBox {
                index,
                lower: corners[..n].to_vec(),
                upper: corners[n..].to_vec(),
                outcome,
            });
        }
        Ok(out)
    }

    /// The one record with this key.
    fn single(&self, key: &str) -> Result<Record<'_>> {
        let mut found = self.records().filter(|r| r.key == key);
        let record = found
            .next()
            .with_context(|| format!("the firmware reported no `{key}` line"))?;
        ensure!(
            found.next().is_none(),
            "the firmware reported more than one `{key}` line"
        );
        Ok(record)
    }
}

/// The decimal index that opens a record's fields, and the fields after it.
fn index_and_rest<'r, 'a>(record: &'r Record<'a>) -> Result<(usize, &'r [&'a str])> {
    match &record.fields[..] {
        [index, rest @ ..] => Ok((
            index
                .parse()
                .with_context(|| format!("index of {record:?}"))?,
            rest,
        )),
        _ => bail!("malformed {} line: {record:?}", record.key),
    }
}

/// Exactly `count` hexadecimal words.
fn words(fields: &[&str], count: usize, record: &Record<'_>) -> Result<Vec<u32>> {
    ensure!(
        fields.len() == count,
        "expected {count} words, found {}: {record:?}",
        fields.len()
    );
    fields
        .iter()
        .map(|w| parse_hex_u32(w).with_context(|| format!("in {record:?}")))
        .collect()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;
    use std::time::Duration;

    fn run(stdout: &str) -> Run {
        Run {
            status: ExitStatus::from_raw(0),
            stdout: stdout.into(),
            stderr: String::new(),
            wall_time: Duration::ZERO,
        }
    }

    #[test]
    fn parses_fit_records() {
        let run = run("blob_bytes 2777\nfit_capacity 2 16 2\nplayer_bytes 2424\n\
             domain 0xbf800000 0x00000000 0x3f800000 0x40000000\n\
             point 0 0xbf800000 0x00000000 0x00000001 0x00000002\n\
             point_error 1 0x7fc00000 0x00000000 result is not finite in this precision\n\
             integral 0x40000000\n\
             box 0 0x1 0x2 0x3 0x4 0x5\n\
             box_error 1 0x1 0x2 0x3 0x4 lower >= upper on axis 0\n\
             workload fit\n");
        assert_eq!(run.fit_capacity().unwrap(), [2, 16, 2]);
        assert_eq!(
            run.domain(2).unwrap(),
            (vec![0xbf80_0000, 0], vec![0x3f80_0000, 0x4000_0000])
        );
        assert!(run.domain(3).is_err(), "4 words are not a 3-D domain");
        let samples = run.fit_samples(2).unwrap();
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].index, 0);
        assert_eq!(samples[0].point, [0xbf80_0000, 0]);
        assert_eq!(
            samples[0].outcome,
            Ok(FitBits {
                antiderivative: 1,
                integrand: 2
            })
        );
        assert_eq!(samples[1].point, [0x7fc0_0000, 0]);
        assert_eq!(
            samples[1].outcome,
            Err("result is not finite in this precision".to_string())
        );
        assert_eq!(run.fit_integral().unwrap(), Ok(0x4000_0000));
        let boxes = run.fit_boxes(2).unwrap();
        assert_eq!(boxes.len(), 2);
        assert_eq!(
            (boxes[0].lower.clone(), boxes[0].upper.clone()),
            (vec![1, 2], vec![3, 4])
        );
        assert_eq!(boxes[0].outcome, Ok(5));
        assert_eq!(
            boxes[1].outcome,
            Err("lower >= upper on axis 0".to_string())
        );
    }

    #[test]
    fn malformed_fit_records_are_errors() {
        // A point with one value missing, or a word that is not hex.
        assert!(run("point 0 0x1 0x2 0x3\n").fit_samples(2).is_err());
        assert!(run("point 0 0x1 0x2 0x3 0x4 0x5\n").fit_samples(2).is_err());
        assert!(run("point 0 0x1 0x2 0x3 nope\n").fit_samples(2).is_err());
        assert!(run("point x 0x1 0x2 0x3 0x4\n").fit_samples(2).is_err());
        assert!(run("point_error 0 0x1\n").fit_samples(2).is_err());
        assert!(run("box 0 0x1 0x2 0x3 0x4\n").fit_boxes(2).is_err());
        assert!(run("box 0 0x1 0x2 0x3 0x4 0x5 0x6\n").fit_boxes(2).is_err());
        assert!(run("fit_capacity 2 16\n").fit_capacity().is_err());
        assert!(run("fit_capacity 2 16 2\nfit_capacity 2 16 2\n")
            .fit_capacity()
            .is_err());
        assert!(run("").fit_integral().is_err(), "missing");
        assert!(run("integral 0x1\nintegral_error overflow\n")
            .fit_integral()
            .is_err());
        assert!(run("integral 0x1 0x2\n").fit_integral().is_err());
        assert_eq!(
            run("integral_error result is not finite\n")
                .fit_integral()
                .unwrap(),
            Err("result is not finite".to_string())
        );
        // A trajectory run has no fit records: no samples, but no domain either.
        let trajectory = run("capacity 3 16 2 1\nsample 0 0x0 0x1 0x2 0x3\n");
        assert!(trajectory.fit_samples(1).unwrap().is_empty());
        assert!(trajectory.domain(1).is_err());
    }
}
