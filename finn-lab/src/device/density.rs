//! The density application on the device: the density blobs this repository ships
//! ([`reference_density_blob`], [`doc_density_blob`]), the records of the density workload
//! (`firmware/src/density.rs`, built when the embedded blob is a density blob), and
//! [`check_density_run`], which compares every value the device printed with
//! `finn_embedded::DensityPlayer` on the host, bit for bit.
//!
//! The workload evaluates pdf, log-pdf and CDF at the points
//! `DensityPlayer::halton_point(k)`, k = 0..N; the probability of box j, j = 0..B, with
//! a = halton_point(2j + 1), b = halton_point(2j + 2), the box [min(a, b), max(a, b)] per
//! axis and, for odd j, minus infinity as its lower bound on axis 0 ([`probability_box`]); and
//! a sample from the uniforms `finn_embedded::density::halton_uniforms(k)`, k = 0..N. It times
//! each of these five phases on its own ([`Phase`]).

use super::run::{parse_hex_u32, Record, Run};
use anyhow::{anyhow, bail, ensure, Context, Result};
use finn_core::format::{decode_density, Scalar};
use finn_core::jet::{Dim, JetDim};
use finn_core::{Activation, Bound, Constraint, Depth, HiddenBlocks, Kind, Method, Resolved};
use finn_embedded::density::halton_uniforms;
use finn_embedded::DensityPlayer;
use finn_train::model::{Architecture, TrainedModel};
use finn_train::trajectory::blob::fixed_parameters;

/// A density blob: a positive sigma_n network of n = `lower.len()` inputs and hidden `widths`,
/// with the fixed, untrained parameters of
/// `finn_train::trajectory::blob::fixed_parameters(arch, 1, seed)`, normalised to 1 over the
/// support [lower, upper] (constants resolved by `TrainedModel::resolve_constants`), written
/// by `TrainedModel::to_density_blob(scalar)`.
///
/// ```
/// let blob = finn_lab::device::density_blob(&[3], &[0.0], &[1.0], 1, finn_core::format::Scalar::F64).unwrap();
/// assert!(finn_core::format::decode_density(&blob).is_ok());
/// ```
pub fn density_blob(
    widths: &[usize],
    lower: &[f64],
    upper: &[f64],
    seed: u64,
    scalar: Scalar,
) -> Result<Vec<u8>> {
    Ok(density_model(widths, lower, upper, seed)?.to_density_blob(scalar)?)
}

/// The density the firmware's density workload is measured on (`firmware/blobs/density.postcard`):
/// n = 2, two hidden layers of 16 sigma_2 units (the size of the paper's Figure 1 model), seed
/// 2025, on the support [-3, 3] x [-3, 3], parameters stored as `f32`.
///
/// ```
/// let blob = finn_lab::device::reference_density_blob().unwrap();
/// let view = finn_core::format::decode_density(&blob).unwrap();
/// assert_eq!(view.widths(), &[16, 16]);
/// ```
pub fn reference_density_blob() -> Result<Vec<u8>> {
    density_blob(&[16, 16], &[-3.0, -3.0], &[3.0, 3.0], 2025, Scalar::F32)
}

/// The small density of finn-embedded's examples (`finn-embedded/tests/data/density.postcard`):
/// n = 2, one hidden layer of 4 units, seed 7, on [-1, 1] x [0, 2], parameters stored as `f32`.
///
/// ```
/// let blob = finn_lab::device::doc_density_blob().unwrap();
/// assert_eq!(finn_core::format::decode_density(&blob).unwrap().widths(), &[4]);
/// ```
pub fn doc_density_blob() -> Result<Vec<u8>> {
    density_blob(&[4], &[-1.0, 0.0], &[1.0, 2.0], 7, Scalar::F32)
}

/// The density model of [`density_blob`] (before writing), for the mixtures below.
fn density_model(
    widths: &[usize],
    lower: &[f64],
    upper: &[f64],
    seed: u64,
) -> Result<TrainedModel> {
    let architecture = Architecture {
        n: lower.len(),
        kind: Kind::Positive,
        activation: Activation::Sigma,
        widths: widths.to_vec(),
    };
    let params = fixed_parameters(&architecture, 1, seed).remove(0);
    let mut model = TrainedModel {
        architecture,
        domain_lower: lower.to_vec(),
        domain_upper: upper.to_vec(),
        constraint: Some(Constraint::new(Bound::Equal, Method::Scale, 1.0)),
        constants: Resolved::scaled(1.0),
        params,
    };
    model.constants = model.resolve_constants()?;
    Ok(model)
}

/// A density mixture blob (payload 4) of finn-embedded's examples: two components of
/// [`density_blob`]'s kind (n = 2, one hidden layer of 4 units, seeds 7 and 8) on the u-box
/// [lower, upper], weights 0.4 and 0.6, the second reflected on axis 0, parameters `f32`;
/// on that box (`real_space` = `None`) or on all of R^2 by `RealSpace` (centre, scale; the
/// u-box must then be the unit square). Written by `DensityModel::to_blob`.
///
/// ```
/// let blob = finn_lab::device::density_mixture_blob(&[0.0, 0.0], &[1.0, 1.0], Some(([0.0, 0.0], [1.0, 1.0]))).unwrap();
/// assert_eq!(finn_core::format::decode_density_mixture(&blob).unwrap().len(), 2);
/// ```
pub fn density_mixture_blob(
    lower: &[f64],
    upper: &[f64],
    real_space: Option<([f64; 2], [f64; 2])>,
) -> Result<Vec<u8>> {
    use finn_train::density::composite::{Component, DensityModel, SupportMap};
    let components = vec![
        Component {
            weight: 0.4,
            reflect: vec![false, false],
            model: density_model(&[4], lower, upper, 7)?,
        },
        Component {
            weight: 0.6,
            reflect: vec![true, false],
            model: density_model(&[4], lower, upper, 8)?,
        },
    ];
    let map = match real_space {
        None => SupportMap::Box,
        Some((centre, scale)) => SupportMap::RealSpace {
            centre: centre.to_vec(),
            scale: scale.to_vec(),
        },
    };
    Ok(DensityModel::new(map, components)?.to_blob(Scalar::F32)?)
}

/// `finn-embedded/tests/data/density_mixture.postcard`: [`density_mixture_blob`] on the box
/// [-1, 1] x [0, 2].
///
/// ```
/// let blob = finn_lab::device::doc_density_mixture_blob().unwrap();
/// assert!(!finn_core::format::decode_density_mixture(&blob).unwrap().is_real_space());
/// ```
pub fn doc_density_mixture_blob() -> Result<Vec<u8>> {
    density_mixture_blob(&[-1.0, 0.0], &[1.0, 2.0], None)
}

/// `finn-embedded/tests/data/density_mixture_real.postcard`: [`density_mixture_blob`] on all
/// of R^2, centre (0, 1), scale (0.5, 1).
///
/// ```
/// let blob = finn_lab::device::doc_density_mixture_real_blob().unwrap();
/// assert!(finn_core::format::decode_density_mixture(&blob).unwrap().is_real_space());
/// ```
pub fn doc_density_mixture_real_blob() -> Result<Vec<u8>> {
    density_mixture_blob(&[0.0, 0.0], &[1.0, 1.0], Some(([0.0, 1.0], [0.5, 1.0])))
}

/// Box j of the density workload over the support [lower, upper] (module documentation), as
/// the device computes it in `f32`.
///
/// ```
/// use finn_embedded::DensityPlayer;
/// let blob = finn_lab::device::doc_density_blob().unwrap();
/// let p = DensityPlayer::<2, 4, 1>::from_bytes(&blob).unwrap();
/// let (lo, hi) = finn_lab::device::density::probability_box(&p, 1);
/// assert_eq!(lo[0], f32::NEG_INFINITY);
/// assert!(lo[1] < hi[1]);
/// ```
pub fn probability_box<const N: usize, const W: usize, const L: usize>(
    p: &DensityPlayer<N, W, L>,
    j: u32,
) -> ([f32; N], [f32; N])
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<f32, W>,
{
    let (a, b) = (p.halton_point(2 * j + 1), p.halton_point(2 * j + 2));
    let mut lo = a;
    let mut hi = b;
    for i in 0..N {
        lo[i] = a[i].min(b[i]);
        hi[i] = a[i].max(b[i]);
    }
    if j % 2 == 1 {
        lo[0] = f32::NEG_INFINITY;
    }
    (lo, hi)
}

/// pdf, log-pdf and CDF at one point, as the device printed them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DensityPoint {
    /// k, in 0..N.
    pub index: usize,
    /// The point's bit patterns, n words.
    pub point: Vec<u32>,
    /// The bit patterns of pdf, log-pdf and CDF, or the text of the first error.
    pub outcome: std::result::Result<[u32; 3], String>,
}

/// The probability of one box, as the device printed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DensityBox {
    /// j, in 0..B.
    pub index: usize,
    /// The lower corner's bit patterns.
    pub lower: Vec<u32>,
    /// The upper corner's bit patterns.
    pub upper: Vec<u32>,
    /// The probability's bit pattern, or the error's text.
    pub outcome: std::result::Result<u32, String>,
}

/// One sample, as the device printed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DensityDraw {
    /// k, in 0..N.
    pub index: usize,
    /// The uniforms' bit patterns.
    pub uniforms: Vec<u32>,
    /// The sample's bit patterns, or the error's text.
    pub outcome: std::result::Result<Vec<u32>, String>,
}

/// What one phase of the measured run cost (`phase <name> <calls> <ticks> <stack>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase {
    /// `pdf`, `log_pdf`, `cdf`, `box` or `sample`.
    pub name: String,
    /// Calls made.
    pub calls: u64,
    /// SysTick ticks they took.
    pub ticks: u64,
    /// The stack high-water mark of the phase, bytes from the top of the stack.
    pub stack_bytes: u64,
}

impl Phase {
    /// Instructions per call under `-icount shift=0`.
    pub fn instructions_per_call(&self) -> f64 {
        (self.ticks * super::INSTRUCTIONS_PER_TICK) as f64 / self.calls.max(1) as f64
    }
}

impl Run {
    /// The density player's capacity `[N, W, L]` from the `density_capacity` line.
    pub fn density_capacity(&self) -> Result<[usize; 3]> {
        let record = single(self, "density_capacity")?;
        let numbers = record
            .fields
            .iter()
            .map(|f| f.parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("malformed density_capacity line: {record:?}"))?;
        match numbers[..] {
            [n, w, l] => Ok([n, w, l]),
            _ => bail!("malformed density_capacity line: {record:?}"),
        }
    }

    /// The support's corners (`support` line), n bit patterns each.
    pub fn support(&self, n: usize) -> Result<(Vec<u32>, Vec<u32>)> {
        let record = single(self, "support")?;
        let w = words(&record.fields, 2 * n, &record)?;
        Ok((w[..n].to_vec(), w[n..].to_vec()))
    }

    /// Every `density` and `density_error` line, in order, for n inputs.
    pub fn density_points(&self, n: usize) -> Result<Vec<DensityPoint>> {
        lines(self, "density", n, |index, point, rest, error, record| {
            Ok(DensityPoint {
                index,
                point,
                outcome: if error {
                    Err(rest.join(" "))
                } else {
                    let v = words(rest, 3, record)?;
                    Ok([v[0], v[1], v[2]])
                },
            })
        })
    }

    /// Every `probability` and `probability_error` line, in order, for n inputs.
    pub fn density_boxes(&self, n: usize) -> Result<Vec<DensityBox>> {
        let mut out = Vec::new();
        for (index, corners, rest, error, record) in raw_lines(self, "probability", 2 * n)? {
            out.push(DensityBox {
                index,
                lower: corners[..n].to_vec(),
                upper: corners[n..].to_vec(),
                outcome: if error {
                    Err(rest.join(" "))
                } else {
                    Ok(words(&rest, 1, &record)?[0])
                },
            });
        }
        Ok(out)
    }

    /// Every `draw` and `draw_error` line, in order, for n inputs.
    pub fn density_draws(&self, n: usize) -> Result<Vec<DensityDraw>> {
        lines(self, "draw", n, |index, uniforms, rest, error, record| {
            Ok(DensityDraw {
                index,
                uniforms,
                outcome: if error {
                    Err(rest.join(" "))
                } else {
                    Ok(words(rest, n, record)?)
                },
            })
        })
    }

    /// The `phase` lines, in order.
    pub fn phases(&self) -> Result<Vec<Phase>> {
        self.records_with_key("phase")
            .map(|record| match record.fields[..] {
                [name, calls, ticks, stack] => Ok(Phase {
                    name: name.to_string(),
                    calls: calls.parse().with_context(|| format!("{record:?}"))?,
                    ticks: ticks.parse().with_context(|| format!("{record:?}"))?,
                    stack_bytes: stack.parse().with_context(|| format!("{record:?}"))?,
                }),
                _ => bail!("malformed phase line: {record:?}"),
            })
            .collect()
    }

    /// The phase named `name`.
    pub fn phase(&self, name: &str) -> Result<Phase> {
        self.phases()?
            .into_iter()
            .find(|p| p.name == name)
            .with_context(|| format!("the firmware reported no `phase {name}` line"))
    }
}

/// The one record with this key.
pub(super) fn single<'a>(run: &'a Run, key: &str) -> Result<Record<'a>> {
    let mut found = run.records().filter(|r| r.key == key);
    let record = found
        .next()
        .with_context(|| format!("the firmware reported no `{key}` line"))?;
    ensure!(
        found.next().is_none(),
        "the firmware reported more than one `{key}` line"
    );
    Ok(record)
}

/// The lines `key` and `key_error`: index, `count` words, the rest, whether it is an error.
pub(super) type RawLine<'a> = (usize, Vec<u32>, Vec<&'a str>, bool, Record<'a>);

pub(super) fn raw_lines<'a>(run: &'a Run, key: &str, count: usize) -> Result<Vec<RawLine<'a>>> {
    let error_key = format!("{key}_error");
    let mut out = Vec::new();
    for record in run.records() {
        let error = if record.key == key {
            false
        } else if record.key == error_key {
            true
        } else {
            continue;
        };
        let (index, rest) = match &record.fields[..] {
            [index, rest @ ..] => (
                index
                    .parse::<usize>()
                    .with_context(|| format!("index of {record:?}"))?,
                rest,
            ),
            _ => bail!("malformed {} line: {record:?}", record.key),
        };
        ensure!(
            rest.len() > count,
            "a {} line has {} words after the index, expected more than {count}: {record:?}",
            record.key,
            rest.len()
        );
        let (head, tail) = rest.split_at(count);
        let head = words(head, count, &record)?;
        let tail = tail.to_vec();
        out.push((index, head, tail, error, record));
    }
    Ok(out)
}

fn lines<'a, T>(
    run: &'a Run,
    key: &str,
    n: usize,
    build: impl Fn(usize, Vec<u32>, &[&'a str], bool, &Record<'a>) -> Result<T>,
) -> Result<Vec<T>> {
    raw_lines(run, key, n)?
        .into_iter()
        .map(|(index, head, rest, error, record)| build(index, head, &rest, error, &record))
        .collect()
}

/// Exactly `count` hexadecimal words.
pub(super) fn words(fields: &[&str], count: usize, record: &Record<'_>) -> Result<Vec<u32>> {
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

/// What [`check_density_run`] found: the run equals the host bit for bit, and these counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DensityCheck {
    /// Both refused the blob with this message.
    LoadError(String),
    /// Both loaded it, and every value the device printed equals the host's.
    Evaluated {
        /// `[N, W, L]` of the device's player.
        capacity: [usize; 3],
        /// Points (pdf, log-pdf, CDF), boxes and samples compared.
        points: usize,
        /// Boxes compared.
        boxes: usize,
        /// Samples compared.
        draws: usize,
    },
}

/// The host player's capacity: every depth a blob may have, widths up to 64 (the device
/// player is sized from the blob, and capacity does not change the arithmetic: the loops run
/// over the actual widths).
const HOST_W: usize = 64;
const HOST_L: usize = finn_core::format::MAX_LAYERS;

/// Compares what the density workload printed for `blob` with `finn_embedded::DensityPlayer`
/// on the host: the same load error, or the same support, points, pdf, log-pdf and CDF, boxes
/// and probabilities, uniforms and samples (or the same errors), bit for bit; the device
/// player sized from the blob. Runs on a thread of its own with a roomy stack (the host player
/// holds its weights by value).
pub fn check_density_run(run: &Run, blob: &[u8]) -> Result<DensityCheck> {
    fn with_n<const N: usize>(run: &Run, blob: &[u8]) -> Result<DensityCheck>
    where
        Dim<N>: JetDim,
    {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let p = match run.check_loaded(
            DensityPlayer::<N, HOST_W, HOST_L>::from_bytes(blob),
            "density",
        )? {
            Ok(p) => p,
            Err(message) => return Ok(DensityCheck::LoadError(message)),
        };
        let view = decode_density(blob).map_err(|e| anyhow!("{e}"))?;
        let capacity = run.density_capacity()?;
        let widest = view.widths().iter().copied().max().unwrap_or(0);
        ensure!(
            capacity == [N, widest, view.widths().len()],
            "the device player {capacity:?} is not sized from the blob"
        );
        let (lower, upper) = p.support();
        ensure!(
            run.support(N)? == (bits(lower), bits(upper)),
            "the device's support differs from the host's"
        );
        let points = run.density_points(N)?;
        let draws = run.density_draws(N)?;
        let boxes = run.density_boxes(N)?;
        let phases = run.phases()?;
        let calls = |name: &str| phases.iter().find(|p| p.name == name).map(|p| p.calls);
        ensure!(
            Some(points.len() as u64) == calls("pdf")
                && Some(draws.len() as u64) == calls("sample")
                && Some(boxes.len() as u64) == calls("box"),
            "the printed lines do not match the phases' calls: {phases:?}"
        );
        ensure!(!points.is_empty() && !draws.is_empty() && !boxes.is_empty());
        for (k, device) in points.iter().enumerate() {
            let x = p.halton_point(u32::try_from(k)?);
            ensure!(
                device.index == k && device.point == bits(&x),
                "point {k}: {device:?}"
            );
            let host = p
                .pdf(&x)
                .and_then(|pdf| Ok([pdf, p.log_pdf(&x)?, p.cdf(&x)?]));
            match (&device.outcome, host) {
                (Ok(d), Ok(h)) => ensure!(
                    d[..] == bits(&h)[..],
                    "point {k} {x:?}: the device printed pdf, log_pdf, cdf {:?}, the host \
                     computes {h:?}",
                    d.map(f32::from_bits)
                ),
                (Err(d), Err(h)) => ensure!(*d == h.to_string(), "point {k}: {d} vs {h}"),
                (d, h) => bail!("point {k}: device {d:?}, host {h:?}"),
            }
        }
        for (j, device) in boxes.iter().enumerate() {
            let (lo, hi) = probability_box(&p, u32::try_from(j)?);
            ensure!(
                device.index == j && device.lower == bits(&lo) && device.upper == bits(&hi),
                "box {j}: {device:?}, the host's box is {lo:?} .. {hi:?}"
            );
            match (&device.outcome, p.box_probability(&lo, &hi)) {
                (Ok(d), Ok(h)) => ensure!(
                    *d == h.to_bits(),
                    "box {j}: the device printed {}, the host computes {h}",
                    f32::from_bits(*d)
                ),
                (Err(d), Err(h)) => ensure!(*d == h.to_string(), "box {j}: {d} vs {h}"),
                (d, h) => bail!("box {j}: device {d:?}, host {h:?}"),
            }
        }
        for (k, device) in draws.iter().enumerate() {
            let u = halton_uniforms::<N>(u32::try_from(k)?);
            ensure!(
                device.index == k && device.uniforms == bits(&u),
                "sample {k}: {device:?}"
            );
            match (&device.outcome, p.sample(&u)) {
                (Ok(d), Ok(h)) => ensure!(
                    *d == bits(&h),
                    "sample {k} from {u:?}: the device printed {:?}, the host computes {h:?}",
                    d.iter().map(|w| f32::from_bits(*w)).collect::<Vec<_>>()
                ),
                (Err(d), Err(h)) => ensure!(*d == h.to_string(), "sample {k}: {d} vs {h}"),
                (d, h) => bail!("sample {k}: device {d:?}, host {h:?}"),
            }
        }
        Ok(DensityCheck::Evaluated {
            capacity,
            points: points.len(),
            boxes: boxes.len(),
            draws: draws.len(),
        })
    }
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn_scoped(scope, || match decode_density(blob).map(|v| v.n()) {
                Ok(1) => with_n::<1>(run, blob),
                Ok(2) => with_n::<2>(run, blob),
                Ok(3) => with_n::<3>(run, blob),
                Ok(4) => with_n::<4>(run, blob),
                Ok(5) => with_n::<5>(run, blob),
                Ok(6) => with_n::<6>(run, blob),
                Ok(7) => with_n::<7>(run, blob),
                Ok(8) => with_n::<8>(run, blob),
                // Not a density blob that decodes: the device says what the host loader says.
                _ => with_n::<2>(run, blob),
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

    fn run(stdout: &str) -> Run {
        Run {
            status: ExitStatus::from_raw(0),
            stdout: stdout.into(),
            stderr: String::new(),
            wall_time: Duration::ZERO,
        }
    }

    #[test]
    fn parses_density_records() {
        let r = run("density_capacity 2 16 2\nsupport 0x1 0x2 0x3 0x4\n\
             density 0 0x1 0x2 0x3 0x4 0x5\n\
             density_error 1 0x1 0x2 input is NaN\n\
             probability 0 0x1 0x2 0x3 0x4 0x5\n\
             probability_error 1 0x1 0x2 0x3 0x4 overflow\n\
             draw 0 0x1 0x2 0x3 0x4\n\
             draw_error 1 0x1 0x2 bad\n\
             phase pdf 64 1000 900\nphase sample 64 40000 2000\n");
        assert_eq!(r.density_capacity().unwrap(), [2, 16, 2]);
        assert_eq!(r.support(2).unwrap(), (vec![1, 2], vec![3, 4]));
        let points = r.density_points(2).unwrap();
        assert_eq!(points[0].outcome, Ok([3, 4, 5]));
        assert_eq!(points[1].outcome, Err("input is NaN".into()));
        let boxes = r.density_boxes(2).unwrap();
        assert_eq!(
            (boxes[0].lower.clone(), boxes[0].upper.clone()),
            (vec![1, 2], vec![3, 4])
        );
        assert_eq!(boxes[0].outcome, Ok(5));
        assert_eq!(boxes[1].outcome, Err("overflow".into()));
        let draws = r.density_draws(2).unwrap();
        assert_eq!(draws[0].uniforms, vec![1, 2]);
        assert_eq!(draws[0].outcome, Ok(vec![3, 4]));
        assert_eq!(draws[1].outcome, Err("bad".into()));
        let sample = r.phase("sample").unwrap();
        assert_eq!(sample.instructions_per_call(), 40000.0 * 40.0 / 64.0);
        assert_eq!(sample.stack_bytes, 2000);
        assert!(r.phase("cdf").is_err());
    }

    #[test]
    fn malformed_density_records_are_errors() {
        assert!(run("density 0 0x1 0x2 0x3 0x4\n")
            .density_points(2)
            .is_err());
        assert!(run("density 0 0x1 0x2 0x3 0x4 nope\n")
            .density_points(2)
            .is_err());
        assert!(run("draw 0 0x1 0x2 0x3\n").density_draws(2).is_err());
        assert!(run("probability 0 0x1 0x2 0x3 0x4\n")
            .density_boxes(2)
            .is_err());
        assert!(run("phase pdf 64 100\n").phases().is_err());
        assert!(run("density_capacity 2 16\n").density_capacity().is_err());
        assert!(run("support 0x1 0x2 0x3\n").support(2).is_err());
    }
}
