//! The density mixture on the device: the records of the density mixture workload
//! (`firmware/src/density_mixture.rs`, built when the embedded blob is a density mixture blob,
//! payload 4) and [`check_density_mixture_run`], which compares every value the device printed
//! with `finn_embedded::DensityMixturePlayer` on the host, bit for bit.
//!
//! The workload prints the density workload's records (`density`, `probability`, `draw`,
//! `phase`; parsed by [`Run::density_points`] and its siblings) over a **region**: the support
//! box, or for a real-space map centre_i -/+ 4 scale_i ([`region`]); point k is
//! lo + (hi - lo) * u per axis with u = `halton_uniforms(k + 1)` ([`region_point`]).

use super::density::single;
use super::run::Run;
use anyhow::{anyhow, bail, ensure, Context, Result};
use finn_core::density_mixture::MixtureSupport;
use finn_core::format::decode_density_mixture;
use finn_core::jet::{Dim, JetDim};
use finn_core::{Depth, HiddenBlocks};
use finn_embedded::density::halton_uniforms;
use finn_embedded::DensityMixturePlayer;

/// What [`check_density_mixture_run`] found: the run equals the host bit for bit, and these
/// counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MixtureCheck {
    /// Both refused the blob with this message.
    LoadError(String),
    /// Both loaded it, and every value the device printed equals the host's.
    Evaluated {
        /// `[N, W, L, K]` of the device's player.
        capacity: [usize; 4],
        /// Whether the map is real space (else a box support).
        real_space: bool,
        /// Points (pdf, log-pdf, CDF) compared.
        points: usize,
        /// Boxes compared.
        boxes: usize,
        /// Samples compared.
        draws: usize,
    },
}

/// The host player's capacity: every depth a blob may have, widths up to 64, up to 64
/// components (the device player is sized from the blob; capacity does not change the
/// arithmetic, whose loops run over the actual widths and components).
const HOST_W: usize = 64;
const HOST_L: usize = finn_core::format::MAX_LAYERS;
const HOST_K: usize = 64;

/// The region the workload's points lie in, as the device computes it in `f32`: the support
/// box, or centre -/+ 4 scale per axis on R^n.
///
/// ```
/// use finn_embedded::DensityMixturePlayer;
/// let blob = finn_lab::device::doc_density_mixture_real_blob().unwrap();
/// let p = DensityMixturePlayer::<2, 4, 1, 2>::from_bytes(&blob).unwrap();
/// assert_eq!(finn_lab::device::density_mixture::region(&p), ([-2.0, -3.0], [2.0, 5.0]));
/// ```
pub fn region<const N: usize, const W: usize, const L: usize, const K: usize>(
    p: &DensityMixturePlayer<N, W, L, K>,
) -> ([f32; N], [f32; N])
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<f32, W>,
{
    let zero = [0.0f32; N];
    match p.support() {
        Ok(MixtureSupport::Box(d)) => (*d.lower(), *d.upper()),
        Ok(MixtureSupport::RealSpace(r)) => {
            let (c, s) = (r.centre(), r.scale());
            let mut lo = zero;
            let mut hi = zero;
            for i in 0..N {
                lo[i] = c[i] - 4.0 * s[i];
                hi[i] = c[i] + 4.0 * s[i];
            }
            (lo, hi)
        }
        _ => (zero, zero),
    }
}

/// Point k of the region, as the device computes it.
pub fn region_point<const N: usize, const W: usize, const L: usize, const K: usize>(
    p: &DensityMixturePlayer<N, W, L, K>,
    k: u32,
) -> [f32; N]
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<f32, W>,
{
    let (lo, hi) = region(p);
    let u = halton_uniforms::<N>(k.saturating_add(1));
    let mut x = lo;
    for i in 0..N {
        x[i] = lo[i] + (hi[i] - lo[i]) * u[i];
    }
    x
}

/// Box j of the workload (as the density workload's, over the region).
fn probability_box<const N: usize, const W: usize, const L: usize, const K: usize>(
    p: &DensityMixturePlayer<N, W, L, K>,
    j: u32,
) -> ([f32; N], [f32; N])
where
    Dim<N>: JetDim,
    Depth<L>: HiddenBlocks<f32, W>,
{
    let (a, b) = (region_point(p, 2 * j + 1), region_point(p, 2 * j + 2));
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

impl Run {
    /// The player's capacity `[N, W, L, K]` from the `mixture_capacity` line.
    pub fn mixture_capacity(&self) -> Result<[usize; 4]> {
        let record = single(self, "mixture_capacity")?;
        let numbers = record
            .fields
            .iter()
            .map(|f| f.parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("malformed mixture_capacity line: {record:?}"))?;
        match numbers[..] {
            [n, w, l, k] => Ok([n, w, l, k]),
            _ => bail!("malformed mixture_capacity line: {record:?}"),
        }
    }
}

/// Compares what the density mixture workload printed for `blob` with
/// `finn_embedded::DensityMixturePlayer` on the host: the same load error, or the same
/// capacity (sized from the blob), map, region, points, pdf, log-pdf and CDF, boxes and
/// probabilities, uniforms and samples (or the same errors), bit for bit. Runs on a thread of
/// its own with a roomy stack (the host player holds its weights by value).
pub fn check_density_mixture_run(run: &Run, blob: &[u8]) -> Result<MixtureCheck> {
    fn with_n<const N: usize>(run: &Run, blob: &[u8]) -> Result<MixtureCheck>
    where
        Dim<N>: JetDim,
    {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let p = match run.check_loaded(
            DensityMixturePlayer::<N, HOST_W, HOST_L, HOST_K>::from_bytes(blob).map(Box::new),
            "density_mixture",
        )? {
            Ok(p) => p,
            Err(message) => return Ok(MixtureCheck::LoadError(message)),
        };
        let view = decode_density_mixture(blob).map_err(|e| anyhow!("{e}"))?;
        let (mut w, mut l) = (0, 0);
        for c in 0..view.len() {
            let (_, _, m) = view.component(c).context("a component of a checked blob")?;
            w = m.widths().iter().copied().max().unwrap_or(0).max(w);
            l = m.widths().len().max(l);
        }
        let capacity = run.mixture_capacity()?;
        ensure!(
            capacity == [N, w, l, view.len()],
            "the device player {capacity:?} is not sized from the blob"
        );
        let real_space = view.is_real_space();
        let map = single(run, "map")?;
        ensure!(
            map.fields == [if real_space { "real_space" } else { "box" }],
            "the device's map {map:?} is not the blob's"
        );
        let (lower, upper) = region(&p);
        ensure!(
            run.support(N)? == (bits(&lower), bits(&upper)),
            "the device's region differs from the host's"
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
            let x = region_point(&p, u32::try_from(k)?);
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
        Ok(MixtureCheck::Evaluated {
            capacity,
            real_space,
            points: points.len(),
            boxes: boxes.len(),
            draws: draws.len(),
        })
    }
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn_scoped(scope, || {
                match decode_density_mixture(blob).map(|v| v.n()) {
                    Ok(1) => with_n::<1>(run, blob),
                    Ok(2) => with_n::<2>(run, blob),
                    Ok(3) => with_n::<3>(run, blob),
                    Ok(4) => with_n::<4>(run, blob),
                    Ok(5) => with_n::<5>(run, blob),
                    Ok(6) => with_n::<6>(run, blob),
                    Ok(7) => with_n::<7>(run, blob),
                    Ok(8) => with_n::<8>(run, blob),
                    // Not a mixture blob that decodes: the device says what the host says.
                    _ => with_n::<2>(run, blob),
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

    fn run(stdout: &str) -> Run {
        Run {
            status: ExitStatus::from_raw(0),
            stdout: stdout.into(),
            stderr: String::new(),
            wall_time: Duration::ZERO,
        }
    }

    #[test]
    fn parses_the_capacity_and_refuses_a_run_of_another_blob() {
        assert_eq!(
            run("mixture_capacity 2 4 1 2\n")
                .mixture_capacity()
                .unwrap(),
            [2, 4, 1, 2]
        );
        assert!(run("mixture_capacity 2 4 1\n").mixture_capacity().is_err());
        // A run that printed nothing matches no blob.
        let blob = crate::device::doc_density_mixture_blob().unwrap();
        assert!(check_density_mixture_run(&run(""), &blob).is_err());
    }
}
