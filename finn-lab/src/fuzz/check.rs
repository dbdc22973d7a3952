//! The verdict on one blob: rejected with a typed error (fine), accepted and working over its
//! whole domain (fine), or a failure: a panic, a NaN or infinity returned as a value, a
//! decoder and a player that disagree, a positive model with f < 0, a density whose pdf,
//! CDF or samples leave their range, or an accepted blob that fails somewhere in its domain
//! (the promise is: what loads, works).

use finn_core::format::{decode_any, Blob, DensityMixtureView, ModelView, TrajectoryView, MAX_VIA};
use finn_core::jet::{Dim, JetDim};
use finn_core::{Antiderivative, Kind, Real};
use finn_embedded::density::halton_uniforms;
use finn_embedded::{
    DensityMixturePlayer, DensityPlayer, DeviationPlayer, FitPlayer, TrajectoryPlayer,
};

/// Capacity of the models and players the campaign loads into (the shipped blobs fit).
const W: usize = 16;
const L: usize = 3;
/// Components of the density mixtures the campaign loads into.
const K: usize = 16;

/// What one blob did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Refused with a typed error (its kind, for the histogram).
    Rejected(String),
    /// Loaded, and every evaluation at the grid points of its domain succeeded.
    Accepted,
    /// A broken promise.
    Failure(String),
}

/// The verdict on `bytes`; a panic anywhere is a failure.
pub fn verdict(bytes: &[u8]) -> Verdict {
    match std::panic::catch_unwind(|| judge(bytes)) {
        Ok(v) => v,
        Err(_) => Verdict::Failure("panic".into()),
    }
}

fn kind_of(e: &impl std::fmt::Debug) -> String {
    let text = format!("{e:?}");
    text.split([' ', '(', '{']).next().unwrap_or("").to_string()
}

fn judge(bytes: &[u8]) -> Verdict {
    let fit_player = || fit_player_verdict(bytes);
    let trajectory_player = || trajectory_player_verdict(bytes);
    let density_player = || density_player_verdict(bytes);
    let deviation_player = || deviation_player_verdict(bytes);
    let mixture_player = || mixture_player_verdict(bytes);
    match decode_any(bytes) {
        Err(e) => {
            // The players read through the same decoder: they must refuse too.
            for player in [
                fit_player(),
                trajectory_player(),
                density_player(),
                deviation_player(),
                mixture_player(),
            ] {
                match player {
                    Ok(false) => {}
                    Ok(true) => {
                        return Verdict::Failure(format!(
                            "decode refused ({e}) but a player loaded"
                        ))
                    }
                    Err(what) => return Verdict::Failure(what),
                }
            }
            Verdict::Rejected(kind_of(&e))
        }
        Ok(Blob::Model(view)) => match density_player() {
            Ok(false) => model(&view, fit_player()),
            Ok(true) => Verdict::Failure("the density player loaded a model blob".into()),
            Err(what) => Verdict::Failure(what),
        },
        Ok(Blob::Density(view)) => {
            // A density is a model: the fit player reads it too, and must agree.
            match (model(&view, fit_player()), density(&view, density_player())) {
                (Verdict::Failure(what), _) | (_, Verdict::Failure(what)) => Verdict::Failure(what),
                (Verdict::Accepted, Verdict::Accepted) => Verdict::Accepted,
                (_, v) => v,
            }
        }
        Ok(Blob::Trajectory(view)) => trajectory(&view, trajectory_player()),
        Ok(Blob::Deviation(view)) => match (fit_player(), deviation_player()) {
            (Ok(true), _) => Verdict::Failure("the fit player loaded a deviation blob".into()),
            (Err(what), _) | (_, Err(what)) => Verdict::Failure(what),
            (Ok(false), Ok(true)) => Verdict::Accepted,
            (Ok(false), Ok(false)) => Verdict::Rejected(format!(
                "deviation of {} inputs and {} outputs not loaded",
                view.n(),
                view.outputs()
            )),
        },
        Ok(Blob::DensityMixture(view)) => match (fit_player(), density_player()) {
            (Ok(false), Ok(false)) => mixture(&view, mixture_player()),
            (Err(what), _) | (_, Err(what)) => Verdict::Failure(what),
            _ => Verdict::Failure("a single-network player loaded a mixture blob".into()),
        },
        Ok(_) => Verdict::Rejected("payload this campaign does not know".into()),
    }
}

/// Ok(true) when a deviation player loaded and evaluated fine over its domain (phi and the
/// magnitude finite, the magnitude >= 0 and the correction within it, the deviation bound
/// finite), Ok(false) when it refused (or the shape is beyond this campaign's players: n or m
/// above 3).
fn deviation_player_verdict(bytes: &[u8]) -> Result<bool, String> {
    fn play<const N: usize, const M: usize>(bytes: &[u8]) -> Result<bool, String>
    where
        Dim<N>: JetDim,
    {
        let Ok(p) = DeviationPlayer::<N, M, W, L, 64>::from_bytes(bytes) else {
            return Ok(false);
        };
        let domain = p.model().magnitude_model().domain();
        let (lo, hi) = (*domain.lower(), *domain.upper());
        for x in grid::<f32, N>(&lo, &hi) {
            let phi = p.value(&x).map_err(|e| format!("deviation phi: {e}"))?;
            let f = finite(p.magnitude(&x), "deviation magnitude")?;
            let c = p
                .correction(&x)
                .map_err(|e| format!("deviation correction: {e}"))?;
            if phi.iter().any(|v| !v.is_finite()) || f < 0.0 || !within(&c, f) {
                return Err(format!(
                    "deviation at {x:?}: phi {phi:?}, f {f}, correction {c:?}"
                ));
            }
        }
        let j = p
            .deviation_bound()
            .map_err(|e| format!("deviation bound: {e}"))?;
        if !(j.value.is_finite() && j.error.is_finite()) {
            return Err(format!("deviation bound {j:?}"));
        }
        Ok(true)
    }
    match finn_core::format::decode_deviation(bytes).map(|v| (v.n(), v.outputs())) {
        Ok((1, 1)) => play::<1, 1>(bytes),
        Ok((1, 2)) => play::<1, 2>(bytes),
        Ok((2, 1)) => play::<2, 1>(bytes),
        Ok((2, 2)) => play::<2, 2>(bytes),
        Ok((3, 1)) => play::<3, 1>(bytes),
        Ok(_) => Ok(false),
        Err(_) => match DeviationPlayer::<1, 1, W, L, 64>::from_bytes(bytes) {
            Ok(_) => Err("a deviation player loaded what decode_deviation refuses".into()),
            Err(_) => Ok(false),
        },
    }
}

/// Ok(true) when a fit player loaded and evaluated fine, Ok(false) when it refused.
fn fit_player_verdict(bytes: &[u8]) -> Result<bool, String> {
    macro_rules! by_n {
        ($($n:literal)*) => {
            match finn_core::format::decode(bytes).map(|v| v.n()) {
                $(Ok($n) => match FitPlayer::<$n, W, L>::from_bytes(bytes) {
                    Ok(p) => {
                        let (lo, hi) = p.domain();
                        let (lo, hi) = (*lo, *hi);
                        for x in grid::<f32, $n>(&lo, &hi) {
                            finite(p.integrand(&x), "player f")?;
                            finite(p.antiderivative(&x), "player F")?;
                        }
                        finite(p.integral(), "player integral")?;
                        Ok(true)
                    }
                    Err(_) => Ok(false),
                },)*
                _ => match FitPlayer::<1, W, L>::from_bytes(bytes) {
                    Ok(_) => Err("a fit player loaded what decode refuses".into()),
                    Err(_) => Ok(false),
                },
            }
        };
    }
    by_n!(1 2 3 4 5 6 7 8)
}

/// Ok(true) when a density player loaded and evaluated fine over its support, Ok(false) when
/// it refused.
fn density_player_verdict(bytes: &[u8]) -> Result<bool, String> {
    macro_rules! by_n {
        ($($n:literal)*) => {
            match finn_core::format::decode_density(bytes).map(|v| v.n()) {
                $(Ok($n) => match DensityPlayer::<$n, W, L>::from_bytes(bytes) {
                    Ok(p) => {
                        let density = p.density();
                        check_density::<f32, $n>(density).map(|()| true)
                    }
                    Err(_) => Ok(false),
                },)*
                _ => match DensityPlayer::<1, W, L>::from_bytes(bytes) {
                    Ok(_) => Err("a density player loaded what decode_density refuses".into()),
                    Err(_) => Ok(false),
                },
            }
        };
    }
    by_n!(1 2 3 4 5 6 7 8)
}

/// A loaded density works over its whole support: pdf finite and >= 0, log-pdf never NaN, the
/// CDF in [0, 1] at every grid point, the support's probability finite, and samples from
/// Halton uniforms inside the support.
fn check_density<T: Real, const N: usize>(p: &finn_core::Density<T, N, W, L>) -> Result<(), String>
where
    Dim<N>: JetDim,
{
    let (lo, hi) = (*p.support().lower(), *p.support().upper());
    for x in grid::<T, N>(&lo, &hi) {
        let f = finite(p.pdf(&x), "pdf")?;
        if f < T::ZERO {
            return Err(format!("pdf {f} < 0"));
        }
        let l = p
            .log_pdf(&x)
            .map_err(|e| format!("log_pdf failed inside the support: {e}"))?;
        if l.is_nan() {
            return Err("log_pdf returned NaN".into());
        }
        let c = finite(p.cdf(&x), "cdf")?;
        if !(c >= T::ZERO && c <= T::ONE) {
            return Err(format!("cdf {c} outside [0, 1]"));
        }
    }
    finite(p.box_probability(&lo, &hi), "the support's probability")?;
    for k in 0..8 {
        let u = halton_uniforms::<N>(k + 1).map(|v| T::from_f64(f64::from(v)));
        let x = p
            .sample(&u)
            .map_err(|e| format!("sample from {u:?} failed: {e}"))?;
        if !p.support().contains(&x) {
            return Err(format!("sample {x:?} outside the support"));
        }
    }
    Ok(())
}

fn density(view: &ModelView<'_>, player: Result<bool, String>) -> Verdict {
    fn load<T: Real, const N: usize>(view: &ModelView<'_>) -> Result<bool, String>
    where
        Dim<N>: JetDim,
    {
        let Ok(p) = view.to_density::<T, N, W, L>() else {
            return Ok(false);
        };
        check_density(&p)?;
        Ok(true)
    }
    macro_rules! by_n {
        ($($n:literal)*) => {
            match view.n() {
                $($n => (load::<f64, $n>(view), load::<f32, $n>(view)),)*
                n => return Verdict::Failure(format!("decode accepted n = {n}")),
            }
        };
    }
    let (wide, narrow) = by_n!(1 2 3 4 5 6 7 8);
    settle(wide, narrow, player, "density")
}

/// Ok(true) when a density mixture player loaded and evaluated fine, Ok(false) when it
/// refused.
fn mixture_player_verdict(bytes: &[u8]) -> Result<bool, String> {
    macro_rules! by_n {
        ($($n:literal)*) => {
            match finn_core::format::decode_density_mixture(bytes).map(|v| v.n()) {
                $(Ok($n) => match DensityMixturePlayer::<$n, W, L, K>::from_bytes(bytes) {
                    Ok(p) => check_mixture::<f32, $n>(p.mixture()).map(|()| true),
                    Err(_) => Ok(false),
                },)*
                _ => match DensityMixturePlayer::<1, W, L, K>::from_bytes(bytes) {
                    Ok(_) => Err("a mixture player loaded what decode_density_mixture refuses".into()),
                    Err(_) => Ok(false),
                },
            }
        };
    }
    by_n!(1 2 3 4 5 6 7 8)
}

/// A loaded mixture works: on a grid over its box (or, on R^n, over the map's centre plus or
/// minus 4 scales) the pdf is finite and >= 0, the log-pdf never NaN, the CDF in [0, 1]; the
/// total probability is finite; samples from Halton uniforms are finite and inside a box
/// support.
fn check_mixture<T: finn_core::MapReal, const N: usize>(
    p: &finn_core::DensityMixture<T, N, W, L, K>,
) -> Result<(), String>
where
    Dim<N>: JetDim,
{
    use finn_core::density_mixture::MixtureSupport;
    let support = p
        .support()
        .map_err(|e| format!("a loaded mixture has no support: {e}"))?;
    let (lo, hi) = match support {
        MixtureSupport::Box(d) => (*d.lower(), *d.upper()),
        MixtureSupport::RealSpace(r) => {
            let four = T::from_f64(4.0);
            (
                core::array::from_fn(|i| r.centre()[i] - four * r.scale()[i]),
                core::array::from_fn(|i| r.centre()[i] + four * r.scale()[i]),
            )
        }
    };
    for x in grid::<T, N>(&lo, &hi) {
        let f = finite(p.pdf(&x), "pdf")?;
        if f < T::ZERO {
            return Err(format!("pdf {f} < 0"));
        }
        let l = p.log_pdf(&x).map_err(|e| format!("log_pdf failed: {e}"))?;
        if l.is_nan() {
            return Err("log_pdf returned NaN".into());
        }
        let c = finite(p.cdf(&x), "cdf")?;
        if !(c >= T::ZERO && c <= T::ONE) {
            return Err(format!("cdf {c} outside [0, 1]"));
        }
    }
    let inf = T::ONE / T::ZERO;
    finite(
        p.box_probability(&[-inf; N], &[inf; N]),
        "the total probability",
    )?;
    for k in 0..8 {
        let u = halton_uniforms::<N>(k + 1).map(|v| T::from_f64(f64::from(v)));
        let x = p
            .sample(&u)
            .map_err(|e| format!("sample from {u:?} failed: {e}"))?;
        if x.iter().any(|v| !v.is_finite()) {
            return Err(format!("sample {x:?} not finite"));
        }
        if let MixtureSupport::Box(d) = support {
            if !d.contains(&x) {
                return Err(format!("sample {x:?} outside the support"));
            }
        }
    }
    Ok(())
}

fn mixture(view: &DensityMixtureView<'_>, player: Result<bool, String>) -> Verdict {
    fn load<T: finn_core::MapReal, const N: usize>(
        view: &DensityMixtureView<'_>,
    ) -> Result<bool, String>
    where
        Dim<N>: JetDim,
    {
        let Ok(p) = view.to_density_mixture::<T, N, W, L, K>() else {
            return Ok(false);
        };
        check_mixture(&p)?;
        Ok(true)
    }
    macro_rules! by_n {
        ($($n:literal)*) => {
            match view.n() {
                $($n => (load::<f64, $n>(view), load::<f32, $n>(view)),)*
                n => return Verdict::Failure(format!("decode accepted n = {n}")),
            }
        };
    }
    let (wide, narrow) = by_n!(1 2 3 4 5 6 7 8);
    settle(wide, narrow, player, "density mixture")
}

/// Ok(true) when a trajectory player loaded and sampled fine, Ok(false) when it refused.
fn trajectory_player_verdict(bytes: &[u8]) -> Result<bool, String> {
    macro_rules! by_d {
        ($($d:literal)*) => {
            match finn_core::format::decode_trajectory(bytes).map(|v| v.coordinates()) {
                $(Ok($d) => match TrajectoryPlayer::<$d, W, L, MAX_VIA>::from_bytes(bytes) {
                    Ok(p) => {
                        let (t0, t1) = p.interval();
                        for k in 0..=64 {
                            let t = t0 + (t1 - t0) * (k as f32 / 64.0);
                            let t = t.clamp(t0, t1);
                            let s = p.sample(t).map_err(|e| format!("player sample at {t:e}: {e}"))?;
                            for v in [s.position, s.velocity, s.acceleration, s.jerk] {
                                if v.iter().any(|x| !x.is_finite()) {
                                    return Err(format!("player sample at {t:e} not finite"));
                                }
                            }
                        }
                        let (x0, x1) = p.endpoints();
                        let (a, b) = (p.sample(t0).map_err(|e| e.to_string())?, p.sample(t1).map_err(|e| e.to_string())?);
                        let bits = |v: &[f32; $d]| v.map(f32::to_bits);
                        if bits(&a.position) != bits(x0) || bits(&b.position) != bits(x1) {
                            return Err("player end states not bit for bit".into());
                        }
                        Ok(true)
                    }
                    Err(_) => Ok(false),
                },)*
                _ => match TrajectoryPlayer::<1, W, L, MAX_VIA>::from_bytes(bytes) {
                    Ok(_) => Err("a trajectory player loaded what decode refuses".into()),
                    Err(_) => Ok(false),
                },
            }
        };
    }
    by_d!(1 2 3 4 5 6)
}

/// |c| <= f (1 + 1e-5), the norm taken in f64: in f32 the squares of a correction near
/// 1e20 overflow to infinity, which once failed a valid deviation whose magnitude was 6.3e27.
fn within(c: &[f32], f: f32) -> bool {
    let norm = c.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt();
    norm <= f64::from(f) * (1.0 + 1e-5)
}

fn finite<T: Real, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> Result<T, String> {
    match r {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(v) => Err(format!("{what} returned {v} as a value")),
        Err(e) => Err(format!("{what} failed inside the domain: {e}")),
    }
}

/// A regular grid over [lo, hi] (corners included), at most 256 points.
fn grid<T: Real, const N: usize>(lo: &[T; N], hi: &[T; N]) -> Vec<[T; N]> {
    let per_axis = (2..=5)
        .rev()
        .find(|k: &usize| k.pow(N as u32) <= 256)
        .unwrap_or(2);
    let count = per_axis.pow(N as u32);
    (0..count)
        .map(|row| {
            core::array::from_fn(|axis| {
                let i = row / per_axis.pow(axis as u32) % per_axis;
                let s = T::from_f64(i as f64 / (per_axis - 1) as f64);
                // Clamped: lo + s (hi - lo) can round past hi.
                (lo[axis] + s * (hi[axis] - lo[axis]))
                    .min(hi[axis])
                    .max(lo[axis])
            })
        })
        .collect()
}

fn model(view: &ModelView<'_>, player: Result<bool, String>) -> Verdict {
    fn load<T: Real, const N: usize>(view: &ModelView<'_>) -> Result<bool, String>
    where
        Dim<N>: JetDim,
    {
        let Ok(model) = view.to_finn::<T, N, W, L>() else {
            return Ok(false);
        };
        let (lo, hi) = (*model.domain().lower(), *model.domain().upper());
        for x in grid::<T, N>(&lo, &hi) {
            let f = finite(model.integrand(&x), "f")?;
            finite(model.antiderivative(&x), "F")?;
            if view.kind() == Kind::Positive && f < T::ZERO {
                return Err(format!("a positive model gave f = {f} < 0"));
            }
        }
        finite(model.integral(), "the domain integral")?;
        Ok(true)
    }
    macro_rules! by_n {
        ($($n:literal)*) => {
            match view.n() {
                $($n => (load::<f64, $n>(view), load::<f32, $n>(view)),)*
                n => return Verdict::Failure(format!("decode accepted n = {n}")),
            }
        };
    }
    let (wide, narrow) = by_n!(1 2 3 4 5 6 7 8);
    settle(wide, narrow, player, "model")
}

fn trajectory(view: &TrajectoryView<'_>, player: Result<bool, String>) -> Verdict {
    fn load<T: Real, const D: usize>(view: &TrajectoryView<'_>) -> Result<bool, String> {
        let Ok(traj) = view.to_trajectory::<T, D, W, L, MAX_VIA>() else {
            return Ok(false);
        };
        let (t0, t1) = traj.interval();
        for k in 0..=64 {
            let t = (t0 + (t1 - t0) * T::from_f64(k as f64 / 64.0))
                .min(t1)
                .max(t0);
            let s = traj.sample(t).map_err(|e| format!("sample at {t}: {e}"))?;
            for v in [s.position, s.velocity, s.acceleration, s.jerk] {
                if v.iter().any(|x| !x.is_finite()) {
                    return Err(format!("sample at {t} not finite"));
                }
            }
        }
        Ok(true)
    }
    macro_rules! by_d {
        ($($d:literal)*) => {
            match view.coordinates() {
                $($d => (load::<f64, $d>(view), load::<f32, $d>(view)),)*
                d => return Verdict::Failure(format!("decode accepted D = {d}")),
            }
        };
    }
    let (wide, narrow) = by_d!(1 2 3 4 5 6);
    settle(wide, narrow, player, "trajectory")
}

/// Combines the f64 load, the f32 load and the f32 player: any error is a failure; the f32
/// player must agree with the f32 load; the blob counts as accepted if anything loaded.
fn settle(
    wide: Result<bool, String>,
    narrow: Result<bool, String>,
    player: Result<bool, String>,
    what: &str,
) -> Verdict {
    let (wide, narrow, player) = match (wide, narrow, player) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(e), _, _) => return Verdict::Failure(format!("{what} in f64: {e}")),
        (_, Err(e), _) => return Verdict::Failure(format!("{what} in f32: {e}")),
        (_, _, Err(e)) => return Verdict::Failure(format!("{what} player: {e}")),
    };
    if narrow != player {
        return Verdict::Failure(format!(
            "{what}: the f32 load ({narrow}) and the player ({player}) disagree"
        ));
    }
    if wide || narrow {
        Verdict::Accepted
    } else {
        Verdict::Rejected(format!("{what} does not load"))
    }
}

#[cfg(test)]
mod tests {
    /// Regression: the fuzz campaign reported a mutant of the Figure 2 blob as a broken
    /// promise because |c| overflowed in f32, although |c| = 6.323901e27 <= f = 6.3243154e27.
    #[test]
    fn a_large_correction_within_its_magnitude_is_within() {
        assert!(super::within(&[6.323901e27], 6.324_315_4e27));
        assert!(super::within(&[3.0, 4.0], 5.0));
        assert!(!super::within(&[3.0, 4.0], 4.9));
        assert!(!super::within(&[f32::INFINITY], f32::MAX));
    }

    /// The mutant itself (tests/data/deviation-large-correction.postcard, from the campaign
    /// of 2026-12-02): a deviation whose magnitude reaches 6.3e27 at x = 0, and whose every
    /// evaluation is finite and within its magnitude.
    #[test]
    fn the_mutant_with_a_large_correction_is_accepted() {
        let bytes = include_bytes!("../../tests/data/deviation-large-correction.postcard");
        assert_eq!(super::verdict(bytes), super::Verdict::Accepted);
    }
}
