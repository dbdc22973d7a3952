//! A mixture of reflected positive FINNs, exactly normalised.
//!
//! Every first-layer unit of a positive network is a function of w . x with w >= 0, so its
//! features are ridges across one family of directions only (in 2-D, lines of negative
//! slope). Reflecting the inputs turns that family around: with a sign pattern s in
//! {+1, -1}^n and the support [-h, h]^n (the learning box, symmetric about 0),
//! f_s(x) = f'_s(s x) / Z_s is again a positive FINN whose integral over the box is 1, because
//! the reflection maps the box onto itself and keeps volumes. The mixture
//!
//! ```text
//! p(x) = sum_k pi_k f'_k(s_k x) / Z_k,     pi = softmax(logits),
//! ```
//!
//! with one independent network per pattern, is non-negative, integrates to exactly
//! sum_k pi_k = 1 (up to the rounding of each Z_k), and the probability of any box is the
//! weighted sum of each component's vertex sum over the reflected box, so it stays exact. The
//! patterns are the 2^(n-1) with s_0 = +1 ([`sign_patterns`]): reflecting every axis at once
//! gives ridges of the same family again.
//!
//! The loss is the mean -log p over the training points plus a ridge term; its gradient is
//! exact: with r_ik = pi_k f_k(x_i) / p(x_i) (the responsibilities),
//!
//! ```text
//! dL/d theta_k = -(1/m) sum_i (pi_k / (Z_k p_i)) df'_k(s_k x_i)/d theta_k
//!                + ((1/m) sum_i r_ik) (1 / Z_k) dZ_k/d theta_k,
//! dL/d logit_k = -(1/m) sum_i (r_ik - pi_k).
//! ```

use super::loss::FLOOR;
use crate::grad::{Net, Trace};
use crate::model::Architecture;
use crate::TrainError;
use finn_core::Error;
use ndarray::Array2;

/// The reflections of a mixture: for `reflections = false` the identity only, otherwise the
/// 2^(n-1) sign patterns with the first axis kept (`true` = that axis is reflected).
///
/// ```
/// use finn_train::density::mixture::sign_patterns;
/// assert_eq!(sign_patterns(2, false), vec![vec![false, false]]);
/// assert_eq!(sign_patterns(2, true), vec![vec![false, false], vec![false, true]]);
/// assert_eq!(sign_patterns(4, true).len(), 8);
/// ```
pub fn sign_patterns(n: usize, reflections: bool) -> Vec<Vec<bool>> {
    if !reflections || n < 2 {
        return vec![vec![false; n]];
    }
    (0..1usize << (n - 1))
        .map(|m| (0..n).map(|i| i > 0 && (m >> (i - 1)) & 1 == 1).collect())
        .collect()
}

/// Most networks a mixture may have (each is trained and stored separately).
pub const MAX_COMPONENTS: usize = 64;

/// Networks of a mixture with reflections when the config names no count, at least (the
/// shipped 2-D configs' count: a minimal 2-D config then trains like them).
pub const DEFAULT_COMPONENTS: usize = 8;

/// The reflection of each of `count` components, cycling through the patterns of
/// [`sign_patterns`]. Without a count: one network without reflections (or in 1-D), else
/// [`DEFAULT_COMPONENTS`] or one per pattern if there are more.
///
/// ```
/// use finn_train::density::mixture::components;
/// let signs = components(2, true, Some(3)).unwrap();
/// assert_eq!(signs, vec![vec![false, false], vec![false, true], vec![false, false]]);
/// assert!(components(2, true, Some(0)).is_err());
/// assert_eq!(components(2, true, None).unwrap().len(), 8);
/// assert_eq!(components(5, true, None).unwrap().len(), 16);
/// assert_eq!(components(1, true, None).unwrap().len(), 1);
/// assert_eq!(components(3, false, None).unwrap().len(), 1);
/// ```
pub fn components(
    n: usize,
    reflections: bool,
    count: Option<usize>,
) -> Result<Vec<Vec<bool>>, TrainError> {
    let patterns = sign_patterns(n, reflections);
    let count = count.unwrap_or(if patterns.len() > 1 {
        patterns.len().max(DEFAULT_COMPONENTS)
    } else {
        1
    });
    if !(1..=MAX_COMPONENTS).contains(&count) {
        return Err(TrainError::Data(format!(
            "network.components = {count}: a mixture has 1 to {MAX_COMPONENTS} networks"
        )));
    }
    Ok((0..count)
        .map(|k| patterns[k % patterns.len()].clone())
        .collect())
}

/// A loss that [`super::train::fit`] can minimise: a cost with its exact gradient, and the
/// plain NLL on other points.
pub trait Likelihood: crate::stopping::Loss {
    /// The mean -log pdf over `points` (no ridge term), nats per sample.
    fn mean_nll(&self, params: &[f64], points: &Array2<f64>) -> Result<f64, TrainError>;
}

impl crate::stopping::Loss for super::loss::Nll {
    fn loss(&self, params: &[f64]) -> Result<f64, TrainError> {
        super::loss::Nll::loss(self, params)
    }
}

impl Likelihood for super::loss::Nll {
    fn mean_nll(&self, params: &[f64], points: &Array2<f64>) -> Result<f64, TrainError> {
        super::loss::Nll::mean_nll(self, params, points)
    }
}

/// The negative log-likelihood of a mixture of reflected positive FINNs on the box
/// [-h, h]^n (see the [module documentation](self)).
///
/// Parameters: the K mixing logits, then each component's network parameters in turn.
///
/// ```
/// use finn_core::{Activation, Kind};
/// use finn_train::density::mixture::{sign_patterns, MixtureNll};
/// use finn_train::model::Architecture;
/// use ndarray::array;
/// let arch = Architecture { n: 2, kind: Kind::Positive, activation: Activation::Sigma, widths: vec![3] };
/// let points = array![[0.1, 0.2], [-0.5, 0.7], [1.0, -1.0]];
/// let nll = MixtureNll::new(arch, points, 2.0, sign_patterns(2, true)).unwrap();
/// let params = nll.initial_parameters(1).unwrap();
/// assert_eq!(nll.per_component(), 12); // 2 x 3 weights, 3 biases, 3 output weights
/// assert_eq!(params.len(), 2 + 2 * 12);
/// let mut g = vec![0.0; params.len()];
/// let loss = nll.loss_and_gradient(&params, &mut g).unwrap();
/// assert!(loss.is_finite() && g.iter().all(|v| v.is_finite()));
/// ```
#[derive(Clone, Debug)]
pub struct MixtureNll {
    /// Every component's shape (positive, sigma).
    pub architecture: Architecture,
    /// Training points, one per row, in the learning box.
    pub points: Array2<f64>,
    /// Half the side of the box [-h, h]^n.
    pub half_side: f64,
    /// One reflection per component (`true`: that axis is reflected).
    pub signs: Vec<Vec<bool>>,
    /// Ridge coefficient on the network parameters (not the logits).
    pub weight_decay: f64,
    /// The seam penalty (`loss.seam`), if any.
    pub seam: Option<SeamPenalty>,
    /// Whether the starting bumps are tilted like their clusters (`network.tilt`, default
    /// true) or axis-aligned.
    pub tilt: bool,
    /// The starting bumps' width floor ([`super::train::bumps_with_floor`]; default
    /// [`super::train::BUMP_WIDTH`]).
    pub width_floor: f64,
    /// The starting value of the couplings between bumps (`network.coupling`, default
    /// [`super::train::DEFAULT_COUPLING`]).
    pub coupling: f64,
}

/// The seam penalty of a periodic coordinate p: with P(y) = c sum_k pi_k f'_k(s_k y) / Z_k
/// the mixture's density in the map's u (c = the volume of the learning box over the
/// u-box's), and for each seam point y_j its two sides a_j (y_p = -h) and b_j (y_p = +h),
///
/// ```text
/// weight * (1/G) sum_j (P(a_j) - P(b_j))^2,
/// ```
///
/// added to the training loss (not to the validation NLL) with its exact gradient.
#[derive(Clone, Debug)]
pub struct SeamPenalty {
    /// The periodic axis p.
    pub axis: usize,
    /// The weight (`loss.seam`), >= 0.
    pub weight: f64,
    /// The seam points (G rows, learning coordinates; column p is ignored).
    pub points: Array2<f64>,
    /// c: the u-density is c times the learning-coordinate density.
    pub scale: f64,
}

/// exp(l_k) / sum exp(l), stable.
///
/// ```
/// let p = finn_train::density::mixture::softmax(&[0.0, 0.0]);
/// assert_eq!(p, vec![0.5, 0.5]);
/// ```
pub fn softmax(logits: &[f64]) -> Vec<f64> {
    let top = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logits.iter().map(|l| (l - top).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// The vertex sum of F' over [-h, h]^n (Eq. 4); with `seed`, adds seed * dZ/d(effective
/// parameters) into the gradient.
pub(crate) fn box_sum(
    net: &Net,
    tr: &mut Trace,
    lower: &[f64],
    upper: &[f64],
    seed: Option<(f64, &mut [f64])>,
) -> Result<f64, Error> {
    let sum = net.corner_sum(lower, upper, tr, seed)?;
    if sum > 0.0 && sum.is_finite() {
        Ok(sum)
    } else {
        Err(Error::DegenerateIntegral)
    }
}

impl MixtureNll {
    /// The loss of `points` (m x n, inside [-h, h]^n) under a mixture with one component per
    /// entry of `signs`.
    ///
    /// Errors: `Core(InvalidShape)` for a network that is not positive with sigma, `Data` for
    /// points of the wrong width, no points, no components or a pattern of the wrong length,
    /// `Core(EmptyInterval)` for h <= 0.
    pub fn new(
        architecture: Architecture,
        points: Array2<f64>,
        half_side: f64,
        signs: Vec<Vec<bool>>,
    ) -> Result<Self, TrainError> {
        let n = architecture.n;
        if architecture.kind != finn_core::Kind::Positive
            || architecture.activation != finn_core::Activation::Sigma
        {
            return Err(Error::InvalidShape.into());
        }
        if points.ncols() != n || points.nrows() == 0 {
            return Err(TrainError::Data(format!(
                "{} points of {} columns for a network of {n} inputs",
                points.nrows(),
                points.ncols()
            )));
        }
        if signs.is_empty() || signs.iter().any(|s| s.len() != n) {
            return Err(TrainError::Data(format!(
                "a mixture needs at least one reflection of {n} axes"
            )));
        }
        if !(half_side > 0.0 && half_side.is_finite()) {
            return Err(Error::EmptyInterval { axis: 0 }.into());
        }
        Ok(MixtureNll {
            architecture,
            points,
            half_side,
            signs,
            weight_decay: 0.0,
            seam: None,
            tilt: true,
            width_floor: super::train::BUMP_WIDTH,
            coupling: super::train::DEFAULT_COUPLING,
        })
    }

    /// Adds the seam penalty ([`SeamPenalty`]); a weight of 0 leaves the loss as it was.
    ///
    /// Errors: `Data` for an axis out of range, seam points of the wrong width or none, or a
    /// weight or scale that is negative or not finite.
    pub fn with_seam(mut self, seam: SeamPenalty) -> Result<Self, TrainError> {
        let n = self.architecture.n;
        if seam.axis >= n || seam.points.ncols() != n || seam.points.nrows() == 0 {
            return Err(TrainError::Data(format!(
                "seam penalty: axis {} and {} points of {} columns for {n} inputs",
                seam.axis,
                seam.points.nrows(),
                seam.points.ncols()
            )));
        }
        if !(seam.weight.is_finite() && seam.weight >= 0.0 && seam.scale.is_finite())
            || seam.scale <= 0.0
        {
            return Err(TrainError::Data(format!(
                "seam penalty: weight {} and scale {} must be finite, >= 0 and > 0",
                seam.weight, seam.scale
            )));
        }
        self.seam = (seam.weight > 0.0).then_some(seam);
        Ok(self)
    }

    /// Starts the bumps tilted like their clusters (true, the default) or axis-aligned.
    pub fn with_tilt(mut self, tilt: bool) -> Self {
        self.tilt = tilt;
        self
    }

    /// Starts the bumps with this width floor instead of [`super::train::BUMP_WIDTH`].
    pub fn with_width_floor(mut self, width_floor: f64) -> Self {
        self.width_floor = width_floor;
        self
    }

    /// Starts the couplings between bumps at this value instead of
    /// [`super::train::DEFAULT_COUPLING`] (see [`super::train::bump_parameters`]).
    pub fn with_coupling(mut self, coupling: f64) -> Self {
        self.coupling = coupling;
        self
    }

    /// Sets the ridge coefficient.
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// The number of components K.
    pub fn components(&self) -> usize {
        self.signs.len()
    }

    /// Parameters of one network.
    pub fn per_component(&self) -> usize {
        self.architecture.parameter_count()
    }

    /// Starting parameters: equal weights, and each component started as a sum of bumps
    /// ([`super::train::bump_parameters`]) on its share of k-means clusters of the training
    /// points ([`super::train::bumps`]), in its reflected coordinates (another seed per
    /// component).
    ///
    /// Errors: `Data` when k-means fails.
    pub fn initial_parameters(&self, seed: u64) -> Result<Vec<f64>, TrainError> {
        let kk = self.components();
        let per = super::train::bumps_per_network(&self.architecture);
        let mut sites =
            super::train::bumps_with_floor(&self.points, (kk * per).max(1), self.width_floor)?;
        if !self.tilt {
            sites.shapes = sites
                .widths
                .rows()
                .into_iter()
                .map(|w| Array2::from_diag(&w.mapv(|s| 1.0 / s.max(1e-6))))
                .collect();
        }
        let shares = assign_bumps(&sites, &self.signs, per);
        let mut p = vec![0.0; kk];
        for (k, (s, rows)) in self.signs.iter().zip(&shares).enumerate() {
            let reflected = reflect_rows(&self.points, s);
            // Component k's share of the bumps, in its reflected coordinates.
            p.extend(super::train::bump_parameters(
                &self.architecture,
                &reflected,
                &sites.select(rows, s),
                self.coupling,
                seed.wrapping_add(k as u64 * 0x9E37),
            ));
        }
        Ok(p)
    }

    /// The mixing weights pi for `params`.
    pub fn weights(&self, params: &[f64]) -> Vec<f64> {
        softmax(&params[..self.components()])
    }

    /// One component's network parameters.
    pub fn component<'p>(&self, params: &'p [f64], k: usize) -> &'p [f64] {
        let (k0, p) = (self.components(), self.per_component());
        &params[k0 + k * p..k0 + (k + 1) * p]
    }

    /// The loss value.
    pub fn loss(&self, params: &[f64]) -> Result<f64, TrainError> {
        self.evaluate(params, &self.points, self.weight_decay, true, None)
    }

    /// The loss value; its exact gradient is written into `grad`.
    pub fn loss_and_gradient(&self, params: &[f64], grad: &mut [f64]) -> Result<f64, TrainError> {
        self.evaluate(params, &self.points, self.weight_decay, true, Some(grad))
    }

    /// The mean of -log p over `points` (no ridge term).
    pub fn mean_nll(&self, params: &[f64], points: &Array2<f64>) -> Result<f64, TrainError> {
        self.evaluate(params, points, 0.0, false, None)
    }

    /// The seam penalty alone (0 without one).
    pub fn seam_penalty(&self, params: &[f64]) -> Result<f64, TrainError> {
        let Some(seam) = &self.seam else {
            return Ok(0.0);
        };
        let kk = self.components();
        let nets = (0..kk)
            .map(|k| Net::new(&self.architecture, self.component(params, k)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut traces = vec![Trace::default(); kk];
        let n = self.architecture.n;
        let (lower, upper) = (vec![-self.half_side; n], vec![self.half_side; n]);
        let z = nets
            .iter()
            .zip(traces.iter_mut())
            .map(|(net, tr)| box_sum(net, tr, &lower, &upper, None))
            .collect::<Result<Vec<_>, _>>()?;
        let pi = self.weights(params);
        self.seam_term(seam, &nets, &mut traces, &pi, &z, None)
            .map_err(Into::into)
    }

    /// The seam term's value; with `grad` = (logits' gradient, each component's gradient in
    /// effective parameters, each component's coefficient of dZ_k), adds its gradient.
    fn seam_term(
        &self,
        seam: &SeamPenalty,
        nets: &[Net],
        traces: &mut [Trace],
        pi: &[f64],
        z: &[f64],
        mut grad: Option<SeamGrad<'_>>,
    ) -> Result<f64, Error> {
        let (kk, n, h) = (nets.len(), self.architecture.n, self.half_side);
        let g_count = seam.points.nrows() as f64;
        let c = seam.scale;
        let mut total = 0.0;
        // f[side][k] and the side's point per component.
        let mut y = vec![vec![vec![0.0; n]; kk]; 2];
        let mut f = [vec![0.0; kk], vec![0.0; kk]];
        for row in seam.points.rows() {
            let mut p_side = [0.0; 2];
            for side in 0..2 {
                for k in 0..kk {
                    for i in 0..n {
                        let v = if i == seam.axis {
                            if side == 0 {
                                -h
                            } else {
                                h
                            }
                        } else {
                            row[i]
                        };
                        y[side][k][i] = if self.signs[k][i] { -v } else { v };
                    }
                    f[side][k] = nets[k].integrand_forward(&y[side][k], &mut traces[k])?;
                    p_side[side] += c * pi[k] * f[side][k] / z[k];
                }
            }
            let d = p_side[0] - p_side[1];
            total += seam.weight * d * d / g_count;
            if let Some((g_logit, g_eff, z_seed)) = grad.as_mut() {
                // d term / d P_a = g, d term / d P_b = -g.
                let g = 2.0 * seam.weight * d / g_count;
                for k in 0..kk {
                    for (side, sign) in [(0, 1.0), (1, -1.0)] {
                        let gs = sign * g;
                        g_logit[k] += gs * (c * pi[k] * f[side][k] / z[k] - pi[k] * p_side[side]);
                        z_seed[k] -= gs * c * pi[k] * f[side][k] / (z[k] * z[k]);
                        // The backward pass needs this point's forward pass in the trace.
                        nets[k].integrand_forward(&y[side][k], &mut traces[k])?;
                        nets[k].integrand_backward(
                            &y[side][k],
                            &mut traces[k],
                            gs * c * pi[k] / z[k],
                            &mut g_eff[k],
                        );
                    }
                }
            }
        }
        Ok(total)
    }

    fn evaluate(
        &self,
        params: &[f64],
        points: &Array2<f64>,
        decay: f64,
        penalties: bool,
        grad: Option<&mut [f64]>,
    ) -> Result<f64, TrainError> {
        let (kk, per) = (self.components(), self.per_component());
        let n = self.architecture.n;
        if params.len() != kk + kk * per {
            return Err(Error::DimensionMismatch {
                expected: kk + kk * per,
                found: params.len(),
            }
            .into());
        }
        let nets = (0..kk)
            .map(|k| Net::new(&self.architecture, self.component(params, k)))
            .collect::<Result<Vec<_>, _>>()?;
        let pi = self.weights(params);
        let mut traces = vec![Trace::default(); kk];
        let lower = vec![-self.half_side; n];
        let upper = vec![self.half_side; n];
        let z = nets
            .iter()
            .zip(traces.iter_mut())
            .map(|(net, tr)| box_sum(net, tr, &lower, &upper, None))
            .collect::<Result<Vec<_>, _>>()?;
        let want = grad.is_some();
        let m = points.nrows() as f64;
        // One partial sum per block of rows, in parallel, combined in row order.
        let partials = crate::parallel::map_blocks(points, |block| {
            let mut part = Partial::new(kk, if want { per } else { 0 });
            let mut traces = vec![Trace::default(); kk];
            let mut y = vec![vec![0.0; n]; kk];
            let mut q = vec![0.0; kk];
            for x in block.rows() {
                let mut p = 0.0;
                for k in 0..kk {
                    for i in 0..n {
                        y[k][i] = if self.signs[k][i] { -x[i] } else { x[i] };
                    }
                    let f = nets[k].integrand_forward(&y[k], &mut traces[k])?;
                    q[k] = pi[k] * f / z[k];
                    p += q[k];
                }
                if p > FLOOR {
                    part.sum -= p.ln();
                    if want {
                        for k in 0..kk {
                            let r = q[k] / p;
                            part.resp[k] += r / m;
                            part.g_logit[k] -= (r - pi[k]) / m;
                            // The forward pass of component k is the last one its trace saw.
                            nets[k].integrand_backward(
                                &y[k],
                                &mut traces[k],
                                -pi[k] / (m * p * z[k]),
                                &mut part.g_eff[k],
                            );
                        }
                    }
                } else {
                    part.sum -= FLOOR.ln();
                }
            }
            Ok::<_, Error>(part)
        });
        let mut total = Partial::new(kk, if want { per } else { 0 });
        for part in partials {
            total.add(&part?);
        }
        let Partial {
            sum,
            resp,
            g_logit,
            mut g_eff,
        } = total;
        let ridge: f64 = params[kk..].iter().map(|p| p * p).sum::<f64>();
        let mut loss = sum / m + decay * ridge;
        let mut g_logit = g_logit;
        let mut z_seed = vec![0.0; kk];
        let seam = self.seam.as_ref().filter(|_| penalties);
        if let Some(seam) = seam {
            let g = want.then_some((&mut g_logit[..], &mut g_eff[..], &mut z_seed[..]));
            loss += self.seam_term(seam, &nets, &mut traces, &pi, &z, g)?;
        }
        if let Some(grad) = grad {
            grad.iter_mut().for_each(|v| *v = 0.0);
            grad[..kk].copy_from_slice(&g_logit);
            for k in 0..kk {
                // Without a seam term the coefficient is resp / Z exactly as before.
                let coefficient = if seam.is_some() {
                    resp[k] / z[k] + z_seed[k]
                } else {
                    resp[k] / z[k]
                };
                box_sum(
                    &nets[k],
                    &mut traces[k],
                    &lower,
                    &upper,
                    Some((coefficient, &mut g_eff[k])),
                )?;
                nets[k].raw_gradient(&g_eff[k], &mut grad[kk + k * per..kk + (k + 1) * per]);
            }
            for (gi, p) in grad[kk..].iter_mut().zip(&params[kk..]) {
                *gi += 2.0 * decay * p;
            }
        }
        if loss.is_finite() {
            Ok(loss)
        } else {
            Err(Error::Overflow.into())
        }
    }
}

/// Where the seam term adds its gradient: the logits', each component's in effective
/// parameters, and each component's coefficient of dZ_k.
type SeamGrad<'a> = (&'a mut [f64], &'a mut [Vec<f64>], &'a mut [f64]);

/// The sums of one block of points: the NLL, and with a gradient the responsibilities' means,
/// the logits' gradient and each component's gradient in effective parameters.
struct Partial {
    sum: f64,
    resp: Vec<f64>,
    g_logit: Vec<f64>,
    g_eff: Vec<Vec<f64>>,
}

impl Partial {
    fn new(components: usize, per: usize) -> Self {
        Partial {
            sum: 0.0,
            resp: vec![0.0; components],
            g_logit: vec![0.0; components],
            g_eff: vec![vec![0.0; per]; components],
        }
    }

    fn add(&mut self, other: &Partial) {
        self.sum += other.sum;
        for (a, b) in self.resp.iter_mut().zip(&other.resp) {
            *a += b;
        }
        for (a, b) in self.g_logit.iter_mut().zip(&other.g_logit) {
            *a += b;
        }
        for (a, b) in self.g_eff.iter_mut().zip(&other.g_eff) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
    }
}

/// Which bumps each component starts with: `per` each, every bump in a component whose
/// reflection keeps its shape's weights non-negative where one has room (in 2-D a
/// negatively correlated cluster, whose inverse square root covariance has positive
/// off-diagonals, in an unreflected network; a positively correlated one reflected on
/// x2). Bumps that care most (the largest share of negative weight in the worst
/// reflection) choose first. With fewer bumps than places, component k takes bumps
/// k per .. (k + 1) per (cycled).
pub(crate) fn assign_bumps(
    sites: &super::train::Bumps,
    signs: &[Vec<bool>],
    per: usize,
) -> Vec<Vec<usize>> {
    let count = sites.centres.nrows();
    let plain = || {
        (0..signs.len())
            .map(|k| (k * per..(k + 1) * per).collect())
            .collect()
    };
    if count < signs.len() * per || sites.shapes.len() != count {
        return plain();
    }
    // The share of |W| that is negative under each component's reflection.
    let misfit = |r: usize, s: &[bool]| {
        let w = &sites.shapes[r];
        let sign = |i: usize| if s.get(i) == Some(&true) { -1.0 } else { 1.0 };
        let (mut negative, mut total) = (0.0, 0.0);
        for ((i, a), v) in w.indexed_iter() {
            let v = v * sign(i) * sign(a);
            total += v.abs();
            if v < 0.0 {
                negative -= v;
            }
        }
        if total > 0.0 {
            negative / total
        } else {
            0.0
        }
    };
    let costs: Vec<Vec<f64>> = (0..count)
        .map(|r| signs.iter().map(|s| misfit(r, s)).collect())
        .collect();
    let mut order: Vec<usize> = (0..count).collect();
    let spread = |c: &[f64]| {
        c.iter().cloned().fold(0.0, f64::max) - c.iter().cloned().fold(f64::INFINITY, f64::min)
    };
    order.sort_by(|&a, &b| {
        spread(&costs[b])
            .total_cmp(&spread(&costs[a]))
            .then(a.cmp(&b))
    });
    let mut shares: Vec<Vec<usize>> = vec![Vec::with_capacity(per); signs.len()];
    for r in order {
        let best = (0..signs.len())
            .filter(|&k| shares[k].len() < per)
            .min_by(|&a, &b| costs[r][a].total_cmp(&costs[r][b]).then(a.cmp(&b)));
        match best {
            Some(k) => shares[k].push(r),
            None => break,
        }
    }
    shares
}

/// The rows with the flagged axes negated (a reflection about 0).
pub(crate) fn reflect_rows(points: &Array2<f64>, signs: &[bool]) -> Array2<f64> {
    let mut out = points.clone();
    for mut row in out.rows_mut() {
        for (v, s) in row.iter_mut().zip(signs) {
            if *s {
                *v = -*v;
            }
        }
    }
    out
}

impl crate::stopping::Loss for MixtureNll {
    fn loss(&self, params: &[f64]) -> Result<f64, TrainError> {
        MixtureNll::loss(self, params)
    }
}

impl Likelihood for MixtureNll {
    fn mean_nll(&self, params: &[f64], points: &Array2<f64>) -> Result<f64, TrainError> {
        MixtureNll::mean_nll(self, params, points)
    }
}

argmin_loss!(MixtureNll);

#[cfg(test)]
mod tests {
    use super::*;
    use finn_core::{Activation, Kind};
    use ndarray::array;

    fn arch(widths: Vec<usize>) -> Architecture {
        Architecture {
            n: 2,
            kind: Kind::Positive,
            activation: Activation::Sigma,
            widths,
        }
    }

    #[test]
    fn gradient_matches_central_differences() {
        let points = array![
            [0.1, 0.2],
            [-0.5, 0.7],
            [1.0, -1.0],
            [-1.2, -0.3],
            [0.4, 1.5]
        ];
        for widths in [vec![3], vec![3, 2]] {
            let nll = MixtureNll::new(arch(widths), points.clone(), 2.0, sign_patterns(2, true))
                .unwrap()
                .with_weight_decay(1e-3);
            let mut p = nll.initial_parameters(7).unwrap();
            // The bump start sets many weights to exactly 0, the kink of abs(w), where a
            // central difference sees 0 and the gradient the +1 subgradient: move every
            // parameter off it.
            for (j, v) in p.iter_mut().enumerate() {
                *v += 0.05 * (j as f64 * 1.3 + 0.4).sin();
            }
            p[0] = 0.3; // unequal weights
            let mut g = vec![0.0; p.len()];
            nll.loss_and_gradient(&p, &mut g).unwrap();
            for j in 0..p.len() {
                let h = 1e-6 * p[j].abs().max(1.0);
                let (mut a, mut b) = (p.clone(), p.clone());
                a[j] += h;
                b[j] -= h;
                let fd = (nll.loss(&a).unwrap() - nll.loss(&b).unwrap()) / (2.0 * h);
                assert!(
                    (fd - g[j]).abs() <= 1e-6 * (1.0 + fd.abs()),
                    "parameter {j}: finite difference {fd}, gradient {}",
                    g[j]
                );
            }
        }
    }

    /// The seam term's gradient (logits, networks through f and through Z) against central
    /// differences, with reflected components so that the seam's sides swap in some of them.
    #[test]
    fn seam_gradient_matches_central_differences() {
        let points = array![[0.1, 0.2], [-0.5, 0.7], [1.0, -1.0], [-1.2, -0.3]];
        let seam_points = array![[-1.5, 0.0], [-0.2, 0.0], [0.9, 0.0], [1.7, 0.0]];
        let nll = MixtureNll::new(arch(vec![3, 2]), points, 2.0, sign_patterns(2, true))
            .unwrap()
            .with_weight_decay(1e-3)
            .with_seam(SeamPenalty {
                axis: 1,
                weight: 5.0,
                points: seam_points,
                scale: 16.0,
            })
            .unwrap();
        // Generic parameters (the bump start is nearly 0 on the faces).
        let mut p: Vec<f64> = (0..nll.components() * (1 + nll.per_component()))
            .map(|j| 0.8 * (j as f64 * 1.3).sin())
            .collect();
        p[0] = 0.3;
        let penalty = nll.seam_penalty(&p).unwrap();
        assert!(penalty > 1e-6, "{penalty}");
        let mut g = vec![0.0; p.len()];
        nll.loss_and_gradient(&p, &mut g).unwrap();
        for j in 0..p.len() {
            let h = 1e-6 * p[j].abs().max(1.0);
            let (mut a, mut b) = (p.clone(), p.clone());
            a[j] += h;
            b[j] -= h;
            let fd = (nll.loss(&a).unwrap() - nll.loss(&b).unwrap()) / (2.0 * h);
            assert!(
                (fd - g[j]).abs() <= 1e-6 * (1.0 + fd.abs()),
                "parameter {j}: finite difference {fd}, gradient {}",
                g[j]
            );
        }
        // The penalty is in the training loss only, not in the NLL of other points.
        let plain = nll.mean_nll(&p, &nll.points).unwrap();
        let with = nll.loss(&p).unwrap();
        let ridge: f64 = p[2..].iter().map(|v| v * v).sum::<f64>() * 1e-3;
        assert!((with - plain - ridge - nll.seam_penalty(&p).unwrap()).abs() < 1e-12);
    }

    /// Each bump goes to a component whose reflection keeps its shape non-negative.
    #[test]
    fn bumps_go_to_the_reflection_that_keeps_their_tilt() {
        use super::super::train::Bumps;
        let sites = Bumps {
            centres: array![[1.0, 1.0], [-1.0, 1.0], [0.0, 0.0], [2.0, 2.0]],
            widths: Array2::from_elem((4, 2), 0.5),
            shapes: vec![
                array![[2.0, -1.0], [-1.0, 2.0]],
                array![[2.0, 1.0], [1.0, 2.0]],
                array![[2.0, -0.5], [-0.5, 2.0]],
                array![[2.0, 0.0], [0.0, 2.0]],
            ],
        };
        let signs = vec![vec![false, false], vec![false, true]];
        let shares = assign_bumps(&sites, &signs, 2);
        // The untilted bump fits both and takes the place left.
        assert_eq!(shares, vec![vec![1, 3], vec![0, 2]]);
        for (k, rows) in shares.iter().enumerate() {
            let picked = sites.select(rows, &signs[k]);
            assert!(picked.shapes.iter().all(|w| w.iter().all(|v| *v >= 0.0)));
        }
        // Too few bumps for the places: component k takes k per .. (k + 1) per.
        let few = sites.select(&[0, 1], &[false, false]);
        assert_eq!(assign_bumps(&few, &signs, 2), vec![vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn one_unreflected_component_is_the_plain_loss() {
        let points = array![[0.1, 0.2], [-0.5, 0.7], [1.0, -1.0]];
        let a = arch(vec![4, 3]);
        let mix = MixtureNll::new(a.clone(), points.clone(), 2.0, sign_patterns(2, false)).unwrap();
        let plain =
            super::super::loss::Nll::new(a, points.clone(), vec![-2.0; 2], vec![2.0; 2]).unwrap();
        let p = mix.initial_parameters(3).unwrap();
        let l_mix = mix.mean_nll(&p, &points).unwrap();
        let l_plain = plain.mean_nll(&p[1..], &points).unwrap();
        assert!((l_mix - l_plain).abs() < 1e-12, "{l_mix} vs {l_plain}");
    }
}
