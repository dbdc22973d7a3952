//! The trained density as the host evaluates it: a support map (a box, or all of R^n) and a
//! mixture of reflected positive FINNs on the map's u-box ([`super::mixture`]).
//!
//! With x the data's coordinates, u = r^-1(x) the map's coordinates (u = x for a box) and
//! y_k = the reflection of u about the centre of the u-box on component k's flagged axes,
//!
//! ```text
//! p(x) = sum_k w_k p_k(y_k) / |det dr/du|,
//! ```
//!
//! where each p_k is a payload-0 model (a positive FINN whose integral over the u-box is 1).
//! `RealSpace` is per axis and monotone, so the image of an x-box is a u-box: every box
//! probability stays a weighted sum of exact vertex sums, for a box support and for R^n.
//! On the mapped domains ([`SupportMap::Polar`], [`SupportMap::Ball`],
//! [`SupportMap::Simplex`]: finn-core's maps, constant abs det) only the images of u-boxes
//! have exact probabilities ([`DensityModel::image_probability`]); an x-box is refused with
//! [`TrainError::Inexact`].

use super::loss::FLOOR;
use crate::eval::Evaluator;
use crate::model::TrainedModel;
use crate::TrainError;
use finn_core::format::{
    decode_density_mixture, density_mixture_encoded_len, encode_density_mixture,
    DensityMixtureHeader, MixtureComponentHeader, MixtureMapHeader, Payload, Scalar,
};
use finn_core::Constraint;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// The `format` field of a density JSON document.
pub const FORMAT: &str = "finn-density";

pub use super::support_map::SupportMap;

/// One mixture component.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// Its mixing weight (the weights sum to 1).
    pub weight: f64,
    /// Axes reflected about the centre of the u-box.
    pub reflect: Vec<bool>,
    /// The component: a positive FINN with integral 1 over the u-box (payload 0).
    pub model: TrainedModel,
}

/// A trained density: a support map and a mixture of reflected FINNs.
///
/// ```
/// use finn_core::{Activation, Bound, Constraint, Kind, Method};
/// use finn_train::density::composite::{Component, DensityModel, SupportMap};
/// use finn_train::model::{Architecture, TrainedModel};
/// let arch = Architecture { n: 1, kind: Kind::Positive, activation: Activation::Sigma, widths: vec![2] };
/// let mut m = TrainedModel {
///     architecture: arch, domain_lower: vec![0.0], domain_upper: vec![1.0],
///     constraint: Some(Constraint::new(Bound::Equal, Method::Scale, 1.0)),
///     constants: finn_core::Resolved::scaled(1.0), params: vec![2.0, -1.0, 0.5, 0.2, 1.0, 1.0],
/// };
/// m.constants = m.resolve_constants().unwrap();
/// let d = DensityModel::new(
///     SupportMap::RealSpace { centre: vec![0.0], scale: vec![1.0] },
///     vec![Component { weight: 1.0, reflect: vec![false], model: m }],
/// ).unwrap();
/// assert!((d.integral().unwrap() - 1.0).abs() < 1e-14);
/// // All of R: the probability of [-40, 40] is all but the logistic tails.
/// assert!((d.box_probability(&[-40.0], &[40.0]).unwrap() - 1.0).abs() < 1e-12);
/// assert!(d.pdf(&[3.0]).unwrap() > 0.0);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DensityModel {
    /// Always [`FORMAT`].
    pub format: String,
    /// The support map.
    pub map: SupportMap,
    /// The mixture.
    pub components: Vec<Component>,
}

/// x = centre + scale ln(u / (1 - u)) per axis: the point of R^n at u of a
/// [`SupportMap::RealSpace`] map (the inverse of [`logistic`]).
///
/// ```
/// use finn_train::density::composite::real_space_x;
/// assert_eq!(real_space_x(&[0.5], &[3.0], &[2.0]), vec![3.0]);
/// ```
pub fn real_space_x(u: &[f64], centre: &[f64], scale: &[f64]) -> Vec<f64> {
    u.iter()
        .zip(centre.iter().zip(scale))
        .map(|(u, (c, s))| c + s * (u.ln() - (-u).ln_1p()))
        .collect()
}

/// 1 / (1 + e^-t) without overflow on either side (u of `RealSpace` at t = (x - c) / s).
///
/// ```
/// use finn_train::density::composite::logistic;
/// assert_eq!(logistic(0.0), 0.5);
/// assert!(logistic(-800.0) == 0.0 && logistic(800.0) == 1.0);
/// ```
pub fn logistic(t: f64) -> f64 {
    let e = (-t.abs()).exp();
    if t >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    }
}

fn softplus(t: f64) -> f64 {
    if t > 0.0 {
        t + (-t).exp().ln_1p()
    } else {
        t.exp().ln_1p()
    }
}

impl DensityModel {
    /// Checks the pieces: at least one component, weights >= 0 summing to 1 within 1e-12,
    /// every component a density (positive, scale constraint, eps = 1) of the same dimension
    /// on the same box, the map's vectors of that dimension with scales > 0, and for
    /// `RealSpace` the u-box [0, 1]^n.
    pub fn new(map: SupportMap, components: Vec<Component>) -> Result<Self, TrainError> {
        let bad = |m: String| Err(TrainError::Data(format!("density model: {m}")));
        let Some(first) = components.first() else {
            return bad("no components".into());
        };
        let n = first.model.architecture.n;
        let total: f64 = components.iter().map(|c| c.weight).sum();
        if components
            .iter()
            .any(|c| c.weight.is_nan() || c.weight < 0.0)
            || (total - 1.0).abs() > 1e-12
        {
            return bad(format!("weights must be >= 0 and sum to 1 (sum {total})"));
        }
        for (k, c) in components.iter().enumerate() {
            let m = &c.model;
            let ok = m.architecture.n == n
                && c.reflect.len() == n
                && m.domain_lower == first.model.domain_lower
                && m.domain_upper == first.model.domain_upper
                && m.architecture.kind == finn_core::Kind::Positive
                && matches!(m.constraint, Some(Constraint { bound: finn_core::Bound::Equal, method: finn_core::Method::Scale, eps }) if eps == 1.0);
            if !ok {
                return bad(format!(
                    "component {k} is not a positive density of {n} inputs on the first one's box"
                ));
            }
            m.validate()
                .map_err(|e| TrainError::Data(format!("density model: component {k}: {e}")))?;
        }
        if let SupportMap::RealSpace { centre, scale } = &map {
            if centre.len() != n || scale.len() != n {
                return bad(format!("real-space map needs {n} centres and scales"));
            }
            if scale.iter().any(|s| !(*s > 0.0 && s.is_finite()))
                || centre.iter().any(|c| !c.is_finite())
            {
                return bad("real-space scales must be finite and > 0".into());
            }
            if first.model.domain_lower != vec![0.0; n] || first.model.domain_upper != vec![1.0; n]
            {
                return bad("a real-space map needs components on [0, 1]^n".into());
            }
        }
        if !map.exact_boxes() {
            map.check(n)?;
            if first.model.domain_lower != vec![0.0; n] || first.model.domain_upper != vec![1.0; n]
            {
                return bad("a mapped domain needs components on [0, 1]^n".into());
            }
        }
        Ok(DensityModel {
            format: FORMAT.into(),
            map,
            components,
        })
    }

    /// The dimension n.
    pub fn dim(&self) -> usize {
        self.components[0].model.architecture.n
    }

    /// The components' box (the support for [`SupportMap::Box`], [0, 1]^n otherwise).
    pub fn u_box(&self) -> (&[f64], &[f64]) {
        let m = &self.components[0].model;
        (&m.domain_lower, &m.domain_upper)
    }

    /// u = r^-1(x) and ln abs det dr/du there; `None` outside a box support.
    pub fn to_u(&self, x: &[f64]) -> Option<(Vec<f64>, f64)> {
        match &self.map {
            SupportMap::Box => {
                let (lo, hi) = self.u_box();
                let inside = x
                    .iter()
                    .zip(lo.iter().zip(hi))
                    .all(|(v, (a, b))| v >= a && v <= b);
                inside.then(|| (x.to_vec(), 0.0))
            }
            SupportMap::RealSpace { centre, scale } => {
                let mut u = Vec::with_capacity(x.len());
                let mut log_det = 0.0;
                for ((v, c), s) in x.iter().zip(centre).zip(scale) {
                    let t = (v - c) / s;
                    u.push(logistic(t));
                    // ln(u (1 - u)) = -softplus(-t) - softplus(t).
                    log_det += s.ln() + softplus(-t) + softplus(t);
                }
                Some((u, log_det))
            }
            other => other.domain_to_u(x),
        }
    }

    /// x = r(u).
    pub fn from_u(&self, u: &[f64]) -> Vec<f64> {
        match &self.map {
            SupportMap::Box => u.to_vec(),
            SupportMap::RealSpace { centre, scale } => real_space_x(u, centre, scale),
            other => other.domain_from_u(u).unwrap_or_default(),
        }
    }

    pub(crate) fn reflect(&self, k: usize, u: &[f64]) -> Vec<f64> {
        let (lo, hi) = self.u_box();
        u.iter()
            .enumerate()
            .map(|(i, v)| {
                if self.components[k].reflect[i] {
                    lo[i] + hi[i] - v
                } else {
                    *v
                }
            })
            .collect()
    }

    /// The mixture's density in u (no Jacobian).
    fn pdf_u(&self, evals: &[Evaluator], u: &[f64]) -> Result<f64, TrainError> {
        let mut p = 0.0;
        for (k, e) in evals.iter().enumerate() {
            p += self.components[k].weight * e.integrand(&self.reflect(k, u))?;
        }
        Ok(p)
    }

    /// One evaluator per component.
    pub fn evaluators(&self) -> Result<Vec<Evaluator<'_>>, TrainError> {
        Ok(self
            .components
            .iter()
            .map(|c| Evaluator::new(&c.model))
            .collect::<Result<Vec<_>, _>>()?)
    }

    /// ln p(x) (-inf outside a box support).
    pub fn log_pdf(&self, x: &[f64]) -> Result<f64, TrainError> {
        self.log_pdf_with(&self.evaluators()?, x)
    }

    fn log_pdf_with(&self, evals: &[Evaluator], x: &[f64]) -> Result<f64, TrainError> {
        match self.to_u(x) {
            None => Ok(f64::NEG_INFINITY),
            Some((u, log_det)) => Ok(self.pdf_u(evals, &u)?.ln() - log_det),
        }
    }

    /// p(x).
    pub fn pdf(&self, x: &[f64]) -> Result<f64, TrainError> {
        Ok(self.log_pdf(x)?.exp())
    }

    /// The mean of -log p over the rows, a density below [`FLOOR`] counting as `FLOOR`
    /// (about 690.8 nats: a point outside a box support costs that much), and how many rows
    /// were outside the support.
    pub fn mean_nll(&self, points: &Array2<f64>) -> Result<(f64, usize), TrainError> {
        let (each, outside) = self.nll_each(points)?;
        Ok((each.iter().sum::<f64>() / points.nrows() as f64, outside))
    }

    /// -log p of every row, floored as in [`Self::mean_nll`], and how many rows were outside
    /// the support (for paired comparisons with a baseline on the same points).
    pub fn nll_each(&self, points: &Array2<f64>) -> Result<(Vec<f64>, usize), TrainError> {
        let evals = self.evaluators()?;
        let mut outside = 0;
        let mut each = Vec::with_capacity(points.nrows());
        for x in points.rows() {
            let l = self.log_pdf_with(&evals, &x.to_vec())?;
            if l == f64::NEG_INFINITY && self.to_u(&x.to_vec()).is_none() {
                outside += 1;
            }
            each.push(-l.max(FLOOR.ln()));
        }
        Ok((each, outside))
    }

    /// The exact probability of the box [lo, hi] in x (clipped to the support): a weighted sum
    /// of vertex sums (the image of an x-box under `RealSpace` is a u-box).
    ///
    /// Errors: [`TrainError::Inexact`] for the polar, ball and simplex maps, where an x-box is
    /// not the image of a u-box (use [`DensityModel::image_probability`]).
    pub fn box_probability(&self, lo: &[f64], hi: &[f64]) -> Result<f64, TrainError> {
        self.box_probability_with(&self.evaluators()?, lo, hi)
    }

    /// [`DensityModel::box_probability`] with prepared evaluators.
    pub fn box_probability_with(
        &self,
        evals: &[Evaluator],
        lo: &[f64],
        hi: &[f64],
    ) -> Result<f64, TrainError> {
        if !self.map.exact_boxes() {
            return Err(TrainError::Inexact(format!(
                "the probability of an axis-aligned x-box on a {} map: such a box is not the \
                 image of a u-box (use image_probability for images of u-boxes)",
                match self.map {
                    SupportMap::Polar { .. } => "polar",
                    SupportMap::Ball { .. } => "ball",
                    _ => "simplex",
                }
            )));
        }
        let n = self.dim();
        let (ulo, uhi) = self.u_box();
        let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
        for i in 0..n {
            let (p, q) = match &self.map {
                SupportMap::Box => (lo[i], hi[i]),
                SupportMap::RealSpace { centre, scale } => {
                    let s = |v: f64| {
                        if v == f64::INFINITY {
                            1.0
                        } else if v == f64::NEG_INFINITY {
                            0.0
                        } else {
                            logistic((v - centre[i]) / scale[i])
                        }
                    };
                    (s(lo[i]), s(hi[i]))
                }
                _ => return Err(TrainError::Inexact("x-boxes on a mapped domain".into())),
            };
            a[i] = p.max(ulo[i]);
            b[i] = q.min(uhi[i]);
            if a[i] >= b[i] {
                return Ok(0.0);
            }
        }
        self.u_box_probability(evals, &a, &b)
    }

    /// The exact probability of the image r([u_lo, u_hi]) of a u-box (clipped to the
    /// components' box): the mixture's weighted vertex sums over it, for every map (for a box
    /// support u = x). On a disk, [0, 1/2] x [0, 1] is the inner disk of half the area.
    ///
    /// Errors: `Core(DimensionMismatch)` for corners of the wrong length, and those of the
    /// evaluation.
    pub fn image_probability(&self, u_lo: &[f64], u_hi: &[f64]) -> Result<f64, TrainError> {
        self.image_probability_with(&self.evaluators()?, u_lo, u_hi)
    }

    /// [`DensityModel::image_probability`] with prepared evaluators.
    pub fn image_probability_with(
        &self,
        evals: &[Evaluator],
        u_lo: &[f64],
        u_hi: &[f64],
    ) -> Result<f64, TrainError> {
        let n = self.dim();
        for v in [u_lo, u_hi] {
            if v.len() != n {
                return Err(finn_core::Error::DimensionMismatch {
                    expected: n,
                    found: v.len(),
                }
                .into());
            }
        }
        if u_lo.iter().chain(u_hi).any(|v| v.is_nan()) {
            return Err(finn_core::Error::NonFiniteInput.into());
        }
        let (ulo, uhi) = self.u_box();
        let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
        for i in 0..n {
            a[i] = u_lo[i].max(ulo[i]);
            b[i] = u_hi[i].min(uhi[i]);
            if a[i] >= b[i] {
                return Ok(0.0);
            }
        }
        self.u_box_probability(evals, &a, &b)
    }

    /// The weighted vertex sums over the u-box [a, b] (inside the components' box).
    fn u_box_probability(
        &self,
        evals: &[Evaluator],
        a: &[f64],
        b: &[f64],
    ) -> Result<f64, TrainError> {
        let mut total = 0.0;
        for (k, e) in evals.iter().enumerate() {
            let (ra, rb) = (self.reflect(k, a), self.reflect(k, b));
            let (p, q): (Vec<f64>, Vec<f64>) = ra
                .iter()
                .zip(&rb)
                .map(|(x, y)| (x.min(*y), x.max(*y)))
                .unzip();
            total += self.components[k].weight * e.integral_over(&p, &q)?;
        }
        Ok(total)
    }

    /// The exact integral of p over its support (each component's vertex sum over the u-box,
    /// weighted): 1 up to rounding.
    pub fn integral(&self) -> Result<f64, TrainError> {
        let mut total = 0.0;
        for c in &self.components {
            total += c.weight * Evaluator::new(&c.model)?.integral()?;
        }
        Ok(total)
    }

    /// The largest jump of the x-density across the periodic seam, `None` for a map without
    /// one: the mixture evaluated on both sides (u_p = 0 and u_p = 1 of the periodic axis p) at
    /// the midpoints of `steps` cells per other axis (steps^(n-1) seam points), each side's
    /// u-density divided by abs det dr/du.
    ///
    /// Errors: those of the evaluation.
    pub fn seam_jump(&self, steps: usize) -> Result<Option<SeamJump>, TrainError> {
        let Some(p) = self.map.periodic_axis() else {
            return Ok(None);
        };
        let n = self.dim();
        let steps = steps.max(1);
        let evals = self.evaluators()?;
        let mut out = SeamJump {
            absolute: 0.0,
            relative: 0.0,
            at: vec![0.0; n],
            points: 0,
        };
        let others: Vec<usize> = (0..n).filter(|i| *i != p).collect();
        let count = steps.pow(others.len() as u32);
        for index in 0..count {
            let mut rest = index;
            let mut u = vec![0.0; n];
            for &i in &others {
                u[i] = ((rest % steps) as f64 + 0.5) / steps as f64;
                rest /= steps;
            }
            let (mut lo, mut hi) = (u.clone(), u.clone());
            lo[p] = 0.0;
            hi[p] = 1.0;
            // Constant abs det on every map with a seam; taken at the point anyway.
            let log_det = self.to_u(&self.from_u(&lo)).map_or(0.0, |(_, l)| l);
            let det = log_det.exp();
            let (a, b) = (
                self.pdf_u(&evals, &lo)? / det,
                self.pdf_u(&evals, &hi)? / det,
            );
            let jump = (a - b).abs();
            let rel = if jump > 0.0 { jump / a.max(b) } else { 0.0 };
            out.points += 1;
            if rel > out.relative {
                out.relative = rel;
                out.at = lo;
            }
            out.absolute = out.absolute.max(jump);
        }
        Ok(Some(out))
    }

    /// Writes the JSON document.
    pub fn save_json(&self, path: &std::path::Path) -> Result<(), TrainError> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| TrainError::Data(format!("density JSON: {e}")))?;
        std::fs::write(path, text)?;
        Ok(())
    }

    /// Reads a JSON document written by [`DensityModel::save_json`] and checks it
    /// ([`DensityModel::new`]).
    pub fn load_json(path: &std::path::Path) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path)?;
        let d: DensityModel = serde_json::from_str(&text)
            .map_err(|e| TrainError::Data(format!("{}: {e}", path.display())))?;
        if d.format != FORMAT {
            return Err(TrainError::Data(format!(
                "{}: format {:?}, expected {FORMAT:?}",
                path.display(),
                d.format
            )));
        }
        DensityModel::new(d.map, d.components)
    }

    /// The model as ONE blob: the density mixture payload (payload 4 of
    /// `finn_core::format`), which finn-embedded's `DensityMixturePlayer` loads, so that what
    /// is trained is what is flashed. With [`Scalar::F32`] each component's parameters are
    /// rounded to f32 and its scale re-resolved for the rounded parameters (as
    /// [`TrainedModel::to_density_blob`] does); weights and map stay f64 in the blob.
    ///
    /// Errors: `Data` for a polar, ball or simplex map (payload 4 and the device player know
    /// box and real-space supports only), for more than 8 inputs (the reflection mask is a
    /// byte) or a model the
    /// format refuses.
    pub fn to_blob(&self, scalar: Scalar) -> Result<Vec<u8>, TrainError> {
        let data = |e: String| TrainError::Data(format!("density mixture blob: {e}"));
        let n = self.dim();
        if n > 8 {
            return Err(data(format!("{n} inputs; the format holds at most 8")));
        }
        let mut stored = Vec::with_capacity(self.components.len());
        for c in &self.components {
            let m = &c.model;
            stored.push(match scalar {
                Scalar::F64 => (m.params.clone(), m.constants),
                Scalar::F32 => {
                    let p: Vec<f64> = m.params.iter().map(|&v| v as f32 as f64).collect();
                    let k = m
                        .resolve_constants_for(&p)
                        .map_err(|e| data(e.to_string()))?;
                    (p, k)
                }
            });
        }
        let headers: Vec<MixtureComponentHeader<'_>> = self
            .components
            .iter()
            .zip(&stored)
            .map(|(c, (params, constants))| {
                let mut model = c.model.header();
                model.payload = Payload::Density;
                model.constants = *constants;
                MixtureComponentHeader {
                    weight: c.weight,
                    reflect: c
                        .reflect
                        .iter()
                        .enumerate()
                        .fold(0u8, |m, (i, r)| m | (u8::from(*r) << i)),
                    model,
                    params,
                }
            })
            .collect();
        let map = match &self.map {
            SupportMap::Box => MixtureMapHeader::Box,
            SupportMap::RealSpace { centre, scale } => {
                MixtureMapHeader::RealSpace { centre, scale }
            }
            other => {
                return Err(data(format!(
                    "payload 4 (the device player) holds box and real-space supports only, not \
                     the {} map; keep the JSON model",
                    other.describe()
                )))
            }
        };
        let header = DensityMixtureHeader {
            map,
            components: &headers,
        };
        let len = density_mixture_encoded_len(&header, scalar).map_err(|e| data(e.to_string()))?;
        let mut out = vec![0u8; len];
        let len =
            encode_density_mixture(&header, scalar, &mut out).map_err(|e| data(e.to_string()))?;
        out.truncate(len);
        Ok(out)
    }

    /// Writes [`DensityModel::to_blob`] to `path`.
    pub fn save_blob(&self, path: &std::path::Path, scalar: Scalar) -> Result<(), TrainError> {
        std::fs::write(path, self.to_blob(scalar)?)?;
        Ok(())
    }

    /// Reads a density mixture blob back into the host model: every check of
    /// `finn_core::format::decode_density_mixture`, each component's integral check (as
    /// [`TrainedModel::from_blob`]), then [`DensityModel::new`].
    pub fn from_blob(bytes: &[u8]) -> Result<Self, TrainError> {
        let data = |e: String| TrainError::Data(format!("density mixture blob: {e}"));
        let view = decode_density_mixture(bytes).map_err(|e| data(e.to_string()))?;
        let n = view.n();
        let mut components = Vec::with_capacity(view.len());
        for k in 0..view.len() {
            let (weight, mask, model) = view
                .component(k)
                .ok_or_else(|| data(format!("component {k} unreadable")))?;
            components.push(Component {
                weight,
                reflect: (0..n).map(|i| (mask >> i) & 1 == 1).collect(),
                model: TrainedModel::from_view(&model).map_err(|e| data(e.to_string()))?,
            });
        }
        let map = if view.is_real_space() {
            SupportMap::RealSpace {
                centre: view.centre().collect(),
                scale: view.scale().collect(),
            }
        } else {
            SupportMap::Box
        };
        DensityModel::new(map, components)
    }
}

/// What [`DensityModel::seam_jump`] measured.
#[derive(Clone, Debug, PartialEq)]
pub struct SeamJump {
    /// The largest abs(p_x(seam from below) - p_x(seam from above)) over the grid.
    pub absolute: f64,
    /// The largest jump relative to the larger of the two one-sided densities, in [0, 1].
    pub relative: f64,
    /// The u (periodic coordinate 0) where the relative jump is largest.
    pub at: Vec<f64>,
    /// How many seam points were evaluated.
    pub points: usize,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::density::mixture::sign_patterns;
    use crate::density::train::{self, Standardise};
    use crate::model::Architecture;
    use finn_core::{Activation, Kind};

    /// A two-component reflected mixture with untrained (seeded) parameters on `lo..hi`.
    pub(crate) fn mixture(n: usize, lo: &[f64], hi: &[f64], map: SupportMap) -> DensityModel {
        let arch = Architecture {
            n,
            kind: Kind::Positive,
            activation: Activation::Sigma,
            widths: vec![5, 4],
        };
        let s = Standardise::new(lo, hi);
        let patterns = sign_patterns(n, true);
        let w = [0.3, 0.7];
        let components = patterns
            .iter()
            .enumerate()
            .map(|(k, r)| Component {
                weight: match patterns.len() {
                    1 => 1.0,
                    2 => w[k],
                    m => 1.0 / m as f64,
                },
                reflect: r.clone(),
                model: train::model(
                    &arch,
                    &crate::solve::initial_parameters(&arch, 11 + k as u64),
                    &s,
                    lo,
                    hi,
                )
                .unwrap(),
            })
            .collect();
        DensityModel::new(map, components).unwrap()
    }

    #[test]
    fn a_box_mixture_integrates_to_one_by_quadrature() {
        let (lo, hi) = ([-1.0, 0.5], [2.0, 2.0]);
        let d = mixture(2, &lo, &hi, SupportMap::Box);
        assert!((d.integral().unwrap() - 1.0).abs() < 1e-14);
        let cells = 300;
        let (wx, wy) = (
            (hi[0] - lo[0]) / cells as f64,
            (hi[1] - lo[1]) / cells as f64,
        );
        let mut sum = 0.0;
        for i in 0..cells {
            for j in 0..cells {
                let x = [lo[0] + (i as f64 + 0.5) * wx, lo[1] + (j as f64 + 0.5) * wy];
                sum += d.pdf(&x).unwrap() * wx * wy;
            }
        }
        assert!((sum - 1.0).abs() < 1e-4, "midpoint rule gives {sum}");
        // A box probability against the same quadrature restricted to the box's cells.
        let p = d.box_probability(&[-1.0, 0.5], &[0.5, 1.25]).unwrap();
        let mut q = 0.0;
        for i in 0..cells / 2 {
            for j in 0..cells / 2 {
                let x = [lo[0] + (i as f64 + 0.5) * wx, lo[1] + (j as f64 + 0.5) * wy];
                q += d.pdf(&x).unwrap() * wx * wy;
            }
        }
        assert!((p - q).abs() < 1e-4, "{p} vs {q}");
        assert_eq!(d.pdf(&[3.0, 1.0]).unwrap(), 0.0);
        assert!((d.box_probability(&[-9.0, -9.0], &[9.0, 9.0]).unwrap() - 1.0).abs() < 1e-14);
    }

    #[test]
    fn a_real_space_mixture_integrates_to_one_over_the_line_and_plane() {
        let map = SupportMap::RealSpace {
            centre: vec![0.5, -1.0],
            scale: vec![0.8, 1.5],
        };
        let d = mixture(2, &[0.0, 0.0], &[1.0, 1.0], map);
        // Quadrature in x (not through the map): the logistic tails beyond 25 scales weigh
        // less than e^-25.
        let cells = 400;
        let (lo, hi) = ([0.5 - 20.0, -1.0 - 37.5], [0.5 + 20.0, -1.0 + 37.5]);
        let (wx, wy) = (
            (hi[0] - lo[0]) / cells as f64,
            (hi[1] - lo[1]) / cells as f64,
        );
        let mut sum = 0.0;
        for i in 0..cells {
            for j in 0..cells {
                let x = [lo[0] + (i as f64 + 0.5) * wx, lo[1] + (j as f64 + 0.5) * wy];
                sum += d.pdf(&x).unwrap() * wx * wy;
            }
        }
        assert!((sum - 1.0).abs() < 1e-3, "midpoint rule gives {sum}");
        let all = d
            .box_probability(&[f64::NEG_INFINITY; 2], &[f64::INFINITY; 2])
            .unwrap();
        assert!((all - 1.0).abs() < 1e-14);
        // The x-box [0, 1] x [-2, 0] is a u-box: its probability against quadrature in x.
        let p = d.box_probability(&[0.0, -2.0], &[1.0, 0.0]).unwrap();
        let k = 200;
        let mut q = 0.0;
        for i in 0..k {
            for j in 0..k {
                let x = [
                    (i as f64 + 0.5) / k as f64,
                    -2.0 + 2.0 * (j as f64 + 0.5) / k as f64,
                ];
                q += d.pdf(&x).unwrap() * 2.0 / (k * k) as f64;
            }
        }
        assert!((p - q).abs() < 1e-5, "{p} vs {q}");
    }

    /// The one-blob form against the host: loaded by finn-core's `DensityMixture` in f64 it
    /// agrees with the host's pdf and box probabilities to 1e-12 relative; in f32 it agrees
    /// with the host's model of the f32 blob to f32 accuracy (measured: pdf within 6.9e-7
    /// relative, box probabilities within 5.1e-8 absolute on these points). The host model read back from the blob equals the original
    /// in f64.
    #[test]
    fn the_mixture_blob_plays_what_the_host_evaluates() {
        let real = SupportMap::RealSpace {
            centre: vec![0.5, -1.0],
            scale: vec![0.8, 1.5],
        };
        let cases = [
            (
                mixture(2, &[-1.0, 0.5], &[2.0, 2.0], SupportMap::Box),
                [[0.1, 0.9], [1.5, 1.9], [-0.9, 0.6], [1.99, 0.51]],
            ),
            (
                mixture(2, &[0.0, 0.0], &[1.0, 1.0], real),
                [[0.1, 0.9], [1.5, -4.0], [-3.0, 0.6], [7.0, 2.0]],
            ),
        ];
        let boxes = [
            ([-0.7, 0.6], [1.3, 1.7]),
            ([-1.0, -3.0], [2.0, 0.5]),
            ([f64::NEG_INFINITY, 1.0], [0.5, f64::INFINITY]),
        ];
        let close = |a: f64, b: f64, rel: f64| (a - b).abs() <= rel * b.abs().max(1e-300);
        let (mut pdf32, mut box32) = (0.0f64, 0.0f64);
        for (host, points) in &cases {
            assert!(host.components.iter().any(|c| c.reflect.contains(&true)));
            let blob = host.to_blob(Scalar::F64).unwrap();
            assert_eq!(&DensityModel::from_blob(&blob).unwrap(), host);
            let view = decode_density_mixture(&blob).unwrap();
            let m = Box::new(view.to_density_mixture::<f64, 2, 8, 2, 4>().unwrap());
            for x in points {
                let (d, h) = (m.pdf(x).unwrap(), host.pdf(x).unwrap());
                assert!(h > 0.0 && close(d, h, 1e-12), "pdf at {x:?}: {d} vs {h}");
                let (d, h) = (m.log_pdf(x).unwrap(), host.log_pdf(x).unwrap());
                assert!(close(d, h, 1e-12), "log pdf at {x:?}: {d} vs {h}");
            }
            for (a, b) in &boxes {
                let (d, h) = (
                    m.box_probability(a, b).unwrap(),
                    host.box_probability(a, b).unwrap(),
                );
                assert!(close(d, h, 1e-12), "box {a:?} {b:?}: {d} vs {h}");
            }
            // f32: the blob's rounded parameters, played in f32.
            let blob = host.to_blob(Scalar::F32).unwrap();
            let back = DensityModel::from_blob(&blob).unwrap();
            let view = decode_density_mixture(&blob).unwrap();
            let m = Box::new(view.to_density_mixture::<f32, 2, 8, 2, 4>().unwrap());
            for x in points {
                let d = m.pdf(&x.map(|v| v as f32)).unwrap() as f64;
                let h = back.pdf(x).unwrap();
                pdf32 = pdf32.max((d - h).abs() / h);
            }
            for (a, b) in &boxes {
                let d = m
                    .box_probability(&a.map(|v| v as f32), &b.map(|v| v as f32))
                    .unwrap() as f64;
                box32 = box32.max((d - back.box_probability(a, b).unwrap()).abs());
            }
        }
        eprintln!("f32: pdf {pdf32:e} relative, box probabilities {box32:e} absolute");
        assert!(pdf32 < 1e-5 && box32 < 1e-5, "{pdf32} {box32}");
    }

    /// Mapped domains: the integral over the domain by quadrature in x, exact images of
    /// u-boxes, x-boxes and payload 4 refused, samples inside and passing the u-cell test, the
    /// JSON round trip, and a wrong dimension refused.
    #[test]
    fn mapped_domains_integrate_sample_and_round_trip() {
        let disk = SupportMap::Polar {
            centre: vec![0.5, -0.5],
            inner: 0.0,
            outer: 1.0,
            start: 0.0,
            span: std::f64::consts::TAU,
        };
        let maps = [
            disk.clone(),
            SupportMap::Polar {
                centre: vec![0.0, 0.0],
                inner: 0.5,
                outer: 1.5,
                start: 1.0,
                span: 2.0,
            },
            SupportMap::Simplex,
        ];
        for map in maps {
            let d = mixture(2, &[0.0, 0.0], &[1.0, 1.0], map.clone());
            // Quadrature in x over a box around the domain: [c - 1.6, c + 1.6]^2 for the
            // polar maps, [0, 1]^2 for the simplex.
            let (c, side) = match &map {
                SupportMap::Polar { centre, .. } => ([centre[0] - 1.6, centre[1] - 1.6], 3.2),
                _ => ([0.0, 0.0], 1.0),
            };
            let k = 500;
            let w = side / k as f64;
            let mut sum = 0.0;
            for i in 0..k {
                for j in 0..k {
                    let x = [c[0] + (i as f64 + 0.5) * w, c[1] + (j as f64 + 0.5) * w];
                    sum += d.pdf(&x).unwrap() * w * w;
                }
            }
            assert!((sum - 1.0).abs() < 5e-3, "{map:?}: quadrature {sum}");
            assert!((d.integral().unwrap() - 1.0).abs() < 1e-14);
            let half = d.image_probability(&[0.0, 0.0], &[0.5, 1.0]).unwrap();
            let rest = d.image_probability(&[0.5, 0.0], &[1.0, 1.0]).unwrap();
            assert!((half + rest - 1.0).abs() < 1e-14 && half > 0.0 && rest > 0.0);
            assert!(matches!(
                d.box_probability(&[0.0, 0.0], &[1.0, 1.0]),
                Err(TrainError::Inexact(_))
            ));
            assert!(d.to_blob(Scalar::F64).is_err());
            let check =
                crate::density::sampling::sample_check(&d, 10_000, 3, 5, &[0.0; 2], &[1.0; 2])
                    .unwrap();
            assert!(
                check.z < 3.5,
                "{map:?}: {} at {}",
                check.chi_square,
                check.dof
            );
            assert!(check.samples.iter().all(|x| d.to_u(x).is_some()));
            let path = std::env::temp_dir().join(format!(
                "finn-composite-mapped-{}.density.json",
                std::process::id()
            ));
            d.save_json(&path).unwrap();
            assert_eq!(DensityModel::load_json(&path).unwrap(), d);
            std::fs::remove_file(&path).ok();
        }
        // The disk has a seam, the partial sector and the simplex none.
        let d = mixture(2, &[0.0, 0.0], &[1.0, 1.0], disk.clone());
        let j = d.seam_jump(64).unwrap().unwrap();
        assert!(j.points == 64 && j.absolute > 0.0 && j.relative <= 1.0);
        let s = mixture(2, &[0.0, 0.0], &[1.0, 1.0], SupportMap::Simplex);
        assert_eq!(s.seam_jump(64).unwrap(), None);
        // A ball needs 3 coordinates; components off [0, 1]^n are refused.
        let comps = mixture(2, &[0.0, 0.0], &[1.0, 1.0], SupportMap::Box).components;
        let ball = SupportMap::Ball {
            centre: vec![0.0; 3],
            radius: 1.0,
        };
        assert!(DensityModel::new(ball, comps).is_err());
        let comps = mixture(2, &[-1.0, 0.0], &[1.0, 1.0], SupportMap::Box).components;
        assert!(DensityModel::new(disk, comps).is_err());
    }

    /// A ball in 3-D: the pdf is the u-density over the constant abs det, samples lie inside.
    #[test]
    fn a_ball_density_is_the_u_density_over_its_volume() {
        let d = mixture(
            3,
            &[0.0; 3],
            &[1.0; 3],
            SupportMap::Ball {
                centre: vec![1.0, 0.0, -1.0],
                radius: 2.0,
            },
        );
        let evals = d.evaluators().unwrap();
        let u = [0.3, 0.6, 0.2];
        let x = d.from_u(&u);
        let volume = 4.0 * std::f64::consts::PI * 8.0 / 3.0;
        let want = d.pdf_u(&evals, &u).unwrap() / volume;
        assert!((d.pdf(&x).unwrap() - want).abs() < 1e-12 * want);
        assert_eq!(d.pdf(&[4.0, 0.0, 0.0]).unwrap(), 0.0);
        let sampler = d.sampler().unwrap();
        for k in 0..50 {
            let v = [k as f64 / 50.0, 0.3, (k as f64 * 0.37) % 1.0, 0.9];
            let (x, _) = sampler.sample(&v).unwrap();
            assert!(d.to_u(&x).is_some(), "{x:?}");
        }
        assert!(d.seam_jump(8).unwrap().unwrap().points == 64);
    }

    #[test]
    fn the_json_round_trips_and_bad_weights_are_refused() {
        let d = mixture(2, &[-1.0, -1.0], &[1.0, 1.0], SupportMap::Box);
        let path = std::env::temp_dir().join("finn-composite-test.density.json");
        d.save_json(&path).unwrap();
        assert_eq!(DensityModel::load_json(&path).unwrap(), d);
        let mut c = d.components.clone();
        c[0].weight = 0.5;
        let e = DensityModel::new(SupportMap::Box, c)
            .unwrap_err()
            .to_string();
        assert!(e.contains("sum to 1"), "{e}");
    }
}
