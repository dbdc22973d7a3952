//! Samples from a trained [`DensityModel`] by finn-core's sampler, each with a bound on how
//! far it is from the exact inverse of its uniforms, and a chi-square test of many of them.
//!
//! finn-core's [`Density::sample`] solves C_k(y_k | y_0..y_(k-1)) = u_k axis by axis and
//! stops where the computed C_k meets u_k to its own rounding. In f64 that rounding can be
//! large: C_k is a ratio of corner sums of d_P F, and the corner terms also carry F's gauge
//! terms (functions of fewer coordinates, which cancel in every vertex sum), so where a
//! component's slice has little mass next to them the sums cancel. On the 2-D mixtures
//! shipped before 2026-12-03 f64's rounding bound of C_k exceeded 1e-6 on 3.9 % (moons) and
//! 11 % (ring) of 100,000 samples and reached 0.13: a check in f64 alone says nothing there.
//!
//! So each sample is checked against the exact model (its stored f64 parameters and
//! constants): where f64's bound does not already meet [`INVERSION_TOLERANCE`], C_k(y) is
//! recomputed by the same finn-core code in double-double ([`finn_core::dd`], about 32
//! digits), where the same cancellation leaves about 1e-12. [`Inversion::error`] bounds
//! max_k |C_k(y) - u_k| of the exact model: the sample is the exact sequential inverse of
//! uniforms within `error` of the given ones (a backward error). The bounds are finn-core's
//! running error analysis, as rigorous as its measured activation constants.
//!
//! ```
//! use finn_train::density::sampling::INVERSION_TOLERANCE;
//! assert_eq!(INVERSION_TOLERANCE, 1e-6);
//! ```

use super::composite::DensityModel;
use crate::model::TrainedModel;
use crate::TrainError;
use finn_core::dd::DoubleDouble;
use finn_core::{Constraint, Density, Domain, Finn, Network, Real, Resolved};

/// Largest hidden width the host sampler handles.
pub const SAMPLER_WIDTH: usize = 32;
/// Most hidden layers the host sampler handles.
pub const SAMPLER_LAYERS: usize = 3;

/// The largest |C_k(y) - u_k| a sample may have and count as certified. Moving a uniform by
/// 1e-6 moves 1e-6 of the probability, which no test of fewer than about 10^12 samples can
/// see (a Kolmogorov-Smirnov statistic resolves about 1 / sqrt(samples)).
pub const INVERSION_TOLERANCE: f64 = 1e-6;

type Core<T, const N: usize> = Box<Density<T, N, SAMPLER_WIDTH, SAMPLER_LAYERS>>;

/// One component in f64 (to sample, as a device does) and in double-double (to check).
struct Part<const N: usize> {
    fast: Core<f64, N>,
    wide: Core<DoubleDouble, N>,
}

/// A component of the dimension of a model.
enum CoreDensity {
    D1(Part<1>),
    D2(Part<2>),
    D3(Part<3>),
    D4(Part<4>),
}

/// The component's finn-core density in `T`, its f64 parameters and constants widened exactly.
fn core<T: Real, const N: usize>(m: &TrainedModel) -> Result<Core<T, N>, TrainError>
where
    finn_core::jet::Dim<N>: finn_core::jet::JetDim,
{
    let a = &m.architecture;
    let wide = |v: &[f64]| v.iter().map(|&x| T::from_f64(x)).collect::<Vec<T>>();
    let net = Network::<T, N, SAMPLER_WIDTH, SAMPLER_LAYERS>::new(
        a.kind,
        a.activation,
        &a.widths,
        &wide(&m.params),
    )?;
    let lo: [T; N] = core::array::from_fn(|i| T::from_f64(m.domain_lower[i]));
    let hi: [T; N] = core::array::from_fn(|i| T::from_f64(m.domain_upper[i]));
    let constraint = m
        .constraint
        .map(|c| Constraint::new(c.bound, c.method, T::from_f64(c.eps)));
    let k = m.constants;
    let constants = Resolved {
        scale: T::from_f64(k.scale),
        gap: T::from_f64(k.gap),
        gap_low: T::from_f64(k.gap_low),
    };
    // The integral is checked to f64's precision: the parameters were stored in f64.
    let unit = T::from_f64(f64::EPSILON);
    let finn = Finn::with_constants_to(net, Domain::new(lo, hi)?, constraint, constants, unit)?;
    Ok(Box::new(Density::new(finn)?))
}

fn part<const N: usize>(m: &TrainedModel) -> Result<Part<N>, TrainError>
where
    finn_core::jet::Dim<N>: finn_core::jet::JetDim,
{
    Ok(Part {
        fast: core(m)?,
        wide: core(m)?,
    })
}

impl CoreDensity {
    fn new(m: &TrainedModel) -> Result<Self, TrainError> {
        Ok(match m.architecture.n {
            1 => CoreDensity::D1(part(m)?),
            2 => CoreDensity::D2(part(m)?),
            3 => CoreDensity::D3(part(m)?),
            4 => CoreDensity::D4(part(m)?),
            n => {
                return Err(TrainError::Data(format!(
                    "the host sampler handles 1..=4 coordinates, not {n}"
                )))
            }
        })
    }

    /// The sample and how well it inverts the conditional CDFs.
    fn sample(&self, u: &[f64]) -> Result<(Vec<f64>, Inversion), TrainError> {
        fn go<const N: usize>(p: &Part<N>, u: &[f64]) -> Result<(Vec<f64>, Inversion), TrainError>
        where
            finn_core::jet::Dim<N>: finn_core::jet::JetDim,
        {
            let uu: [f64; N] = core::array::from_fn(|i| u[i]);
            let y = p.fast.sample(&uu)?;
            Ok((y.to_vec(), inversion(p, &y, &uu)?))
        }
        match self {
            CoreDensity::D1(p) => go(p, u),
            CoreDensity::D2(p) => go(p, u),
            CoreDensity::D3(p) => go(p, u),
            CoreDensity::D4(p) => go(p, u),
        }
    }
}

/// How well `y` inverts the component's conditional CDFs at the uniforms `u` ([`Inversion`]).
fn inversion<const N: usize>(
    p: &Part<N>,
    y: &[f64; N],
    u: &[f64; N],
) -> Result<Inversion, TrainError>
where
    finn_core::jet::Dim<N>: finn_core::jet::JetDim,
{
    // One relative ulp for each rounding of a bound below.
    let up = 1.0 + 2.0 * f64::EPSILON;
    let mut inversion = Inversion {
        residual: 0.0,
        error: 0.0,
        widened: false,
    };
    let wide_y = y.map(DoubleDouble::from_f64);
    for (k, want) in u.iter().enumerate() {
        let want = want.clamp(0.0, 1.0);
        let c = p.fast.conditional_cdf_with_bound(k, y)?;
        let miss = (c.value - want).abs();
        inversion.residual = inversion.residual.max(miss);
        let mut error = (miss + c.error) * up;
        if error > INVERSION_TOLERANCE {
            let w = p.wide.conditional_cdf_with_bound(k, &wide_y)?;
            let miss = (w.value - DoubleDouble::from_f64(want)).abs();
            error = error.min((miss.to_f64() + w.error.to_f64()) * up * up);
            inversion.widened = true;
        }
        inversion.error = inversion.error.max(error);
    }
    Ok(inversion)
}

/// How well a sample inverts its component's conditional CDFs C_k ([`Sampler::sample`]; the
/// [module documentation](self)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Inversion {
    /// The largest |C_k(y) - u_k| over the axes as computed in f64 (what the sampler saw).
    pub residual: f64,
    /// A bound on the largest |C_k(y) - u_k| of the exact model over the axes: y is the
    /// exact sequential inverse of uniforms within `error` of the given ones.
    pub error: f64,
    /// Whether some axis was recomputed in double-double (f64's bound was above
    /// [`INVERSION_TOLERANCE`]).
    pub widened: bool,
}

impl Inversion {
    /// Whether `error` is within [`INVERSION_TOLERANCE`].
    ///
    /// ```
    /// use finn_train::density::sampling::Inversion;
    /// let i = Inversion { residual: 1e-9, error: 2e-6, widened: true };
    /// assert!(!i.certified());
    /// ```
    pub fn certified(&self) -> bool {
        self.error <= INVERSION_TOLERANCE
    }
}

impl DensityModel {
    /// A sampler by finn-core's [`Density::sample`] (sequential inversion of the components'
    /// conditional CDFs). Needs n <= 4, widths <= [`SAMPLER_WIDTH`] and at most
    /// [`SAMPLER_LAYERS`] hidden layers.
    pub fn sampler(&self) -> Result<Sampler<'_>, TrainError> {
        let parts = self
            .components
            .iter()
            .map(|c| CoreDensity::new(&c.model))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Sampler { model: self, parts })
    }
}

/// Draws samples from a [`DensityModel`] with finn-core's sampler.
pub struct Sampler<'a> {
    model: &'a DensityModel,
    parts: Vec<CoreDensity>,
}

impl Sampler<'_> {
    /// A sample from n + 1 uniforms in [0, 1): the first picks the component (by the
    /// cumulative weights), the others go to that component's sequential inversion; the result
    /// is reflected back and mapped to x. Also returns how well the sample y (in the
    /// component's u) inverts the component's conditional CDFs: [`Inversion`].
    pub fn sample(&self, uniforms: &[f64]) -> Result<(Vec<f64>, Inversion), TrainError> {
        let n = self.model.dim();
        if uniforms.len() != n + 1 {
            return Err(finn_core::Error::DimensionMismatch {
                expected: n + 1,
                found: uniforms.len(),
            }
            .into());
        }
        // All of them, the component's pick too (a NaN there matched no component).
        if uniforms.iter().any(|u| !u.is_finite()) {
            return Err(finn_core::Error::NonFiniteInput.into());
        }
        let mut k = self.parts.len() - 1;
        let mut acc = 0.0;
        for (j, c) in self.model.components.iter().enumerate() {
            acc += c.weight;
            if uniforms[0] < acc {
                k = j;
                break;
            }
        }
        let (y, inversion) = self.parts[k].sample(&uniforms[1..])?;
        let u = self.model.reflect(k, &y);
        Ok((self.model.from_u(&u), inversion))
    }
}

/// What [`sample_check`] measured.
#[derive(Clone, Debug)]
pub struct SampleCheck {
    /// The samples (all of them).
    pub samples: Vec<Vec<f64>>,
    /// Pearson's chi-square of the samples' counts in the grid cells against the model's
    /// exact box probabilities.
    pub chi_square: f64,
    /// Its degrees of freedom (cells - 1, after pooling cells expecting fewer than 5 samples
    /// into the rest cell).
    pub dof: usize,
    /// The Wilson-Hilferty normal score of `chi_square` (above 1.645: rejected at 5 %).
    pub z: f64,
    /// The largest |C_k(sample) - u_k| over all samples and axes as computed in f64
    /// ([`Inversion::residual`]).
    pub max_residual: f64,
    /// The largest [`Inversion::error`]: every sample is the exact inverse of uniforms within
    /// this of its own.
    pub max_error: f64,
    /// Samples whose error is above [`INVERSION_TOLERANCE`].
    pub uncertified: usize,
    /// Samples checked in double-double on some axis ([`Inversion::widened`]).
    pub widened: usize,
    /// Wall time of the sampling and its check, seconds.
    pub seconds: f64,
}

/// Draws `count` samples with seeded uniforms and tests them: chi-square on a
/// `grid` x `grid` partition of [lo, hi] in the first two coordinates (every other
/// coordinate unrestricted) plus one cell for the rest of the space, against the exact
/// [`DensityModel::box_probability`] of each cell. On a polar, ball or simplex domain the
/// cells are the images of a `grid` x `grid` partition of [0, 1]^2 in (u_1, u_2) instead
/// (`lo` and `hi` are ignored), each with its exact [`DensityModel::image_probability`], and
/// each sample is counted in the cell of its u = r^-1(x).
///
/// Errors: those of [`DensityModel::sampler`] and of the model's evaluation; `Data` for
/// n < 2.
pub fn sample_check(
    model: &DensityModel,
    count: usize,
    seed: u64,
    grid: usize,
    lo: &[f64],
    hi: &[f64],
) -> Result<SampleCheck, TrainError> {
    let n = model.dim();
    if n < 2 {
        return Err(TrainError::Data("the grid test needs n >= 2".into()));
    }
    let start = std::time::Instant::now();
    let sampler = model.sampler()?;
    let mut rng = crate::random::SplitMix64::new(seed);
    let mut samples = Vec::with_capacity(count);
    let mut max_residual: f64 = 0.0;
    let (mut uncertified, mut widened) = (0, 0);
    let mut max_error: f64 = 0.0;
    let mut u = vec![0.0; n + 1];
    for _ in 0..count {
        u.iter_mut().for_each(|v| *v = rng.unit());
        let (x, inversion) = sampler.sample(&u)?;
        max_residual = max_residual.max(inversion.residual);
        uncertified += usize::from(!inversion.certified());
        widened += usize::from(inversion.widened);
        max_error = max_error.max(inversion.error);
        samples.push(x);
    }
    let seconds = start.elapsed().as_secs_f64();
    let evals = model.evaluators()?;
    // On a mapped domain the cells are images of u-cells (an x-box has no exact probability).
    let mapped = !model.map.exact_boxes();
    let (lo, hi) = if mapped {
        (&[0.0, 0.0][..], &[1.0, 1.0][..])
    } else {
        (lo, hi)
    };
    let (wx, wy) = ((hi[0] - lo[0]) / grid as f64, (hi[1] - lo[1]) / grid as f64);
    let mut a = vec![f64::NEG_INFINITY; n];
    let mut b = vec![f64::INFINITY; n];
    let mut expected = Vec::with_capacity(grid * grid);
    for i in 0..grid {
        for j in 0..grid {
            a[0] = lo[0] + i as f64 * wx;
            b[0] = a[0] + wx;
            a[1] = lo[1] + j as f64 * wy;
            b[1] = a[1] + wy;
            let p = if mapped {
                let (mut ua, mut ub) = (vec![0.0; n], vec![1.0; n]);
                ua[..2].copy_from_slice(&a[..2]);
                ub[..2].copy_from_slice(&b[..2]);
                model.image_probability_with(&evals, &ua, &ub)?
            } else {
                model.box_probability_with(&evals, &a, &b)?
            };
            expected.push(p * count as f64);
        }
    }
    let mut observed = vec![0.0; grid * grid];
    let mut rest_observed = 0.0;
    for x in &samples {
        let u;
        let x = if mapped {
            u = model.to_u(x).map_or_else(|| vec![f64::NAN; n], |(u, _)| u);
            &u
        } else {
            x
        };
        let (i, j) = ((x[0] - lo[0]) / wx, (x[1] - lo[1]) / wy);
        if i >= 0.0 && j >= 0.0 && (i as usize) < grid && (j as usize) < grid {
            observed[i as usize * grid + j as usize] += 1.0;
        } else {
            rest_observed += 1.0;
        }
    }
    let mut rest_expected = count as f64 - expected.iter().sum::<f64>();
    let (mut chi_square, mut cells) = (0.0, 0usize);
    for (o, e) in observed.iter().zip(&expected) {
        if *e < 5.0 {
            rest_expected += e;
            rest_observed += o;
        } else {
            chi_square += (o - e) * (o - e) / e;
            cells += 1;
        }
    }
    if rest_expected >= 5.0 {
        chi_square += (rest_observed - rest_expected).powi(2) / rest_expected;
        cells += 1;
    }
    let dof = cells.saturating_sub(1).max(1);
    let k = dof as f64;
    let z = ((chi_square / k).cbrt() - (1.0 - 2.0 / (9.0 * k))) / (2.0 / (9.0 * k)).sqrt();
    Ok(SampleCheck {
        samples,
        chi_square,
        dof,
        z,
        max_residual,
        uncertified,
        max_error,
        widened,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::density::composite::tests::mixture;
    use crate::density::composite::SupportMap;

    /// The sampler's own samples are certified far below the tolerance, in f64 alone; a
    /// sample moved along an axis gets an error of at least the change of its CDF, and one
    /// moved by 1e-4 of the axis (where the CDF changes by more than 2e-6) is not certified.
    #[test]
    fn an_inexact_sample_is_not_certified() {
        let d = mixture(2, &[-1.0, -1.0], &[1.0, 1.0], SupportMap::Box);
        let CoreDensity::D2(c) = CoreDensity::new(&d.components[0].model).unwrap() else {
            panic!("a 2-D model")
        };
        let mut rng = crate::random::SplitMix64::new(11);
        let mut rejected = 0;
        for _ in 0..200 {
            let u = [rng.unit(), rng.unit()];
            let y = c.fast.sample(&u).unwrap();
            let ok = inversion(&c, &y, &u).unwrap();
            assert!(
                ok.certified() && ok.error < 1e-10 && !ok.widened,
                "{u:?} -> {y:?}: {ok:?}"
            );
            for (k, shift) in [(0, 1e-9), (1, -1e-9), (1, 1e-4), (0, -1e-4)] {
                let mut moved = y;
                moved[k] = (y[k] + shift).clamp(-1.0, 1.0);
                let change = (c.fast.conditional_cdf(k, &moved).unwrap()
                    - c.fast.conditional_cdf(k, &y).unwrap())
                .abs();
                let bad = inversion(&c, &moved, &u).unwrap();
                assert!(
                    bad.error >= change - ok.error,
                    "{u:?}: {y:?} to {moved:?}: {bad:?}"
                );
                if change > 2e-6 {
                    assert!(!bad.certified(), "{u:?}: {y:?} to {moved:?}: {bad:?}");
                    rejected += 1;
                }
            }
        }
        assert!(rejected > 200, "{rejected}");
    }

    /// A component whose F carries a large term in x_0 alone (it cancels in every corner sum,
    /// so the density is the same) has conditional CDFs of x_1 whose f64 rounding bound is far
    /// above the tolerance: double-double certifies its samples anyway. Failed before
    /// double-double's activation error was its own (1e-12, f64's, left the bound as loose as
    /// f64's) and before a double-double model could load at all.
    #[test]
    fn a_cancelling_component_is_certified_in_double_double() {
        let arch = crate::model::Architecture {
            n: 2,
            kind: finn_core::Kind::Positive,
            activation: finn_core::Activation::Sigma,
            widths: vec![2],
        };
        let s = crate::density::train::Standardise::new(&[0.0, 0.0], &[1.0, 1.0]);
        // Unit 0 mixes both inputs (the density); unit 1 sees x_0 only, with output weight v.
        let with = |v: f64| {
            let params = [1.5, 2.0, 3.0, 0.0, -0.5, 0.3, 1.0, v];
            crate::density::train::model(&arch, &params, &s, &[0.0, 0.0], &[1.0, 1.0]).unwrap()
        };
        let (plain, heavy) = (with(1.0), with(1e7));
        let (CoreDensity::D2(plain), CoreDensity::D2(heavy)) = (
            CoreDensity::new(&plain).unwrap(),
            CoreDensity::new(&heavy).unwrap(),
        ) else {
            panic!("2-D models")
        };
        let mut rng = crate::random::SplitMix64::new(5);
        let mut widened = 0;
        for _ in 0..200 {
            let u = [rng.unit(), rng.unit()];
            let y = heavy.fast.sample(&u).unwrap();
            // The same density: the x_0 term cancels.
            let (p, q) = (plain.fast.pdf(&y).unwrap(), heavy.fast.pdf(&y).unwrap());
            assert!((p - q).abs() <= 1e-6 * p, "{p} vs {q}");
            let f64_bound = heavy.fast.conditional_cdf_with_bound(1, &y).unwrap().error;
            let i = inversion(&heavy, &y, &u).unwrap();
            assert!(i.certified(), "{u:?}: {i:?} (f64 bound {f64_bound})");
            if f64_bound > INVERSION_TOLERANCE {
                assert!(i.widened, "{i:?} ({f64_bound})");
                widened += 1;
            }
        }
        assert!(widened > 100, "{widened}");
    }

    /// Bad uniforms are refused with the error that names them: a wrong count, and a NaN or
    /// infinite one in any place. The component's pick (the first uniform) was not checked
    /// before: a NaN there silently chose the last component.
    #[test]
    fn bad_uniforms_are_refused() {
        let d = mixture(2, &[-1.0, -1.0], &[1.0, 1.0], SupportMap::Box);
        let s = d.sampler().unwrap();
        assert!(s.sample(&[0.5, 0.5, 0.5]).is_ok());
        for wrong in [&[0.5, 0.5][..], &[0.5; 4][..], &[][..]] {
            assert!(
                matches!(
                    s.sample(wrong),
                    Err(TrainError::Core(finn_core::Error::DimensionMismatch {
                        expected: 3,
                        ..
                    }))
                ),
                "{wrong:?}"
            );
        }
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            for k in 0..3 {
                let mut u = [0.5; 3];
                u[k] = bad;
                assert!(
                    matches!(
                        s.sample(&u),
                        Err(TrainError::Core(finn_core::Error::NonFiniteInput))
                    ),
                    "{u:?}"
                );
            }
        }
    }

    #[test]
    fn samples_pass_the_grid_test_and_invert_their_cdfs() {
        let d = mixture(2, &[-1.0, -1.0], &[1.0, 1.0], SupportMap::Box);
        let check = sample_check(&d, 20_000, 5, 6, &[-1.0, -1.0], &[1.0, 1.0]).unwrap();
        assert!(
            check.z < 3.0,
            "chi-square {} at {} dof",
            check.chi_square,
            check.dof
        );
        assert!(check.max_residual < 1e-9, "{}", check.max_residual);
        assert_eq!(check.uncertified, 0);
        assert!(check
            .samples
            .iter()
            .all(|x| x.iter().all(|v| (-1.0..=1.0).contains(v))));
        // A wrong model fails: the samples against another mixture's probabilities.
        let other = mixture(2, &[-1.0, -0.9], &[1.0, 1.2], SupportMap::Box);
        let evals = other.evaluators().unwrap();
        let mut chi = 0.0;
        for i in 0..4 {
            for j in 0..4 {
                let a = [-1.0 + 0.5 * i as f64, -1.0 + 0.5 * j as f64];
                let b = [a[0] + 0.5, a[1] + 0.5];
                let e = other.box_probability_with(&evals, &a, &b).unwrap() * 20_000.0;
                let o = check
                    .samples
                    .iter()
                    .filter(|x| x[0] >= a[0] && x[0] < b[0] && x[1] >= a[1] && x[1] < b[1])
                    .count() as f64;
                chi += (o - e) * (o - e) / e.max(1.0);
            }
        }
        assert!(chi > 100.0, "{chi}");
    }
}
