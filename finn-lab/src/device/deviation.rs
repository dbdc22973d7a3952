//! The deviation application on the device: the records of the deviation workload
//! (`firmware/src/deviation.rs`, built when the embedded blob is a deviation blob, payload 3)
//! and [`check_deviation_run`], which compares every value the device printed with
//! `finn_embedded::DeviationPlayer` on the host, bit for bit.
//!
//! The workload evaluates phi and the magnitude f at N points it prints (a tenth of them on
//! each side outside the domain, where phi is the base), each of the two phases timed on its
//! own ([`Phase`](super::Phase)).

use super::density::{raw_lines, single, words};
use super::run::Run;
use anyhow::{anyhow, bail, ensure, Context, Result};
use finn_core::format::decode_deviation;
use finn_core::jet::{Dim, JetDim};
use finn_embedded::DeviationPlayer;

/// phi and f at one point, as the device printed them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviationPoint {
    /// k, in 0..N.
    pub index: usize,
    /// The point's bit patterns, n words.
    pub point: Vec<u32>,
    /// The bit patterns of phi (m words) then f, or the text of the first error.
    pub outcome: std::result::Result<Vec<u32>, String>,
}

impl Run {
    /// The deviation player's capacity `[N, M, W, L, K]` from the `deviation_capacity` line.
    pub fn deviation_capacity(&self) -> Result<[usize; 5]> {
        let record = single(self, "deviation_capacity")?;
        let numbers = record
            .fields
            .iter()
            .map(|f| f.parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("malformed deviation_capacity line: {record:?}"))?;
        match numbers[..] {
            [n, m, w, l, k] => Ok([n, m, w, l, k]),
            _ => bail!("malformed deviation_capacity line: {record:?}"),
        }
    }

    /// Every `deviation` and `deviation_error` line, in order, for n inputs and m outputs.
    pub fn deviation_points(&self, n: usize, m: usize) -> Result<Vec<DeviationPoint>> {
        raw_lines(self, "deviation", n)?
            .into_iter()
            .map(|(index, point, rest, error, record)| {
                Ok(DeviationPoint {
                    index,
                    point,
                    outcome: if error {
                        Err(rest.join(" "))
                    } else {
                        Ok(words(&rest, m + 1, &record)?)
                    },
                })
            })
            .collect()
    }
}

/// What [`check_deviation_run`] found: the run equals the host bit for bit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviationCheck {
    /// Both refused the blob with this message.
    LoadError(String),
    /// Both loaded it, and every value the device printed equals the host's.
    Evaluated {
        /// `[N, M, W, L, K]` of the device's player.
        capacity: [usize; 5],
        /// Points compared (phi and f at each).
        points: usize,
        /// Points inside the domain (where the correction applies).
        inside: usize,
    },
}

/// The host player's capacity: every depth a blob may have, widths up to 64, up to 64
/// monomials (capacity does not change the arithmetic: the loops run over the actual widths
/// and monomials).
const HOST_W: usize = 64;
const HOST_L: usize = finn_core::format::MAX_LAYERS;
const HOST_K: usize = 64;

/// Compares what the deviation workload printed for `blob` with
/// `finn_embedded::DeviationPlayer` on the host: the same load error, or the same domain, eps,
/// and phi and f at every printed point (or the same errors), bit for bit; the device player
/// sized from the blob. Blobs of 1 to 3 inputs and 1 to 3 outputs.
pub fn check_deviation_run(run: &Run, blob: &[u8]) -> Result<DeviationCheck> {
    fn with<const N: usize, const M: usize>(run: &Run, blob: &[u8]) -> Result<DeviationCheck>
    where
        Dim<N>: JetDim,
    {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let p = match run.check_loaded(
            DeviationPlayer::<N, M, HOST_W, HOST_L, HOST_K>::from_bytes(blob),
            "deviation",
        )? {
            Ok(p) => p,
            Err(message) => return Ok(DeviationCheck::LoadError(message)),
        };
        let view = decode_deviation(blob).map_err(|e| anyhow!("{e}"))?;
        let capacity = run.deviation_capacity()?;
        let (f, d) = (view.magnitude().widths(), view.direction_widths());
        let widest = f.iter().chain(d).copied().max().unwrap_or(0);
        ensure!(
            capacity == [N, M, widest, f.len().max(d.len()), view.terms()],
            "the device player {capacity:?} is not sized from the blob"
        );
        let domain = p.model().magnitude_model().domain();
        let record = single(run, "domain")?;
        ensure!(
            words(&record.fields, 2 * N, &record)?
                == [bits(domain.lower()), bits(domain.upper())].concat(),
            "the device's domain differs from the host's"
        );
        let record = single(run, "eps")?;
        ensure!(
            words(&record.fields, 1, &record)? == [p.eps().to_bits()],
            "the device's eps differs from the host's"
        );
        let points = run.deviation_points(N, M)?;
        let phases = run.phases()?;
        ensure!(
            phases.iter().all(|ph| ph.calls == points.len() as u64) && !points.is_empty(),
            "the printed lines do not match the phases' calls: {phases:?}"
        );
        let mut inside = 0;
        for (k, device) in points.iter().enumerate() {
            ensure!(device.index == k, "point {k}: {device:?}");
            let mut x = [0.0f32; N];
            for (o, w) in x.iter_mut().zip(&device.point) {
                *o = f32::from_bits(*w);
            }
            if domain.contains(&x) {
                inside += 1;
            }
            let host = p.value(&x).and_then(|phi| Ok((phi, p.magnitude(&x)?)));
            match (&device.outcome, host) {
                (Ok(d), Ok((phi, f))) => ensure!(
                    *d == [bits(&phi), vec![f.to_bits()]].concat(),
                    "point {k} {x:?}: the device printed phi, f {:?}, the host computes \
                     {phi:?}, {f}",
                    d.iter().map(|w| f32::from_bits(*w)).collect::<Vec<_>>()
                ),
                (Err(d), Err(h)) => ensure!(*d == h.to_string(), "point {k}: {d} vs {h}"),
                (d, h) => bail!("point {k}: device {d:?}, host {h:?}"),
            }
        }
        Ok(DeviationCheck::Evaluated {
            capacity,
            points: points.len(),
            inside,
        })
    }
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn_scoped(scope, || {
                match decode_deviation(blob).map(|v| (v.n(), v.outputs())) {
                    Ok((1, 1)) => with::<1, 1>(run, blob),
                    Ok((1, 2)) => with::<1, 2>(run, blob),
                    Ok((1, 3)) => with::<1, 3>(run, blob),
                    Ok((2, 1)) => with::<2, 1>(run, blob),
                    Ok((2, 2)) => with::<2, 2>(run, blob),
                    Ok((2, 3)) => with::<2, 3>(run, blob),
                    Ok((3, 1)) => with::<3, 1>(run, blob),
                    Ok((3, 2)) => with::<3, 2>(run, blob),
                    Ok((3, 3)) => with::<3, 3>(run, blob),
                    Ok((n, m)) => bail!("no host comparison for n = {n}, m = {m}"),
                    // Not a deviation blob that decodes: the device says what the host says.
                    Err(_) => with::<1, 1>(run, blob),
                }
            })
            .context("spawning the comparison thread")?
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;
    use std::time::Duration;

    #[test]
    fn parses_deviation_records() {
        let r = Run {
            status: ExitStatus::from_raw(0),
            stdout: "deviation_capacity 1 1 8 1 2\n\
                     deviation 0 0x3f000000 0x3f800000 0x3c000000\n\
                     deviation_error 1 0x7fc00000 input is NaN\n"
                .into(),
            stderr: String::new(),
            wall_time: Duration::ZERO,
        };
        assert_eq!(r.deviation_capacity().unwrap(), [1, 1, 8, 1, 2]);
        let points = r.deviation_points(1, 1).unwrap();
        assert_eq!(points[0].outcome, Ok(vec![0x3f80_0000, 0x3c00_0000]));
        assert_eq!(points[1].outcome, Err("input is NaN".to_string()));
    }
}
